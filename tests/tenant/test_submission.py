# SMTP AUTH client submission (smtp.office365.com:587) as a scanner meets it: the greeting and EHLO
# lists, STARTTLS first, AUTH LOGIN and XOAUTH2 only, the 5.7.x refusals from tenant and mailbox
# switches, Send As at MAIL and on the header From, and where accepted mail lands.
import re
import smtplib
import socket
import ssl

import pytest

from scanmail.emulator.tenant import replies
from tests.tenant.helpers import (ALICE, NOSMTP, SCANNER, Client, message, reply_line, tls_context,
                                  xoauth2)

HOST = "SC1PR80CA0174.outlook.office365.com"
TAG = r"\[%s \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z [0-9A-F]{16}\]" % re.escape(HOST)
EHLO_BEFORE_TLS = ("%s Hello [127.0.0.1]\nSIZE 157286400\nPIPELINING\nDSN\nENHANCEDSTATUSCODES\nSTARTTLS\n"
                   "8BITMIME\nBINARYMIME\nCHUNKING\nSMTPUTF8" % HOST)
EHLO_AFTER_TLS = EHLO_BEFORE_TLS.replace("STARTTLS", "AUTH LOGIN XOAUTH2")
S530_NOT_AUTHENTICATED = "530 5.7.57 Client not authenticated to send mail. [%s]" % HOST
S535_WRONG_PASSWORD = "535 5.7.3 Authentication unsuccessful [%s]" % HOST
S504_UNRECOGNIZED_AUTH = "504 5.7.4 Unrecognized authentication type [%s]" % HOST


def test_a_scanner_is_greeted_and_offered_starttls_then_auth_login_xoauth2_in_its_place(tenant):
    with socket.create_connection(tenant.address("submission"), timeout=10) as sock:
        greeting = sock.makefile("rb").readline().decode("ascii")
    assert re.fullmatch(r"220 %s Microsoft ESMTP MAIL Service ready at \w{3}, \d\d \w{3} \d{4} "
                        r"\d\d:\d\d:\d\d \+0000 \[[0-9A-F]{16}\]\r\n" % re.escape(HOST), greeting)
    with Client(tenant, "submission") as smtp:
        assert smtp.ehlo("scanner-3f2a") == (250, EHLO_BEFORE_TLS.encode())
        assert reply_line(smtp.starttls(context=tls_context(tenant))) == replies.STARTTLS_READY
        assert smtp.ehlo("scanner-3f2a") == (250, EHLO_AFTER_TLS.encode())


def test_mail_before_starttls_is_refused_with_5_7_3_and_a_diagnostic_tag(tenant):
    with Client(tenant, "submission") as smtp:
        smtp.ehlo()
        code, text = smtp.mail("scanner@contoso.com")
        assert re.fullmatch(r"451 5\.7\.3 STARTTLS is required to send mail " + TAG, reply_line((code, text)))


def test_auth_before_tls_and_auth_plain_are_refused_with_5_7_4(tenant):
    with Client(tenant, "submission") as smtp:
        smtp.ehlo()
        assert reply_line(smtp.raw("AUTH LOGIN")) == S504_UNRECOGNIZED_AUTH
        smtp.secure()
        assert reply_line(smtp.raw("AUTH PLAIN AHNjYW5uZXJAY29udG9zby5jb20AeA==")) == S504_UNRECOGNIZED_AUTH


def test_auth_before_ehlo_gets_send_hello_first(tenant):
    with Client(tenant, "submission") as smtp:
        assert reply_line(smtp.raw("AUTH LOGIN")) == replies.SEND_HELLO_FIRST


def test_auth_login_prompts_username_then_password_as_exchange_does(tenant):
    with Client(tenant, "submission") as smtp:
        smtp.secure()
        assert reply_line(smtp.raw("AUTH LOGIN")) == "334 VXNlcm5hbWU6"
        assert reply_line(smtp.raw("c2Nhbm5lckBjb250b3NvLmNvbQ==")) == "334 UGFzc3dvcmQ6"
        assert reply_line(smtp.raw("U2Nhbm5lci1QYXNzLTE=")) == replies.AUTH_OK


def test_invalid_base64_in_auth_gets_501_and_the_session_goes_on(tenant):
    with Client(tenant, "submission") as smtp:
        smtp.secure()
        assert reply_line(smtp.raw("AUTH LOGIN")) == replies.AUTH_LOGIN_USERNAME
        assert reply_line(smtp.raw("!!!not base64!!!")) == replies.BAD_BASE64
        smtp.login_as(SCANNER)


def test_a_wrong_password_gets_5_7_3_and_mail_afterwards_quotes_it_in_5_7_57(tenant):
    with Client(tenant, "submission") as smtp:
        smtp.secure()
        with pytest.raises(smtplib.SMTPAuthenticationError) as refused:
            smtp.login("scanner@contoso.com", "wrong")
        assert reply_line((refused.value.smtp_code, refused.value.smtp_error)) == S535_WRONG_PASSWORD
        assert reply_line(smtp.mail("scanner@contoso.com")) == (
            "530 5.7.57 Client not authenticated to send mail. Error: " + S535_WRONG_PASSWORD)
    refused_trace = tenant.trace()[-2]
    assert (refused_trace["status"], refused_trace["sender"], refused_trace["reply"]) == (
        "Refused", "scanner@contoso.com", S535_WRONG_PASSWORD)
    assert "wrong" not in str(tenant.trace())


def test_mail_without_auth_gets_5_7_57(tenant):
    with Client(tenant, "submission") as smtp:
        smtp.secure()
        assert reply_line(smtp.mail("scanner@contoso.com")) == S530_NOT_AUTHENTICATED


def test_a_scanner_submits_to_a_colleague_and_an_outside_address_and_keeps_a_sent_copy(tenant):
    with Client(tenant, "submission") as smtp:
        smtp.secure().login_as(SCANNER)
        assert reply_line(smtp.mail("scanner@contoso.com")) == replies.MAIL_OK
        assert reply_line(smtp.rcpt("alice@contoso.com")) == replies.RCPT_OK
        assert reply_line(smtp.rcpt("partner@fabrikam.com")) == replies.RCPT_OK
        code, text = smtp.data(message(to="alice@contoso.com, partner@fabrikam.com"))
    assert re.fullmatch(r"250 2\.0\.0 OK <[^>]+> \[Hostname=SYBP282MB2635\.AUSP282\.PROD\.OUTLOOK\.COM\]",
                        reply_line((code, text)))
    inbox, = tenant.messages("alice@contoso.com", "Inbox")
    outside, = tenant.internet_messages()
    sent, = tenant.messages("scanner@contoso.com", "Sent Items")
    for copy in (inbox, outside, sent):
        assert copy["Subject"] == "Scan 0001"
        assert copy["X-MS-Exchange-Organization-AuthAs"] == "Internal"
        assert "version=TLS1_" in copy["Received"]
    record = tenant.trace()[-1]
    assert (record["endpoint"], record["method"], record["status"], record["reply"]) == (
        "submission", "submission", "Delivered", reply_line((code, text)))
    assert record["recipients"] == ["alice@contoso.com", "partner@fabrikam.com"]
    assert record["tls"].startswith("TLSv1.")


def test_sending_as_another_mailbox_without_send_as_is_refused_at_mail_with_5_7_60(tenant):
    with Client(tenant, "submission") as smtp:
        smtp.secure().login_as(SCANNER)
        assert reply_line(smtp.mail("alice@contoso.com")) == replies.SEND_AS_DENIED_AT_MAIL


def test_a_scanner_with_send_as_on_the_shared_mailbox_sends_as_frontdesk(tenant):
    with Client(tenant, "submission") as smtp:
        smtp.secure().login_as(SCANNER)
        assert smtp.sendmail("frontdesk@contoso.com", ["alice@contoso.com"],
                             message(sender="Front Desk <frontdesk@contoso.com>")) == {}
    assert tenant.messages("alice@contoso.com")[0]["From"] == "Front Desk <frontdesk@contoso.com>"


def test_a_header_from_the_login_may_not_send_as_is_refused_after_data_with_5_2_252(tenant):
    with Client(tenant, "submission") as smtp:
        smtp.secure().login_as(SCANNER)
        with pytest.raises(smtplib.SMTPDataError) as refused:
            smtp.sendmail("scanner@contoso.com", ["alice@contoso.com"], message(sender="bob@contoso.com"))
    assert reply_line((refused.value.smtp_code, refused.value.smtp_error)) == \
        replies.SEND_AS_DENIED_AFTER_DATA.format(login="scanner@contoso.com", sender="bob@contoso.com")
    assert tenant.messages("alice@contoso.com") == []
    assert tenant.trace()[-1]["status"] == "Failed"


def test_a_message_without_a_from_header_is_refused_with_5_7_512(tenant):
    with Client(tenant, "submission") as smtp:
        smtp.secure().login_as(SCANNER)
        with pytest.raises(smtplib.SMTPDataError) as refused:
            smtp.sendmail("scanner@contoso.com", ["alice@contoso.com"], b"Subject: no from\r\n\r\nbody\r\n")
    assert reply_line((refused.value.smtp_code, refused.value.smtp_error)) == replies.NOT_RFC5322


def test_xoauth2_with_a_minted_token_of_16_kb_works_inline_on_one_line(tenant):
    token = tenant.mint_token("scanner@contoso.com", padding=12000)
    line = "AUTH XOAUTH2 " + xoauth2("scanner@contoso.com", token)
    assert len(line) > 16 * 1024
    with Client(tenant, "submission") as smtp:
        smtp.secure()
        assert reply_line(smtp.raw(line)) == replies.AUTH_OK
        assert smtp.sendmail("scanner@contoso.com", ["alice@contoso.com"], message()) == {}


def test_xoauth2_in_two_steps_gets_an_empty_334_challenge(tenant):
    with Client(tenant, "submission") as smtp:
        smtp.secure()
        assert reply_line(smtp.raw("AUTH XOAUTH2")) == "334 "
        token = tenant.mint_token("scanner@contoso.com")
        assert reply_line(smtp.raw(xoauth2("scanner@contoso.com", token))) == replies.AUTH_OK


@pytest.mark.parametrize("case", ["expired", "other user", "forged"])
def test_a_bad_xoauth2_token_gets_5_7_3(tenant, case):
    token = tenant.mint_token("scanner@contoso.com", lifetime_s=60)
    if case == "expired":
        tenant.clock.advance(61)
    elif case == "forged":
        token = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    user = "alice@contoso.com" if case == "other user" else "scanner@contoso.com"
    with Client(tenant, "submission") as smtp:
        smtp.secure()
        assert reply_line(smtp.raw("AUTH XOAUTH2 " + xoauth2(user, token))) == S535_WRONG_PASSWORD


def test_a_mailbox_with_smtp_auth_disabled_is_refused_with_5_7_139_for_the_mailbox(tenant):
    with Client(tenant, "submission") as smtp:
        smtp.secure()
        with pytest.raises(smtplib.SMTPAuthenticationError) as refused:
            smtp.login(*NOSMTP)
    assert re.fullmatch(re.escape(
        "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Mailbox. "
        "Visit https://aka.ms/smtp_auth_disabled for more information. ") + TAG,
        reply_line((refused.value.smtp_code, refused.value.smtp_error)))


TENANT_SWITCHES = [
    # (tenant file replacement, mechanism, expected reply pattern)
    (("smtp_auth = true ", "smtp_auth = false"), "LOGIN",
     re.escape("535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the "
               "Tenant. Visit https://aka.ms/smtp_auth_disabled for more information. ") + TAG),
    (("smtp_auth = true ", "smtp_auth = false"), "XOAUTH2",
     re.escape("535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the "
               "Tenant. Visit https://aka.ms/smtp_auth_disabled for more information. ") + TAG),
    (('basic_auth = "enabled"', 'basic_auth = "disabled"'), "LOGIN",
     re.escape("535 5.7.139 Authentication unsuccessful, basic authentication is disabled. ") + TAG),
    (('basic_auth = "enabled"', 'basic_auth = "retired"'), "LOGIN",
     re.escape(replies.BASIC_AUTH_RETIRED)),
    (('basic_auth = "enabled"', 'basic_auth = "retired"'), "XOAUTH2", re.escape(replies.AUTH_OK)),
    (("security_defaults = false", "security_defaults = true"), "LOGIN", re.escape(replies.SECURITY_DEFAULTS)),
]


@pytest.mark.parametrize("replacement,mechanism,expected", TENANT_SWITCHES,
                         ids=["tenant SMTP AUTH off, LOGIN", "tenant SMTP AUTH off, XOAUTH2",
                              "basic auth disabled", "basic auth retired", "OAuth after basic auth retired",
                              "security defaults"])
def test_tenant_switches_give_exchanges_sign_in_replies(make_tenant, replacement, mechanism, expected):
    fake = make_tenant(replace=[replacement])
    with Client(fake, "submission") as smtp:
        smtp.secure()
        if mechanism == "LOGIN":
            smtp.raw("AUTH LOGIN")
            smtp.raw("c2Nhbm5lckBjb250b3NvLmNvbQ==")
            got = smtp.raw("U2Nhbm5lci1QYXNzLTE=")
        else:
            got = smtp.raw("AUTH XOAUTH2 " + xoauth2("scanner@contoso.com", fake.mint_token("scanner@contoso.com")))
    assert re.fullmatch(expected, reply_line(got))


def test_a_mailbox_switch_on_overrides_the_tenant_switch_off(make_tenant):
    fake = make_tenant(replace=[("smtp_auth = true ", "smtp_auth = false"),
                                ('password = "Alice-Pass-1"', 'password = "Alice-Pass-1"\nsmtp_auth = true')])
    with Client(fake, "submission") as smtp:
        smtp.secure()
        assert smtp.login(*ALICE)[0] == 235


def test_an_unlicensed_sender_is_refused_at_mail_with_5_1_8(make_tenant):
    fake = make_tenant(replace=[('password = "Alice-Pass-1"', 'password = "Alice-Pass-1"\nlicensed = false')])
    with Client(fake, "submission") as smtp:
        smtp.secure().login_as(ALICE)
        assert reply_line(smtp.mail("alice@contoso.com")) == replies.BAD_OUTBOUND_SENDER


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1, ssl.TLSVersion.TLSv1_1], ids=["TLS 1.0", "TLS 1.1"])
def test_a_legacy_tls_client_completes_the_handshake_then_gets_4_7_66_at_auth(tenant, version):
    with Client(tenant, "submission") as smtp:
        smtp.ehlo()
        smtp.starttls(context=tls_context(tenant, maximum=version))
        assert smtp.sock.version() in ("TLSv1", "TLSv1.1")
        smtp.ehlo()
        assert reply_line(smtp.raw("AUTH LOGIN")) == replies.LEGACY_TLS.format(host=HOST)


def test_an_unknown_command_gets_500_5_3_3_naming_it_with_a_diagnostic_tag(tenant):
    with Client(tenant, "submission") as smtp:
        assert re.fullmatch(r"500 5\.3\.3 Unrecognized command 'xyz' " + TAG, reply_line(smtp.raw("xyz")))


def test_rset_noop_and_quit_answer_as_exchange(tenant):
    with Client(tenant, "submission") as smtp:
        smtp.ehlo()
        assert reply_line(smtp.raw("RSET")) == replies.RSET_OK
        assert reply_line(smtp.raw("NOOP")) == replies.NOOP_OK
        assert reply_line(smtp.raw("QUIT")) == replies.QUIT_OK


def test_dsn_parameters_are_accepted_on_mail_and_rcpt(tenant):
    with Client(tenant, "submission") as smtp:
        smtp.secure().login_as(SCANNER)
        assert reply_line(smtp.raw("MAIL FROM:<scanner@contoso.com> RET=HDRS ENVID=scan-0001 SIZE=100")) == \
            replies.MAIL_OK
        assert reply_line(smtp.raw("RCPT TO:<alice@contoso.com> NOTIFY=SUCCESS,FAILURE "
                                   "ORCPT=rfc822;alice@contoso.com")) == replies.RCPT_OK


def test_a_tenant_minimum_of_tls_1_3_turns_a_tls_1_2_client_away_at_auth(make_tenant):
    fake = make_tenant(replace=[('min_tls = "1.2"', 'min_tls = "1.3"')])
    with Client(fake, "submission") as smtp:
        smtp.ehlo()
        smtp.starttls(context=tls_context(fake, maximum=ssl.TLSVersion.TLSv1_2))
        assert smtp.sock.version() == "TLSv1.2"
        smtp.ehlo()
        assert reply_line(smtp.raw("AUTH LOGIN")) == replies.LEGACY_TLS.format(host=HOST)
