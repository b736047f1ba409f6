# The outbox: every scan is a job on flash before any network attempt, and its state changes are
# written atomically, so a power cut at any instant leaves each job in one state with its document
# whole. States: queued -> sending -> sent | queued (transient failure, retried later) | failed
# (permanent, with the diagnosis) | expired (too old to retry). Rule: the document is complete
# (written as .part, then renamed) before its job record exists; a job found in "sending" after a
# restart is sent again, so a message goes twice only when power went after the server's 250 and
# before "sent" was written. A full flash refuses a new job and never touches queued ones.
import json
import os

from scanmail.firmware.app import atomic_file
from scanmail.firmware.compat import const

STATES = ("queued", "sending", "sent", "failed", "expired")
_RETRY_CAP_S = const(3600)


class OutboxError(Exception):
    """A refused outbox operation (flash full, unknown job, wrong state); the text says what to do."""

    def __init__(self, code, text):
        super().__init__(text)
        self.code = code


def listing(path):
    """The names in a folder, sorted; none when it cannot be read."""
    try:
        return sorted(os.listdir(path))
    except OSError:
        return []


def _names(path):
    """The names in a folder one at a time where the runtime can (os.ilistdir), unsorted."""
    try:
        if hasattr(os, "ilistdir"):
            for entry in os.ilistdir(path):
                yield entry[0]
        else:
            for name in os.listdir(path):
                yield name
    except OSError:
        return


def remove_quietly(path):
    try:
        os.remove(path)
    except OSError:
        pass


def _mkdirs(path):
    """Every folder of `path` made in turn; an absolute path from "/", a relative one from here."""
    at = "/" if path.startswith("/") else ""
    for part in path.split("/"):
        if not part:
            continue
        at = at + part if not at or at.endswith("/") else at + "/" + part
        try:
            os.mkdir(at)
        except OSError:
            pass


def _since(job):
    """When a job's age starts: its creation, or the last sign-in it waited for."""
    return job.get("since") or job["created"]


def backoff_s(attempts, base, jitter_byte):
    """Seconds before attempt `attempts` + 1: base * 2**(attempts-1), capped at an hour, times a
    jitter between 1/2 and 1 (`jitter_byte`: 0..255, random), so boards that failed together do
    not retry together."""
    delay = base << min(max(attempts - 1, 0), 16)
    delay = min(delay, max(base, _RETRY_CAP_S))
    return max(1, delay // 2 + (delay // 2) * jitter_byte // 255)


class Outbox:
    """Jobs under `<root>/outbox`. `capacity` (bytes, optional) caps what the outbox may hold on
    flash besides what the filesystem has free."""

    def __init__(self, root, capacity=None):
        self.root = root.rstrip("/") + "/outbox"
        self.jobs_dir = self.root + "/jobs"
        self.docs_dir = self.root + "/docs"
        self.capacity = capacity
        _mkdirs(self.jobs_dir)
        _mkdirs(self.docs_dir)

    # -- storage ------------------------------------------------------------------------------
    def job_path(self, job_id):
        return "%s/%s.json" % (self.jobs_dir, job_id)

    def load(self, job_id):
        data = atomic_file.read_atomic(self.job_path(job_id))
        if data is None:
            raise OutboxError("unknown_job", "no job %s in the outbox: `outbox list` shows the jobs" % job_id)
        return json.loads(data)

    def save(self, job):
        atomic_file.write_atomic(self.job_path(job["id"]), json.dumps(job).encode())

    def each(self):
        """Every job record, oldest first, one at a time (a board keeps one in its heap, not the
        whole outbox). The ids are kept as small integers, which cost no object each: a list of
        the names of hundreds of jobs would not fit a board's heap beside the record."""
        numbers = []
        others = []
        for name in _names(self.jobs_dir):
            if name.endswith(".json"):
                if name[:-5].isdigit():
                    numbers.append(int(name[:-5]))
                else:
                    others.append(name[:-5])
        numbers.sort()
        for number in numbers:
            try:
                yield self.load("%06d" % number)
            except (OutboxError, ValueError):
                pass
        for job_id in sorted(others):
            try:
                yield self.load(job_id)
            except (OutboxError, ValueError):
                pass

    def counts(self):
        out = {}
        for state in STATES:
            out[state] = 0
        for job in self.each():
            out[job["state"]] += 1
        return out

    # -- the state machine --------------------------------------------------------------------
    def due(self, now):
        """The oldest queued job whose time has come, or None; also the seconds until the next one
        (None when nothing is queued)."""
        wait = None
        for job in self.each():                # the oldest first: the first due one is the answer
            if job["state"] != "queued":
                continue
            left = job["next_at"] - now
            if left <= 0:
                return job, 0
            if wait is None or left < wait:
                wait = left
        return None, wait

    def mark_sending(self, job, now):
        job["state"] = "sending"
        job["attempts"] += 1
        job["tried_at"] = now
        self.save(job)

    def mark_sent(self, job, reply, now, keep):
        job["state"] = "sent"
        job["reply"] = reply
        job["sent_at"] = now
        self.save(job)
        if not keep:
            self.drop_files(job)

    def mark_failed(self, job, failure, transient, now, max_age, base, jitter_byte):
        """A failed attempt: `failure` is a dict (stage, code, text, cause, what_to_do)."""
        job["last"] = failure
        if not transient:
            job["state"] = "failed"
        elif now - _since(job) >= max_age:
            job["state"] = "expired"
        else:
            job["state"] = "queued"
            job["next_at"] = now + backoff_s(job["attempts"], base, jitter_byte)
        self.save(job)
        if job["state"] == "expired":
            self.drop_files(job)

    def expire(self, now, max_age):
        """Queued jobs older than `max_age` become expired; -> their ids."""
        out = []
        for job in self.each():
            if job["state"] == "queued" and now - _since(job) >= max_age:
                job["state"] = "expired"
                self.save(job)
                self.drop_files(job)
                out.append(job["id"])
        return out

    def hold(self, job, failure, now):
        """A job that cannot go until a person signs in again: queued as it was, its attempt not
        counted, the reason kept for outbox.list."""
        job["state"] = "queued"
        job["attempts"] = max(0, job["attempts"] - 1)
        job["next_at"] = now
        job["last"] = failure
        self.save(job)

    def restart_ages(self, now):
        """After a sign-in: the time queued jobs waited for a person does not count towards
        max_age_s (the worker does not expire jobs while it waits)."""
        for job in self.each():
            if job["state"] == "queued":
                job["since"] = now
                self.save(job)

    def drop_files(self, job):
        for f in job["files"]:
            remove_quietly(f[0])
