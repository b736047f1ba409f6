# The HTTP API behind the workbench, over real HTTP: folders paged newest first, a message's parts,
# attachments and exact source, delete and empty, the trace searched and paged, the tenant's
# switches changed for the next SMTP session and put back by a reset, live events, JSON errors.
import json
import smtplib
import urllib.error
import urllib.request
from email.message import EmailMessage

import pytest

from tests.tenant.helpers import PRINTER_IP, SCANNER, STRANGER_IP, Client, message

PDF = b"%PDF-1.4\n% a scan\n%%EOF\n"


def call(tenant, method, path, body=None, headers=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(tenant.api_url + path, data=data, method=method,
                                     headers=dict({"Content-Type": "application/json"}, **(headers or {})))
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
            kind = response.headers.get("Content-Type", "")
            return response.status, (json.loads(raw) if kind == "application/json" else raw), response.headers
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read()), exc.headers


def send_scan(tenant, subject, to="alice@contoso.com"):
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "scanner@contoso.com", to, subject
    msg.set_content("Scan attached.\r\n")
    msg.add_attachment(PDF, maintype="application", subtype="pdf", filename="scan.pdf")
    with Client(tenant, "submission") as c:
        c.secure().login_as(SCANNER)
        c.send_message(msg)
    return msg


def test_a_folder_pages_newest_first_and_a_message_shows_its_parts_attachment_and_exact_source(tenant):
    for n in range(3):
        send_scan(tenant, "Scan %d" % n)
    status, page, _ = call(tenant, "GET", "/api/folder?mailbox=alice@contoso.com&folder=Inbox&limit=2")
    assert status == 200 and page["total"] == 3
    assert [m["subject"] for m in page["messages"]] == ["Scan 2", "Scan 1"]
    status, rest, _ = call(tenant, "GET", "/api/folder?mailbox=alice@contoso.com&folder=Inbox&limit=2&offset=2")
    assert [m["subject"] for m in rest["messages"]] == ["Scan 0"]
    key = page["messages"][0]["key"]
    where = "mailbox=alice@contoso.com&folder=Inbox&key=" + key
    status, detail, _ = call(tenant, "GET", "/api/message?" + where)
    assert detail["subject"] == "Scan 2" and detail["body"].strip() == "Scan attached."
    pdf_part, = [p for p in detail["parts"] if p["filename"] == "scan.pdf"]
    assert (pdf_part["content_type"], pdf_part["size"]) == ("application/pdf", len(PDF))
    assert "internal" in detail["antispam"]["verdict"]
    status, payload, headers = call(tenant, "GET", "/api/message/part?%s&part=%d" % (where, pdf_part["index"]))
    assert payload == PDF and headers["Content-Type"] == "application/pdf"
    _, payload, headers = call(tenant, "GET", "/api/message/part?%s&part=%d&download=1" % (where, pdf_part["index"]))
    assert payload == PDF and headers["Content-Disposition"] == 'attachment; filename="scan.pdf"'
    _, source, _ = call(tenant, "GET", "/api/message/source?" + where)
    path, = [p for p in tenant.world.store.message_files("alice@contoso.com") if key in p]
    with open(path, "rb") as f:
        assert source == f.read().replace(b"\n", b"\r\n") and b"\r\n\r\n" in source
    assert b"Subject: Scan 2\r\n" in source


def test_a_junk_message_says_why_and_delete_and_empty_remove_messages(tenant):
    with Client(tenant, "mx", source_ip=STRANGER_IP) as c:
        c.sendmail("scanner@contoso.com", ["bob@contoso.com"], message(to="bob@contoso.com", subject="Junk me"))
    _, page, _ = call(tenant, "GET", "/api/folder?mailbox=bob@contoso.com&folder=Junk%20Email")
    key = page["messages"][0]["key"]
    _, detail, _ = call(tenant, "GET", "/api/message?mailbox=bob@contoso.com&folder=Junk%20Email&key=" + key)
    verdict = detail["antispam"]["verdict"]
    assert verdict.startswith("Junk Email") and "softfail" in verdict and STRANGER_IP in verdict
    assert {"header": "Authentication-Results", "field": "spf", "value": "softfail"}.items() <= \
        [n for n in detail["antispam"]["notes"] if n["field"] == "spf"][0].items()
    status, answer, _ = call(tenant, "DELETE", "/api/message?mailbox=bob@contoso.com&folder=Junk%20Email&key=" + key)
    assert status == 200 and tenant.messages("bob@contoso.com", "Junk Email") == []
    status, answer, _ = call(tenant, "GET", "/api/message?mailbox=bob@contoso.com&folder=Junk%20Email&key=" + key)
    assert status == 404 and "deleted" in answer["error"]
    send_scan(tenant, "one")
    send_scan(tenant, "two")
    status, answer, _ = call(tenant, "DELETE", "/api/folder?mailbox=alice@contoso.com&folder=Inbox")
    assert answer == {"deleted": 2} and tenant.messages("alice@contoso.com") == []
    _, boxes, _ = call(tenant, "GET", "/api/mailboxes")
    counts = {b["address"]: b["folders"] for b in boxes}
    assert counts["alice@contoso.com"] == {"Inbox": 0, "Junk Email": 0, "Sent Items": 0}
    assert counts["scanner@contoso.com"]["Sent Items"] == 2 and counts["internet"] == {"Inbox": 0}


def test_the_trace_is_searched_by_method_status_and_client_ip_newest_first_with_each_conversation(tenant):
    send_scan(tenant, "by submission")
    with Client(tenant, "mx", source_ip=PRINTER_IP) as c:
        c.sendmail("printer@contoso.com", ["someone@fabrikam.example"], message(to="someone@fabrikam.example"))
    with Client(tenant, "submission") as c:
        c.secure()
        with pytest.raises(smtplib.SMTPAuthenticationError):
            c.login("scanner@contoso.com", "wrong-password")
    _, found, _ = call(tenant, "GET", "/api/trace/search?method=relay")
    record, = found["records"]
    assert (record["client_ip"], record["status"], record["recipients"]) == (PRINTER_IP, "Delivered",
                                                                            ["someone@fabrikam.example"])
    assert "C: mail FROM:<printer@contoso.com> size=94" in record["conversation"]   # as smtplib sent it
    assert record["conversation"][-1] == "S: " + record["reply"]
    _, refused, _ = call(tenant, "GET", "/api/trace/search?status=Refused&sender=SCANNER")
    record, = refused["records"]
    assert "C: AUTH LOGIN <credentials hidden>" in record["conversation"]   # smtplib's initial response
    assert "wrong-password" not in json.dumps(record) and "d3JvbmctcGFzc3dvcmQ" not in json.dumps(record)
    _, everything, _ = call(tenant, "GET", "/api/trace/search?limit=2")
    assert everything["total"] == 3 and [r["id"] for r in everything["records"]] == [2, 1]
    today = record["time"][:10]
    _, day, _ = call(tenant, "GET", "/api/trace/search?since=%s&until=%s" % (today, today))
    assert day["total"] == 3
    _, before, _ = call(tenant, "GET", "/api/trace/search?until=2000-01-01")
    assert before["total"] == 0
    status, error, _ = call(tenant, "GET", "/api/trace/search?status=Lost")
    assert status == 400 and "Delivered" in error["error"]


def test_a_switch_changed_through_the_api_changes_the_next_smtp_session_until_a_reset(tenant):
    status, view, _ = call(tenant, "POST", "/api/tenant", {"switches": {"smtp_auth": False}})
    assert status == 200 and view["switches"]["smtp_auth"] is False
    assert all("password" not in m for m in view["mailboxes"])
    with Client(tenant, "submission") as c:
        c.secure()
        with pytest.raises(smtplib.SMTPAuthenticationError) as refused:
            c.login(*SCANNER)
    assert b"SmtpClientAuthentication is disabled for the Tenant" in refused.value.smtp_error
    status, error, _ = call(tenant, "POST", "/api/tenant", {"switches": {"min_tls": "1.4"}})
    assert status == 400 and error["error"] == "switches.min_tls: expected one of 1.0, 1.1, 1.2, 1.3, got '1.4'"
    call(tenant, "POST", "/api/tenant", {"spf": {"contoso.com": "v=spf1 ip4:%s -all" % STRANGER_IP}})
    with Client(tenant, "mx", source_ip=STRANGER_IP) as c:
        c.sendmail("scanner@contoso.com", ["bob@contoso.com"], message(to="bob@contoso.com"))
    assert len(tenant.messages("bob@contoso.com", "Inbox")) == 1      # SPF now passes for that IP
    assert call(tenant, "POST", "/api/reset")[0] == 200
    _, view, _ = call(tenant, "GET", "/api/tenant")
    assert view["switches"]["smtp_auth"] is True and STRANGER_IP not in view["spf"]["contoso.com"]
    with Client(tenant, "submission") as c:
        c.secure().login_as(SCANNER)


def test_errors_are_json_and_other_web_pages_cannot_change_the_tenant(tenant):
    status, error, _ = call(tenant, "GET", "/api/message?mailbox=nobody@contoso.com&key=x")
    assert status == 404 and "no mailbox" in error["error"]
    status, error, _ = call(tenant, "GET", "/api/folder?mailbox=alice@contoso.com&limit=lots")
    assert status == 400 and error["error"].startswith("limit must be a whole number")
    status, error, _ = call(tenant, "POST", "/api/reset", headers={"Origin": "http://evil.example"})
    assert status == 403 and "other web pages" in error["error"]
    status, page, headers = call(tenant, "GET", "/")
    assert status == 200 and headers["Content-Type"].startswith("text/html") and b"workbench" in page.lower()


def test_live_events_bring_each_trace_record_to_an_open_stream(tenant):
    with urllib.request.urlopen(tenant.api_url + "/api/events", timeout=10) as stream:
        assert stream.readline() == b": connected\n" and stream.readline() == b"\n"
        send_scan(tenant, "live")
        lines = [stream.readline() for _ in range(2)]
    assert lines[0] == b"event: trace\n"
    record = json.loads(lines[1][len(b"data: "):])
    assert (record["status"], record["method"]) == ("Delivered", "submission")
