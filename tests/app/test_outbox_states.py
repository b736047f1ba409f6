# The outbox's own rules (firmware/app/outbox.py, outbox_intake.py, outbox_admin.py) on both
# runtimes, without a network: the retry delay at each attempt (doubling from the base, never above
# an hour, a jitter between half and all of it), which jobs expire and which are due, ids that
# never repeat, a retry only of a failed job, a purge that spares what is still to be sent, the
# space a new scan may use, and what a restart finds after a power cut. The figures are written
# out here as a user is promised them.
import json

RUN = r"""
import json, os
from scanmail.firmware.app import outbox as ob, outbox_admin as admin, outbox_intake as intake
root = %(root)r
out = {}
out["backoff"] = [ob.backoff_s(a, b, j) for a, b, j in json.loads(%(backoff)r)]
box = ob.Outbox(root)
out["first_id"] = intake.new_id(box)

def queue(job_id, now, text=b"%%PDF-1.4 scan"):
    path = intake.document_path(box, job_id, 1, "pdf")
    f = open(path + ".part", "wb"); f.write(text); f.close()
    return intake.enqueue(box, job_id, [(path, "scan.pdf", "application/pdf")],
                       {"to": ["alice@contoso.com"], "subject": "s"}, now)

old = queue("000001", 1000)
young = queue("000002", 4000)
sent = queue("000003", 1000)
box.mark_sending(sent, 1500)
box.mark_sent(sent, "250 OK", 1500, True)
failed = queue("000004", 1000)
box.mark_sending(failed, 1500)
box.mark_failed(failed, {"stage": "rcpt", "text": "550"}, False, 1500, 3600, 60, 0)
out["after_id"] = intake.new_id(box)
out["due_at_3999"] = [box.due(3999)[0]["id"], box.due(3999)[1]]
out["due_before_any"] = box.due(999)
out["expired"] = box.expire(4600, 3600)          # 000001 is exactly max_age old
out["states"] = [(j["id"], j["state"]) for j in admin.jobs(box)]
out["docs_left"] = sorted(os.listdir(root + "/outbox/docs"))
out["due_after_expiry"] = [box.due(4000)[0]["id"], box.due(4000)[1]]
out["due_before_young"] = [box.due(3990)[0], box.due(3990)[1]]
out["counts"] = box.counts()
refusals = []
for job_id in ("000002", "000003", "999999"):
    try:
        admin.retry(box, job_id, 5000)
        refusals.append(None)
    except ob.OutboxError as e:
        refusals.append([e.code, str(e)])
out["retry_refusals"] = refusals
retried = admin.retry(box, "000004", 5000)
out["retried"] = [retried["state"], retried["next_at"], retried["created"]]
# attempts: a transient failure waits, a too-old one expires, a 5xx fails for good
young = box.load("000002")
box.mark_sending(young, 4100)
box.mark_failed(young, {"stage": "mail", "text": "451"}, True, 4100, 3600, 60, 255)
young = box.load("000002")
out["transient"] = [young["state"], young["next_at"], young["attempts"]]
box.mark_sending(young, 7599)
box.mark_failed(young, {"stage": "mail", "text": "451"}, True, 7600, 3600, 60, 255)
out["too_old"] = [box.load("000002")["state"], sorted(os.listdir(root + "/outbox/docs"))]
sending = queue("000005", 8000)
box.mark_sending(sending, 8000)
try:
    admin.purge(box, "000005")
    out["purge_sending"] = None
except ob.OutboxError as e:
    out["purge_sending"] = [e.code, str(e)]
out["purged"] = admin.purge(box)
out["left"] = [(j["id"], j["state"]) for j in admin.jobs(box)]
# a restart: the job that was sending is queued again, a half-written scan is dropped
f = open(intake.document_path(box, "000006", 1, "pdf") + ".part", "wb"); f.write(b"half"); f.close()
out["recover"] = admin.recover(box)
out["after_restart"] = [(j["id"], j["state"], j["last"]) for j in admin.jobs(box)]
out["next_id"] = intake.new_id(box)
# space: capacity minus what the outbox holds, never below zero
small = ob.Outbox(root + "/small", capacity=100)
out["small_free"] = intake.free_bytes(small)
f = open(small.docs_dir + "/000001-01.pdf", "wb"); f.write(b"x" * 40); f.close()
out["small_free_after"] = intake.free_bytes(small)
try:
    intake.check_space(small, 61)
    out["space"] = None
except ob.OutboxError as e:
    out["space"] = [e.code, str(e)]
intake.check_space(small, 60)
tiny = ob.Outbox(root + "/tiny", capacity=10)
f = open(tiny.docs_dir + "/000001-01.pdf", "wb"); f.write(b"x" * 40); f.close()
out["tiny_free"] = intake.free_bytes(tiny)
# a scan that could not be written: a full flash is told apart from other errors, its pieces go
failing = "000009"
f = open(intake.document_path(box, failing, 1, "pdf") + ".part", "wb"); f.write(b"half"); f.close()
errors = [intake.write_failed(box, failing, OSError(28)), intake.write_failed(box, failing, OSError(5))]
out["write_failed"] = [[e.code, str(e)] for e in errors]
out["write_failed_left"] = [n for n in os.listdir(box.docs_dir) if n.startswith(failing)]
# a root written with a doubled slash is still the folder it names
doubled = ob.Outbox(root + "//doubled")
out["doubled"] = sorted(os.listdir(root + "/doubled/outbox"))
# a relative root is the folder below the current one, not one below "/"
os.chdir(root)
ob.Outbox("relative/flash")
out["relative"] = sorted(os.listdir(root + "/relative/flash/outbox"))
print(json.dumps(out))
"""

# (attempts, base_s, jitter byte) -> seconds: base * 2**(attempts-1), at most an hour (or the base
# when it is longer), times 1/2 (byte 0) ... 1 (byte 255)
BACKOFF = [
    ((1, 30, 0), 15), ((1, 30, 255), 30), ((1, 30, 128), 22), ((0, 30, 255), 30),
    ((2, 30, 255), 60), ((3, 30, 255), 120), ((3, 30, 0), 60), ((7, 60, 255), 3600),
    ((7, 60, 0), 1800), ((6, 60, 255), 1920), ((100, 1, 255), 3600), ((1, 3600, 255), 3600),
    ((1, 3600, 254), 3592), ((2, 7200, 255), 7200), ((1, 1, 0), 1), ((1, 2, 0), 1), ((1, 2, 255), 2),
]


def test_the_outbox_keeps_its_promises_on_delays_expiry_ids_retry_purge_and_space(run_firmware, tmp_path):
    out = json.loads(run_firmware(RUN % {"root": str(tmp_path / "flash"),
                                         "backoff": json.dumps([b[0] for b in BACKOFF])}
                                  ).strip().splitlines()[-1])
    assert out["backoff"] == [b[1] for b in BACKOFF]
    assert (out["first_id"], out["after_id"]) == ("000001", "000005")
    # due: the oldest queued job whose time has come; before any, the wait for the nearest
    assert out["due_at_3999"] == ["000001", 0]
    assert out["due_before_any"] == [None, 1]
    # expiry: a queued job max_age old expires and loses its document; sent and failed ones stay
    assert out["expired"] == ["000001"]
    assert out["states"] == [["000001", "expired"], ["000002", "queued"], ["000003", "sent"],
                             ["000004", "failed"]]
    assert out["docs_left"] == ["000002-01.pdf", "000003-01.pdf", "000004-01.pdf"]
    assert out["due_after_expiry"] == ["000002", 0]
    assert out["due_before_young"] == [None, 10]
    assert out["counts"] == {"queued": 1, "sending": 0, "sent": 1, "failed": 1, "expired": 1}
    assert out["retry_refusals"] == [
        ["wrong_state", "job 000002 is queued; only failed jobs can be retried (its document is "
                        "gone otherwise)"],
        ["wrong_state", "job 000003 is sent; only failed jobs can be retried (its document is "
                        "gone otherwise)"],
        ["unknown_job", "no job 999999 in the outbox: `outbox list` shows the jobs"]]
    assert out["retried"] == ["queued", 5000, 5000]
    assert out["transient"] == ["queued", 4100 + 60, 1]
    assert out["too_old"] == ["expired", ["000003-01.pdf", "000004-01.pdf"]]
    assert out["purge_sending"] == ["wrong_state", "job 000005 is being sent; purge it once it is done"]
    assert out["purged"] == ["000001", "000002", "000003"]
    assert out["left"] == [["000004", "queued"], ["000005", "sending"]]
    assert out["recover"] == [["000006", "a scan interrupted before it was queued was removed"],
                              ["000005", "power went while sending: sending it again"]]
    assert out["after_restart"][1] == ["000005", "queued", {
        "stage": "power", "text": "power went while sending; sending again", "transient": True}]
    assert out["next_id"] == "000006"
    assert (out["small_free"], out["small_free_after"]) == (100, 60)
    assert out["space"] == ["flash_full", "flash full: 0 KB free, a scan needs about 1 KB; nothing "
                            "queued is lost: wait for the queued scans to be sent, or `outbox "
                            "purge` sent and failed ones"]
    assert out["tiny_free"] == 0
    full, other = out["write_failed"]
    assert full == ["flash_full", "flash full while scanning: the scan was not kept; nothing queued "
                    "is lost: wait for the queued scans to be sent, or `outbox purge` sent and "
                    "failed ones"]
    assert other[0] == "flash_error" and other[1].startswith("the scan could not be written to "
                                                            "flash (") and "5" in other[1]
    assert other[1].endswith("): try again; if it persists, check the flash")
    assert out["write_failed_left"] == []
    assert out["doubled"] == ["docs", "jobs"]
    assert out["relative"] == ["docs", "jobs"]
