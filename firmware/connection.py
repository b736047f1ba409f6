# The connection under the SMTP driver: the TLS client context, the wrap that checks the server's
# name, and the byte stream over the socket (plain or TLS).
# Rules: certificates are always required and the host name always checked (SNI + name check
# through server_hostname, even when the TCP connection went to another address); trust is the
# bundled DigiCert Global Root G2 unless the settings give ca_der; an unset clock is reported as
# such before any handshake, never as a certificate failure. Writes loop until every byte is out,
# reads land in one preallocated buffer, every wait is bounded by the socket timeout, and a failure
# becomes an SMTPError tagged with the stage the caller names (transient: worth a retry).
from firmware import compat
from firmware.compat import const
from firmware.errors import SMTPError


def bundled_roots():
    import firmware.roots as roots

    folder = roots.__file__.rsplit("/", 1)[0] if "/" in roots.__file__ else "."
    with open(folder + "/digicert_global_root_g2.der", "rb") as f:
        return f.read()


def check_clock(now, profile=None, port=None):
    if now is None or now < 1704067200:   # before 2024-01-01T00:00:00Z: the clock is not set
        raise SMTPError("tls", "the board's clock is not set (%s), so the server's certificate "
                               "cannot be checked" % ("no time yet" if now is None else int(now)),
                        transient=True, profile=profile, port=port, kind="clock")


def make_context(settings, ctx=None):
    """A client context that requires a valid certificate chain to the configured roots (made
    here, or `ctx` from compat.new_tls_client_context() configured)."""
    profile, port = settings.get("profile"), settings.get("port")
    if ctx is None:
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


# Bytes asked for per read. On MicroPython every read allocates a bytes object of up to this size
# (recv(); a blocking readinto() would wait for a full buffer), so it is kept small: in a small,
# fragmented heap a free run of 256 bytes is far easier to find than one of 1 KB. Replies are short
# (an EHLO list is about 250 bytes) and the reply reader takes them in pieces of any size.
_RECV_BYTES = const(256)


class Stream:
    def __init__(self, sock, profile=None, port=None):
        self.sock = sock
        self.profile = profile
        self.port = port
        self.bytes_sent = 0
        self._view = memoryview(bytearray(_RECV_BYTES))

    def _error(self, stage, exc, doing):
        kind = compat.network_error_kind(exc)
        text = "%s while %s" % ("timed out" if kind == "timeout" else
                                "connection lost (%s)" % (exc,), doing)
        return SMTPError(stage, text, transient=True, profile=self.profile, port=self.port,
                         kind=kind)

    def write_all(self, data, stage="data"):
        view = memoryview(data)
        sent = 0
        total = len(view)
        try:
            while sent < total:
                n = compat.sock_send(self.sock, view[sent:])
                if not n:
                    raise OSError(32)      # EPIPE: the peer stopped reading
                sent += n
        except OSError as exc:
            raise self._error(stage, exc, "sending")
        self.bytes_sent += total

    def read_some(self, stage):
        """A memoryview of the next bytes received; an empty one when the server closed."""
        try:
            n = compat.sock_recv_into(self.sock, self._view)
        except OSError as exc:
            raise self._error(stage, exc, "waiting for the server's reply")
        return self._view[:n]

    def close(self):
        try:
            self.sock.close()
        except Exception:
            pass
