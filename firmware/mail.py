# send_mail: the mail core's one entry point (Contract 2 in docs/architecture.md), and the thin
# blocking driver that moves bytes between the board's TCP connection and the sans-I/O SMTP client:
# the loop, the TLS wrap and the byte stream over the socket (plain or TLS). The TLS context it
# wraps with is the board's one context, configured by firmware/tls_setup.py (roots, client
# certificate, clock check) when they change.
# Rules: everything that can be refused locally (settings, message, attachments, clock, client
# certificate) is refused before connecting; the loop only obeys SmtpClient.next_event(). The host
# name is always checked (SNI + name check through server_hostname, even when the TCP connection
# went to another address). Writes loop until every byte is out, reads land in one preallocated
# buffer, every wait is bounded by the socket timeout, and a network failure becomes an SMTPError
# tagged with the stage (transient: worth a retry).
import binascii
import os

from scanmail.firmware import call_once, compat, smtp_protocol
from scanmail.firmware.compat import const
from scanmail.firmware.errors import SMTPError
from scanmail.firmware.message import Message, MimeWriter

__all__ = ("send_mail", "Message", "SMTPError")


def send_mail(settings, msg, board):
    """Send `msg` with the connection `settings` through `board`'s network.
    -> {"reply": "250 2.0.0 OK ...", "round_trips": n, "bytes_sent": n}; raises SMTPError."""
    if not isinstance(msg, Message):
        raise TypeError("send_mail needs a firmware.mail.Message")
    # While it sends, the heap is collected after every eighth of what is free now is allocated,
    # not only when an allocation fails. MicroPython never compacts its heap: left to collect at
    # exhaustion, it collects at points that move with the heap's size, and long-lived objects
    # land among garbage, and sends in a row then fail in a heap larger than one where they
    # worked; with this they do not (bench/firmware_send.py sweeps the heap sizes; its figures are
    # in README.md). The setting is put back afterwards.
    previous = compat.collect_every(compat.free_heap() // 8)
    try:
        return _attempt(settings, msg, board)
    finally:
        compat.collect_every(previous)


def _attempt(settings, msg, board):
    now = board.clock.now()
    # First, while the heap is least fragmented: the TLS context is one large block, kept for the
    # sends after this one (compat.TLS; tls_setup configures it below).
    if compat.TLS[1] is None:
        compat.TLS[1] = compat.new_tls_client_context()
    # MimeWriter checks the attachment files, and composes the head with a random Message-ID.
    writer = MimeWriter(msg, now, binascii.hexlify(os.urandom(12)).decode())
    cfg = call_once("methods", "prepare", settings, board)
    method, port = cfg["method"], cfg["port"]
    ctx = None if cfg["tls"] == "none" else call_once("tls_setup", "configure", cfg, now)
    size = writer.size()
    client = smtp_protocol.SmtpClient(cfg)
    client.set_transaction(msg.sender, msg.recipients(), size, writer.size(binary=True))
    compat.free_heap()                   # a collection before the connection's allocations

    try:
        sock = board.net.open_tcp(cfg["host"], port, cfg["timeout_s"])
    except Exception as exc:               # OSError, or the board's own error (network not up)
        kind = compat.network_error_kind(exc) if isinstance(exc, OSError) else "network"
        raise SMTPError("connect", "cannot connect to %s:%d (%s): %s" % (
            cfg["host"], port, kind, exc), transient=True, method=method, port=port, kind=kind)
    stream = Stream(sock, method, port)
    try:
        compat.set_timeout(sock, cfg["timeout_s"])
        if cfg["tls"] == "implicit":
            stream.sock = wrap(ctx, sock, cfg["host"], method, port)
        round_trips = _converse(client, stream, writer, ctx, cfg)
    finally:
        stream.close()
    return {"reply": client.result(), "round_trips": round_trips, "bytes_sent": stream.bytes_sent}


def _converse(client, stream, writer, ctx, cfg):
    """Obey the client until it is done; return how many times we waited for the server."""
    round_trips = 0
    waiting = False
    while True:
        try:
            event = client.next_event()
            if event == smtp_protocol.SEND:
                stream.write_all(client.take_output(), client.stage)
                waiting = False
            elif event == smtp_protocol.NEED_DATA:
                if not waiting:
                    round_trips += 1
                    waiting = True
                data = stream.read_some(client.waiting_for())
                if len(data):
                    client.receive_data(data)
                else:
                    client.connection_closed()
            elif event == smtp_protocol.START_TLS:
                stream.sock = wrap(ctx, stream.sock, cfg["host"], cfg["method"], cfg["port"])
                client.tls_started()
            elif event == smtp_protocol.SEND_MESSAGE:
                try:
                    if client.body_command:
                        stream.write_all(client.body_command)
                    writer.write_to(stream.write_all, client.binary, not client.use_bdat)
                except OSError as exc:     # the file changed or vanished: abort, do not end data
                    raise SMTPError("data", "reading the attachment failed: %s; nothing was "
                                    "delivered" % exc, transient=False, kind="message")
                client.message_sent()
            elif event == smtp_protocol.DONE:
                return round_trips
            else:                          # ABORT or FAILED: the client holds the reason
                raise client.failure
        except SMTPError:
            if client.failure is not None:     # the QUIT after a refusal failed: report the refusal
                raise client.failure
            raise


def wrap(ctx, sock, host, method=None, port=None):
    """The TLS socket over `sock`, or an SMTPError at stage "tls" saying what was wrong."""
    try:
        return ctx.wrap_socket(sock, server_hostname=host)
    except MemoryError:
        raise                              # the board's heap, not the server: say so as it is
    except Exception as exc:
        raise call_once("tls_setup", "handshake_failed", exc, host, method, port)


# Bytes asked for per read. On MicroPython every read allocates a bytes object of up to this size
# (recv(); a blocking readinto() would wait for a full buffer), so it is kept small: in a small,
# fragmented heap a free run of 256 bytes is far easier to find than one of 1 KB. Replies are short
# (an EHLO list is about 250 bytes) and the reply reader takes them in pieces of any size.
_RECV_BYTES = const(256)


class Stream:
    """The socket (plain, then TLS) the driver writes to and reads from: every write complete,
    every read into one preallocated buffer, every failure an SMTPError naming the stage."""

    def __init__(self, sock, method=None, port=None):
        self.sock = sock
        self.method = method
        self.port = port
        self.bytes_sent = 0
        self._view = memoryview(bytearray(_RECV_BYTES))

    def _error(self, stage, exc, doing):
        kind = compat.network_error_kind(exc)
        text = "%s while %s" % ("timed out" if kind == "timeout" else
                                "connection lost (%s)" % (exc,), doing)
        return SMTPError(stage, text, transient=True, method=self.method, port=self.port,
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
