# `socket` for code on a MicroPython board runtime (installed into sys.modules by _vboard_start, so
# `import socket` from the flash, mip and requests get it): every name and connection goes through
# the virtual network as the board interface's VirtualNet does (the fake tenant's names, the
# board's own source address, blocked ports, the shaping relay), and only while the board's
# network is up. Rule: it fails as the esp32 port fails: an unknown name or no network is
# OSError(-202) from getaddrinfo, a connection with no network OSError(EHOSTUNREACH); the public
# functions are native code, so a traceback shows the caller's frames and none of the emulator's.
import io
import micropython
import socket as _real

import _vboard_host
import network
import virtual_board

for _name in dir(_real):
    if _name[:1] != "_" and _name not in ("socket", "getaddrinfo"):
        globals()[_name] = getattr(_real, _name)

_EAI_FAIL = -202  # what lwIP's getaddrinfo answers on an ESP32 for a name it cannot resolve
_EHOSTUNREACH = 113
_net = [None]
_asked = {}  # (address, port) getaddrinfo answered -> (name, port) asked for, so connect routes by name


def _vnet():
    if _net[0] is None:
        _net[0] = virtual_board.VirtualNet(_vboard_host.config())
    return _net[0]


def _parse(address):
    """(host, port) of a sockaddr: a tuple as the esp32 port takes, or the unix port's bytes."""
    if isinstance(address, tuple):
        return address[0], address[1]
    raw = bytes(address)
    return "%d.%d.%d.%d" % (raw[4], raw[5], raw[6], raw[7]), raw[2] << 8 | raw[3]


@micropython.native
def getaddrinfo(host, port, af=0, type=0, proto=0, flags=0):
    failed = not network.link_up()
    if not failed:
        try:
            address, real_port = _vnet().resolve(host, port)
        except OSError:
            failed = True
    if failed:
        raise OSError(_EAI_FAIL)
    if address is None:  # a known name on a port nothing serves: connect (by name) times out
        address, real_port = "127.0.0.1", port
    sockaddr = _real.getaddrinfo(address, real_port)[0][-1]
    _asked[(address, real_port)] = (host, port)
    return [(_real.AF_INET, _real.SOCK_STREAM, 0, "", sockaddr)]


class socket(io.IOBase):
    """A TCP socket on the virtual network; the stream protocol (tls.wrap_socket, readinto,
    write) reaches the host socket underneath."""

    def __init__(self, af=_real.AF_INET, kind=_real.SOCK_STREAM, proto=0):
        self._sock = _real.socket(af, kind, proto)
        self._timeout = None

    @micropython.native
    def connect(self, address):
        if not network.link_up():
            raise OSError(_EHOSTUNREACH)
        host, port = _parse(address)
        host, port = _asked.get((host, port), (host, port))
        error = None
        try:
            _vnet().connect(self._sock, host, port, self._timeout)
        except OSError as exc:
            error = exc.args[0] if exc.args else 0
        if error is not None:
            raise OSError(error)

    def settimeout(self, value):
        self._timeout = value
        self._sock.settimeout(value)

    def bind(self, address):
        if isinstance(address, tuple):
            address = _real.getaddrinfo(address[0] or "0.0.0.0", address[1])[0][-1]
        self._sock.bind(address)

    def makefile(self, *args, **kwargs):
        return self

    def readinto(self, buf, *length):
        return self._sock.readinto(buf, *length)

    def write(self, buf, *length):
        return self._sock.write(buf, *length)

    def ioctl(self, request, arg):
        if request == 4:  # close
            self._sock.close()
            return 0
        return -1

    def close(self):
        self._sock.close()

    def __getattr__(self, name):  # send, recv, read, readline, setblocking, listen, accept ...
        return getattr(self._sock, name)
