# How many SMTP connections the fake tenant holds at once, in total and per client address, so a
# flood of idle or hostile connections can neither exhaust its file descriptors nor crowd out a good
# client from another address. Rule: a connection over a cap is accepted, answered with one 421
# line and closed at once (it never becomes a session); refusals are logged as one summary line a
# minute at most, never one line per connection.
import logging
import resource
import time

log = logging.getLogger("scanmail.tenant")

FD_RESERVE = 256        # descriptors kept for spool files, Maildir links, the HTTP API, logs
SUMMARY_EVERY_S = 60


def total_cap(configured):
    """The configured total, lowered to what the process's file descriptor limit allows."""
    soft, _hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return configured
    return max(1, min(configured, soft - FD_RESERVE))


class ConnectionLimits:
    def __init__(self, total, per_address):
        self.total = total_cap(total)
        self.per_address = per_address
        self.open = 0
        self.by_address = {}
        self.refused = 0                # since the last summary line
        self._last_summary = None

    def admit(self, address):
        """True if a connection from `address` may start a session (and counts it), else False."""
        held = self.by_address.get(address, 0)
        if self.open >= self.total or held >= self.per_address:
            self._note_refusal()
            return False
        self.open += 1
        self.by_address[address] = held + 1
        return True

    def per_address_full(self, address):
        return self.by_address.get(address, 0) >= self.per_address

    def release(self, address):
        held = self.by_address.get(address, 0)
        if held <= 0:
            return
        self.open -= 1
        if held == 1:
            del self.by_address[address]
        else:
            self.by_address[address] = held - 1

    def _note_refusal(self):
        self.refused += 1
        now = time.monotonic()
        if self._last_summary is None or now - self._last_summary >= SUMMARY_EVERY_S:
            log.warning("fake tenant: refused %d connection(s) over its limits (%d in total, %d per client "
                        "address) since the last such line", self.refused, self.total, self.per_address)
            self.refused = 0
            self._last_summary = now


class LoopErrorLog:
    """The event loop's exception handler: one line per kind of trouble a minute at most, without a
    traceback. When file descriptors run out, asyncio's accept loop reports `socket.accept() out of
    system resource` on every retry; the default handler logs each with its traceback."""

    def __init__(self):
        self._last = {}
        self._suppressed = {}

    def __call__(self, loop, context):
        error = context.get("exception")
        # The message without what varies per connection ("Exception in callback <handle>(...)").
        message = str(context.get("message", "event loop error")).split("(")[0].split("<")[0].strip()[:80]
        kind = "%s: %s" % (message, type(error).__name__ if error is not None else "")
        now = time.monotonic()
        last = self._last.get(kind)
        if last is not None and now - last < SUMMARY_EVERY_S:
            self._suppressed[kind] = self._suppressed.get(kind, 0) + 1
            return
        self._last[kind] = now
        more = self._suppressed.pop(kind, 0)
        log.warning("fake tenant: %s%s%s", kind, (" (%s)" % error)[:200] if error is not None else "",
                    " (and %d more like it in the last minute)" % more if more else "")
