# A new job in the outbox (firmware/app/outbox.py), as a scan makes it: its id, where its documents
# go, whether the flash has room, and the job record once the documents are whole; or, when the
# scan fails, its documents removed and the error that says what to do. Loaded with the scan and
# let go with it (firmware.call_once): the outbox module that stays loaded has only what the worker
# needs each step. Rule: a full flash refuses a new job and never touches queued ones.
import os

from scanmail.firmware.app.outbox import OutboxError, remove_quietly, listing
from scanmail.firmware.compat import const

_ENOSPC = const(28)


def _size(path):
    try:
        return os.stat(path)[6]
    except OSError:
        return 0


def used_bytes(outbox):
    total = 0
    for folder in (outbox.jobs_dir, outbox.docs_dir):
        for name in listing(folder):
            total += _size(folder + "/" + name)
    return total


def free_bytes(outbox):
    """What a new scan may use: the filesystem's free space, within `capacity`."""
    try:
        st = os.statvfs(outbox.root)
        free = st[0] * st[4]
    except (OSError, AttributeError):
        free = 1 << 40
    if outbox.capacity is not None:
        free = min(free, outbox.capacity - used_bytes(outbox))
    return max(0, free)


def new_id(outbox):
    highest = 0
    for name in listing(outbox.jobs_dir) + listing(outbox.docs_dir):
        digits = name.split(".")[0].split("-")[0]
        if digits.isdigit():
            highest = max(highest, int(digits))
    return "%06d" % (highest + 1)


def document_path(outbox, job_id, index, ext):
    """Where a new job's document `index` is written (as `<path>.part` until enqueue)."""
    return "%s/%s-%02d.%s" % (outbox.docs_dir, job_id, index, ext)


def check_space(outbox, needed):
    free = free_bytes(outbox)
    if free < needed:
        raise OutboxError("flash_full", "flash full: %d KB free, a scan needs about %d KB; "
                                        "nothing queued is lost: wait for the queued scans to be "
                                        "sent, or `outbox purge` sent and failed ones"
                          % (free // 1024, (needed + 1023) // 1024))


def write_failed(outbox, job_id, exc):
    """Clean up after a document write failed; the OutboxError to report."""
    discard(outbox, job_id)
    if getattr(exc, "errno", None) == _ENOSPC or (exc.args and exc.args[0] == _ENOSPC):
        return OutboxError("flash_full", "flash full while scanning: the scan was not kept; "
                                         "nothing queued is lost: wait for the queued scans to "
                                         "be sent, or `outbox purge` sent and failed ones")
    return OutboxError("flash_error", "the scan could not be written to flash (%s): try "
                                      "again; if it persists, check the flash" % (exc,))


def discard(outbox, job_id):
    """Remove the documents of a job that was never queued."""
    for name in listing(outbox.docs_dir):
        if name.startswith(job_id + "-"):
            remove_quietly(outbox.docs_dir + "/" + name)


def enqueue(outbox, job_id, parts, message, now):
    """Queue job `job_id`: `parts` are [(document_path, file_name, mime)] written as
    `<document_path>.part`; `message` holds sender, to, cc, subject, body, method, mailbox."""
    files = []
    size = 0
    for path, name, mime in parts:
        os.rename(path + ".part", path)
        files.append([path, name, mime])
        size += _size(path)
    job = {"id": job_id, "state": "queued", "created": now, "attempts": 0, "next_at": now,
           "files": files, "size": size, "last": None, "sent_at": None, "reply": None}
    job.update(message)
    outbox.save(job)
    return job
