# The one place where MicroPython and CPython differ. Every other firmware module imports what it
# needs from here instead of testing the runtime itself. Keep it small: a shim per difference.
import sys

IS_MICROPYTHON = sys.implementation.name == "micropython"

try:
    from micropython import const  # noqa: F401  (MicroPython: folds constants into bytecode)
except ImportError:  # CPython

    def const(value):
        return value


import time as _time

if IS_MICROPYTHON:
    ticks_ms = _time.ticks_ms
    ticks_diff = _time.ticks_diff
    sleep_ms = _time.sleep_ms
else:

    def ticks_ms():
        return int(_time.monotonic() * 1000)

    def ticks_diff(end, start):
        return end - start

    def sleep_ms(ms):
        _time.sleep(ms / 1000)


def collect_garbage():
    """Free what can be freed before a large allocation (a no-op worth calling on CPython too)."""
    try:
        import gc

        gc.collect()
    except ImportError:
        pass
