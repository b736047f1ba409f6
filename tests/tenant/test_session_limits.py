# The fake tenant's own protection: every session gives back what it holds when its connection ends,
# whatever stage it ends in (a failed STARTTLS handshake included); caps on connections in total and
# per client address, on a session's and a message transfer's time, on commands and on refused
# recipients; and Exchange's 5.7.506 for a client that greets the MX with the service's own name.
import gc
import socket
import ssl
import time

import pytest

from scanmail.emulator.tenant import replies
from scanmail.emulator.tenant.smtp_session import TenantSmtp
from tests.tenant.helpers import SCANNER, Client, leftover_files, message, tls_context
from tests.tenant.test_bad_input import Raw, settled


def live_sessions():
    gc.collect()
    return [o for o in gc.get_objects() if isinstance(o, TenantSmtp)]


def ends(raw):
    """True once the server has closed the connection (a reset too: a command may have crossed the
    server's last reply, and a socket closed with unread input is reset)."""
    try:
        return raw.file.readline() == b""
    except ConnectionResetError:
        return True


def starttls_then(tenant, how, source):
    raw = Raw(tenant, "submission", source)
    try:
        raw.command(b"EHLO aborter")
        assert raw.command(b"STARTTLS") == replies.STARTTLS_READY
        if how == "close":
            pass
        elif how == "garbage":
            raw.send(b"\x00garbage, not a ClientHello\r\n" * 10)
            raw.file.read()
        elif how == "half handshake":
            raw.send(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
        elif how == "wrong CA":
            context = ssl.create_default_context()     # the system's CAs, not the fake's
            with pytest.raises(ssl.SSLCertVerificationError):
                context.wrap_socket(raw.sock, server_hostname="smtp.office365.com")
    finally:
        raw.close()


@pytest.mark.parametrize("how", ["close", "garbage", "half handshake", "wrong CA"])
def test_a_session_that_aborts_starttls_leaves_nothing_behind(tenant, how):
    # Before, the idle timer (300 s) kept each such session and its TLS buffers alive.
    for i in range(5):
        starttls_then(tenant, how, "127.0.0.%d" % (60 + i))
    assert settled(tenant)
    deadline = time.monotonic() + 30          # bounded wait for the loop to drop the last reference
    while live_sessions() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert live_sessions() == []
    assert tenant.world.connections.open == 0 and tenant.world.connections.by_address == {}
    with Client(tenant, "submission") as client:
        client.secure().login_as(SCANNER)
        assert client.sendmail(SCANNER[0], ["alice@contoso.com"], message())  == {}


def test_connections_are_capped_per_address_and_in_total_and_a_slot_comes_back_on_close(make_tenant):
    fake = make_tenant("[limits]\nconnections = 5\nconnections_per_address = 3\n")
    held = [Raw(fake, "mx", "127.0.0.71") for _ in range(3)]
    try:
        assert all(r.greeting.startswith("220 ") for r in held)
        over = Raw(fake, "mx", "127.0.0.71")
        assert over.greeting == replies.TOO_MANY_CONNECTIONS_FROM_ADDRESS
        assert ends(over)                             # closed at once
        over.close()
        held += [Raw(fake, "mx", "127.0.0.72") for _ in range(2)]
        assert all(r.greeting.startswith("220 ") for r in held)
        full = Raw(fake, "mx", "127.0.0.73")
        assert full.greeting == replies.TOO_MANY_CONNECTIONS
        full.close()
        held.pop().close()
        deadline = time.monotonic() + 30
        while fake.world.connections.open > 4 and time.monotonic() < deadline:
            time.sleep(0.01)
        again = Raw(fake, "mx", "127.0.0.73")
        assert again.greeting.startswith("220 ")
        assert again.command(b"EHLO back") .startswith("250 ")
        again.close()
    finally:
        for raw in held:
            raw.close()


def test_a_flood_of_connections_from_one_address_leaves_room_for_a_good_client_and_logs_one_line(make_tenant, caplog):
    fake = make_tenant("[limits]\nconnections_per_address = 20\n")
    held, refused = [], 0
    try:
        for _ in range(100):
            raw = Raw(fake, "mx", "127.0.3.1")
            if raw.greeting.startswith("220 "):
                held.append(raw)
            else:
                assert raw.greeting == replies.TOO_MANY_CONNECTIONS_FROM_ADDRESS
                refused += 1
                raw.close()
        assert (len(held), refused) == (20, 80)
        with Client(fake, "submission", "127.0.0.1") as client:
            client.secure().login_as(SCANNER)
            assert client.sendmail(SCANNER[0], ["alice@contoso.com"], message()) == {}
        assert len(fake.messages("alice@contoso.com")) == 1
    finally:
        for raw in held:
            raw.close()
    lines = [r for r in caplog.records if "refused" in r.getMessage()]
    assert len(lines) == 1 and "\n" not in lines[0].getMessage()


def test_a_whole_session_has_a_time_limit(make_tenant):
    fake = make_tenant("[limits]\nsession_s = 1\n")
    raw = Raw(fake)
    try:
        while True:                         # a client that keeps itself busy forever
            reply = raw.command(b"NOOP")
            if reply != replies.NOOP_OK:
                break
            time.sleep(0.05)
        assert reply == replies.SESSION_TOO_LONG
        assert ends(raw)
    finally:
        raw.close()
    assert settled(fake)


@pytest.mark.parametrize("transfer", ["DATA", "BDAT"])
def test_a_message_trickled_byte_by_byte_is_cut_at_the_transfer_limit_and_nothing_is_stored(make_tenant, transfer):
    fake = make_tenant("[limits]\ndata_s = 1\n")
    raw = Raw(fake)
    try:
        raw.command(b"EHLO slowloris")
        raw.command(b"MAIL FROM:<scanner@contoso.com>")
        raw.command(b"RCPT TO:<alice@contoso.com>")
        if transfer == "DATA":
            assert raw.command(b"DATA").startswith("354")
            body = message()
        else:
            raw.send(b"BDAT 10\r\n0123456789")
            assert raw.reply().startswith("250")
            body = b"BDAT 1\r\nx" * 1000          # one small chunk after another, each acknowledged
        raw.sock.settimeout(0.1)
        got, buffered = None, b""
        for byte in body:                          # about 10 bytes a second
            raw.sock.sendall(bytes([byte]))
            try:
                buffered += raw.sock.recv(4096)
            except socket.timeout:
                continue
            lines = [line for line in buffered.split(b"\r\n")[:-1] if not line.startswith(b"250 2.6.0")]
            if lines:
                got = lines[0]
                break
        assert got is not None and got.decode() == replies.DATA_TOO_SLOW
    finally:
        raw.close()
    assert settled(fake)
    assert fake.messages("alice@contoso.com") == [] and leftover_files(fake) == []


def test_commands_per_session_are_capped(make_tenant):
    fake = make_tenant("[limits]\ncommands_per_session = 20\n")
    raw = Raw(fake)
    try:
        replies_seen = [raw.command(b"NOOP") for _ in range(20)]
        assert set(replies_seen) == {replies.NOOP_OK}
        assert raw.command(b"NOOP") == replies.TOO_MANY_COMMANDS
        assert ends(raw)
    finally:
        raw.close()


def test_refused_recipients_are_capped_and_so_is_what_they_add_to_the_trace(make_tenant):
    fake = make_tenant("[limits]\nrefused_recipients_per_session = 5\n")
    raw = Raw(fake, "mx", "127.0.0.99")
    try:
        raw.command(b"EHLO harvester")
        raw.command(b"MAIL FROM:<someone@fabrikam.example>")
        got = [raw.command(b"RCPT TO:<nobody%d@contoso.com>" % i) for i in range(6)]
    finally:
        raw.close()
    assert all(r.startswith("550 5.4.1") for r in got[:5]) and got[5] == replies.TOO_MANY_REFUSED_RECIPIENTS
    assert len([r for r in fake.trace() if r["status"] == "Refused"]) == 5


@pytest.mark.parametrize("name", ["contoso-com.mail.protection.outlook.com", "CONTOSO-COM.mail.protection.outlook.com.",
                                  "AMS0EPF0000019A.mail.protection.outlook.com", "other-org.mail.protection.outlook.com",
                                  "x.mx.microsoft"])
@pytest.mark.parametrize("verb", [b"EHLO", b"HELO"])
def test_greeting_the_mx_with_its_own_name_is_refused_as_exchange_does(tenant, name, verb):
    raw = Raw(tenant, "mx")
    try:
        assert raw.command(verb + b" " + name.encode()) == replies.BAD_HELO
        assert raw.command(b"MAIL FROM:<scanner@contoso.com>") == replies.SEND_HELLO_FIRST
        assert raw.command(b"EHLO scanner-3f2a").startswith("250 ")
    finally:
        raw.close()


def test_submission_takes_any_greeting_name(tenant):
    with Client(tenant, "submission") as client:
        assert client.ehlo("contoso-com.mail.protection.outlook.com")[0] == 250
