# End to end: the firmware's send_mail, on MicroPython (the unix port, as a subprocess) and on
# CPython, through a loopback TestBoard to the fake Exchange Online tenant (emulator/tenant), for
# every Microsoft 365 option, success and refusal; plus the attacks a scanner must survive:
# STARTTLS stripped, a certificate from an unknown CA or for another name, header injection,
# SMTP smuggling sequences in the body.
import email
import email.policy
import json
import os
import time

import pytest

from scanmail.emulator.tenant import FakeTenant
from tests.firmware.plain_servers import StrippingServer
from tests.firmware.runtime_cache import run_json

NOW = int(time.time())
MX_HOST = "contoso-com.mail.protection.outlook.com"
PASSWORD = "Scanner-Pass-1"


@pytest.fixture(scope="module")
def tenant(tmp_path_factory):
    with FakeTenant(state_dir=tmp_path_factory.mktemp("o365")) as t:
        yield t


@pytest.fixture
def o365(tenant):
    tenant.reset()
    tenant.clear_faults()
    yield tenant
    tenant.clear_faults()


def routes_for(t):
    routes = {}
    for endpoint, port in (("submission", 587), ("mx", 25), ("hve", 587)):
        routes["%s:%d" % (t.hostname(endpoint), port)] = list(t.address(endpoint))
    return routes


def settings_for(t, option, **overrides):
    base = {
        "submission": {"method": "submission", "username": "scanner@contoso.com",
                       "password": PASSWORD},
        "direct_send": {"method": "direct_send", "host": MX_HOST},
        "relay": {"method": "relay", "host": MX_HOST},
        "hve": {"method": "hve", "username": "hve-scanner@contoso.com", "password": "Hve-Pass-1"},
    }[option]
    base = dict(base, ca_der_path=t.ca_der_path, timeout_s=10)
    base.update(overrides)
    return base


def send(runtime, t, settings, message, ip="127.0.0.20", now=NOW, routes=None, **board):
    spec = {"settings": settings, "message": message,
            "board": dict(board, ip=ip, now=now, routes=routes or routes_for(t))}
    code = "import json, send_case\nprint(send_case.run(json.loads(%r)))\n" % json.dumps(spec)
    return run_json(runtime, code)


def scan(tmp_path, size=30_000, name="scan.pdf"):
    path = tmp_path / name
    path.write_bytes(os.urandom(size))
    return str(path)


def only_message(t, mailbox):
    messages = t.messages(mailbox, "Inbox") + t.messages(mailbox, "Junk Email")
    assert len(messages) == 1, [m["Subject"] for m in messages]
    return messages[0]


def attachment_bytes(msg):
    return [part.get_payload(decode=True) for part in msg.iter_attachments()]


def stored_attachments(t, mailbox):
    """The attachments of the one message in `mailbox`'s Inbox, read from the Maildir file's bytes.
    (FakeTenant.messages() parses through a text wrapper whose universal newlines turn a lone CR
    in a BINARYMIME part into LF, so binary parts are checked from the file itself.)"""
    folder = os.path.join(t.mail_dir, mailbox, "Inbox")
    files = [os.path.join(folder, sub, name) for sub in ("new", "cur")
             for name in sorted(os.listdir(os.path.join(folder, sub)))]
    assert len(files) == 1, files
    with open(files[0], "rb") as f:
        msg = email.message_from_bytes(f.read(), policy=email.policy.default)
    return attachment_bytes(msg)


# --- every option, delivered ------------------------------------------------------------------
def test_a_scanner_submits_a_scan_to_alice_with_its_mailbox_password(runtime, o365, tmp_path):
    path = scan(tmp_path)
    out = send(runtime, o365, settings_for(o365, "submission"),
               {"sender": "scanner@contoso.com", "to": ["alice@contoso.com"], "subject": "Scan 1",
                "body": "See attached.", "attachments": [[path, "scan 0001.pdf", "application/pdf"]]})
    assert "error" not in out, out
    assert out["result"]["reply"].startswith("250 2.0.0 OK")
    msg = only_message(o365, "alice@contoso.com")
    assert msg["Subject"] == "Scan 1"
    with open(path, "rb") as f:
        assert stored_attachments(o365, "alice@contoso.com") == [f.read()]


# What a send leaves behind, delivered or refused: only what firmware.mail imports stays loaded
# (the steps that run once - settings, message checks, composing, TLS setup, the diagnosis - hold
# no heap between sends; docs/architecture.md, "Heap budget"; CPython also has compat's CPython
# side), and the application's own gc.threshold is back (send_mail sets its own while it runs).
RESIDENT = ["scanmail.firmware.compat", "scanmail.firmware.errors", "scanmail.firmware.mail", "scanmail.firmware.message",
            "scanmail.firmware.smtp_protocol"]


def test_a_send_or_a_refusal_leaves_only_the_mail_core_loaded_and_the_gc_setting_as_it_was(
        runtime, o365, tmp_path):
    resident = sorted(RESIDENT + (["scanmail.firmware.compat_cpython"] if runtime == "cpython" else []))
    # What send_case set before the send, read back after it: MicroPython's gc.threshold, or
    # CPython's three generation thresholds (which the firmware has no reason to touch either).
    gc_threshold = 12288 if runtime == "micropython" else [1234, 11, 12]
    delivered = send(runtime, o365, settings_for(o365, "submission"),
                     {"sender": "scanner@contoso.com", "to": ["alice@contoso.com"],
                      "subject": "Scan", "attachments": [[scan(tmp_path), "s.pdf", "application/pdf"]]})
    assert "error" not in delivered, delivered
    assert delivered["loaded"] == resident
    assert delivered["gc_threshold"] == gc_threshold
    refused = send(runtime, o365, settings_for(o365, "submission", password="Wrong-Pass-9"),
                   {"sender": "scanner@contoso.com", "to": ["alice@contoso.com"], "subject": "x"})
    assert refused["error"]["stage"] == "auth" and refused["error"]["cause"], refused
    assert refused["loaded"] == resident
    assert refused["gc_threshold"] == gc_threshold


def test_both_runtimes_meet_the_server_with_tls_1_2_as_a_board_does(runtime, o365):
    # MicroPython's mbedTLS (unix port and ESP32 builds) negotiates TLS 1.2; the CPython side of
    # compat caps its context there too, so a board on either runtime looks the same to a server.
    out = send(runtime, o365, settings_for(o365, "submission"),
               {"sender": "scanner@contoso.com", "to": ["alice@contoso.com"], "subject": "TLS"})
    assert "error" not in out, out
    assert [r["tls"] for r in o365.trace()] == ["TLSv1.2"]


def test_a_scanner_submits_with_an_oauth_token(runtime, o365):
    token = o365.mint_token("scanner@contoso.com")
    out = send(runtime, o365, settings_for(o365, "submission", auth="xoauth2", password=None,
                                           token=token),
               {"sender": "scanner@contoso.com", "to": ["bob@contoso.com"], "subject": "OAuth"})
    assert "error" not in out, out
    assert only_message(o365, "bob@contoso.com")["Subject"] == "OAuth"


def test_a_scanner_sends_as_the_front_desk_it_has_send_as_on(runtime, o365):
    out = send(runtime, o365, settings_for(o365, "submission"),
               {"sender": "frontdesk@contoso.com", "to": ["alice@contoso.com"], "subject": "As FD"})
    assert "error" not in out, out
    assert only_message(o365, "alice@contoso.com")["From"] == "frontdesk@contoso.com"


def test_a_scanner_direct_sends_to_an_inside_mailbox_from_its_spf_address(runtime, o365):
    out = send(runtime, o365, settings_for(o365, "direct_send"),
               {"sender": "scanner@contoso.com", "to": ["alice@contoso.com"], "subject": "Direct"})
    assert "error" not in out, out
    assert out["result"]["reply"].startswith("250 2.6.0")
    assert only_message(o365, "alice@contoso.com")["Subject"] == "Direct"


def test_a_printer_relays_to_an_outside_address_through_its_ip_connector(runtime, o365):
    out = send(runtime, o365, settings_for(o365, "relay"),
               {"sender": "printer@contoso.com", "to": ["someone@fabrikam.example"],
                "subject": "Relayed"}, ip="127.0.0.30")
    assert "error" not in out, out
    assert [m["Subject"] for m in o365.internet_messages()] == ["Relayed"]


def test_a_scanner_sends_through_high_volume_email(runtime, o365):
    out = send(runtime, o365, settings_for(o365, "hve"),
               {"sender": "hve-scanner@contoso.com", "to": ["alice@contoso.com"], "subject": "HVE"})
    assert "error" not in out, out
    assert only_message(o365, "alice@contoso.com")["Subject"] == "HVE"


# --- refusals, each with the reason and the fix ------------------------------------------------
REFUSALS = {
    "a scanner sends to an outside address by direct send and is refused with 5.7.64": (
        "direct_send", {}, {"to": ["someone@fabrikam.example"]}, "127.0.0.20",
        ("rcpt", 550, "5.7.64"), "outside recipients need client submission or a connector"),
    "a printer without a connector relays outside and is refused with 5.7.64": (
        "relay", {}, {"to": ["someone@fabrikam.example"]}, "127.0.0.20",
        ("rcpt", 550, "5.7.64"), "outside recipients need client submission or a connector"),
    "a mailbox with SMTP AUTH turned off is refused with 5.7.139": (
        "submission", {"username": "nosmtp@contoso.com", "password": "NoSmtp-Pass-1"},
        {"sender": "nosmtp@contoso.com"}, "127.0.0.20",
        ("auth", 535, "5.7.139"), "enable SMTP AUTH"),
    "a wrong password is refused with 5.7.3": (
        "submission", {"password": "Wrong-Pass-9"}, {}, "127.0.0.20",
        ("auth", 535, "5.7.3"), "check the sign-in credentials"),
    "a scanner sending as bob without Send As is refused with 5.7.60": (
        "submission", {}, {"sender": "bob@contoso.com"}, "127.0.0.20",
        ("mail", 550, "5.7.60"), "Send As"),
}


@pytest.mark.parametrize("name", list(REFUSALS))
def test_refusals_say_why_and_what_to_do(runtime, o365, name):
    profile, overrides, message, ip, (stage, code, enhanced), fix = REFUSALS[name]
    msg = dict({"sender": "scanner@contoso.com", "to": ["alice@contoso.com"], "subject": "x"},
               **message)
    out = send(runtime, o365, settings_for(o365, profile, **overrides), msg, ip=ip)
    err = out["error"]
    assert (err["stage"], err["code"], err["enhanced"]) == (stage, code, enhanced), err
    assert err["transient"] is False
    assert fix in err["todo"]
    for secret in ("Wrong-Pass-9", PASSWORD, "NoSmtp-Pass-1"):
        assert secret not in json.dumps(err)
    assert o365.messages("alice@contoso.com", "Inbox") == []


def test_too_many_devices_on_one_mailbox_is_a_transient_432(runtime, o365):
    o365.add_fault(stage="end_of_data", reply="432 4.3.2 Concurrent connections limit exceeded. "
                   "Visit https://aka.ms/concurrent_sending for more information. [Hostname=X]",
                   nth=1, endpoint="submission")
    out = send(runtime, o365, settings_for(o365, "submission"),
               {"sender": "scanner@contoso.com", "to": ["alice@contoso.com"], "subject": "busy"})
    err = out["error"]
    assert (err["stage"], err["code"], err["enhanced"], err["transient"]) == (
        "end_of_data", 432, "4.3.2", True)
    assert err["cause"] == "too many devices share this mailbox at once"


def test_port_25_blocked_by_the_isp_points_to_submission_or_a_relay(runtime, o365):
    out = send(runtime, o365, settings_for(o365, "direct_send"),
               {"sender": "scanner@contoso.com", "to": ["alice@contoso.com"]}, blocked_ports=[25])
    err = out["error"]
    assert (err["stage"], err["kind"], err["transient"]) == ("connect", "refused", True)
    assert "outbound port 25 is blocked" in err["cause"]
    assert "use client submission on 587 or a relay" in err["todo"]


# --- attacks and broken set-ups ---------------------------------------------------------------
def test_starttls_stripped_by_the_server_sends_no_password(runtime, o365):
    with StrippingServer() as evil:
        routes = {"smtp.office365.com:587": list(evil.address)}
        out = send(runtime, o365, settings_for(o365, "submission"),
                   {"sender": "scanner@contoso.com", "to": ["alice@contoso.com"]}, routes=routes)
    err = out["error"]
    assert (err["stage"], err["kind"]) == ("starttls", "no_starttls")
    assert "credentials would travel in clear text" in err["cause"]
    wire = bytes(evil.received)
    assert wire.startswith(b"EHLO scanner-3f2a\r\n")
    for forbidden in (PASSWORD.encode(), b"U2Nhbm5lci1QYXNzLTE", b"AUTH", b"MAIL", b"DATA"):
        assert forbidden not in wire


def test_a_certificate_from_an_unknown_ca_is_refused(runtime, o365):
    settings = settings_for(o365, "submission", ca_der_path=None)   # bundled DigiCert G2 only
    out = send(runtime, o365, settings, {"sender": "scanner@contoso.com", "to": ["alice@contoso.com"]})
    err = out["error"]
    assert (err["stage"], err["kind"]) == ("tls", "untrusted"), err
    assert "does not chain to a trusted root" in err["cause"]


def test_a_certificate_for_another_name_is_refused(runtime, o365):
    routes = routes_for(o365)
    routes["smtp.office365.com:587"] = list(o365.address("hve"))    # a cert for smtp.hve.mx.microsoft
    out = send(runtime, o365, settings_for(o365, "submission"),
               {"sender": "scanner@contoso.com", "to": ["alice@contoso.com"]}, routes=routes)
    err = out["error"]
    assert (err["stage"], err["kind"]) == ("tls", "hostname"), err
    assert o365.messages("alice@contoso.com", "Inbox") == []


@pytest.mark.parametrize("now", [None, 946684800], ids=["no time yet", "the year 2000"])
def test_a_board_whose_clock_is_not_set_is_told_to_set_the_time(runtime, o365, now):
    out = send(runtime, o365, settings_for(o365, "submission"),
               {"sender": "scanner@contoso.com", "to": ["alice@contoso.com"]}, now=now)
    err = out["error"]
    assert (err["stage"], err["kind"]) == ("tls", "clock")
    assert "NTP" in err["todo"]
    assert out["connected"] == []


# case -> (what the message gets, the field the error must name)
INJECTIONS = {
    "a subject with CRLF and a Bcc header": ({"subject": "Scan\r\nBcc: everyone@fabrikam.example"},
                                             "subject"),
    "a recipient with CRLF and a RCPT command": (
        {"to": ["alice@contoso.com\r\nRCPT TO:<x@fabrikam.example>"]}, "to"),
    "a sender that closes the angle bracket": (
        {"sender": "scanner@contoso.com>\r\nRCPT TO:<x@fabrikam.example"}, "sender"),
    "a cc with a bare LF": ({"cc": ["bob@contoso.com\nBcc: x@fabrikam.example"]}, "cc"),
    "an attachment name with a header": (
        {"attachments": [["/etc/hostname", "a.pdf\r\nContent-Type: text/html", "application/pdf"]]},
        "attachment name"),
    "a malformed address": ({"to": ["alice@@contoso.com"]}, "to"),
    "a scan that was never saved": (
        {"attachments": [["/nonexistent/scan-0001.pdf", "scan.pdf", "application/pdf"]]}, "attachments"),
    "an address with a space": ({"to": ["alice smith@contoso.com"]}, "to"),
    "an internationalized address": ({"cc": ["jürgen@contoso.com"]}, "cc"),
}


@pytest.mark.parametrize("case", list(INJECTIONS))
def test_header_injection_bad_addresses_and_missing_scans_are_refused_before_connecting(
        runtime, o365, case):
    overrides, field = INJECTIONS[case]
    msg = dict({"sender": "scanner@contoso.com", "to": ["alice@contoso.com"], "subject": "x"},
               **overrides)
    out = send(runtime, o365, settings_for(o365, "submission"), msg)
    err = out["error"]
    assert (err["stage"], err["cls"], err["kind"]) == ("message", "SMTPError", "message"), err
    assert out["connected"] == []
    assert err["text"].startswith(field + ":")


SMUGGLING_BODY = ("Hello\n.\nnot the end\r.\rstill\n.\r\nmore\r\n.\rand\n..two\n.lead\rbare CR"
                  "\nbare LF\r\nlast\r\n.\r\n")


def test_smtp_smuggling_sequences_are_stored_exactly_as_meant(runtime, o365):
    out = send(runtime, o365, settings_for(o365, "submission"),
               {"sender": "scanner@contoso.com", "to": ["alice@contoso.com"], "subject": "smuggle",
                "body": SMUGGLING_BODY})
    assert "error" not in out, out
    msg = only_message(o365, "alice@contoso.com")
    stored = msg.get_body(("plain",)).get_content()
    want = SMUGGLING_BODY.replace("\r\n", "\n").replace("\r", "\n")
    assert stored.replace("\r\n", "\n") == want
    assert o365.messages("x@fabrikam.example", "Inbox") == [] and o365.internet_messages() == []


def test_a_one_megabyte_scan_goes_through_on_the_unix_port(o365, tmp_path):
    path = scan(tmp_path, size=1 << 20)
    out = send("micropython", o365, settings_for(o365, "submission"),
               {"sender": "scanner@contoso.com", "to": ["alice@contoso.com"], "subject": "1 MB",
                "attachments": [[path, "big scan.pdf", "application/pdf"]]})
    assert "error" not in out, out
    # The fake offers CHUNKING and BINARYMIME as Exchange does: the scan went unencoded by BDAT.
    assert (1 << 20) < out["result"]["bytes_sent"] < (1 << 20) * 4 // 3
    with open(path, "rb") as f:
        assert stored_attachments(o365, "alice@contoso.com") == [f.read()]


def test_a_board_that_sends_all_day_keeps_the_same_heap_send_after_send(o365, tmp_path):
    # Thirty sends in one MicroPython process, as a board sends scan after scan: each delivered,
    # and the heap in use after each (after a collection) stays where it was after the second.
    # A leak of even one pointer per send would show here (8 bytes x 28 sends > 64).
    path = scan(tmp_path)
    spec = {"settings": settings_for(o365, "direct_send"),
            "message": {"sender": "scanner@contoso.com", "to": ["alice@contoso.com"],
                        "subject": "again", "attachments": [[path, "s.pdf", "application/pdf"]]},
            "board": {"ip": "127.0.0.20", "now": NOW, "routes": routes_for(o365)}}
    code = ("import gc, json, send_case\n"
            "spec = json.loads(%r)\n"
            "used = [0] * 30\n"                  # made before the loop: the list itself must not grow
            "delivered = 0\n"
            "for i in range(30):\n"
            "    out = json.loads(send_case.run(spec))\n"
            "    delivered += 'result' in out\n"
            "    gc.collect()\n"
            "    used[i] = gc.mem_alloc()\n"
            "print(json.dumps({'delivered': delivered, 'used': used}))\n" % json.dumps(spec))
    out = run_json("micropython", code, timeout=300)
    assert out["delivered"] == 30
    assert len(o365.messages("alice@contoso.com")) + len(
        o365.messages("alice@contoso.com", "Junk Email")) == 30
    used = out["used"]
    assert max(used[1:]) - used[1] <= 64, used


# --- the remaining ways to connect -------------------------------------------------------------
CERT_TENANT = """
[tenant]
name = "contoso.com"
accepted_domains = ["contoso.com"]
mx_host = "contoso-com.mail.protection.outlook.com"
submission_host = "smtp.office365.com"
hve_host = "smtp.hve.mx.microsoft"

[[mailboxes]]
address = "alice@contoso.com"
password = "Alice-Pass-1"

[[connectors]]
name = "printers-by-certificate"
certificate_domain = "contoso.com"
"""


def test_a_printer_relays_outside_with_a_client_certificate_its_connector_trusts(runtime, tmp_path):
    tenant_file = tmp_path / "tenant.toml"
    tenant_file.write_text(CERT_TENANT)
    with FakeTenant(tenant=str(tenant_file), state_dir=tmp_path / "o365") as t:
        cert = t.issue_client_cert("printer.contoso.com")
        message = {"sender": "printer@contoso.com", "to": ["someone@fabrikam.example"],
                   "subject": "By certificate"}
        refused = send(runtime, t, settings_for(t, "relay"), message, ip="127.0.0.40")
        assert refused["error"]["enhanced"] == "5.7.64"
        out = send(runtime, t, settings_for(t, "relay", client_cert_der_path=cert["cert_der"],
                                            client_key_der_path=cert["key_der"]),
                   message, ip="127.0.0.40")
        assert "error" not in out, out
        assert [m["Subject"] for m in t.internet_messages()] == ["By certificate"]


def test_a_custom_method_reaches_the_submission_endpoint_with_starttls_and_login(runtime, o365):
    settings = settings_for(o365, "submission", method="custom", host="smtp.office365.com",
                            port=587, tls="starttls", auth="login")
    out = send(runtime, o365, settings, {"sender": "scanner@contoso.com", "to": ["bob@contoso.com"],
                                         "subject": "custom"})
    assert "error" not in out, out
    assert only_message(o365, "bob@contoso.com")["Subject"] == "custom"


def test_a_custom_method_without_tls_delivers_in_clear_to_the_mx(runtime, o365):
    settings = settings_for(o365, "direct_send", method="custom", port=25, tls="none")
    out = send(runtime, o365, settings, {"sender": "scanner@contoso.com", "to": ["bob@contoso.com"],
                                         "subject": "plain"})
    assert "error" not in out, out
    assert only_message(o365, "bob@contoso.com")["Subject"] == "plain"


def test_a_server_that_never_answers_ends_in_a_transient_timeout(runtime, o365):
    from tests.firmware.plain_servers import SilentServer

    with SilentServer() as silent:
        out = send(runtime, o365, settings_for(o365, "submission", timeout_s=1),
                   {"sender": "scanner@contoso.com", "to": ["alice@contoso.com"]},
                   routes={"smtp.office365.com:587": list(silent.address)})
    err = out["error"]
    assert (err["stage"], err["kind"], err["transient"]) == ("greeting", "timeout", True)
    assert "did not answer in time" in err["cause"]


def test_a_mistyped_mx_host_is_reported_as_a_name_that_does_not_resolve(runtime, o365):
    out = send(runtime, o365, settings_for(o365, "direct_send",
                                           host="contoso-com.mail.protection.outlook.con"),
               {"sender": "scanner@contoso.com", "to": ["alice@contoso.com"]})
    err = out["error"]
    assert (err["stage"], err["kind"], err["transient"]) == ("connect", "dns", True)
    assert "Manage DNS" in err["todo"]


def test_an_expired_or_forged_token_is_refused_without_showing_it(runtime, o365):
    token = o365.mint_token("scanner@contoso.com") + "forged"
    out = send(runtime, o365, settings_for(o365, "submission", auth="xoauth2", password=None,
                                           token=token),
               {"sender": "scanner@contoso.com", "to": ["alice@contoso.com"]})
    err = out["error"]
    assert (err["stage"], err["code"], err["enhanced"]) == ("auth", 535, "5.7.3")
    assert token not in json.dumps(err) and token[:40] not in json.dumps(err)


def test_a_custom_server_with_implicit_tls_takes_auth_plain(runtime, o365, tmp_path):
    from tests.firmware.plain_servers import ImplicitTlsServer

    with ImplicitTlsServer("mail.example.org", "printer@example.org", "Printer-Pass-1") as server:
        ca = tmp_path / "ca.der"
        ca.write_bytes(server.ca_der)
        settings = {"method": "custom", "host": "mail.example.org", "tls": "implicit",
                    "auth": "plain", "username": "printer@example.org",
                    "password": "Printer-Pass-1", "ca_der_path": str(ca), "timeout_s": 10}
        routes = {"mail.example.org:465": list(server.address)}
        message = {"sender": "printer@example.org", "to": ["x@example.org"], "subject": "465"}
        out = send(runtime, o365, settings, message, routes=routes)
        assert "error" not in out, out
        assert len(server.messages) == 1 and b"Subject: 465" in server.messages[0]
        wrong = send(runtime, o365, dict(settings, password="Wrong-Pass-9"), message, routes=routes)
        assert (wrong["error"]["stage"], wrong["error"]["code"]) == ("auth", 535), wrong["error"]["str"]
        assert "Wrong-Pass-9" not in json.dumps(wrong)


def _cut_short(err, path):
    assert (err["cls"], err["stage"], err["kind"], err["transient"]) == (
        "SMTPError", "data", "message", False), err
    assert err["text"] == ("reading the attachment failed: %s became shorter while it was being "
                           "sent; nothing was delivered" % path)


def test_a_scan_cut_short_while_it_goes_by_bdat_is_not_delivered_and_says_so(runtime, o365,
                                                                            tmp_path):
    # The file is read while sending, after its size was announced (BDAT 30xxx LAST, unencoded
    # by BINARYMIME), and it is 1000 bytes shorter by then: the connection is dropped unended.
    path = scan(tmp_path, size=30_000)
    out = send(runtime, o365, settings_for(o365, "submission"),
               {"sender": "scanner@contoso.com", "to": ["alice@contoso.com"], "subject": "cut",
                "attachments": [[path, "s.pdf", "application/pdf"]]},
               shrink_on_connect=[path, 29_000])
    _cut_short(out["error"], path)
    assert o365.messages("alice@contoso.com", "Inbox") == []
    assert o365.messages("scanner@contoso.com", "Sent Items") == []


def test_a_scan_cut_short_while_it_goes_by_data_is_not_delivered_and_says_so(runtime, o365,
                                                                            tmp_path):
    """The same by DATA, in base64 (aiosmtpd offers no CHUNKING): the end of data never follows."""
    from tests.firmware.plain_servers import ImplicitTlsServer

    path = scan(tmp_path, size=30_000)
    with ImplicitTlsServer("mail.example.org", "printer@example.org", "Printer-Pass-1") as server:
        ca = tmp_path / "ca.der"
        ca.write_bytes(server.ca_der)
        out = send(runtime, o365, {"method": "custom", "host": "mail.example.org",
                                   "tls": "implicit", "ca_der_path": str(ca), "timeout_s": 10},
                   {"sender": "printer@example.org", "to": ["x@example.org"], "subject": "cut",
                    "attachments": [[path, "s.pdf", "application/pdf"]]},
                   routes={"mail.example.org:465": list(server.address)},
                   shrink_on_connect=[path, 29_000])
        _cut_short(out["error"], path)
    assert server.messages == []


def test_a_board_whose_wifi_is_not_up_fails_at_connect_with_the_boards_words(runtime, o365):
    out = send(runtime, o365, settings_for(o365, "submission"),
               {"sender": "scanner@contoso.com", "to": ["alice@contoso.com"]}, down=True)
    err = out["error"]
    assert (err["cls"], err["stage"], err["kind"], err["transient"]) == (
        "SMTPError", "connect", "network", True)
    assert "Wi-Fi is not connected" in err["text"]


def test_smuggling_sequences_survive_dot_stuffed_data_on_a_server_without_chunking(runtime, o365,
                                                                                  tmp_path):
    """The fake offers CHUNKING (BDAT needs no dot-stuffing); aiosmtpd does not, so this is DATA,
    pipelined: MAIL, RCPT and DATA in one write, then the body, the end of data and QUIT."""
    from tests.firmware.plain_servers import ImplicitTlsServer

    with ImplicitTlsServer("mail.example.org", "printer@example.org", "Printer-Pass-1",
                           pipelining=True) as server:
        ca = tmp_path / "ca.der"
        ca.write_bytes(server.ca_der)
        settings = {"method": "custom", "host": "mail.example.org", "tls": "implicit",
                    "ca_der_path": str(ca), "timeout_s": 10}
        out = send(runtime, o365, settings,
                   {"sender": "printer@example.org", "to": ["x@example.org"], "subject": "smuggle",
                    "body": SMUGGLING_BODY},
                   routes={"mail.example.org:465": list(server.address)})
        assert "error" not in out, out
        assert len(server.messages) == 1
    # greeting, EHLO, MAIL+RCPT+DATA, body+end of data+QUIT: pipelined, 4 waits instead of 7
    assert out["result"]["round_trips"] == 4
    stored = email.message_from_bytes(server.messages[0], policy=email.policy.default)
    text = stored.get_body(("plain",)).get_content().replace("\r\n", "\n")
    assert text == SMUGGLING_BODY.replace("\r\n", "\n").replace("\r", "\n")
