# What a person (through the console) and a restart ask of the outbox (firmware/app/outbox.py):
# the job list, a failed job queued again, jobs removed, and the clean-up after a start (documents
# a power cut left half written, jobs left "sending"). Loaded for the call and let go after it
# (firmware.call_once): the outbox module that stays loaded has only what the worker needs.
from scanmail.firmware.app import atomic_file
from scanmail.firmware.app.outbox import OutboxError, remove_quietly, listing

DONE = ("sent", "failed", "expired")


def ids(outbox):
    out = []
    for name in listing(outbox.jobs_dir):
        if name.endswith(".json"):
            out.append(name[:-5])
    return out


def jobs(outbox):
    return list(outbox.each())


def recover(outbox):
    """After a start: finish or drop what a power cut left of a record's write, drop half-written
    documents and those without a job; report jobs a power cut left in "sending" (they are sent
    again). -> list of (job_id, what happened)."""
    notes = []
    for name in listing(outbox.jobs_dir):
        if name.endswith(".tmp"):
            path = outbox.jobs_dir + "/" + name[:-4]
            # a record whole only in its temporary file (a cut on a filesystem that cannot rename
            # over a file, after the old one went) takes its place; what is left is a write that
            # never finished, and the record before it stands
            atomic_file.read_atomic(path)
            remove_quietly(path + ".tmp")
    known = ids(outbox)
    for name in listing(outbox.docs_dir):
        job_id = name.split("-")[0]
        if name.endswith(".part") or job_id not in known:
            remove_quietly(outbox.docs_dir + "/" + name)
            notes.append((job_id, "a scan interrupted before it was queued was removed"))
    for job in outbox.each():
        if job["state"] == "sending":
            job["state"] = "queued"
            job["last"] = {"stage": "power", "text": "power went while sending; sending again",
                           "transient": True}
            outbox.save(job)
            notes.append((job["id"], "power went while sending: sending it again"))
    return notes


def retry(outbox, job_id, now):
    """A failed job queued again at once (its document is kept for this)."""
    job = outbox.load(job_id)
    if job["state"] != "failed":
        raise OutboxError("wrong_state", "job %s is %s; only failed jobs can be retried (its "
                                         "document is gone otherwise)" % (job_id, job["state"]))
    job["state"] = "queued"
    job["next_at"] = now
    job["created"] = now
    outbox.save(job)
    return job


def purge(outbox, job_id=None):
    """Remove one job (not while it is sending), or every sent, failed and expired job."""
    if job_id is not None:
        chosen = [outbox.load(job_id)]
        if chosen[0]["state"] == "sending":
            raise OutboxError("wrong_state", "job %s is being sent; purge it once it is done" % job_id)
    else:
        chosen = [j for j in jobs(outbox) if j["state"] in DONE]
    for job in chosen:
        outbox.drop_files(job)
        atomic_file.remove(outbox.job_path(job["id"]))
    return [j["id"] for j in chosen]
