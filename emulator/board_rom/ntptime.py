# `ntptime` for a virtual board: the virtual network's time server is the host clock. Rule: the
# board's clock stays unset (board.clock.now() is None) until settime() runs, as on an ESP32.
import time as _time

import _vboard_host

host = "pool.ntp.org"
timeout = 1


def time_utc():
    return int(_time.time())


def time():  # the module API is ntptime.time(), as on MicroPython
    return time_utc()


def settime():
    import virtual_board

    virtual_board.VirtualClock(_vboard_host.config()).set(time_utc())
