# The outbox on both runtimes, end to end with the virtual board's scanner and the fake tenant:
# every state (queued, sending, sent, failed with its diagnosis, expired), retries with backoff
# after a transient reply, a 5xx never retried, a power cut while sending (sent again once), a full
# flash refusing a scan without touching queued jobs, a send that runs out of heap queued again
# (never left "sending"), retry and purge, and the send limits counted across restarts.
import json
import os

import pypdf
import pytest

from scanmail.emulator.boards.sample_document import write_pages
from tests import runtimes
from tests.firmware.runtime_cache import run_json

NOW = 1_800_000_000
ROM = os.path.join(runtimes.REPO_ROOT, "emulator", "board_rom")
HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "on_runtime")
FIRMWARE_ON_RUNTIME = os.path.join(runtimes.REPO_ROOT, "tests", "firmware", "on_runtime")
CONFIG = {"username": "scanner@contoso.com", "sender": "scanner@contoso.com",
          "address_book": {"alice": "alice@contoso.com"}, "default_destination": "alice",
          "retry_base_s": 60, "max_age_s": 3600, "timeout_s": 10}


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    folder = tmp_path_factory.mktemp("scanner")
    write_pages(str(folder), count=3, dpi=60)
    return str(folder)


@pytest.fixture
def o365(tenant):
    tenant.reset()
    tenant.clear_faults()
    yield tenant
    tenant.clear_faults()


def drive(runtime, t, pages, tmp_path, steps, capacity=None, password="Scanner-Pass-1", **config):
    routes = {"%s:%d" % (t.hostname(e), p): list(t.address(e))
              for e, p in (("submission", 587), ("mx", 25), ("hve", 587))}
    cfg = dict(CONFIG, ca_path="/ca.der")
    cfg.update(config)
    spec = {"root": str(tmp_path / "flash"), "nvs": str(tmp_path / "nvs.json"), "pages": pages,
            "routes": routes, "now": NOW, "config": cfg, "steps": steps, "capacity": capacity,
            "password": password}
    os.makedirs(spec["root"], exist_ok=True)
    with open(os.path.join(spec["root"], "ca.der"), "wb") as f:
        f.write(open(t.ca_der_path, "rb").read())
    code = "import json, outbox_case\nprint(outbox_case.run(json.loads(%r)))\n" % json.dumps(spec)
    proc = runtimes.run_code(runtime, code, None, 120, extra_paths=(HERE, FIRMWARE_ON_RUNTIME, ROM))
    if proc.returncode:
        raise AssertionError(proc.stdout.decode() + proc.stderr.decode())
    return json.loads(proc.stdout.decode().strip().splitlines()[-1])


def inbox(t, mailbox="alice@contoso.com"):
    return t.messages(mailbox, "Inbox")


def test_a_scan_is_queued_sent_as_a_pdf_and_its_document_deleted(runtime, o365, pages, tmp_path):
    out = drive(runtime, o365, pages, tmp_path, [{"op": "scan"}, {"op": "step"}])
    queued, sent = out
    assert queued["jobs"][0]["state"] == "queued" and queued["jobs"][0]["files"][0] > 0
    assert sent["result"] == {"job": "000001", "state": "sent"}
    job = sent["jobs"][0]
    assert job["reply"].startswith("250") and job["files"] == [None]     # deleted once sent
    (msg,) = inbox(o365)
    (part,) = list(msg.iter_attachments())
    assert part.get_filename() == "scan-000001.pdf"
    pdf = pypdf.PdfReader(__import__("io").BytesIO(part.get_payload(decode=True)))
    assert len(pdf.pages) == 3
    assert "3 page(s) scanned by scanner-3f2a" in msg.get_body(("plain",)).get_content()


def test_transient_reply_is_retried_with_backoff_then_sent(runtime, o365, pages, tmp_path):
    o365.add_fault(stage="rcpt", reply="451 4.7.500 Server busy. Please try again later", nth=1)
    out = drive(runtime, o365, pages, tmp_path, [
        {"op": "scan"}, {"op": "step"}, {"op": "step", "now": NOW + 10}, {"op": "step", "now": NOW + 61}])
    after_fault = out[1]["jobs"][0]
    assert after_fault["state"] == "queued" and after_fault["attempts"] == 1
    assert after_fault["last"]["code"] == 451 and after_fault["last"]["transient"] is True
    assert NOW + 30 <= after_fault["next_at"] <= NOW + 60          # base 60 s, jitter 1/2..1
    wait = out[2]["result"]["idle"]
    assert 0 < wait <= 50 and out[2]["jobs"][0]["attempts"] == 1   # not due yet: not tried
    assert out[3]["result"]["state"] == "sent" and out[3]["jobs"][0]["attempts"] == 2
    assert len(inbox(o365)) == 1


def test_a_5xx_fails_at_once_with_its_diagnosis_and_retry_sends_it(runtime, o365, pages, tmp_path):
    out = drive(runtime, o365, pages, tmp_path, [
        {"op": "scan"}, {"op": "step"}, {"op": "step", "now": NOW + 3000},
        {"op": "retry", "id": "000002"}, {"op": "password", "value": "Scanner-Pass-1"},
        {"op": "retry", "id": "000001"}, {"op": "step", "now": NOW + 3001}],
        password="wrong-password")
    failed = out[1]["jobs"][0]
    assert failed["state"] == "failed" and failed["attempts"] == 1
    assert failed["last"]["code"] == 535 and failed["last"]["transient"] is False
    assert failed["last"]["what_to_do"] and "wrong-password" not in json.dumps(out)
    assert out[2]["result"] == {"idle": None} and out[2]["jobs"][0]["attempts"] == 1  # never retried
    assert out[3]["error"][0] == "unknown_job"
    assert out[5]["result"] == "queued"
    assert out[6]["result"]["state"] == "sent" and len(inbox(o365)) == 1


def test_a_send_that_runs_out_of_heap_is_queued_again_and_sent_later(o365, pages, tmp_path):
    # MicroPython's heap is the board's: filled but for 12 KB, the TLS handshake cannot be made
    out = drive("micropython", o365, pages, tmp_path, [
        {"op": "scan"}, {"op": "short_heap", "free": 12 * 1024}, {"op": "step"}, {"op": "release"},
        {"op": "step", "now": NOW + 1}, {"op": "step", "now": NOW + 2}])
    short = out[2]["jobs"][0]
    assert out[2]["result"] == {"job": "000001", "state": "queued"}
    assert short["state"] == "queued" and short["attempts"] == 1 and short["files"][0] > 0
    assert short["last"]["text"] == "out of memory while sending" and short["last"]["transient"] is True
    assert short["last"]["stage"] == "board" and "tried again" in short["last"]["what_to_do"]
    assert NOW + 1 <= short["next_at"] <= NOW + 2                  # a short backoff, not retry_base_s
    assert [o["result"] for o in out[4:]] in ([{"idle": 1}, {"job": "000001", "state": "sent"}],
                                             [{"job": "000001", "state": "sent"}, {"idle": None}])
    assert len(inbox(o365)) == 1


def test_too_old_for_another_try_expires(runtime, o365, pages, tmp_path):
    o365.add_fault(stage="connect", action="drop", nth=None, probability=1.0, seed=1)
    out = drive(runtime, o365, pages, tmp_path, [
        {"op": "scan"}, {"op": "step"}, {"op": "step", "now": NOW + 4000}])
    assert out[1]["jobs"][0]["state"] == "queued"
    assert out[2]["jobs"][0]["state"] == "expired" and out[2]["jobs"][0]["files"] == [None]


def test_a_power_cut_while_sending_sends_it_again_exactly_once(runtime, o365, pages, tmp_path):
    out = drive(runtime, o365, pages, tmp_path, [
        {"op": "scan"}, {"op": "cut_after_sending"}, {"op": "recover"}, {"op": "step"},
        {"op": "step"}])
    assert out[1]["jobs"][0]["state"] == "sending"
    assert out[2]["result"] == [["000001", "power went while sending: sending it again"]]
    assert out[3]["result"]["state"] == "sent"
    assert out[4]["result"] == {"idle": None}
    assert len(inbox(o365)) == 1


def test_a_full_flash_refuses_a_scan_and_keeps_what_is_queued(runtime, o365, pages, tmp_path):
    one_scan = sum(os.path.getsize(os.path.join(pages, n)) for n in os.listdir(pages))
    out = drive(runtime, o365, pages, tmp_path, [
        {"op": "scan"}, {"op": "scan"}, {"op": "purge"}, {"op": "step"}, {"op": "purge"},
        {"op": "scan"}], capacity=one_scan + 12 * 1024)
    # a scan streams its pages straight into its PDF: it needs room for the PDF and 16 KB more (the
    # PDF's own objects, the job record), so the first scan fits and the second does not
    assert out[1]["error"][0] == "flash_full"
    assert out[1]["error"][1].startswith("flash full") and "nothing queued is lost" in out[1]["error"][1]
    assert [j["state"] for j in out[1]["jobs"]] == ["queued"] and out[1]["jobs"][0]["files"][0] > 0
    assert out[2]["result"] == []                       # purge keeps queued jobs
    assert out[3]["result"]["state"] == "sent"
    assert out[4]["result"] == ["000001"]
    assert out[5]["result"] == "000001" or out[5]["result"] == "000002"
    assert len(inbox(o365)) == 1
    # nothing half-written is left behind by the refused scan
    assert sorted(os.listdir(tmp_path / "flash" / "outbox" / "docs"))[0].endswith(".pdf")


def test_send_limits_hold_the_31st_message_of_a_minute_across_restarts(run_firmware, tmp_path):
    path = str(tmp_path / "limits.json")
    out = json.loads(run_firmware(
        "import json\nfrom scanmail.firmware.app.send_limits import SendLimits, refusal\n"
        "l = SendLimits(%r)\n"
        "for i in range(30):\n"
        "    l.record('submission', 'scanner@contoso.com', 1, %d + i)\n"
        "again = SendLimits(%r)\n"
        "print(json.dumps([again.wait_s('submission', 'scanner@contoso.com', 1, %d + 30),"
        " again.wait_s('submission', 'scanner@contoso.com', 1, %d + 60),"
        " again.wait_s('direct_send', 'scanner@contoso.com', 1, %d + 30),"
        " again.wait_s('submission', 'scanner@contoso.com', 9980, %d + 60),"
        " refusal('hve', 51, 10), refusal('hve', 1, 11 * 1024 * 1024), refusal('submission', 51, 10)]))\n"
        % (path, NOW, path, NOW, NOW, NOW, NOW)).strip().splitlines()[-1])
    assert out[0] == 30 and out[1] == 0 and out[2] == 0
    assert out[3] > 20 * 3600                        # 10,000 recipients in 24 h: wait for a day
    assert "at most 50 recipients" in out[4] and "up to 10 MB" in out[5] and out[6] is None
