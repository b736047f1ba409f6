# Device-side sending limits that match the service, so a busy scanner is delayed by the board
# rather than refused by Microsoft: on client submission at most 30 messages a minute and 10,000
# recipients in any 24 hours per mailbox; on High Volume Email at most 50 recipients and 10 MB a
# message. Rule: counts survive reboots (one small file, written atomically before each attempt,
# because the service counts an attempt that reached it); `wait_s` never refuses, it says how long
# to wait, and what can never pass (HVE's per-message limits) is refused at scan time by `refusal`.
import json

from scanmail.firmware.app import atomic_file
from scanmail.firmware.compat import const

_MESSAGES_PER_MINUTE = const(30)
_RECIPIENTS_PER_DAY = const(10000)
_HVE_RECIPIENTS = const(50)
_HVE_BYTES = const(10 * 1024 * 1024)
_DAY = const(86400)
_HOUR = const(3600)


def refusal(method, recipients, size):
    """Why a message can never pass its method's limits, or None."""
    if method == "hve" and recipients > _HVE_RECIPIENTS:
        return "High Volume Email takes at most %d recipients a message, not %d: split the " \
               "address list" % (_HVE_RECIPIENTS, recipients)
    if method == "hve" and size > _HVE_BYTES:
        return "High Volume Email takes messages up to 10 MB, and this scan is %d KB: scan fewer " \
               "pages or a lower quality" % (size // 1024)
    return None


class SendLimits:
    """Per mailbox: the times of the last 30 messages, and recipients per hour for 25 hours (the
    hour a message falls in counts whole, so the 24-hour sum errs on the safe side)."""

    def __init__(self, path):
        self.path = path
        self._state = {}
        data = atomic_file.read_atomic(path)
        if data:
            try:
                self._state = json.loads(data)
            except ValueError:
                self._state = {}       # a damaged count starts over rather than stopping sends

    def wait_s(self, method, mailbox, recipients, now):
        """Seconds until a message to `recipients` addresses may go from `mailbox`; 0: now."""
        if method != "submission":
            return 0
        entry = self._state.get(mailbox)
        if not entry:
            return 0
        times = entry["m"]
        wait = 0
        if len(times) >= _MESSAGES_PER_MINUTE:
            wait = times[-_MESSAGES_PER_MINUTE] + 60 - now
        hours = [h for h in entry["h"] if h[0] > now - _DAY - _HOUR]
        total = 0
        for h in hours:
            total += h[1]
        if total + recipients > _RECIPIENTS_PER_DAY:
            # wait until the oldest hours fall out of the window
            need = total + recipients - _RECIPIENTS_PER_DAY
            for h in hours:
                need -= h[1]
                if need <= 0:
                    wait = max(wait, h[0] + _DAY + _HOUR - now)
                    break
        return max(0, wait)

    def record(self, method, mailbox, recipients, now):
        """Count one message about to be attempted (before it goes, so a cut still counts it)."""
        if method != "submission":
            return
        entry = self._state.setdefault(mailbox, {"m": [], "h": []})
        entry["m"] = (entry["m"] + [now])[-_MESSAGES_PER_MINUTE:]
        hour = now - now % _HOUR
        hours = [h for h in entry["h"] if h[0] > now - _DAY - _HOUR]
        if hours and hours[-1][0] == hour:
            hours[-1][1] += recipients
        else:
            hours.append([hour, recipients])
        entry["h"] = hours
        atomic_file.write_atomic(self.path, json.dumps(self._state).encode())
