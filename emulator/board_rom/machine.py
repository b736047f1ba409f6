# `machine` for a virtual board (the unix port's own `machine` lacks resets, RTC and pins; on
# CPython there is none). Rule: a reset ends the runtime with an exit status the board supervisor
# reads: HARD_RESET_EXIT means machine.reset() (boot noise, boot.py, main.py), 0 a soft reset.
import _vboard_host

from board_link import HARD_RESET_EXIT

# esp32 port constants (machine.reset_cause())
PWRON_RESET = 1
HARD_RESET = 2
WDT_RESET = 3
DEEPSLEEP_RESET = 4
SOFT_RESET = 5


def reset():
    raise SystemExit(HARD_RESET_EXIT)


def soft_reset():
    raise SystemExit(0)


def reset_cause():
    return _vboard_host.reset_cause()


def unique_id():
    return _vboard_host.unique_id()


def freq(hz=None):
    return 240000000 if hz is None else None


def idle():
    pass


def _board_clock():
    import virtual_board

    return virtual_board.VirtualClock(_vboard_host.config())


class RTC:
    """datetime() as (year, month, day, weekday, hours, minutes, seconds, subseconds), UTC."""

    def datetime(self, value=None):
        import time

        clock = _board_clock()
        if value is None:
            now = clock.now()
            t = time.gmtime(now if now is not None else 0)
            return (t[0], t[1], t[2], t[6], t[3], t[4], t[5], 0)
        year, month, day, _weekday, hours, minutes, seconds = value[:7]
        clock.set(_utc_seconds(year, month, day, hours, minutes, seconds))

    def init(self, value):
        self.datetime(value)


def _utc_seconds(year, month, day, hours, minutes, seconds):
    # days since 1970-01-01 by the civil-from-days algorithm (no calendar module on MicroPython)
    y = year - (1 if month <= 2 else 0)
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    days = era * 146097 + doe - 719468
    return days * 86400 + hours * 3600 + minutes * 60 + seconds


class Pin:
    IN = 1
    OUT = 3
    PULL_UP = 1
    PULL_DOWN = 2

    def __init__(self, pin_id, mode=-1, pull=-1, value=None):
        self.id = pin_id
        self._value = 0 if value is None else int(bool(value))

    def value(self, v=None):
        if v is None:
            return self._value
        self._value = int(bool(v))

    def on(self):
        self._value = 1

    def off(self):
        self._value = 0

    def __call__(self, v=None):
        return self.value(v)


class WDT:
    def __init__(self, id=0, timeout=5000):
        self.timeout = timeout

    def feed(self):
        pass

