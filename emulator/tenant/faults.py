# Faults on demand: scripted misbehaviour at any stage of an SMTP session, per endpoint or on all.
# Rule: a fault is data (stage, action, when) checked at one seam per stage in the session; the
# session asks `registry.take(endpoint, stage)` and obeys what it gets. Counting is per fault across
# connections, so `nth=1` fires on the first matching occurrence only; `probability` draws from a
# generator seeded per fault, so a seeded run is repeatable.
import random
import threading

STAGES = ("connect", "greeting", "ehlo", "starttls", "auth", "mail", "rcpt", "data", "end_of_data")
ACTIONS = ("reply", "drop", "delay", "tls_fail")
ENDPOINTS = ("submission", "mx", "hve", "all")


class FaultError(ValueError):
    """A fault that cannot be set; the message says what is allowed."""


class Fault:
    def __init__(self, fault_id, stage, action, reply, nth, probability, seed, endpoint, delay_s):
        self.id = fault_id
        self.stage = stage
        self.action = action
        self.reply = reply
        self.nth = nth
        self.probability = probability
        self.seed = seed
        self.endpoint = endpoint
        self.delay_s = delay_s
        self.seen = 0
        self.fired = 0
        self._random = random.Random(seed)

    def as_dict(self):
        return {"id": self.id, "stage": self.stage, "action": self.action, "reply": self.reply,
                "nth": self.nth, "probability": self.probability, "seed": self.seed,
                "endpoint": self.endpoint, "delay_s": self.delay_s, "seen": self.seen, "fired": self.fired}

    def _fires(self):
        self.seen += 1
        if self.nth is not None:
            return self.seen == self.nth
        if self.probability is not None:
            return self._random.random() < self.probability
        return True


def _check_reply(reply):
    if not isinstance(reply, str) or len(reply) < 3 or not reply[:3].isdigit() or reply[0] not in "2345" \
            or "\r" in reply or "\n" in reply:
        raise FaultError("reply must be one SMTP reply line starting with a 3-digit code, e.g. "
                         "\"451 4.7.500 Server busy. Please try again later\", got %r" % (reply,))


class FaultRegistry:
    def __init__(self):
        self._lock = threading.Lock()
        self._faults = []
        self._next_id = 1

    def add(self, stage, action="reply", reply=None, nth=None, probability=None, seed=None,
            endpoint="all", delay_s=None):
        endpoint = endpoint or "all"
        if stage not in STAGES:
            raise FaultError("stage must be one of %s, got %r" % (", ".join(STAGES), stage))
        if action not in ACTIONS:
            raise FaultError("action must be one of %s, got %r" % (", ".join(ACTIONS), action))
        if endpoint not in ENDPOINTS:
            raise FaultError("endpoint must be one of %s, got %r" % (", ".join(ENDPOINTS), endpoint))
        if action == "reply":
            _check_reply(reply)
        elif reply is not None:
            raise FaultError("a reply is only given with action \"reply\" (action is %r)" % action)
        if action == "tls_fail" and stage != "starttls":
            raise FaultError("action tls_fail belongs to stage starttls, got stage %r" % stage)
        if action == "delay":
            if not isinstance(delay_s, (int, float)) or isinstance(delay_s, bool) or delay_s < 0:
                raise FaultError("action delay needs delay_s, a number of seconds >= 0, got %r" % (delay_s,))
        if nth is not None and (isinstance(nth, bool) or not isinstance(nth, int) or nth < 1):
            raise FaultError("nth must be a whole number from 1, got %r" % (nth,))
        if probability is not None:
            if nth is not None:
                raise FaultError("give nth or probability, not both")
            if isinstance(probability, bool) or not isinstance(probability, (int, float)) \
                    or not 0 <= probability <= 1:
                raise FaultError("probability must be between 0 and 1, got %r" % (probability,))
        with self._lock:
            fault = Fault(self._next_id, stage, action, reply, nth, probability, seed, endpoint, delay_s)
            self._next_id += 1
            self._faults.append(fault)
            return fault.as_dict()

    def take(self, endpoint, stage):
        """The fault that fires now for this endpoint and stage, or None."""
        chosen = None
        with self._lock:
            for fault in self._faults:
                if fault.stage == stage and fault.endpoint in ("all", endpoint):
                    if fault._fires() and chosen is None:  # every match counts the occurrence
                        fault.fired += 1
                        chosen = fault
        return chosen

    def list(self):
        with self._lock:
            return [f.as_dict() for f in self._faults]

    def clear(self):
        with self._lock:
            self._faults = []
