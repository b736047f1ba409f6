# Time for the fake tenant: the real clock, or a FakeClock a test moves by hand. Rule: every rate
# limit, lockout, token expiry and timestamp in replies and the trace reads the injected clock, so
# tests never sleep to reach a limit (and never assert on elapsed time).
import asyncio
import threading
import time


class WallClock:
    def now(self):
        return time.time()

    async def wait_until(self, moment):
        while True:
            remaining = moment - time.time()
            if remaining <= 0:
                return
            await asyncio.sleep(min(remaining, 1.0))


class MovedClock(WallClock):
    """The real clock, moved forward by hand: `advance(seconds)` (a demo jumps two hours ahead
    while everything else keeps running in real time)."""

    def __init__(self):
        self._offset = 0.0
        self._lock = threading.Lock()

    def now(self):
        with self._lock:
            return time.time() + self._offset

    def advance(self, seconds):
        if seconds < 0:
            raise ValueError("a MovedClock only moves forward (got %r seconds)" % seconds)
        with self._lock:
            self._offset += seconds

    async def wait_until(self, moment):
        while True:
            remaining = moment - self.now()
            if remaining <= 0:
                return
            await asyncio.sleep(min(remaining, 1.0))


class FakeClock:
    """A clock that only moves when told: `advance(seconds)`. Starts at `start` (UTC seconds),
    default the real time at creation. Safe to advance from any thread."""

    POLL_S = 0.01

    def __init__(self, start=None):
        self._now = float(time.time() if start is None else start)
        self._lock = threading.Lock()

    def now(self):
        with self._lock:
            return self._now

    def advance(self, seconds):
        if seconds < 0:
            raise ValueError("a FakeClock only moves forward (got %r seconds)" % seconds)
        with self._lock:
            self._now += seconds

    async def wait_until(self, moment):
        # Polling keeps the clock free of event-loop ties (tests advance it from their own thread).
        while self.now() < moment:
            await asyncio.sleep(self.POLL_S)
