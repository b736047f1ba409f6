# Microsoft's comparison of the ways a device sends (docs/exchange-online.md, "Methods of
# sending"), as a table-driven test against the fake
# tenant: one row per (option, recipient kind) with the reply the device gets, byte for byte up to
# the diagnostic tag, and where the message ends up. Rule: each row is one real SMTP session with
# smtplib from the device's own source address, TLS checked against the fake's CA under the
# endpoint's real host name; a row passes only if every reply line is Exchange's (the deciding one
# up to its diagnostic tag and ids) and the message is where Microsoft says (or, when refused,
# nowhere at all).
import base64
import re
import uuid

import pytest

from scanmail.emulator.tenant import FakeTenant
from tests.tenant.helpers import (ALICE as ALICE_ACCOUNT, BOB as BOB_ACCOUNT, HVE, NOSMTP, SCANNER,
                                  SCANNER_IP as IN_SPF, PRINTER_IP as RELAY_CONNECTOR,
                                  STRANGER_IP as OUTSIDE_SPF, Client, tls_context)

# Error replies end in the diagnostic tag `[HOST]` or `[HOST <ISO-8601 UTC ms>Z <16 hex>]`
# (docs/exchange-online.md, "Replies").
TAG = r"\[[A-Za-z0-9.-]+(?: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z [0-9A-F]{16})?\]"

# The replies of the steps that go well, exactly (docs/exchange-online.md, "The conversation").
STEP_OK = {
    "starttls": "220 2.0.0 SMTP server ready",
    "auth": "334 VXNlcm5hbWU6",
    "username": "334 UGFzc3dvcmQ6",
    "password": "235 2.7.0 Authentication successful",
    "mail": "250 2.1.0 Sender OK",
    "rcpt": "250 2.1.5 Recipient OK",
    "data": "354 Start mail input; end with <CRLF>.<CRLF>",
}
SUBMISSION_QUEUED = r"250 2\.0\.0 OK <[^<>\s]+> \[Hostname=[A-Z0-9.]+\]"
MX_QUEUED = (r"250 2\.6\.0 <[^<>\s]+> \[InternalId=\d+, Hostname=[A-Z0-9.]+\] \d+ bytes in "
             r"\d+\.\d{3}, \d+\.\d{3} KB/sec Queued mail for delivery")
RELAY_DENIED = re.escape("550 5.7.64 TenantAttribution; Relay Access Denied") + " " + TAG
STARTTLS_REQUIRED = re.escape("451 5.7.3 STARTTLS is required to send mail") + " " + TAG
NOT_AUTHENTICATED = re.escape("530 5.7.57 Client not authenticated to send mail.") + " " + TAG
SMTP_AUTH_OFF_FOR_MAILBOX = re.escape(
    "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the "
    "Mailbox. Visit https://aka.ms/smtp_auth_disabled for more information.") + " " + TAG
# No real text is known for an outside recipient on HVE; the fake answers as for any relay
# it refuses (5.7.64), and that is what this pins.
HVE_EXTERNAL_REFUSED = re.escape("550 5.7.64 TenantAttribution; Relay Access Denied") + " " + TAG

ALICE, BOB, OUTSIDE = ALICE_ACCOUNT[0], BOB_ACCOUNT[0], "someone@fabrikam.com"


def row(scenario, option, endpoint, rcpt, stage, reply, lands, source=None, tls=True, login=None,
        sender="scanner@contoso.com"):
    return pytest.param(
        dict(option=option, endpoint=endpoint, rcpt=rcpt, stage=stage, reply=reply, lands=lands,
             source=source, tls=tls, login=login, sender=sender),
        id=scenario,
    )


INBOX = lambda address: ("mailbox", address, "Inbox")  # noqa: E731 (reads like the table)
JUNK = lambda address: ("mailbox", address, "Junk Email")  # noqa: E731
INTERNET = ("internet",)
NOWHERE = None

COMPARISON = [
    # SMTP client submission: internal and external recipients, TLS and AUTH required.
    row("a scanner submits with STARTTLS and AUTH to a colleague and it lands in her Inbox",
        "submission", "submission", ALICE, "end_of_data", SUBMISSION_QUEUED, INBOX(ALICE),
        login=SCANNER),
    row("a scanner submits with STARTTLS and AUTH to an outside address and it is relayed to the "
        "internet", "submission", "submission", OUTSIDE, "end_of_data", SUBMISSION_QUEUED, INTERNET,
        login=SCANNER),
    row("a scanner submitting from an address in no SPF record still lands in the Inbox (submission "
        "bypasses antispam, and works from anywhere)", "submission", "submission", ALICE,
        "end_of_data", SUBMISSION_QUEUED, INBOX(ALICE), login=SCANNER, source=OUTSIDE_SPF),
    row("a scanner without TLS on the submission port is told STARTTLS is required with 5.7.3",
        "submission", "submission", ALICE, "mail", STARTTLS_REQUIRED, NOWHERE, tls=False),
    row("a scanner with TLS but without AUTH is refused at MAIL with 5.7.57", "submission",
        "submission", ALICE, "mail", NOT_AUTHENTICATED, NOWHERE),
    row("a mailbox with SMTP AUTH switched off is refused at AUTH with 5.7.139", "submission",
        "submission", ALICE, "password", SMTP_AUTH_OFF_FOR_MAILBOX, NOWHERE, login=NOSMTP,
        sender="nosmtp@contoso.com"),
    # Direct send: internal recipients only, no auth, TLS optional, SPF decides Inbox or Junk.
    row("a scanner in the SPF record sends by direct send without TLS to a colleague and it lands "
        "in her Inbox", "direct_send", "mx", ALICE, "end_of_data", MX_QUEUED, INBOX(ALICE),
        source=IN_SPF, tls=False),
    row("a scanner in the SPF record sends by direct send with opportunistic TLS to a colleague "
        "and it lands in her Inbox", "direct_send", "mx", BOB, "end_of_data", MX_QUEUED,
        INBOX(BOB), source=IN_SPF),
    row("a scanner sends to an outside address by direct send and is refused with 5.7.64",
        "direct_send", "mx", OUTSIDE, "rcpt", RELAY_DENIED, NOWHERE, source=IN_SPF, tls=False),
    row("a scanner outside the SPF record sends by direct send and the message lands in Junk Email",
        "direct_send", "mx", ALICE, "end_of_data", MX_QUEUED, JUNK(ALICE), source=OUTSIDE_SPF,
        tls=False),
    # SMTP relay through the inbound connector (matched by source IP): internal and external.
    row("a scanner behind the relay connector sends to an outside address and it is relayed to "
        "the internet", "relay", "mx", OUTSIDE, "end_of_data", MX_QUEUED, INTERNET,
        source=RELAY_CONNECTOR),
    row("a scanner behind the relay connector sends to a colleague and it lands in her Inbox",
        "relay", "mx", ALICE, "end_of_data", MX_QUEUED, INBOX(ALICE), source=RELAY_CONNECTOR),
    row("a scanner outside the relay connector cannot relay to an outside address (5.7.64)",
        "relay", "mx", OUTSIDE, "rcpt", RELAY_DENIED, NOWHERE, source=OUTSIDE_SPF),
    # High Volume Email: internal recipients only, STARTTLS and the HVE account's password.
    row("an HVE account sends to a colleague and it lands in his Inbox", "hve", "hve", BOB,
        "end_of_data", SUBMISSION_QUEUED, INBOX(BOB), login=HVE, sender=HVE[0]),
    row("an HVE account cannot send to an outside address", "hve", "hve", OUTSIDE, "rcpt",
        HVE_EXTERNAL_REFUSED, NOWHERE, login=HVE, sender=HVE[0]),
]


def reply_line(code, text):
    """The last line of a reply as the server sent it (smtplib joins multi-line texts with \\n)."""
    last = text.decode("utf-8", "replace").split("\n")[-1]
    return "%d %s" % (code, last)


def run_session(tenant, case, token):
    """One device session; returns [(stage, reply line)] up to the first refusal or the end."""
    replies = []
    with Client(tenant, case["endpoint"], source_ip=case["source"]) as smtp:
        smtp.ehlo("scanner-3f2a")
        if case["tls"]:   # verified against the fake's CA under the endpoint's public name
            code, text = smtp.starttls(context=tls_context(tenant))
            replies.append(("starttls", reply_line(code, text)))
            smtp.ehlo("scanner-3f2a")
        if case["login"]:   # AUTH LOGIN step by step, as most scanners do it
            user, password = case["login"]
            for stage, command in (("auth", ("AUTH", "LOGIN")),
                                   ("username", (base64.b64encode(user.encode()).decode(),)),
                                   ("password", (base64.b64encode(password.encode()).decode(),))):
                code, text = smtp.docmd(*command)
                replies.append((stage, reply_line(code, text)))
                if code not in (334, 235):
                    return replies
        message = (
            "From: %s\r\nTo: %s\r\nSubject: Scan %s\r\nDate: Sat, 28 Nov 2026 06:00:00 +0000\r\n"
            "Message-ID: <%s@scanner.contoso.com>\r\n\r\nSee attached.\r\n"
            % (case["sender"], case["rcpt"], token, token)
        ).encode("ascii")

        def end_of_data():
            smtp.send(message + b".\r\n")   # no line starts with a dot: nothing to stuff
            return smtp.getreply()

        for stage, command in (("mail", lambda: smtp.mail(case["sender"])),
                               ("rcpt", lambda: smtp.rcpt(case["rcpt"])),
                               ("data", lambda: smtp.docmd("DATA")),
                               ("end_of_data", end_of_data)):
            code, text = command()
            replies.append((stage, reply_line(code, text)))
            if code >= 400:
                return replies
    return replies


def where_is(tenant, token):
    """Every place a message with this token was stored: [("mailbox", address, folder)|("internet",)]."""
    found = []
    for address in (ALICE, BOB, SCANNER[0], NOSMTP[0], HVE[0]):
        for folder in ("Inbox", "Junk Email"):   # the sender's Sent Items copy is not in the table
            for message in tenant.messages(address, folder):
                if token in str(message.get("Subject", "")):
                    found.append(("mailbox", address, folder))
    for message in tenant.internet_messages():
        if token in str(message.get("Subject", "")):
            found.append(INTERNET)
    return found


@pytest.fixture(scope="module")
def tenant(tmp_path_factory):
    with FakeTenant(state_dir=tmp_path_factory.mktemp("comparison-table-tenant")) as fake:
        yield fake


@pytest.mark.parametrize("case", COMPARISON)
def test_comparison_table(tenant, case):
    token = uuid.uuid4().hex
    replies = run_session(tenant, case, token)
    transcript = "%s on %s from %s:\n" % (case["option"], case["endpoint"], case["source"] or "127.0.0.1") + \
        "\n".join("%s: %s" % pair for pair in replies)
    stage, line = replies[-1]
    assert stage == case["stage"], "the session ended at %s, not %s:\n%s" % (
        stage, case["stage"], transcript)
    assert re.fullmatch(case["reply"], line), "%s reply is not the expected one:\n%s\nexpected %s" % (
        stage, transcript, case["reply"])
    earlier = [(step, line) for step, line in replies[:-1] if line != STEP_OK[step]]
    assert not earlier, "a step before %s got another reply than Exchange's:\n%s" % (stage, transcript)
    expected = [] if case["lands"] is NOWHERE else [case["lands"]]
    assert where_is(tenant, token) == expected, transcript
