# TLS for the mail core: one verified client context per attempt, and the wrap that checks the
# server's name. Rule: certificates are always required and the host name always checked
# (SNI + name check through server_hostname, even when the TCP connection went to another
# address); trust is the bundled DigiCert Global Root G2 unless the settings give ca_der; an unset
# clock is reported as such before any handshake, never as a certificate failure.
from firmware import compat
from firmware.errors import SMTPError

EARLIEST_PLAUSIBLE_TIME = 1704067200   # 2024-01-01T00:00:00Z: a clock before this is not set
BUNDLED_ROOT = "digicert_global_root_g2.der"


def bundled_roots():
    import firmware.roots as roots

    folder = roots.__file__.rsplit("/", 1)[0] if "/" in roots.__file__ else "."
    with open(folder + "/" + BUNDLED_ROOT, "rb") as f:
        return f.read()


def check_clock(now, profile=None, port=None):
    if now is None or now < EARLIEST_PLAUSIBLE_TIME:
        raise SMTPError("tls", "the board's clock is not set (%s), so the server's certificate "
                               "cannot be checked" % ("no time yet" if now is None else int(now)),
                        transient=True, profile=profile, port=port, kind="clock")


def make_context(settings):
    """A client context that requires a valid certificate chain to the configured roots."""
    profile, port = settings.get("profile"), settings.get("port")
    ctx = compat.new_tls_client_context()
    ca = settings.get("ca_der") or bundled_roots()
    try:
        compat.load_ca(ctx, ca)
    except Exception as exc:
        raise SMTPError("tls", "ca_der is not a valid DER certificate: %s" % exc, transient=False,
                        profile=profile, port=port, kind="untrusted")
    cert, key = settings.get("client_cert_der"), settings.get("client_key_der")
    if cert:
        try:
            compat.load_client_cert(ctx, cert, key)
        except Exception as exc:
            raise SMTPError("tls", "the client certificate or key could not be loaded: %s" % exc,
                            transient=False, profile=profile, port=port, kind="client_cert")
    return ctx


def wrap(ctx, sock, host, profile=None, port=None):
    """The TLS socket over `sock`, or an SMTPError at stage "tls" saying what was wrong."""
    try:
        return ctx.wrap_socket(sock, server_hostname=host)
    except Exception as exc:
        kind, text = compat.tls_error_kind(exc)
        transient = kind in ("timeout", "closed", "handshake")
        raise SMTPError("tls", "TLS with %s failed (%s): %s" % (host, kind, text),
                        transient=transient, profile=profile, port=port, kind=kind)

