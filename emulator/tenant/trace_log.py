# The message trace, like Exchange's: one record per message attempt (time, endpoint and method,
# client IP, TLS version, sender, recipients, status and the exact reply). Rule: every record is
# appended to `<state>/trace.jsonl` as it happens (one JSON object per line), so the CLI can read the
# trace while the server runs or after it stopped; the trace is bounded: on disk the file is rotated
# to `trace.1.jsonl` (replacing the one before) when it reaches MAX_FILE_BYTES, in memory only the
# last MEMORY_RECORDS lines are kept (as their JSON text). Each record has a running number `seq`,
# by which the HTTP API pages through what is kept. Status is Delivered, Junk, Refused, Delayed or
# Failed. Passwords and tokens never reach a record.
import collections
import datetime
import json
import logging
import os
import threading

log = logging.getLogger(__name__)
STATUSES = ("Delivered", "Junk", "Refused", "Delayed", "Failed")
MAX_FILE_BYTES = 16 * 1024 * 1024
MEMORY_RECORDS = 10000
COLUMNS = ("time", "endpoint", "method", "client_ip", "tls", "sender", "recipients", "status", "reply")


def iso_time(now):
    moment = datetime.datetime.fromtimestamp(now, datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (moment.microsecond // 1000)


class TraceLog:
    def __init__(self, path, max_file_bytes=MAX_FILE_BYTES, memory_records=MEMORY_RECORDS):
        self.path = path
        self.rotated_path = rotated_path(path)
        self.max_file_bytes = max_file_bytes
        self._lock = threading.Lock()
        self._lines = collections.deque(maxlen=memory_records)
        seq = 0
        for record in read_trace(path)[-memory_records:]:
            seq = max(seq + 1, _whole(record.get("seq")))
            self._lines.append((seq, json.dumps(record)))
        self._next_seq = seq + 1
        self.listeners = []        # called with each new record, after it is written (live views)
        self._file = open(path, "a", encoding="utf-8")   # flushed after every record
        self._size = self._file.tell()

    def add(self, now, endpoint, method, client_ip, tls, sender, recipients, status, reply, **extra):
        if status not in STATUSES:
            raise ValueError("trace status must be one of %s" % ", ".join(STATUSES))
        record = {"time": iso_time(now), "endpoint": endpoint, "method": method, "client_ip": client_ip,
                  "tls": tls or "none", "sender": sender or "", "recipients": list(recipients or []),
                  "status": status, "reply": reply}
        record.update(extra)
        with self._lock:
            record["seq"] = self._next_seq
            self._next_seq += 1
            line = json.dumps(record)   # ASCII escapes: undecodable client bytes stay valid JSON
            self._lines.append((record["seq"], line))
            if self._file.closed:          # a session finishing while the server stops
                with open(self.path, "a", encoding="utf-8") as late:
                    late.write(line + "\n")
            else:
                if self._size + len(line) + 1 > self.max_file_bytes and self._size:
                    self._rotate()
                self._file.write(line + "\n")
                self._file.flush()
                self._size += len(line) + 1
        for listener in self.listeners:
            try:
                listener(record)
            except Exception:       # a live view that failed must not fail the mail session
                log.exception("trace listener failed")
        return record

    def _rotate(self):
        self._file.close()
        os.replace(self.path, self.rotated_path)
        self._file = open(self.path, "a", encoding="utf-8")
        self._size = 0

    def records(self, after=0, limit=None):
        """Kept records with seq > after, oldest first, at most `limit` of them."""
        with self._lock:
            lines = list(self._lines)
        found = []
        for seq, line in lines:
            if seq <= after:
                continue
            found.append(json.loads(line))
            if limit is not None and len(found) >= limit:
                break
        return found

    def clear(self):
        with self._lock:
            self._lines.clear()
            reopen = not self._file.closed
            self._file.close()
            with open(self.path, "w", encoding="utf-8"):
                pass
            try:
                os.unlink(self.rotated_path)
            except FileNotFoundError:
                pass
            self._size = 0
            if reopen:
                self._file = open(self.path, "a", encoding="utf-8")

    def close(self):
        with self._lock:
            self._file.close()


def _whole(value):
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def rotated_path(path):
    root, ext = os.path.splitext(path)
    return root + ".1" + ext


def read_trace_files(path, skipped=None):
    """The whole trace kept on disk: the rotated file, then the current one."""
    older = read_trace(rotated_path(path), None)
    return older + read_trace(path, skipped)


def read_trace(path, skipped=None):
    """Records from a trace file, newest last. A line that is not a JSON record (a torn last line
    from a server killed mid-write, or a damaged file) is skipped; its number (from 1) is appended
    to `skipped` when a list is given, so that a reader can say so."""
    records = []
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for number, line in enumerate(f, 1):
                try:
                    record = json.loads(line)
                except ValueError:
                    record = None
                if isinstance(record, dict):
                    records.append(record)
                elif skipped is not None:
                    skipped.append(number)
    except FileNotFoundError:
        pass
    return records


def format_table(records):
    """An aligned text table of trace records, as `scanmail o365 trace` prints it."""
    headers = ("Time", "Endpoint", "Method", "Client IP", "TLS", "Sender", "Recipients", "Status", "Reply")
    rows = [headers]
    for r in records:
        rows.append((r.get("time", ""), r.get("endpoint", ""), r.get("method", ""), r.get("client_ip", ""),
                     r.get("tls", ""), r.get("sender", ""), ", ".join(r.get("recipients", [])),
                     r.get("status", ""), r.get("reply", "")))
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(headers) - 1)]
    lines = []
    for row in rows:
        cells = [str(cell).ljust(widths[i]) for i, cell in enumerate(row[:-1])]
        lines.append("  ".join(cells + [str(row[-1])]))
    return "\n".join(lines)
