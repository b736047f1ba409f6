# The tenant's MX (contoso-com.mail.protection.outlook.com:25): direct send to tenant mailboxes with
# SPF deciding Inbox or Junk Email, refusals for unknown and outside recipients, RejectDirectSend,
# relay through a connector matched by source IP or client certificate, opportunistic STARTTLS, and
# the strict end of data (bare LF refused; only <CRLF>.<CRLF> ends a message).
import re
import socket

import pytest

from scanmail.emulator.tenant import replies
from tests.tenant.helpers import PRINTER_IP, SCANNER_IP, STRANGER_IP, Client, message, reply_line, tls_context

MX_HOST = "AMS0EPF0000019A.mail.protection.outlook.com"
TAG = r"\[%s \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z [0-9A-F]{16}\]" % re.escape(MX_HOST)
EHLO_BEFORE_TLS = ("%s Hello [%s]\nSIZE 157286400\nPIPELINING\nDSN\nENHANCEDSTATUSCODES\nSTARTTLS\n"
                   "8BITMIME\nBINARYMIME\nCHUNKING\nSMTPUTF8")
S550_RELAY_DENIED = "550 5.7.64 TenantAttribution; Relay Access Denied [%s]" % MX_HOST
MX_QUEUED = re.compile(r"250 2\.6\.0 <[^>]+> \[InternalId=\d+, Hostname=[A-Z0-9.]+\] \d+ bytes in "
                       r"\d+\.\d{3}, \d+\.\d{3} KB/sec Queued mail for delivery")


def test_the_mx_offers_starttls_and_never_auth_and_drops_starttls_after_tls(tenant):
    with Client(tenant, "mx", SCANNER_IP) as smtp:
        assert smtp.ehlo() == (250, (EHLO_BEFORE_TLS % (MX_HOST, SCANNER_IP)).encode())
        smtp.starttls(context=tls_context(tenant))
        assert smtp.ehlo() == (250, (EHLO_BEFORE_TLS % (MX_HOST, SCANNER_IP)).replace("STARTTLS\n", "").encode())
        assert reply_line(smtp.raw("AUTH LOGIN")) == replies.AUTH_UNRECOGNIZED_TYPE.format(host=MX_HOST)


def test_direct_send_from_an_ip_in_the_spf_record_lands_in_the_inbox_marked_anonymous_spf_pass(tenant):
    with Client(tenant, "mx", SCANNER_IP) as smtp:
        smtp.ehlo("scanner-3f2a")
        smtp.mail("scanner@contoso.com")
        smtp.rcpt("alice@contoso.com")
        final = reply_line(smtp.data(message()))
    assert MX_QUEUED.fullmatch(final)
    stored, = tenant.messages("alice@contoso.com", "Inbox")
    assert stored["X-MS-Exchange-Organization-AuthAs"] == "Anonymous"
    assert stored["Authentication-Results"].startswith("spf=pass (sender IP is 127.0.0.20) smtp.mailfrom=contoso.com")
    assert "SPF:Pass;SCL:1;" in stored["X-Forefront-Antispam-Report"]
    assert stored["Received"].startswith("from scanner-3f2a (127.0.0.20) by %s with Microsoft SMTP Server id" % MX_HOST)
    record = tenant.trace()[-1]
    assert (record["method"], record["client_ip"], record["tls"], record["status"], record["reply"]) == (
        "direct_send", SCANNER_IP, "none", "Delivered", final)


def test_direct_send_from_an_ip_outside_spf_softfails_into_junk_email(tenant):
    with Client(tenant, "mx", STRANGER_IP) as smtp:
        assert smtp.sendmail("scanner@contoso.com", ["alice@contoso.com"], message()) == {}
    assert tenant.messages("alice@contoso.com", "Inbox") == []
    junk, = tenant.messages("alice@contoso.com", "Junk Email")
    assert junk["Authentication-Results"].startswith("spf=softfail (sender IP is 127.0.0.99)")
    assert "SPF:SoftFail;SCL:5;" in junk["X-Forefront-Antispam-Report"]
    assert tenant.trace()[-1]["status"] == "Junk"


def test_direct_send_over_opportunistic_tls_records_the_tls_version_in_received(tenant):
    with Client(tenant, "mx", SCANNER_IP) as smtp:
        smtp.secure()
        smtp.sendmail("scanner@contoso.com", ["bob@contoso.com"], message(to="bob@contoso.com"))
    stored, = tenant.messages("bob@contoso.com")
    assert re.search(r"with Microsoft SMTP Server \(version=TLS1_[23], cipher=\S+\)", stored["Received"])
    assert tenant.trace()[-1]["tls"].startswith("TLSv1.")


def test_direct_send_to_an_unknown_tenant_address_is_refused_with_5_4_1(tenant):
    with Client(tenant, "mx", SCANNER_IP) as smtp:
        smtp.ehlo()
        smtp.mail("scanner@contoso.com")
        assert re.fullmatch(re.escape("550 5.4.1 Recipient address rejected: Access denied. AS(201806281) ") + TAG,
                            reply_line(smtp.rcpt("nobody@contoso.com")))
    assert tenant.trace()[-1]["status"] == "Refused"


def test_a_scanner_sends_to_an_outside_address_by_direct_send_and_is_refused_with_5_7_64(tenant):
    with Client(tenant, "mx", SCANNER_IP) as smtp:
        smtp.ehlo()
        smtp.mail("scanner@contoso.com")
        assert reply_line(smtp.rcpt("partner@fabrikam.com")) == S550_RELAY_DENIED
    assert tenant.internet_messages() == []


def test_reject_direct_send_refuses_direct_send_with_5_7_68_but_not_the_connector(make_tenant):
    fake = make_tenant(replace=[("reject_direct_send = false", "reject_direct_send = true")])
    with Client(fake, "mx", SCANNER_IP) as smtp:
        smtp.ehlo()
        smtp.mail("scanner@contoso.com")
        assert reply_line(smtp.rcpt("alice@contoso.com")) == replies.DIRECT_SEND_REJECTED
    with Client(fake, "mx", PRINTER_IP) as smtp:
        assert smtp.sendmail("printer@contoso.com", ["alice@contoso.com"], message(sender="printer@contoso.com")) == {}


def test_a_printer_matched_by_its_ip_relays_to_the_internet_as_internal_mail(tenant):
    with Client(tenant, "mx", PRINTER_IP) as smtp:
        smtp.secure()
        assert smtp.sendmail("printer@contoso.com", ["partner@fabrikam.com", "alice@contoso.com"],
                             message(sender="printer@contoso.com")) == {}
    outside, = tenant.internet_messages()
    assert outside["X-MS-Exchange-Organization-AuthAs"] == "Internal"
    assert tenant.messages("alice@contoso.com")[0]["Subject"] == "Scan 0001"
    assert tenant.trace()[-1]["method"] == "relay"


def test_a_printer_with_a_client_certificate_of_an_accepted_domain_relays_through_a_certificate_connector(make_tenant):
    fake = make_tenant('[[connectors]]\nname = "cert-printers"\ncertificate_domain = "contoso.com"\n')
    cert = fake.issue_client_cert("printers.contoso.com")
    context = tls_context(fake)
    context.load_cert_chain(cert["cert_pem"], cert["key_pem"])
    with Client(fake, "mx", STRANGER_IP) as smtp:
        smtp.secure(context)
        assert smtp.sendmail("printer@contoso.com", ["partner@fabrikam.com"], message(sender="printer@contoso.com")) == {}
    assert len(fake.internet_messages()) == 1
    # the same printer without its certificate is only a direct sender
    with Client(fake, "mx", STRANGER_IP) as smtp:
        smtp.secure()
        smtp.mail("printer@contoso.com")
        assert reply_line(smtp.rcpt("partner@fabrikam.com")) == S550_RELAY_DENIED


def test_bare_linefeeds_in_data_are_refused_with_5_6_11_at_the_end_of_data(tenant):
    with Client(tenant, "mx", SCANNER_IP) as smtp:
        smtp.ehlo()
        smtp.mail("scanner@contoso.com")
        smtp.rcpt("alice@contoso.com")
        smtp.putcmd("DATA")
        assert reply_line(smtp.getreply()) == replies.DATA_GO_AHEAD
        smtp.send(b"From: scanner@contoso.com\r\nSubject: lf\r\n\r\nline one\nline two\r\n.\r\n")
        assert reply_line(smtp.getreply()) == replies.BARE_LINEFEED
    assert tenant.messages("alice@contoso.com") == []


def test_a_smuggled_end_of_data_with_bare_lf_does_not_end_the_message(tenant):
    """`\\n.\\n` and `\\n.\\r\\n` are not <CRLF>.<CRLF>: a second MAIL FROM hidden after them stays data."""
    smuggled = (b"From: scanner@contoso.com\r\nSubject: outer\r\n\r\nhello\n.\nMAIL FROM:<ceo@contoso.com>\r\n"
                b"RCPT TO:<bob@contoso.com>\r\nDATA\r\n\n.\r\nstill data\r\n.\r\n")
    with socket.create_connection(tenant.address("mx"), timeout=10, source_address=(SCANNER_IP, 0)) as sock:
        f = sock.makefile("rwb")
        f.readline()
        for line in (b"EHLO smuggler", b"MAIL FROM:<scanner@contoso.com>", b"RCPT TO:<alice@contoso.com>", b"DATA"):
            f.write(line + b"\r\n")
            f.flush()
            reply = f.readline()
            while reply[3:4] == b"-":
                reply = f.readline()
        f.write(smuggled)
        f.flush()
        assert f.readline().decode().rstrip("\r\n") == replies.BARE_LINEFEED
        f.write(b"QUIT\r\n")
        f.flush()
        assert f.readline().decode().rstrip("\r\n") == replies.QUIT_OK
    assert tenant.messages("bob@contoso.com") == []


def test_dot_stuffed_lines_are_restored_and_the_message_is_stored_byte_for_byte(tenant):
    # smtplib dot-stuffs these lines on the wire; the stored copy must show them as written
    original = message(body="line\r\n.leading dot\r\n..two dots")
    with Client(tenant, "mx", SCANNER_IP) as smtp:
        smtp.sendmail("scanner@contoso.com", ["alice@contoso.com"], original)
    stored, = tenant.messages("alice@contoso.com")
    assert stored.get_content() == "line\n.leading dot\n..two dots\n"


def test_pipelined_commands_after_the_end_of_data_are_answered_in_order(tenant):
    with socket.create_connection(tenant.address("mx"), timeout=10, source_address=(SCANNER_IP, 0)) as sock:
        f = sock.makefile("rwb")
        f.readline()
        f.write(b"EHLO pipeliner\r\n")
        f.flush()
        while f.readline()[3:4] == b"-":
            pass
        f.write(b"MAIL FROM:<scanner@contoso.com>\r\nRCPT TO:<alice@contoso.com>\r\nDATA\r\n")
        f.flush()
        answers = [f.readline().decode().rstrip("\r\n") for _ in range(3)]
        assert answers == [replies.MAIL_OK, replies.RCPT_OK, replies.DATA_GO_AHEAD]
        f.write(message() + b".\r\nMAIL FROM:<scanner@contoso.com>\r\nRCPT TO:<bob@contoso.com>\r\nDATA\r\n")
        f.flush()
        assert MX_QUEUED.fullmatch(f.readline().decode().rstrip("\r\n"))
        assert [f.readline().decode().rstrip("\r\n") for _ in range(3)] == [
            replies.MAIL_OK, replies.RCPT_OK, replies.DATA_GO_AHEAD]
        f.write(message(to="bob@contoso.com") + b".\r\nQUIT\r\n")
        f.flush()
        assert MX_QUEUED.fullmatch(f.readline().decode().rstrip("\r\n"))
        assert f.readline().decode().rstrip("\r\n") == replies.QUIT_OK
    assert len(tenant.messages("alice@contoso.com")) == 1
    assert len(tenant.messages("bob@contoso.com")) == 1


@pytest.mark.parametrize("sender,method", [("scanner@contoso.com", "direct_send"), ("news@fabrikam.com", "inbound")])
def test_the_trace_names_the_method_of_mx_mail(tenant, sender, method):
    with Client(tenant, "mx", SCANNER_IP) as smtp:
        smtp.sendmail(sender, ["alice@contoso.com"], message(sender=sender))
    assert tenant.trace()[-1]["method"] == method
