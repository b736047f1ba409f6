# The per-mailbox limits of client submission: 30 messages a minute (delayed, not refused), 10,000
# recipients a rolling day, 500 recipients a message, 3 concurrent connections, the mailbox send
# size limit and SIZE= at MAIL, and the lockout after repeated failed sign-ins. Time only moves when
# the test advances the tenant's FakeClock; no test waits on the wall clock.
import smtplib
import threading
import time

import pytest

from scanmail.emulator.tenant import replies
from tests.tenant.helpers import ALICE, BOB, SCANNER, Client, message, reply_line

HOST = "SC1PR80CA0174.outlook.office365.com"
S535_WRONG_PASSWORD = "535 5.7.3 Authentication unsuccessful [%s]" % HOST


def wait_until(condition, what):
    """Poll a condition the server will reach (no timing is asserted; pytest-timeout bounds it)."""
    while not condition():
        time.sleep(0.01)
    return what


def test_the_31st_message_in_a_minute_is_delayed_until_the_window_allows_then_delivered(tenant):
    with Client(tenant, "submission") as smtp:
        smtp.secure().login_as(SCANNER)
        for n in range(30):
            smtp.sendmail("scanner@contoso.com", ["alice@contoso.com"], message(subject="scan %d" % n))
        outcome = {}

        def thirty_first():
            try:
                outcome["reply"] = smtp.sendmail("scanner@contoso.com", ["alice@contoso.com"],
                                                 message(subject="scan 30"))
            except Exception as exc:  # reported below
                outcome["error"] = exc

        sender = threading.Thread(target=thirty_first)
        sender.start()
        wait_until(lambda: tenant.trace()[-1]["status"] == "Delayed", "held")
        assert len(tenant.messages("alice@contoso.com")) == 30
        assert sender.is_alive()                      # the reply is held, not refused
        tenant.clock.advance(60)
        sender.join(20)
    assert outcome == {"reply": {}}
    statuses = [r["status"] for r in tenant.trace()[-2:]]
    assert statuses == ["Delayed", "Delivered"]
    assert len(tenant.messages("alice@contoso.com")) == 31


def test_the_recipient_quota_of_a_rolling_day_refuses_with_5_2_0_and_recovers_a_day_later(make_tenant):
    fake = make_tenant("[limits]\nrecipients_per_day = 4\n")
    with Client(fake, "submission") as smtp:
        smtp.secure().login_as(SCANNER)
        smtp.sendmail("scanner@contoso.com", ["alice@contoso.com", "bob@contoso.com", "x@fabrikam.com"],
                      message())
        with pytest.raises(smtplib.SMTPDataError) as refused:
            smtp.sendmail("scanner@contoso.com", ["alice@contoso.com", "bob@contoso.com"], message())
        assert reply_line((refused.value.smtp_code, refused.value.smtp_error)) == replies.DAILY_QUOTA
        fake.clock.advance(24 * 3600 + 1)
        assert smtp.sendmail("scanner@contoso.com", ["alice@contoso.com", "bob@contoso.com"], message()) == {}
    assert fake.trace()[-2]["status"] == "Failed"


def test_the_501st_recipient_of_one_message_gets_452_4_5_3(tenant):
    with Client(tenant, "submission") as smtp:
        smtp.secure().login_as(SCANNER)
        smtp.mail("scanner@contoso.com")
        for n in range(500):
            code, _ = smtp.rcpt("r%d@fabrikam.com" % n)
            assert code == 250
        assert reply_line(smtp.rcpt("r500@fabrikam.com")) == replies.TOO_MANY_RECIPIENTS


def test_a_fourth_concurrent_connection_of_a_mailbox_gets_432_4_3_2_after_data(tenant):
    clients = [Client(tenant, "submission").secure().login_as(SCANNER) for _ in range(4)]
    try:
        assert clients[0].sendmail("scanner@contoso.com", ["alice@contoso.com"], message()) == {}
        with pytest.raises(smtplib.SMTPDataError) as refused:
            clients[3].sendmail("scanner@contoso.com", ["alice@contoso.com"], message())
        assert reply_line((refused.value.smtp_code, refused.value.smtp_error)) == \
            replies.CONCURRENT_CONNECTIONS.format(host="SYBP282MB2635.AUSP282.PROD.OUTLOOK.COM")
        clients[0].quit()
        wait_until(lambda: len([s for s in tenant.world.sessions if s.login]) == 3, "first one gone")
        assert clients[3].sendmail("scanner@contoso.com", ["alice@contoso.com"], message()) == {}
    finally:
        for client in clients:
            client.close()


def test_other_mailboxes_have_their_own_connection_budget(tenant):
    clients = [Client(tenant, "submission").secure().login_as(SCANNER) for _ in range(3)]
    try:
        with Client(tenant, "submission") as alice:
            alice.secure().login_as(ALICE)
            assert alice.sendmail("alice@contoso.com", ["bob@contoso.com"], message(sender="alice@contoso.com")) == {}
    finally:
        for client in clients:
            client.close()


def test_size_at_mail_over_the_mailbox_limit_is_refused_with_5_3_4(tenant):
    with Client(tenant, "submission") as smtp:
        smtp.secure().login_as(SCANNER)
        assert reply_line(smtp.raw("MAIL FROM:<scanner@contoso.com> SIZE=%d" % (35 * 1024 * 1024 + 1))) == \
            replies.MESSAGE_TOO_BIG
        assert reply_line(smtp.raw("MAIL FROM:<scanner@contoso.com> SIZE=%d" % (35 * 1024 * 1024))) == \
            replies.MAIL_OK


def test_a_message_over_the_mailbox_send_size_limit_is_refused_at_end_of_data_and_not_stored(make_tenant):
    fake = make_tenant(replace=[('password = "Bob-Pass-1"', 'password = "Bob-Pass-1"\nsend_size_limit_mb = 1')])
    big = message(sender="bob@contoso.com", body="A" * 76 + "\r\n") + (b"B" * 76 + b"\r\n") * 14000
    with Client(fake, "submission") as smtp:
        smtp.secure().login_as(BOB)
        smtp.mail("bob@contoso.com")          # no SIZE= given: only the end of data can tell
        smtp.rcpt("alice@contoso.com")
        assert reply_line(smtp.data(big)) == replies.MESSAGE_TOO_BIG
    assert fake.messages("alice@contoso.com") == []
    assert fake.spool_files() == []


def test_ten_failed_sign_ins_in_five_minutes_lock_the_account_even_for_the_right_password(tenant):
    with Client(tenant, "submission") as smtp:
        smtp.secure()
        for _ in range(10):
            with pytest.raises(smtplib.SMTPAuthenticationError) as refused:
                smtp.login("alice@contoso.com", "guess")
            assert reply_line((refused.value.smtp_code, refused.value.smtp_error)) == S535_WRONG_PASSWORD
        with pytest.raises(smtplib.SMTPAuthenticationError) as locked:
            smtp.login(*ALICE)
        assert reply_line((locked.value.smtp_code, locked.value.smtp_error)) == replies.ACCOUNT_LOCKED
    tenant.clock.advance(15 * 60 + 1)
    with Client(tenant, "submission") as smtp:
        smtp.secure()
        assert smtp.login(*ALICE)[0] == 235


def test_failed_sign_ins_spread_beyond_five_minutes_do_not_lock(tenant):
    with Client(tenant, "submission") as smtp:
        smtp.secure()
        for _ in range(12):
            with pytest.raises(smtplib.SMTPAuthenticationError):
                smtp.login("alice@contoso.com", "guess")
            tenant.clock.advance(35)      # never ten inside one five-minute window
        assert smtp.login(*ALICE)[0] == 235


def test_a_password_sprayer_inventing_names_does_not_grow_the_lockout_table(tenant):
    with Client(tenant, "submission") as smtp:
        smtp.secure()
        for n in range(200):
            with pytest.raises(smtplib.SMTPAuthenticationError):
                smtp.login("sprayed-%04d-%s@contoso.com" % (n, "x" * 900), "guess")
    # Only real accounts are tracked (and locked); made-up names leave nothing behind.
    assert len(tenant.world.limits._failures) == 0
    with Client(tenant, "submission") as smtp:
        smtp.secure()
        assert smtp.login(*ALICE)[0] == 235
