# The parts of a board behind the board interface (firmware/board.py documents the interface):
# the error type, the socket network, the clock with its "not set" rule, the status light that does
# nothing, and Board, which assembles them. Both backings build on these: the ESP32
# (firmware/board_esp32.py) and the emulator's virtual board. Rule: nothing here imports machine,
# network, ntptime or esp32 at module level; this file runs unchanged on MicroPython and CPython.
import socket
import time

STATUS_STATES = ("idle", "busy", "ok", "error")

# A clock that reads earlier than this has not been set (an ESP32 starts at its epoch after power-up).
CLOCK_SET_AFTER = 1704067200  # 2024-01-01T00:00:00Z
_SECONDS_1970_TO_2000 = 946684800


class BoardError(Exception):
    """Hardware that cannot do what was asked; the text says what to do. Never holds a secret."""

    def __init__(self, what, what_to_do):
        super().__init__("%s: %s" % (what, what_to_do))
        self.what = what
        self.what_to_do = what_to_do


def epoch_offset():
    """Seconds to add to time.time() to count from 1970 (embedded MicroPython ports count from 2000)."""
    return _SECONDS_1970_TO_2000 if time.gmtime(0)[0] == 2000 else 0


class SystemClock:
    """The runtime's own clock as UTC seconds since 1970, or None before CLOCK_SET_AFTER."""

    def __init__(self, read_time=None):
        self._read_time = read_time or time.time
        self._offset = epoch_offset()

    def now(self):
        seconds = int(self._read_time()) + self._offset
        if seconds < CLOCK_SET_AFTER:
            return None
        return seconds


class SocketNet:
    """TCP through the runtime's socket module: getaddrinfo, then connect with a timeout.

    Works on MicroPython (ESP32 and unix port) and CPython alike. Subclasses bring the network up
    (`_ensure_up`) and say what the board's address is (`address`).
    """

    def __init__(self, ip=None):
        self._ip = ip

    def _ensure_up(self):
        pass

    def address(self):
        if self._ip is None:
            raise BoardError("no IP address", "the network is not up yet")
        return self._ip

    def open_tcp(self, host, port, timeout_s, local_ip=None):
        self._ensure_up()
        try:
            candidates = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
        except OSError as e:
            # ESP32: OSError(-202); unix port: OSError("[addrinfo error -2]"); CPython: gaierror
            code = e.args[0] if e.args and isinstance(e.args[0], int) else 0
            raise OSError(
                code, "cannot resolve %s: check the DNS server and the network connection" % host
            ) from None
        if not candidates:
            raise OSError(0, "cannot resolve %s: no address returned" % host)
        last_error = None
        for family, kind, proto, _, address in candidates:
            sock = socket.socket(family, kind, proto)
            try:
                sock.settimeout(timeout_s)
                if local_ip is not None:
                    # the address form bind() takes differs by runtime (a tuple on CPython and
                    # ESP32, raw sockaddr bytes on the unix port): getaddrinfo gives the right one
                    sock.bind(socket.getaddrinfo(local_ip, 0, 0, socket.SOCK_STREAM)[0][-1])
                sock.connect(address)
                return sock
            except OSError as e:
                sock.close()
                last_error = e
        raise last_error


class NullStatusLight:
    """A status light for boards without one: checks the state, shows nothing."""

    def __init__(self):
        self.state = "idle"

    def set(self, state):
        if state not in STATUS_STATES:
            raise ValueError("status light state %r; allowed: %s" % (state, " | ".join(STATUS_STATES)))
        self.state = state


class Board:
    """A board assembled from its parts; backings build one of these (or a class with the same members)."""

    def __init__(self, name, net, clock, storage_root, scanner=None, status_light=None, reset=None):
        self.name = name
        self.net = net
        self.clock = clock
        self.storage_root = storage_root
        self.scanner = scanner
        self.status_light = status_light or NullStatusLight()
        self._reset = reset

    def reset(self):
        if self._reset is None:
            raise BoardError("this board cannot reset itself", "power-cycle it")
        self._reset()

    def __repr__(self):
        return "<Board %s at %s>" % (self.name, self.storage_root)
