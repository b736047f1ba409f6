# The byte stream under the SMTP driver: one small adapter over a MicroPython or CPython socket,
# plain or TLS. Rule: writes loop until every byte is out, reads land in one preallocated buffer,
# and every wait is bounded by the socket timeout; a failure becomes an SMTPError tagged with the
# stage the caller names (transient: worth a retry).
from firmware import compat
from firmware.compat import const
from firmware.errors import SMTPError

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
        self._buffer = bytearray(_RECV_BYTES)
        self._view = memoryview(self._buffer)

    def _error(self, stage, exc, doing):
        kind = compat.network_error_kind(exc)
        text = "%s while %s" % ("timed out" if kind == "timeout" else
                                "connection lost (%s)" % (exc,), doing)
        return SMTPError(stage, text, transient=True, profile=self.profile, port=self.port,
                         kind=kind)

    def write_all(self, data, stage):
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
