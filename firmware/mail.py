# send_mail: the mail core's one entry point (Contract 2 in docs/architecture.md), and the thin
# blocking driver that moves bytes between the board's TCP connection and the sans-I/O SMTP client.
# Rule: everything that can be refused locally (settings, message, attachments, clock, client
# certificate) is refused before connecting; the loop below only obeys SmtpClient.next_event().
import binascii
import os

from firmware import call_once, compat, connection, smtp_protocol
from firmware.errors import SMTPError
from firmware.message import Message
from firmware.mime_writer import MimeWriter

__all__ = ("send_mail", "Message", "SMTPError")


def send_mail(settings, msg, board):
    """Send `msg` with the connection `settings` through `board`'s network.
    -> {"reply": "250 2.0.0 OK ...", "round_trips": n, "bytes_sent": n}; raises SMTPError."""
    if not isinstance(msg, Message):
        raise TypeError("send_mail needs a firmware.mail.Message")
    now = board.clock.now()
    # First, while the heap is least fragmented: a TLS context is one block of about 3 KB
    # (dropped again below when the connection is in clear).
    ctx = compat.new_tls_client_context()
    # MimeWriter checks the attachment files, and composes the head with a random Message-ID.
    writer = MimeWriter(msg, now, binascii.hexlify(os.urandom(12)).decode())
    cfg = call_once("profiles", "prepare", settings, board)
    profile, port = cfg["profile"], cfg["port"]
    if cfg["tls"] == "none":
        ctx = None
    else:
        call_once("tls_setup", "configure", ctx, cfg, now)
    size = writer.size()
    client = smtp_protocol.SmtpClient(cfg)
    client.set_transaction(msg.sender, msg.recipients(), size, writer.size(binary=True))
    compat.collect_garbage()

    try:
        sock = board.net.open_tcp(cfg["host"], port, cfg["timeout_s"])
    except Exception as exc:               # OSError, or the board's own error (network not up)
        kind = compat.network_error_kind(exc) if isinstance(exc, OSError) else "network"
        raise SMTPError("connect", "cannot connect to %s:%d (%s): %s" % (
            cfg["host"], port, kind, exc), transient=True, profile=profile, port=port, kind=kind)
    stream = connection.Stream(sock, profile, port)
    try:
        compat.set_timeout(sock, cfg["timeout_s"])
        if cfg["tls"] == "implicit":
            stream.sock = connection.wrap(ctx, sock, cfg["host"], profile, port)
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
                stream.sock = connection.wrap(ctx, stream.sock, cfg["host"], cfg["profile"],
                                               cfg["port"])
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
