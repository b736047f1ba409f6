# Searching the message trace as Exchange admin center's message trace does: filters by sender,
# recipient, status, method, client IP and date, newest first, one page at a time. Rule: every filter
# is checked (a bad one gets one line naming what is allowed); text filters match case-insensitively
# anywhere in the field; dates compare with the ISO times the trace records (a date alone means
# that whole day).
import re

from scanmail.emulator.tenant.trace_log import STATUSES

METHODS = ("submission", "direct_send", "relay", "hve", "inbound")
FILTERS = ("sender", "recipient", "status", "method", "client_ip", "since", "until")
PAGE_LIMIT = 1000
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?Z?)?$")


class QueryError(ValueError):
    pass


def _whole(query, name, default, highest):
    value = query.get(name, "")
    if value == "":
        return default
    if not value.isdigit() or int(value) > highest:
        raise QueryError("%s must be a whole number from 0 to %d, got %r" % (name, highest, value))
    return int(value)


def _moment(value, name):
    if not _DATE.match(value):
        raise QueryError("%s must be a date or time like 2026-03-01 or 2026-03-01T09:30, got %r" % (name, value))
    return value.replace(" ", "T").rstrip("Z")


def matcher(query):
    """A predicate on trace records from the query's filters."""
    unknown = sorted(set(query) - set(FILTERS) - {"offset", "limit"})
    if unknown:
        raise QueryError("unknown filter(s) %s; allowed: %s, offset, limit" % (", ".join(unknown), ", ".join(FILTERS)))
    sender = query.get("sender", "").lower()
    recipient = query.get("recipient", "").lower()
    status = query.get("status", "")
    method = query.get("method", "")
    client_ip = query.get("client_ip", "")
    if status and status not in STATUSES:
        raise QueryError("status must be one of %s, got %r" % (", ".join(STATUSES), status))
    if method and method not in METHODS:
        raise QueryError("method must be one of %s, got %r" % (", ".join(METHODS), method))
    since = _moment(query["since"], "since") if query.get("since") else None
    until = _moment(query["until"], "until") if query.get("until") else None
    if until is not None and len(until) == 10:
        until += "T99"          # a date alone: up to the end of that day

    def matches(record):
        if sender and sender not in str(record.get("sender", "")).lower():
            return False
        if recipient and not any(recipient in str(r).lower() for r in record.get("recipients", [])):
            return False
        if status and record.get("status") != status:
            return False
        if method and record.get("method") != method:
            return False
        if client_ip and not str(record.get("client_ip", "")).startswith(client_ip):
            return False
        moment = str(record.get("time", ""))
        if since is not None and moment < since:
            return False
        if until is not None and moment[:len(until)] > until:
            return False
        return True

    return matches


def search(records, query):
    """{"total", "offset", "limit", "records"}: matching records newest first, each with its `id`
    (its position in the trace, oldest 0)."""
    offset = _whole(query, "offset", 0, 10 ** 9)
    limit = _whole(query, "limit", 100, PAGE_LIMIT)
    matches = matcher(query)
    found = [(number, record) for number, record in enumerate(records) if matches(record)]
    found.reverse()
    chosen = [dict(record, id=number) for number, record in found[offset:offset + limit]]
    return {"total": len(found), "offset": offset, "limit": limit, "records": chosen}
