# Settings, EHLO names, dates and the diagnosis table, on MicroPython and CPython: every method
# fills its defaults, every bad setting is named with what to do, and every reply in the reference
# catalogue (docs/exchange-online.md, "Replies") gets its own cause and fix.
import email.utils
import json

import pytest

from scanmail.firmware import diagnosis
from scanmail.firmware.roots import build_roots
from tests.firmware.runtime_cache import batch

# settings -> ("ok", {expected filled values}) or ("error", setting named, words in the text)
SETTINGS_CASES = {
    "submission fills smtp.office365.com:587, STARTTLS and LOGIN": (
        {"method": "submission", "username": "scanner@contoso.com", "password": "p"},
        ("ok", {"host": "smtp.office365.com", "port": 587, "tls": "starttls", "auth": "login"})),
    "hve fills smtp.hve.mx.microsoft:587": (
        {"method": "hve", "username": "hve-scanner@contoso.com", "password": "p"},
        ("ok", {"host": "smtp.hve.mx.microsoft", "port": 587, "tls": "starttls"})),
    "direct send is opportunistic on 25 without auth": (
        {"method": "direct_send", "host": "contoso-com.mail.protection.outlook.com"},
        ("ok", {"port": 25, "tls": "opportunistic", "auth": "none"})),
    "direct send may require TLS": (
        {"method": "direct_send", "host": "contoso-com.mail.protection.outlook.com", "tls": "starttls"},
        ("ok", {"tls": "starttls"})),
    "relay requires STARTTLS by default": (
        {"method": "relay", "host": "contoso-com.mx.microsoft"}, ("ok", {"port": 25, "tls": "starttls"})),
    "custom with implicit TLS defaults to port 465": (
        {"method": "custom", "host": "mail.example.org", "tls": "implicit"}, ("ok", {"port": 465})),
    "direct send without a host says where to find the MX endpoint": (
        {"method": "direct_send"}, ("error", "host", "Manage DNS")),
    "an unknown method lists the choices": (
        {"method": "smtp"}, ("error", "method", "submission")),
    "a misspelt setting is named": (
        {"method": "submission", "username": "a@contoso.com", "pasword": "p"}, ("error", "pasword", "unknown")),
    "submission without TLS is not possible": (
        {"method": "submission", "username": "a@contoso.com", "password": "p", "tls": "none"},
        ("error", "tls", "starttls")),
    "custom never sends credentials without TLS": (
        {"method": "custom", "host": "mail.example.org", "tls": "none", "auth": "login",
         "username": "a@example.org", "password": "p"}, ("error", "tls", "never sent without TLS")),
    "direct send takes no credentials": (
        {"method": "direct_send", "host": "mx.example", "auth": "login"}, ("error", "auth", "none")),
    "submission without a password says so": (
        {"method": "submission", "username": "a@contoso.com"}, ("error", "password", "xoauth2")),
    "xoauth2 without a token says how to get one": (
        {"method": "submission", "username": "a@contoso.com", "auth": "xoauth2"},
        ("error", "token", "sign in")),
    "a password given as a number is refused as text to give, without showing it": (
        {"method": "submission", "username": "a@contoso.com", "password": 20261231}, ("error", "password", "text")),
    "a token given as a list is refused as text to give, without showing it": (
        {"method": "submission", "username": "a@contoso.com", "auth": "xoauth2", "token": ["eyJhbGciOi"]},
        ("error", "token", "text")),
    "a user name given as a number is refused": (
        {"method": "hve", "username": 42, "password": "p"}, ("error", "username", "text")),
    "a port given as text is refused": (
        {"method": "custom", "host": "mail.example.org", "port": "587"}, ("error", "port", "587")),
    "a client certificate without its key is refused": (
        {"method": "relay", "host": "mx.example", "client_cert_der": b"x"},
        ("error", "client_key_der", "both")),
    "an EHLO name with an underscore is refused": (
        {"method": "relay", "host": "mx.example", "ehlo_name": "scanner_1"}, ("error", "ehlo_name", "[192.0.2.7]")),
    "a zero timeout is refused": (
        {"method": "relay", "host": "mx.example", "timeout_s": 0}, ("error", "timeout_s", "positive")),
}

SETTINGS_CODE = """
import json
from scanmail.firmware import methods
from scanmail.firmware.errors import SMTPError
cases = json.loads(%r)
out = {}
for name in cases:
    settings = cases[name]
    if "client_cert_der" in settings:
        settings["client_cert_der"] = settings["client_cert_der"].encode()
    try:
        filled = methods.fill(settings)
        out[name] = ["ok", dict((k, filled[k]) for k in ("host", "port", "tls", "auth"))]
    except SMTPError as err:
        out[name] = ["error", err.field, err.text, err.stage, err.kind]
print(json.dumps(out))
"""


def _settings_specs():
    specs = {}
    for name, (settings, _) in SETTINGS_CASES.items():
        s = dict(settings)
        if isinstance(s.get("client_cert_der"), bytes):
            s["client_cert_der"] = s["client_cert_der"].decode()
        specs[name] = s
    return specs


@pytest.mark.parametrize("name", list(SETTINGS_CASES))
def test_settings(runtime, name):
    got = batch(runtime, "settings", SETTINGS_CODE % json.dumps(_settings_specs()))[name]
    want = SETTINGS_CASES[name][1]
    assert got[0] == want[0], got
    if want[0] == "ok":
        for key, value in want[1].items():
            assert got[1][key] == value
    else:
        assert got[1] == want[1]
        assert want[2] in got[2]
        assert got[3:] == ["settings", "settings"]   # stage and kind
        for secret in ("password", "token"):
            value = SETTINGS_CASES[name][0].get(secret)
            if value is not None and len(str(value)) >= 4:
                assert str(value) not in got[2] and repr(value) not in got[2]


EHLO_CASES = [
    ("scanner-3f2a", "scanner-3f2a"),
    ("scanner-3f2a.office.contoso.com.", "scanner-3f2a.office.contoso.com"),
    ("127.0.0.20", "[127.0.0.20]"),
    ("[127.0.0.20]", "[127.0.0.20]"),
    ("", "[127.0.0.20]"),
    ("scanner 3f2a", "[127.0.0.20]"),
    ("1234", "[127.0.0.20]"),
]
EHLO_CODE = """
import json
from scanmail.firmware.methods import choose_ehlo_name
class Net:
    def address(self):
        return "127.0.0.20"
class Board:
    net = Net()
out = []
for name in json.loads(%r):
    b = Board()
    b.name = name
    out.append(choose_ehlo_name({"ehlo_name": None}, b))
print(json.dumps(out))
"""


def test_ehlo_uses_the_board_name_or_an_address_literal_never_a_bare_ip(runtime):
    names = [given for given, _ in EHLO_CASES]
    got = batch(runtime, "ehlo", EHLO_CODE % json.dumps(names))
    assert got == [want for _, want in EHLO_CASES]


DATES = [0, 946684799, 951782400, 951868800, 978307200, 1709164800, 1709251199, 1795842877,
         2147483647, 4107542400, 4102444799, 4107455999, 1782907200, 13574606400, 13574692800]
DATE_CODE = """
import json
from scanmail.firmware.mime_headers import rfc5322_date
print(json.dumps([rfc5322_date(t) for t in json.loads(%r)]))
"""


def test_dates_match_the_email_package_on_both_runtimes(runtime):
    got = batch(runtime, "dates", DATE_CODE % json.dumps(DATES))
    assert got == [email.utils.formatdate(t, usegmt=True).replace("GMT", "+0000") for t in DATES]


# (stage, reply as the server sends it, profile) -> a phrase the cause or the fix must contain
CATALOGUE = [
    ("mail", "451 5.7.3 STARTTLS is required to send mail [HOST ts id]", "submission", "TLS/StartTLS"),
    ("auth", "504 5.7.4 Unrecognized authentication type [HOST]", "submission", "AUTH LOGIN or XOAUTH2"),
    ("mail", "530 5.7.57 Client not authenticated to send mail. [HOST]", "submission", "sign-in credentials"),
    ("auth", "535 5.7.3 Authentication unsuccessful [HOST]", "submission", "user name or password"),
    ("auth", "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the "
             "Tenant. Visit https://aka.ms/smtp_auth_disabled for more information. [HOST ts id]",
     "submission", "an admin must enable SMTP AUTH, or use OAuth"),
    ("auth", "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the "
             "Mailbox. Visit https://aka.ms/smtp_auth_disabled for more information.", "submission",
     "Set-CASMailbox"),
    ("auth", "535 5.7.139 Authentication unsuccessful, basic authentication is disabled. [HOST ts id]",
     "submission", "use OAuth"),
    ("auth", "535 5.7.139 Authentication unsuccessful, the request did not meet the criteria to be "
             "authenticated successfully. Contact your administrator.", "submission", "conditional access"),
    ("auth", "535 5.7.139 Authentication unsuccessful, user is locked by your organization's security "
             "defaults policy. Contact your administrator.", "submission", "security defaults"),
    ("auth", "535 5.7.139 Authentication unsuccessful, account locked.", "submission", "unlock"),
    ("auth", "550 5.7.30 Basic authentication is not supported for Client Submission.", "submission",
     "XOAUTH2"),
    ("auth", "421 4.7.66 TLS 1.0 and 1.1 are not supported. Please upgrade/update your client to "
             "support TLS 1.2.", "submission", "TLS 1.2"),
    ("mail", "550 5.7.60 SMTP; Client does not have permissions to send as this sender", "submission",
     "Send As"),
    ("end_of_data", "554 5.2.252 SendAsDenied; scanner@contoso.com not allowed to send as bob@contoso.com",
     "submission", "Send As"),
    ("end_of_data", "554 5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException",
     "submission", "10,000 recipients per day"),
    ("end_of_data", "432 4.3.2 Concurrent connections limit exceeded. Visit https://aka.ms/concurrent_sending "
                    "for more information. [Hostname=HOST]", "submission",
     "too many devices share this mailbox at once"),
    ("end_of_data", "554 5.2.2 mailbox full; STOREDRV.Submission.Exception:QuotaExceededException",
     "submission", "mailbox is full"),
    ("mail", "550 5.2.251 Sender throttled due to continuous mailbox full errors.", "submission",
     "throttled"),
    ("mail", "550 5.2.255 Sender throttled due to continuous invalid recipients errors.", "submission",
     "throttled"),
    ("mail", "550 5.1.8 Bad outbound sender", "submission", "license"),
    ("rcpt", "550 5.4.1 Recipient address rejected: Access denied. AS(201806281) [HOST ts id]",
     "direct_send", "recipient"),
    ("rcpt", "550 5.7.64 TenantAttribution; Relay Access Denied [HOST]", "direct_send",
     "outside recipients need client submission or a connector for this device's static IP"),
    ("rcpt", "550 5.7.64 TenantAttribution; Relay Access Denied [HOST]", "relay", "connector"),
    ("rcpt", "550 5.7.51 TenantInboundAttribution; There is a partner connector configured that "
             "matched the message's recipient domain.", "relay", "partner connector"),
    ("rcpt", "550 5.7.68 TenantInboundAttribution; Direct Send not allowed for this organization from "
             "unauthorized sources", "direct_send", "RejectDirectSend"),
    ("rcpt", "451 4.4.62 Mail sent to the wrong Office 365 region. ATTR35.", "direct_send", "region"),
    ("rcpt", "550 5.7.606 Access denied, banned sending IP [127.0.0.20].", "direct_send",
     "sender.office.com"),
    ("rcpt", "451 4.7.500 Server busy. Please try again later from [127.0.0.20]. (AS843)", "direct_send",
     "graylisting"),
    ("data", "552 5.3.4 Header size exceeds fixed maximum size", "submission", "larger than"),
    ("ehlo", "550 5.7.506 Access Denied, Bad HELO", "direct_send", "HELO"),
    ("end_of_data", "550 5.7.512 Access denied, message must be RFC 5322 section 3.6.2 compliant",
     "direct_send", "From"),
]

CATALOGUE_CODE = """
import json
from scanmail.firmware.errors import SMTPError
out = []
for stage, reply, profile in json.loads(%r):
    code = int(reply[:3])
    enhanced = reply[4:].split(" ")[0]
    err = SMTPError(stage, reply[4:], code=code, enhanced=enhanced, method=profile)
    cause, todo = err.diagnosis()
    out.append([cause, todo, err.transient])
print(json.dumps(out))
"""


@pytest.mark.parametrize("index", range(len(CATALOGUE)), ids=[c[1][:40] for c in CATALOGUE])
def test_every_reply_in_the_catalogue_has_its_own_cause_and_fix(runtime, index):
    rows = [[stage, reply, profile] for stage, reply, profile, _ in CATALOGUE]
    cause, todo, transient = batch(runtime, "catalogue", CATALOGUE_CODE % json.dumps(rows))[index]
    stage, reply, _, phrase = CATALOGUE[index]
    assert phrase in cause + " " + todo, (cause, todo)
    assert cause not in [row[1] for row in diagnosis._BY_CODE]        # not the generic fallback
    assert transient == reply.startswith("4")


def test_the_bundled_root_is_certifis_digicert_global_root_g2():
    with open(build_roots.HERE + "/digicert_global_root_g2.der", "rb") as f:
        committed = f.read()
    assert committed == build_roots.der_from_certifi("DigiCert Global Root G2")
