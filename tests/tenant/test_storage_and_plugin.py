# Where mail lands and how users' own CI reaches the fake: Maildir folders that Python's `mailbox`
# module reads, a refused message never stored anywhere, a 10 MB scan stored byte for byte, and the
# `o365` pytest fixture (entry point `scanmail_o365`) with its FakeClock.
import hashlib
import mailbox
import os
import time

import pytest

from tests.tenant.helpers import SCANNER, SCANNER_IP, Client, leftover_files, message


def test_stored_mail_is_a_maildir_per_mailbox_and_folder_that_the_mailbox_module_reads(tenant):
    with Client(tenant, "submission") as smtp:
        smtp.secure().login_as(SCANNER)
        smtp.sendmail("scanner@contoso.com", ["alice@contoso.com", "partner@fabrikam.com"], message())
    mail = tenant.mail_dir
    inbox = mailbox.Maildir(os.path.join(mail, "alice@contoso.com", "Inbox"), create=False)
    sent = mailbox.Maildir(os.path.join(mail, "scanner@contoso.com", "Sent Items"), create=False)
    internet = mailbox.Maildir(os.path.join(mail, "internet"), create=False)
    assert [m["Subject"] for m in inbox] == ["Scan 0001"]
    assert [m["Subject"] for m in sent] == ["Scan 0001"]
    assert [m["To"] for m in internet] == ["alice@contoso.com"]
    assert leftover_files(tenant) == []


def test_a_10_mb_scan_is_stored_byte_for_byte(tenant):
    lines = [(b"%076d" % n) for n in range(10 * 1024 * 1024 // 78)]
    body = b"\r\n".join(lines) + b"\r\n"
    data = (b"From: scanner@contoso.com\r\nTo: alice@contoso.com\r\nSubject: big scan\r\n"
            b"Content-Type: application/octet-stream\r\n\r\n" + body)
    with Client(tenant, "mx", SCANNER_IP) as smtp:
        assert smtp.sendmail("scanner@contoso.com", ["alice@contoso.com"], data) == {}
    stored, = tenant.messages("alice@contoso.com")
    payload = stored.get_payload(decode=False).encode("ascii").replace(b"\n", b"\r\n")
    assert hashlib.sha256(payload).hexdigest() == hashlib.sha256(body).hexdigest()


@pytest.mark.parametrize("sender", ["bob@contoso.com"], ids=["header From refused after DATA"])
def test_a_message_refused_at_the_end_of_data_is_stored_nowhere(tenant, sender):
    with Client(tenant, "submission") as smtp:
        smtp.secure().login_as(SCANNER)
        smtp.mail("scanner@contoso.com")
        smtp.rcpt("alice@contoso.com")
        smtp.rcpt("partner@fabrikam.com")
        assert smtp.data(message(sender=sender))[0] == 554
    assert tenant.messages("alice@contoso.com") == []
    assert tenant.internet_messages() == []
    assert tenant.messages("scanner@contoso.com", "Sent Items") == []
    assert leftover_files(tenant) == []


def test_the_o365_fixture_gives_a_running_tenant_with_a_fake_clock(o365):
    token = o365.mint_token("scanner@contoso.com", lifetime_s=60)
    o365.clock.advance(30)
    assert o365.world.entra.check_xoauth2(token, "scanner@contoso.com") is None
    o365.clock.advance(31)
    assert o365.world.entra.check_xoauth2(token, "scanner@contoso.com") is not None
    with Client(o365, "mx", SCANNER_IP) as smtp:
        assert smtp.sendmail("scanner@contoso.com", ["bob@contoso.com"], message(to="bob@contoso.com")) == {}
    assert [m["Subject"] for m in o365.messages("bob@contoso.com")] == ["Scan 0001"]
    assert os.path.exists(os.path.join(o365.state_dir, "endpoints.json"))


def test_a_half_written_message_left_by_a_killed_server_is_removed_when_the_tenant_starts_again(tmp_path):
    from scanmail.emulator.tenant import FakeTenant
    with FakeTenant(state_dir=tmp_path) as first:
        with Client(first, "mx", SCANNER_IP) as smtp:
            smtp.sendmail("scanner@contoso.com", ["alice@contoso.com"], message())
        inbox = os.path.join(first.mail_dir, "alice@contoso.com", "Inbox")
    torn = os.path.join(inbox, "tmp", "1.torn.scanmail")
    with open(torn, "wb") as f:
        f.write(b"From: scanner@contoso.com\r\nSubject: cut o")
    with FakeTenant(state_dir=tmp_path) as second:
        assert not os.path.exists(torn)
        assert [m["Subject"] for m in second.messages("alice@contoso.com")] == ["Scan 0001"]


def test_no_password_or_token_reaches_the_trace_or_a_log_line(tenant, caplog):
    import logging
    import smtplib
    from tests.tenant.helpers import xoauth2
    caplog.set_level(logging.DEBUG)
    password, token = "Hunter2-Secret-Pass", tenant.mint_token("scanner@contoso.com") + "tampered"
    with Client(tenant, "submission") as smtp:
        smtp.secure()
        with pytest.raises(smtplib.SMTPAuthenticationError):
            smtp.login("scanner@contoso.com", password)
        assert smtp.raw("AUTH XOAUTH2 " + xoauth2("scanner@contoso.com", token))[0] == 535
    with open(os.path.join(tenant.state_dir, "trace.jsonl")) as f:
        trace_text = f.read()
    assert [r["status"] for r in tenant.trace()] == ["Refused", "Refused"]
    for secret in (password, token, token[:40]):
        assert secret not in trace_text
        assert secret not in caplog.text


def test_a_reset_under_a_message_in_flight_gives_a_temporary_error_not_a_crash(tenant):
    from scanmail.emulator.tenant import replies
    with Client(tenant, "mx", SCANNER_IP) as smtp:
        smtp.ehlo()
        smtp.mail("scanner@contoso.com")
        smtp.rcpt("alice@contoso.com")
        smtp.putcmd("DATA")
        assert smtp.getreply()[0] == 354
        smtp.send(message())
        while not tenant.spool_files():      # the server has started spooling (pytest-timeout bounds it)
            time.sleep(0.01)
        tenant.reset()                        # wipes the mail store, the spool file with it
        smtp.send(b".\r\n")
        code, text = smtp.getreply()
        assert "%d %s" % (code, text.decode()) == replies.STORE_FAILED
        assert smtp.noop()[0] == 250          # the session goes on
    assert tenant.messages("alice@contoso.com") == []
