# Bad input: garbage and malformed commands, over-long lines, clients that vanish mid-DATA or stall,
# plain bytes after STARTTLS. Rule: each gets a correct reply or a clean close; nothing crashes,
# nothing leaks (the session is gone afterwards) and nothing is half-stored.
import socket
import time

import pytest

from scanmail.emulator.tenant import aiosmtpd_surface, replies
from tests.tenant.helpers import SCANNER_IP, Client, leftover_files, message


class Raw:
    """A raw line-based SMTP client on a socket, for what smtplib refuses to send."""

    def __init__(self, tenant, endpoint="mx", source=SCANNER_IP):
        self.sock = socket.create_connection(tenant.address(endpoint), timeout=10, source_address=(source, 0))
        self.file = self.sock.makefile("rwb")
        self.greeting = self.line()

    def line(self):
        return self.file.readline().decode("utf-8", "replace").rstrip("\r\n")

    def reply(self):
        lines = [self.line()]
        while lines[-1][3:4] == "-":
            lines.append(self.line())
        return lines[-1]

    def send(self, data):
        self.file.write(data)
        self.file.flush()

    def command(self, data):
        self.send(data + b"\r\n")
        return self.reply()

    def close(self):
        self.file.close()
        self.sock.close()


def settled(tenant):
    """Wait until the server has finished with every session (pytest-timeout bounds the wait)."""
    while tenant.world.sessions:
        time.sleep(0.01)
    return True


@pytest.mark.parametrize("line", [b"\x00\x01\x02", b"MAIL", b"RCPT TO", b"\xff\xfe EHLO", b"DATA DATA DATA"],
                         ids=["NUL bytes", "MAIL without FROM", "RCPT without TO", "high bytes", "DATA with junk"])
def test_malformed_commands_get_an_smtp_reply_and_the_session_goes_on(tenant, line):
    raw = Raw(tenant)
    try:
        reply = raw.command(line)
        assert reply[:3] in ("500", "501", "503") and reply.isprintable()
        assert raw.command(b"EHLO scanner").startswith("250 ")
    finally:
        raw.close()


def test_a_command_line_of_100_kb_gets_line_too_long_and_the_session_goes_on(tenant):
    raw = Raw(tenant)
    try:
        assert raw.command(b"EHLO " + b"x" * 100_000) == replies.LINE_TOO_LONG
        assert raw.command(b"EHLO " + b"x" * 600_000) == replies.LINE_TOO_LONG
        assert raw.command(b"EHLO scanner").startswith("250 ")
    finally:
        raw.close()


def test_eleven_unknown_commands_end_the_session_with_421(tenant):
    raw = Raw(tenant)
    try:
        for _ in range(10):
            assert raw.command(b"XYZZY").startswith("500 5.3.3 Unrecognized command 'XYZZY' [")
        assert raw.command(b"XYZZY") == replies.TOO_MANY_ERRORS
        assert raw.file.readline() == b""
    finally:
        raw.close()
    assert settled(tenant)


def test_a_client_that_vanishes_mid_data_leaves_nothing_stored(tenant):
    raw = Raw(tenant)
    raw.command(b"EHLO scanner")
    raw.command(b"MAIL FROM:<scanner@contoso.com>")
    raw.command(b"RCPT TO:<alice@contoso.com>")
    assert raw.command(b"DATA") == replies.DATA_GO_AHEAD
    raw.send(message() + b"x" * 500_000)          # no <CRLF>.<CRLF>
    raw.close()
    assert settled(tenant)
    assert tenant.messages("alice@contoso.com") == []
    assert leftover_files(tenant) == []


@pytest.mark.parametrize("stall_in_data", [False, True], ids=["idle between commands", "stalled mid-DATA"])
def test_a_stalled_client_is_told_and_dropped_after_the_idle_timeout_with_nothing_stored(make_tenant, stall_in_data):
    fake = make_tenant()
    raw = Raw(fake)
    try:
        raw.command(b"EHLO scanner")
        if stall_in_data:
            raw.command(b"MAIL FROM:<scanner@contoso.com>")
            raw.command(b"RCPT TO:<alice@contoso.com>")
            raw.command(b"DATA")
        # Only now, with every command answered, is the session's idle timeout made short: the
        # next bytes the server reads arm it, and nothing the client still has to say can race it.
        (session,) = fake.world.sessions
        aiosmtpd_surface.set_idle_timeout_s(session, 0.3)
        if stall_in_data:
            raw.send(b"Subject: half\r\n\r\nhalf a scan")
        else:
            assert raw.command(b"NOOP").startswith("250")
        assert raw.line() == replies.IDLE_TIMEOUT
        assert raw.file.readline() == b""
    finally:
        raw.close()
    assert settled(fake)
    assert fake.messages("alice@contoso.com") == []
    assert leftover_files(fake) == []


def test_plain_bytes_after_starttls_end_the_session_cleanly(tenant):
    raw = Raw(tenant, "submission", "127.0.0.41")
    try:
        raw.command(b"EHLO scanner")
        assert raw.command(b"STARTTLS") == replies.STARTTLS_READY
        raw.send(b"MAIL FROM:<scanner@contoso.com>\r\n" * 3)
        try:
            rest = raw.sock.recv(4096)
            while rest and not rest.startswith(b"\x15"):   # a TLS alert record is a clean refusal too
                rest = raw.sock.recv(4096)
        except ConnectionResetError:
            pass
    finally:
        raw.close()
    assert settled(tenant)
    with Client(tenant, "submission") as smtp:
        assert smtp.secure().login("scanner@contoso.com", "Scanner-Pass-1")[0] == 235


def test_a_tls_client_hello_on_the_plain_mx_port_gets_an_smtp_reply_not_a_crash(tenant):
    raw = Raw(tenant)
    try:
        raw.send(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + bytes(range(14, 78)) + b"\r\n")  # no LF inside: one line
        assert raw.reply().startswith("500 5.3.3 Unrecognized command '")
        assert raw.command(b"EHLO scanner").startswith("250 ")
    finally:
        raw.close()


def test_commands_out_of_order_get_exchanges_sequence_replies(tenant):
    raw = Raw(tenant)
    try:
        assert raw.command(b"MAIL FROM:<scanner@contoso.com>") == replies.SEND_HELLO_FIRST
        raw.command(b"EHLO scanner")
        assert raw.command(b"RCPT TO:<alice@contoso.com>") == replies.NEED_MAIL
        assert raw.command(b"DATA") == replies.NEED_MAIL
        raw.command(b"MAIL FROM:<scanner@contoso.com>")
        assert raw.command(b"DATA") == replies.NEED_RCPT
        assert raw.command(b"MAIL FROM:<scanner@contoso.com>") == replies.NESTED_MAIL
        assert raw.command(b"MAIL FROM:<scanner@contoso.com> FOO=BAR") == replies.NESTED_MAIL
        raw.command(b"RSET")
        assert raw.command(b"MAIL FROM:<scanner@contoso.com> FOO=BAR") == replies.BAD_PARAMETER.format(param="FOO")
        assert raw.command(b"MAIL FROM:<not an address>") == replies.BAD_ADDRESS
    finally:
        raw.close()


def test_a_carriage_return_in_ehlo_cannot_inject_a_header_into_the_stored_message(tenant):
    raw = Raw(tenant)
    try:
        assert raw.command(b"EHLO printer\rX-Injected: yes").startswith("250 ")
        raw.command(b"MAIL FROM:<scanner@contoso.com>")
        raw.command(b"RCPT TO:<alice@contoso.com>")
        raw.command(b"DATA")
        assert raw.command(message() + b".").startswith("250 2.6.0 ")
    finally:
        raw.close()
    stored, = tenant.messages("alice@contoso.com")
    assert stored["X-Injected"] is None
    assert stored["Received"].startswith("from printer?X-Injected: yes (127.0.0.20)")
