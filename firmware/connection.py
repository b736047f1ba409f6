# The connection under the SMTP driver: the TLS wrap that checks the server's name, and the byte
# stream over the socket (plain or TLS). The context it wraps with is configured once per attempt
# by firmware/tls_setup.py (roots, client certificate, clock check).
# Rules: the host name is always checked (SNI + name check through server_hostname, even when the
# TCP connection went to another address). Writes loop until every byte is out,
# reads land in one preallocated buffer, every wait is bounded by the socket timeout, and a failure
# becomes an SMTPError tagged with the stage the caller names (transient: worth a retry).
from firmware import call_once, compat
from firmware.compat import const
from firmware.errors import SMTPError


def wrap(ctx, sock, host, profile=None, port=None):
    """The TLS socket over `sock`, or an SMTPError at stage "tls" saying what was wrong."""
    try:
        return ctx.wrap_socket(sock, server_hostname=host)
    except MemoryError:
        raise                              # the board's heap, not the server: say so as it is
    except Exception as exc:
        raise call_once("tls_setup", "handshake_failed", exc, host, profile, port)


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
