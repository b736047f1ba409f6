# The outbox's own rules (firmware/app/outbox.py, outbox_intake.py, outbox_admin.py) on both
# runtimes, without a network: the retry delay at each attempt (doubling from the base, never above
# an hour, a jitter between half and all of it), which jobs expire and which are due, ids that
# never repeat, a retry only of a failed job, a purge that spares what is still to be sent, the
# space a new scan may use, and what a restart finds after a power cut. The figures are written
# out here as a user is promised them.
import json
import os

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


EDGES = r"""
import json, os
from scanmail.firmware.app import atomic_file, outbox as ob, outbox_admin as admin, outbox_intake as intake
root = %(root)r
out = {}
box = ob.Outbox(root)

def queue(job_id, now, text=b"%%PDF-1.4 scan"):
    path = intake.document_path(box, job_id, 1, "pdf")
    f = open(path + ".part", "wb"); f.write(text); f.close()
    return intake.enqueue(box, job_id, [(path, "scan.pdf", "application/pdf")], {"to": ["a@b.c"]}, now)

out["size"] = queue("000001", 100, b"x" * 1234)["size"]
# the 1,000,000th job comes after the 999,999th, though its id is longer; a record named by hand
# (not a number) comes after the numbered ones
queue("999999", 100)
queue("1000000", 100)
atomic_file.write_atomic(box.job_path("manual"), json.dumps(dict(box.load("000001"), id="manual")).encode())
out["order"] = [j["id"] for j in box.each()]
later = ob.Outbox(root + "/later")          # the two alone: the older of them goes first
for job_id in ("999999", "1000000"):
    path = intake.document_path(later, job_id, 1, "pdf")
    f = open(path + ".part", "wb"); f.write(b"scan"); f.close()
    intake.enqueue(later, job_id, [(path, "scan.pdf", "application/pdf")], {"to": ["a@b.c"]}, 100)
out["due_first"] = later.due(100)[0]["id"]
# a record a power cut left half written, and one that is not JSON: skipped, the rest listed
f = open(box.jobs_dir + "/000002.json", "wb"); f.write(b'{"id": "000002", "sta'); f.close()
f = open(box.jobs_dir + "/garbage.json", "wb"); f.write(b"not json\n#end\n"); f.close()
f = open(box.jobs_dir + "/000003.json", "wb"); f.write(b"not json\n#end\n"); f.close()
f = open(box.jobs_dir + "/000009a.json", "wb"); f.write(b"not json\n#end\n"); f.close()   # a stray copy
out["listed_past_broken"] = [j["id"] for j in box.each()]
for name in ("000002.json", "garbage.json", "000003.json", "000009a.json"):
    os.remove(box.jobs_dir + "/" + name)
# a job held for a sign-in: queued again at once, its attempt given back, never below none
job = box.load("000001")
box.mark_sending(job, 200)
box.hold(job, {"stage": "auth", "text": "sign in"}, 210)
held = box.load("000001")
out["held"] = [held["state"], held["attempts"], held["next_at"], held["last"]["stage"]]
box.hold(held, {"stage": "auth", "text": "sign in"}, 220)
out["held_again"] = box.load("000001")["attempts"]
job = box.load("000001")
box.mark_sending(job, 230)
box.mark_failed(job, {"stage": "rcpt", "text": "451"}, True, 230, 3600, 1, 0)
job = box.load("000001")
box.mark_sending(job, 240)                  # a second attempt, then a hold: one attempt is left
box.hold(job, {"stage": "auth", "text": "sign in"}, 250)
out["held_after_two"] = box.load("000001")["attempts"]
# a sign-in restarts the age of queued jobs only
failed = box.load("999999")
box.mark_sending(failed, 300)
box.mark_failed(failed, {"stage": "rcpt", "text": "550"}, False, 300, 3600, 60, 0)
box.restart_ages(5000)
out["since"] = [(j["id"], j.get("since")) for j in box.each()]
out["expired_after_restart"] = box.expire(5000 + 3599, 3600)
# the space a scan needs, in KB, as the refusal says it (rounded down free, rounded up needed)
roomy = ob.Outbox(root + "/roomy", capacity=1023 * 1024)
refusals = []
for needed in (1024 * 1024, 1024 * 1024 + 1):
    try:
        intake.check_space(roomy, needed)
    except ob.OutboxError as e:
        refusals.append(str(e).split(";")[0])
out["space"] = refusals
# a document left by a scan cut short, with an id above every job's: the next id is above it
f = open(box.docs_dir + "/2000000-01.pdf.part", "wb"); f.write(b"half"); f.close()
out["next_id"] = intake.new_id(box)
# a restart: leftovers of writes that never finished go, a record that only its temporary file
# holds whole (a cut on a filesystem that cannot rename over a file) is kept, and so is its scan
f = open(box.jobs_dir + "/000077.json.tmp", "wb"); f.write(b'{"id": "000077", "sta'); f.close()
whole = dict(box.load("1000000"), id="000050")
f = open(box.jobs_dir + "/000050.json.tmp", "wb"); f.write(json.dumps(whole).encode() + b"\n#end\n"); f.close()
f = open(box.docs_dir + "/000050-01.pdf", "wb"); f.write(b"%%PDF-1.4 scan"); f.close()
f = open(box.jobs_dir + "/999999.json.tmp", "wb"); f.write(b'{"id": "999999", "state": "queu'); f.close()
f = open(box.docs_dir + "/1000000-02.pdf.part", "wb"); f.write(b"half"); f.close()
out["recover"] = admin.recover(box)
out["jobs_after"] = sorted(os.listdir(box.jobs_dir))
out["docs_after"] = sorted(os.listdir(box.docs_dir))
out["listed_after"] = [j["id"] for j in box.each()]
# a full flash told by the error's first argument when it carries no errno
class DriverError(Exception):
    pass
out["no_errno"] = intake.write_failed(box, "000060", DriverError(28, "no space")).code
# the free space a scan may use: the filesystem's blocks free to a user, each of its block size
out["free"] = intake.free_bytes(box)
# a document that vanished while it was counted (here: a link to nothing) counts as empty
sized = ob.Outbox(root + "/sized", capacity=100)
out["free_past_vanished"] = intake.free_bytes(sized)
# a jobs folder that is gone lists nothing and counts nothing, and ids go on from the documents
os.rename(box.jobs_dir, box.jobs_dir + "-gone")
out["gone"] = [admin.jobs(box), box.counts()["queued"], intake.new_id(box)]
# an outbox whose folder is gone: the filesystem cannot say, so nothing limits the scan
bare = ob.Outbox(root + "/bare")
for name in ("jobs", "docs"):
    os.rmdir(bare.root + "/" + name)
os.rmdir(bare.root)
out["unknown_free"] = intake.free_bytes(bare)
print(json.dumps(out))
"""


def test_the_outbox_keeps_its_order_skips_what_a_cut_broke_and_recovers_whole_records(run_firmware, tmp_path):
    docs = tmp_path / "flash" / "sized" / "outbox" / "docs"
    docs.mkdir(parents=True)
    (docs / "000001-01.pdf").symlink_to(tmp_path / "nowhere.pdf")
    out = json.loads(run_firmware(EDGES % {"root": str(tmp_path / "flash")}).strip().splitlines()[-1])
    assert out["size"] == 1234
    assert out["order"] == ["000001", "999999", "1000000", "manual"]
    assert out["due_first"] == "999999"
    assert out["listed_past_broken"] == ["000001", "999999", "1000000", "manual"]
    assert out["held"] == ["queued", 0, 210, "auth"]
    assert out["held_again"] == 0
    assert out["held_after_two"] == 1
    assert out["since"] == [["000001", 5000], ["999999", None], ["1000000", 5000], ["manual", 5000]]
    assert out["expired_after_restart"] == []
    assert out["space"] == ["flash full: 1023 KB free, a scan needs about 1024 KB",
                            "flash full: 1023 KB free, a scan needs about 1025 KB"]
    assert out["next_id"] == "2000001"
    assert out["recover"] == [["1000000", "a scan interrupted before it was queued was removed"],
                              ["2000000", "a scan interrupted before it was queued was removed"]]
    assert out["jobs_after"] == ["000001.json", "000050.json", "1000000.json", "999999.json",
                                 "manual.json"]
    assert out["docs_after"] == ["000001-01.pdf", "000050-01.pdf", "1000000-01.pdf", "999999-01.pdf"]
    assert out["listed_after"] == ["000001", "000050", "999999", "1000000", "manual"]
    assert out["free_past_vanished"] == 100
    assert out["no_errno"] == "flash_full"
    st = os.statvfs(str(tmp_path / "flash"))
    assert abs(out["free"] - st.f_bsize * st.f_bavail) < 64 << 20, (out["free"], st)
    assert out["gone"] == [[], 0, "1000001"]
    assert out["unknown_free"] == 1 << 40
