# Faults on demand: a scripted reply, a dropped connection, a delay or a failed TLS handshake at any
# stage, on the n-th occurrence or with a seeded probability, per endpoint or on all; set from the
# Python API, the HTTP API and `scanmail o365 fault add|list|clear`.
import json
import re
import smtplib
import ssl
import urllib.request

import pytest

from scanmail.emulator.tenant import replies
from scanmail.emulator.tenant.faults import FaultError
from scanmail.host_tools import cli
from tests.tenant.helpers import SCANNER, SCANNER_IP, Client, message, reply_line, tls_context

BUSY = "451 4.7.500 Server busy. Please try again later from [127.0.0.20]. (AS843)"


def direct_send(tenant, to="alice@contoso.com"):
    with Client(tenant, "mx", SCANNER_IP) as smtp:
        return smtp.sendmail("scanner@contoso.com", [to], message(to=to))


def test_graylisting_at_rcpt_on_the_first_try_only_then_the_retry_is_delivered(tenant):
    tenant.add_fault(stage="rcpt", reply=BUSY, nth=1, endpoint="mx")
    with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
        direct_send(tenant)
    assert refused.value.recipients == {"alice@contoso.com": (451, BUSY[4:].encode())}
    assert direct_send(tenant) == {}
    assert [r["status"] for r in tenant.trace()] == ["Refused", "Delivered"]
    assert tenant.trace()[0]["reply"] == BUSY


def test_a_fault_for_one_endpoint_leaves_the_others_alone(tenant):
    tenant.add_fault(stage="mail", reply="421 4.3.2 Service not available", endpoint="submission")
    assert direct_send(tenant) == {}
    with Client(tenant, "submission") as smtp:
        smtp.secure().login_as(SCANNER)
        with pytest.raises(smtplib.SMTPSenderRefused) as refused:
            smtp.sendmail("scanner@contoso.com", ["alice@contoso.com"], message())
    assert refused.value.smtp_code == 421


@pytest.mark.parametrize("stage", ["connect", "greeting", "ehlo", "mail", "rcpt", "data", "end_of_data"])
def test_a_dropped_connection_at_any_stage_stores_nothing(tenant, stage):
    tenant.add_fault(stage=stage, action="drop", nth=1)
    with pytest.raises((smtplib.SMTPServerDisconnected, ConnectionError)):
        direct_send(tenant)
    assert tenant.messages("alice@contoso.com") == []
    assert tenant.spool_files() == []
    assert direct_send(tenant) == {}


def test_a_failed_tls_handshake_after_starttls(tenant):
    tenant.add_fault(stage="starttls", action="tls_fail", nth=1, endpoint="submission")
    with Client(tenant, "submission") as smtp:
        smtp.ehlo()
        with pytest.raises((ssl.SSLError, ConnectionError, smtplib.SMTPServerDisconnected)):
            smtp.starttls(context=tls_context(tenant))
    with Client(tenant, "submission") as smtp:
        smtp.secure().login_as(SCANNER)


def test_a_scripted_end_of_data_reply_fails_the_message_and_stores_nothing(tenant):
    tenant.add_fault(stage="end_of_data", reply=replies.DAILY_QUOTA, nth=1)
    with pytest.raises(smtplib.SMTPDataError) as refused:
        direct_send(tenant)
    assert reply_line((refused.value.smtp_code, refused.value.smtp_error)) == replies.DAILY_QUOTA
    assert tenant.messages("alice@contoso.com") == []
    assert tenant.trace()[-1]["status"] == "Failed"


def test_a_delay_fault_holds_the_reply_and_then_carries_on(tenant):
    tenant.add_fault(stage="ehlo", action="delay", delay_s=0.2, nth=1)
    assert direct_send(tenant) == {}
    assert tenant.faults()[0]["fired"] == 1


def test_a_seeded_probability_fault_fires_the_same_way_every_run(tenant):
    def run():
        tenant.reset()
        tenant.add_fault(stage="rcpt", reply=BUSY, probability=0.5, seed=7)
        outcomes = []
        for _ in range(12):
            try:
                direct_send(tenant)
                outcomes.append("ok")
            except smtplib.SMTPRecipientsRefused:
                outcomes.append("busy")
        return outcomes

    first = run()
    assert first == run()
    assert "ok" in first and "busy" in first


@pytest.mark.parametrize("fault,problem", [
    ({"stage": "dns", "reply": BUSY}, "stage must be one of"),
    ({"stage": "rcpt", "reply": "busy"}, "reply must be one SMTP reply line"),
    ({"stage": "rcpt", "action": "tls_fail"}, "tls_fail belongs to stage starttls"),
    ({"stage": "rcpt", "action": "delay"}, "needs delay_s"),
    ({"stage": "rcpt", "reply": BUSY, "nth": 0}, "nth must be a whole number from 1"),
    ({"stage": "rcpt", "reply": BUSY, "endpoint": "imap"}, "endpoint must be one of"),
])
def test_a_wrong_fault_is_refused_with_what_is_allowed(tenant, fault, problem):
    with pytest.raises(FaultError, match=problem):
        tenant.add_fault(**fault)


def api(tenant, method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(tenant.api_url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as exc:
        return exc.code, json.load(exc)


def test_faults_over_the_http_api(tenant):
    status, fault = api(tenant, "POST", "/api/faults", {"stage": "rcpt", "reply": BUSY, "nth": 1})
    assert status == 201 and fault["stage"] == "rcpt"
    assert api(tenant, "GET", "/api/faults")[1][0]["reply"] == BUSY
    status, error = api(tenant, "POST", "/api/faults", {"stage": "rcpt", "reply": BUSY, "when": "now"})
    assert status == 400 and "unknown fault field(s) when" in error["error"]
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        direct_send(tenant)
    assert api(tenant, "DELETE", "/api/faults") == (200, {"cleared": True})
    assert api(tenant, "GET", "/api/faults") == (200, [])


def test_faults_from_the_command_line_reach_the_running_tenant(tenant, capsys):
    state = tenant.state_dir
    assert cli.main(["o365", "fault", "add", "--state", state, "--stage", "rcpt", "--reply", BUSY,
                     "--nth", "1"]) == 0
    assert re.fullmatch(r"fault \d+ added: reply at rcpt on all\n", capsys.readouterr().out)
    assert cli.main(["o365", "fault", "list", "--state", state]) == 0
    assert BUSY in capsys.readouterr().out
    with pytest.raises(smtplib.SMTPRecipientsRefused):
        direct_send(tenant)
    assert cli.main(["o365", "fault", "clear", "--state", state]) == 0
    assert tenant.faults() == []
    assert cli.main(["o365", "fault", "add", "--state", state, "--stage", "rcpt", "--reply", "oops"]) == 2
    assert "reply must be one SMTP reply line" in capsys.readouterr().err


def test_a_reply_scripted_at_connect_is_sent_instead_of_the_greeting(tenant):
    tenant.add_fault(stage="connect", reply="421 4.3.2 Service not available", nth=1, endpoint="submission")
    with pytest.raises(smtplib.SMTPConnectError) as refused:
        Client(tenant, "submission")
    assert (refused.value.smtp_code, refused.value.smtp_error) == (421, b"4.3.2 Service not available")
    with Client(tenant, "submission") as smtp:
        assert smtp.ehlo()[0] == 250
