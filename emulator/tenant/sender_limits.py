# Per-mailbox sending limits of Exchange Online client submission (docs/exchange-online.md, "Limits"): 30
# messages a minute (excess is delayed, not refused), 10,000 recipients per rolling day, 3 concurrent
# connections, and the sign-in lockout after repeated failures. Rule: all state is keyed by the
# lower-case mailbox address, all time comes from the injected clock, and nothing here does I/O.
import collections
import threading

DAY_S = 24 * 3600
MINUTE_S = 60


class SenderLimits:
    def __init__(self, limits, clock):
        self.limits = limits
        self.clock = clock
        self._lock = threading.Lock()
        self.reset()

    def reset(self):
        with self._lock:
            self._failures = collections.defaultdict(collections.deque)
            self._locked_until = {}
            self._sessions = collections.defaultdict(list)
            self._sent = collections.defaultdict(collections.deque)
            self._recipients = collections.defaultdict(collections.deque)
            self._recipient_totals = collections.defaultdict(int)   # running sum of each window

    # -- sign-in lockout --
    def is_locked(self, address):
        with self._lock:
            return self._locked_until.get(address, 0) > self.clock.now()

    def record_failed_signin(self, address):
        now = self.clock.now()
        with self._lock:
            window = self._failures[address]
            window.append(now)
            while window and window[0] <= now - self.limits["failed_signin_window_s"]:
                window.popleft()
            if len(window) >= self.limits["failed_signins_to_lock"]:
                self._locked_until[address] = now + self.limits["lockout_s"]
                window.clear()

    # -- concurrent authenticated connections --
    def session_started(self, address, session_id):
        with self._lock:
            self._sessions[address].append(session_id)

    def session_ended(self, address, session_id):
        with self._lock:
            if session_id in self._sessions.get(address, []):
                self._sessions[address].remove(session_id)

    def over_connection_limit(self, address, session_id):
        """True when this session is beyond the first N still-open sessions of the mailbox."""
        with self._lock:
            sessions = self._sessions.get(address, [])
            return session_id in sessions and sessions.index(session_id) >= self.limits["concurrent_connections"]

    # -- recipients per rolling day --
    def recipients_today(self, address):
        now = self.clock.now()
        with self._lock:
            window = self._recipients[address]
            while window and window[0][0] <= now - DAY_S:
                self._recipient_totals[address] -= window.popleft()[1]
            return self._recipient_totals[address]

    def over_daily_recipients(self, address, count):
        return self.recipients_today(address) + count > self.limits["recipients_per_day"]

    # -- messages per minute --
    def next_send_time(self, address):
        """When the next message may be accepted: now, or when the oldest of the last N leaves the
        one-minute window."""
        now = self.clock.now()
        with self._lock:
            window = self._sent[address]
            while window and window[0] <= now - MINUTE_S:
                window.popleft()
            if len(window) < self.limits["messages_per_minute"]:
                return now
            return window[-self.limits["messages_per_minute"]] + MINUTE_S

    def record_sent(self, address, recipients):
        now = self.clock.now()
        with self._lock:
            self._sent[address].append(now)
            self._recipients[address].append((now, recipients))
            self._recipient_totals[address] += recipients
