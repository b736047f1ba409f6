# What TLS needs once per attempt, loaded for it and let go after it (firmware.call_once): the
# clock check, the board's TLS context (kept from send to send in compat.TLS, configured again only
# when the roots or the client certificate change), and what a failed handshake means.
# Rules: certificates are always required; trust is the bundled DigiCert Global Root G2 unless the
# settings give ca_der; an unset clock is reported as such before any handshake, never as a
# certificate failure. Kept out of the modules that stay loaded during a send: a board needs this
# code for a moment per send, and the heap it would hold is better left to the application.
from scanmail.firmware import compat
from scanmail.firmware.errors import SMTPError


def bundled_roots():
    """The DER roots in firmware/roots/, found beside this module (wherever the firmware is:
    /rom/lib/firmware on a product build, lib/firmware on a stock one, the source tree on
    CPython)."""
    folder = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
    with open(folder + "/roots/digicert_global_root_g2.der", "rb") as f:
        return f.read()


def check_clock(now, method=None, port=None):
    if now is None or now < 1704067200:   # before 2024-01-01T00:00:00Z: the clock is not set
        raise SMTPError("tls", "the board's clock is not set (%s), so the server's certificate "
                               "cannot be checked" % ("no time yet" if now is None else int(now)),
                        transient=True, method=method, port=port, kind="clock")


def configure(cfg, now, ctx=None):
    """-> the board's TLS context (compat.TLS), requiring a valid certificate chain to the
    configured roots, with the client certificate if the settings give one; refuse an unset
    clock first. The context kept from before is used again when the roots and certificate are
    the same; else it is let go and a new one configured. With `ctx` (a new context, for one
    connection: a token request made before any send keeps none), that one is configured."""
    method, port = cfg.get("method"), cfg.get("port")
    check_clock(now, method, port)
    ca, cert, key = cfg.get("ca_der"), cfg.get("client_cert_der"), cfg.get("client_key_der")
    if ctx is not None:
        try:
            compat.load_ca(ctx, ca or bundled_roots())
        except Exception as exc:
            raise SMTPError("tls", "ca_der is not a valid DER certificate: %s" % exc, transient=False,
                            method=method, port=port, kind="untrusted")
        if cert:
            try:
                compat.load_client_cert(ctx, cert, key)
            except Exception as exc:
                raise SMTPError("tls", "the client certificate or key could not be loaded: %s" % exc,
                                transient=False, method=method, port=port, kind="client_cert")
        return ctx
    import hashlib

    digest = hashlib.sha256()
    for part in (ca, cert, key):           # each one's length first: no two settings hash alike
        digest.update(b"%d:" % len(part or b""))
        digest.update(part or b"")
    digest = digest.digest()
    kept = compat.TLS
    if kept[0] == digest:
        return kept[1]
    if kept[0] is not None:                # configured for other roots: make the new one where it was
        kept[1] = None
        compat.free_heap()
    kept[0] = None
    if kept[1] is None:
        kept[1] = compat.new_tls_client_context()
    try:
        configure(cfg, now, kept[1])
    except SMTPError:
        kept[1] = None                     # half configured: never used again
        raise
    kept[0] = digest
    return kept[1]


def failure_kind(exc):
    """('hostname' | 'untrusted' | 'expired' | 'timeout' | 'closed' | 'handshake', text) for an
    exception from a TLS handshake, on either runtime (their texts differ; both are matched)."""
    text = str(exc).strip() or repr(exc)
    lower = text.lower()
    if "hostname" in lower or "common name" in lower or "(cn)" in lower:
        return "hostname", text
    if "expired" in lower or "not yet valid" in lower or "future" in lower:
        return "expired", text
    if ("signed by the trusted ca" in lower or "unable to get local issuer" in lower
            or "self-signed" in lower or "self signed" in lower or "verify failed" in lower
            or "not trusted" in lower):
        return "untrusted", text
    if "eof" in lower:                  # the server hung up mid-handshake (both runtimes say EOF)
        return "closed", text
    kind = compat.network_error_kind(exc)
    if kind in ("timeout", "closed"):
        return kind, text
    return "handshake", text


def handshake_failed(exc, host, method=None, port=None):
    """The SMTPError (stage "tls") for a failed handshake with `host`, saying what was wrong."""
    kind, text = failure_kind(exc)
    return SMTPError("tls", "TLS with %s failed (%s): %s" % (host, kind, text),
                     transient=kind in ("timeout", "closed", "handshake"), method=method,
                     port=port, kind=kind)
