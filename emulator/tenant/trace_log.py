# The message trace, like Exchange's: one record per message attempt (time, endpoint and method,
# client IP, TLS version, sender, recipients, status and the exact reply). Rule: every record is
# appended to `<state>/trace.jsonl` as it happens (one JSON object per line), so the CLI can read the
# trace while the server runs or after it stopped. Status is Delivered, Junk, Refused, Delayed or
# Failed. Passwords and tokens never reach a record.
import datetime
import json
import logging
import threading

log = logging.getLogger(__name__)
STATUSES = ("Delivered", "Junk", "Refused", "Delayed", "Failed")
COLUMNS = ("time", "endpoint", "method", "client_ip", "tls", "sender", "recipients", "status", "reply")


def iso_time(now):
    moment = datetime.datetime.fromtimestamp(now, datetime.timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (moment.microsecond // 1000)


class TraceLog:
    def __init__(self, path):
        self.path = path
        self._lock = threading.Lock()
        self._records = read_trace(path)
        self.listeners = []        # called with each new record, after it is written (live views)
        self._file = open(path, "a", encoding="utf-8")   # flushed after every record

    def add(self, now, endpoint, method, client_ip, tls, sender, recipients, status, reply, **extra):
        if status not in STATUSES:
            raise ValueError("trace status must be one of %s" % ", ".join(STATUSES))
        record = {"time": iso_time(now), "endpoint": endpoint, "method": method, "client_ip": client_ip,
                  "tls": tls or "none", "sender": sender or "", "recipients": list(recipients or []),
                  "status": status, "reply": reply}
        record.update(extra)
        line = json.dumps(record) + "\n"   # ASCII escapes: undecodable client bytes stay valid JSON
        with self._lock:
            self._records.append(record)
            if self._file.closed:          # a session finishing while the server stops
                with open(self.path, "a", encoding="utf-8") as late:
                    late.write(line)
            else:
                self._file.write(line)
                self._file.flush()
        for listener in self.listeners:
            try:
                listener(record)
            except Exception:       # a live view that failed must not fail the mail session
                log.exception("trace listener failed")
        return record

    def records(self):
        with self._lock:
            return list(self._records)

    def clear(self):
        with self._lock:
            self._records = []
            reopen = not self._file.closed
            self._file.close()
            with open(self.path, "w", encoding="utf-8"):
                pass
            if reopen:
                self._file = open(self.path, "a", encoding="utf-8")

    def close(self):
        with self._lock:
            self._file.close()


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
