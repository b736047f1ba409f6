# The MicroPython modules that code typed at a CPython-runtime board sees, so host tools get the
# same answers as from the MicroPython runtime: `os` and `vfs` over a mount table whose "/" is the
# flash (and where mpremote mount puts its RemoteFS), `sys` with the ESP32's platform and console
# streams (stdin.buffer.readinto(buf, n), stdout.buffer.write(buf, n)), `select.poll` with ipoll,
# `micropython.kbd_intr`, `gc.mem_free`. Rule: CPython's own modules are never replaced (the
# firmware and the standard library keep them); only the REPL's import hands these out.
import gc as _gc
import importlib.abc
import importlib.util
import os as _os
import select as _select
import signal
import sys as _sys
import types

import _vboard_host
from board_link import CHIP_MACHINE

_EINVAL = 22
_ENOENT = 2
_S_IFDIR = 0x4000


def _write_all(fd, data):
    view = memoryview(data)
    while view:
        view = view[_os.write(fd, view):]


def cook(text):
    """Text as an ESP32's console writes it: every "\\n" as "\\r\\n"."""
    return text.replace("\n", "\r\n")


# -- the console ---------------------------------------------------------------------------------
class _RawOut:
    def write(self, data, length=None):
        data = bytes(data if length is None else memoryview(data)[:length])
        _write_all(1, data)
        return len(data)

    def flush(self):
        pass


class Console:
    """sys.stdout and sys.stderr: text cooked as the ESP32 cooks it, .buffer raw."""

    buffer = _RawOut()
    encoding = "utf-8"

    def write(self, text):
        if isinstance(text, str):
            _write_all(1, cook(text).encode("utf-8", "replace"))
        else:  # MicroPython's sys.stdout takes bytes too (rshell writes hexlify() output)
            _write_all(1, bytes(text).replace(b"\n", b"\r\n"))
        return len(text)

    def flush(self):
        pass

    def isatty(self):
        return True

    def fileno(self):
        return 1


class _RawIn:
    """Unbuffered reads of fd 0 (the REPL reads the same fd byte by byte)."""

    def fileno(self):
        return 0

    def read(self, n=1):
        return _os.read(0, n)

    def readinto(self, buf, length=None):
        view = memoryview(buf)
        length = len(view) if length is None else length
        got = 0
        while got < length:
            data = _os.read(0, length - got)
            if not data:
                break
            view[got:got + len(data)] = data
            got += len(data)
        return got


class ConsoleIn:
    buffer = _RawIn()

    def fileno(self):
        return 0

    def readinto(self, buf, length=None):
        return self.buffer.readinto(buf, length)

    def read(self, n=1):
        return _os.read(0, n).decode("utf-8", "replace")

    def readline(self):
        line = bytearray()
        while not line.endswith(b"\n") and not line.endswith(b"\r"):
            c = _os.read(0, 1)
            if not c:
                break
            line += c
        return line.decode("utf-8", "replace")


# -- Ctrl-C -----------------------------------------------------------------------------------------
class Interrupts:
    """Ctrl-C (SIGINT from the supervisor) raises KeyboardInterrupt only in user code with
    micropython.kbd_intr enabled; otherwise SIGINT is ignored, which the supervisor reads from
    /proc and then passes the 0x03 byte on as input, as the MicroPython runtime does."""

    running = False
    enabled = True

    @classmethod
    def apply(cls):
        catch = cls.running and cls.enabled
        signal.signal(signal.SIGINT, _on_sigint if catch else signal.SIG_IGN)

    @classmethod
    def enter(cls):
        cls.running, cls.enabled = True, True  # each run starts with Ctrl-C on, as pyexec does
        cls.apply()

    @classmethod
    def leave(cls):
        cls.running = False
        cls.apply()


def _on_sigint(signum, frame):
    raise KeyboardInterrupt


def kbd_intr(char):
    Interrupts.enabled = char >= 0
    Interrupts.apply()


# -- the filesystem: a mount table ------------------------------------------------------------------
class BoardVFS:
    def __init__(self, flash_fs):
        self.flash = flash_fs
        self.mounts = {"/": flash_fs}
        self.cwd = "/"

    def absolute(self, path):
        root = self.flash._root
        if path == root or path.startswith(root + "/"):
            return self.flash.device_path(path)
        if not path.startswith("/"):
            path = self.cwd.rstrip("/") + "/" + path
        parts = []
        for part in path.split("/"):
            if part in ("", "."):
                continue
            if part == "..":
                if parts:
                    parts.pop()
                continue
            parts.append(part)
        return "/" + "/".join(parts)

    def resolve(self, path):
        """(fs, path inside it, mount point) for a device path."""
        full = self.absolute(path)
        for point in sorted(self.mounts, key=len, reverse=True):
            if point == "/" or full == point or full.startswith(point + "/"):
                inner = full if point == "/" else (full[len(point):] or "/")
                return self.mounts[point], inner, point
        raise OSError(_ENOENT)

    def mount(self, fs, point, readonly=False, mkfs=False):
        point = self.absolute(point)
        if point in self.mounts:
            raise OSError(1)  # EPERM, as MicroPython answers for a used mount point
        fs.mount(readonly, mkfs)
        self.mounts[point] = fs

    def umount(self, point):
        point = self.absolute(point) if isinstance(point, str) else next(
            p for p, fs in self.mounts.items() if fs is point)
        if point == "/" or point not in self.mounts:
            raise OSError(_EINVAL)
        fs = self.mounts.pop(point)
        fs.umount()
        if self.cwd == point or self.cwd.startswith(point + "/"):
            self.cwd = "/"

    def chdir(self, path):
        fs, inner, point = self.resolve(path)
        fs.chdir(inner)
        self.cwd = self.absolute(path)

    def getcwd(self):
        return self.cwd

    def ilistdir(self, path=""):
        fs, inner, point = self.resolve(path or self.cwd)
        entries = list(fs.ilistdir(inner))
        if inner == "/" and point == "/":  # mount points show as directories of "/"
            names = {entry[0] for entry in entries}
            entries += [(p[1:], _S_IFDIR, 0, 0) for p in self.mounts if p != "/" and "/" not in p[1:]
                        and p[1:] not in names]
        return iter(entries)

    def call(self, name, path, *args):
        fs, inner, point = self.resolve(path)
        return getattr(fs, name)(inner, *args)

    def rename(self, old, new):
        fs, inner_old, point = self.resolve(old)
        fs_new, inner_new, point_new = self.resolve(new)
        if fs_new is not fs:
            raise OSError(18)  # EXDEV
        fs.rename(inner_old, inner_new)

    def open(self, path, mode="r"):
        fs, inner, point = self.resolve(path)
        return fs.open(inner, mode)


def _chip_machine():
    chip = _vboard_host.config().get("chip") or "esp32"
    return CHIP_MACHINE.get(chip, CHIP_MACHINE["esp32"])


def board_os(board_vfs):
    mod = types.ModuleType("os")
    mod.sep = "/"
    mod.ilistdir = board_vfs.ilistdir
    mod.listdir = lambda path="": [entry[0] for entry in board_vfs.ilistdir(path)]
    for name in ("stat", "statvfs", "mkdir", "rmdir", "remove"):
        setattr(mod, name, lambda path, _name=name: board_vfs.call(_name, path))
    mod.unlink = mod.remove
    mod.rename = board_vfs.rename
    mod.chdir = board_vfs.chdir
    mod.getcwd = board_vfs.getcwd
    mod.mount = lambda fs, point, readonly=False, mkfs=False: board_vfs.mount(fs, point, readonly, mkfs)
    mod.umount = board_vfs.umount
    mod.urandom = _os.urandom
    mod.sync = lambda: None
    mod.dupterm = lambda *args: None
    machine = _chip_machine()[0]
    release = _sys.version.split()[0]
    mod.uname = lambda: _UnameResult(("esp32", "esp32", "cpython-" + release,
                                      "scanmail virtual board, CPython %s runtime" % release, machine))
    return mod


class _UnameResult(tuple):
    sysname = property(lambda self: self[0])
    nodename = property(lambda self: self[1])
    release = property(lambda self: self[2])
    version = property(lambda self: self[3])
    machine = property(lambda self: self[4])


def board_vfs_module(board_vfs):
    mod = types.ModuleType("vfs")

    def mount(fs=None, point=None, readonly=False, mkfs=False):
        if fs is None:
            return [(fs, point) for point, fs in sorted(board_vfs.mounts.items())]
        board_vfs.mount(fs, point, readonly, mkfs)

    mod.mount = mount
    mod.umount = board_vfs.umount
    return mod


def board_sys():
    real = _sys
    machine, build = _chip_machine()
    implementation = types.SimpleNamespace(
        name=real.implementation.name, version=tuple(real.version_info[:3]) + ("",),
        _machine=machine, _build=build)
    overrides = {"platform": "esp32", "implementation": implementation, "stdin": ConsoleIn(),
                 "stdout": real.stdout, "stderr": real.stdout}

    class _Sys(types.ModuleType):
        def __getattr__(self, name):
            return getattr(real, name)

    mod = _Sys("sys")
    mod.__dict__.update(overrides)
    mod.print_exception = real.print_exception
    mod.exit = real.exit
    mod.path = real.path
    mod.modules = real.modules
    return mod


def board_micropython():
    mod = types.ModuleType("micropython")
    mod.kbd_intr = kbd_intr
    mod.const = lambda value: value
    mod.native = mod.viper = mod.bytecode = lambda f: f
    mod.opt_level = lambda level=None: 0 if level is None else None
    mod.alloc_emergency_exception_buf = lambda size: None
    mod.schedule = lambda f, arg: f(arg)
    mod.mem_info = lambda *args: None
    return mod


def board_gc():
    """The GC heap as the profile's: there is no heap limit on CPython, so mem_free() is the
    profile's heap less what this board's objects would roughly take (mem_alloc())."""
    mod = types.ModuleType("gc")
    heap = int(_vboard_host.config().get("heap_bytes") or 111936)
    alloc = lambda: min(heap // 2, len(_gc.get_objects()) * 16)  # noqa: E731
    mod.collect = _gc.collect
    mod.enable = _gc.enable
    mod.disable = _gc.disable
    mod.isenabled = _gc.isenabled
    mod.mem_alloc = alloc
    mod.mem_free = lambda: heap - alloc()
    mod.threshold = lambda amount=None: -1 if amount is None else None
    return mod


class _Poll:
    def __init__(self):
        self._poll = _select.poll()

    def register(self, obj, mask=_select.POLLIN | _select.POLLOUT):
        self._poll.register(obj, mask)

    def unregister(self, obj):
        self._poll.unregister(obj)

    def modify(self, obj, mask):
        self._poll.modify(obj, mask)

    def poll(self, timeout_ms=-1):
        return self._poll.poll(None if timeout_ms is None or timeout_ms < 0 else timeout_ms)

    ipoll = poll


def board_select():
    mod = types.ModuleType("select")
    for name in ("POLLIN", "POLLOUT", "POLLERR", "POLLHUP"):
        setattr(mod, name, getattr(_select, name))
    mod.poll = _Poll
    mod.select = _select.select
    return mod


# -- imports from a mounted filesystem --------------------------------------------------------------
class MountFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """`import x` while the board's current directory is on a mounted filesystem (mpremote mount
    makes it /remote): MicroPython's sys.path starts with '' (that directory); the flash's own
    folders are CPython's ordinary path entries."""

    def __init__(self, board_vfs, board_builtins):
        self.vfs = board_vfs
        self.builtins = board_builtins

    def _locate(self, fullname):
        fs, inner, point = self.vfs.resolve(self.vfs.cwd)
        if fs is self.vfs.flash:
            return None
        base = inner.rstrip("/") + "/" + fullname.replace(".", "/")
        for candidate, package in ((base + ".py", False), (base + "/__init__.py", True)):
            try:
                fs.stat(candidate)
            except OSError:
                continue
            return fs, candidate, package
        return None

    def find_spec(self, fullname, path=None, target=None):
        found = self._locate(fullname)
        if found is None:
            return None
        fs, candidate, package = found
        spec = importlib.util.spec_from_loader(fullname, self, origin=candidate, is_package=package)
        spec.loader_state = found
        return spec

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        fs, candidate, package = module.__spec__.loader_state
        f = fs.open(candidate, "rb")
        try:
            source = f.read()
        finally:
            f.close()
        module.__file__ = candidate.lstrip("/")
        module.__dict__["__builtins__"] = self.builtins
        exec(compile(bytes(source), module.__file__, "exec"), module.__dict__)


def board_time():
    """MicroPython's `time`: gmtime/localtime as plain 8-tuples (year, month, mday, hour, minute,
    second, weekday, yearday; host tools eval their repr), ticks_*, sleep_ms/us."""
    import time as _time

    mod = types.ModuleType("time")

    def _tuple(t):
        return (t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec, t.tm_wday, t.tm_yday)

    mod.gmtime = lambda secs=None: _tuple(_time.gmtime(secs))
    mod.localtime = lambda secs=None: _tuple(_time.gmtime(secs))  # an ESP32 keeps UTC
    mod.mktime = lambda t: int(_calendar_timegm(t))
    mod.time = lambda: int(_time.time())
    mod.time_ns = _time.time_ns
    mod.sleep = _time.sleep
    mod.sleep_ms = lambda ms: _time.sleep(ms / 1000.0)
    mod.sleep_us = lambda us: _time.sleep(us / 1000000.0)
    mod.ticks_ms = lambda: int(_time.monotonic() * 1000) & 0x3FFFFFFF
    mod.ticks_us = lambda: int(_time.monotonic() * 1000000) & 0x3FFFFFFF
    mod.ticks_cpu = mod.ticks_us
    mod.ticks_add = lambda ticks, delta: (ticks + delta) & 0x3FFFFFFF
    mod.ticks_diff = lambda a, b: ((a - b + 0x20000000) & 0x3FFFFFFF) - 0x20000000
    return mod


def _calendar_timegm(t):
    import calendar

    return calendar.timegm(tuple(t[:6]) + (0, 0, 0))


# -- the network: `socket` and `ssl` through the virtual network ------------------------------------
_EAI_FAIL = -202  # what an ESP32's getaddrinfo raises for a name it cannot resolve (or no network)
_EHOSTUNREACH = 113


def board_socket():
    """MicroPython's `socket` over the virtual network, failing as the esp32 port fails (see
    _vboard_socket.py, its MicroPython twin)."""
    import socket as _socket

    import network
    import virtual_board

    mod = types.ModuleType("socket")
    for name in ("AF_INET", "AF_INET6", "SOCK_STREAM", "SOCK_DGRAM", "SOCK_RAW", "SOL_SOCKET", "SO_REUSEADDR",
                 "SO_KEEPALIVE", "IPPROTO_TCP", "IPPROTO_UDP", "TCP_NODELAY"):
        setattr(mod, name, getattr(_socket, name))
    net = virtual_board.VirtualNet(_vboard_host.config())
    asked = {}

    def getaddrinfo(host, port, af=0, kind=0, proto=0, flags=0):
        address = None
        if network.link_up():
            try:
                address, real_port = net.resolve(host, port)
            except OSError:
                address = None
            else:
                if address is None:  # a known name on a port nothing serves: connect times out
                    address, real_port = "127.0.0.1", port
        if address is None:
            raise OSError(_EAI_FAIL)
        asked[(address, real_port)] = (host, port)
        return [(_socket.AF_INET, _socket.SOCK_STREAM, 6, "", (address, real_port))]

    class BoardSocket:
        def __init__(self, af=_socket.AF_INET, kind=_socket.SOCK_STREAM, proto=0, _sock=None):
            self._sock = _sock or _socket.socket(af, kind, proto)
            self._timeout = None

        def connect(self, address):
            if not network.link_up():
                raise OSError(_EHOSTUNREACH, "EHOSTUNREACH")
            host, port = asked.get(tuple(address[:2]), tuple(address[:2]))
            try:
                net.connect(self._sock, host, port, self._timeout)
            except OSError as exc:
                code = exc.errno if exc.errno is not None else (exc.args[0] if exc.args else 0)
                raise OSError(code, _errno_name(code)) from None

        def settimeout(self, value):
            self._timeout = value
            self._sock.settimeout(value)

        def accept(self):
            sock, peer = self._sock.accept()
            return BoardSocket(_sock=sock), peer

        def write(self, data):
            self._sock.sendall(data)
            return len(data)

        def read(self, size=-1):
            if size is not None and size >= 0:
                return self._sock.recv(size)
            chunks = []
            while True:
                chunk = self._sock.recv(4096)
                if not chunk:
                    return b"".join(chunks)
                chunks.append(chunk)

        def readinto(self, buf, size=None):
            return self._sock.recv_into(buf, size or 0)

        def readline(self):
            line = bytearray()
            while not line.endswith(b"\n"):
                c = self._sock.recv(1)
                if not c:
                    break
                line += c
            return bytes(line)

        def makefile(self, *args, **kwargs):
            return self

        def __getattr__(self, name):  # send, sendall, recv, bind, listen, close, setblocking ...
            return getattr(self._sock, name)

    mod.getaddrinfo = getaddrinfo
    mod.socket = BoardSocket
    return mod


def _errno_name(code):
    import errno

    return errno.errorcode.get(code, str(code))


def board_ssl():
    """MicroPython's `ssl` (and `tls`): SSLContext(PROTOCOL_TLS_CLIENT) whose verify_mode is
    CERT_NONE until set, CA roots as DER bytes, wrap_socket on the board's sockets."""
    import ssl as _ssl

    mod = types.ModuleType("ssl")
    mod.CERT_NONE, mod.CERT_OPTIONAL, mod.CERT_REQUIRED = 0, 1, 2
    mod.PROTOCOL_TLS_CLIENT, mod.PROTOCOL_TLS_SERVER = 0, 1

    class SSLContext:
        def __init__(self, protocol=0):
            self._ctx = _ssl.SSLContext(_ssl.PROTOCOL_TLS_CLIENT if protocol == 0 else _ssl.PROTOCOL_TLS_SERVER)
            self._ctx.maximum_version = _ssl.TLSVersion.TLSv1_2  # mbedTLS on an ESP32
            self.verify_mode = mod.CERT_NONE

        @property
        def verify_mode(self):
            return {_ssl.CERT_NONE: 0, _ssl.CERT_OPTIONAL: 1, _ssl.CERT_REQUIRED: 2}[self._ctx.verify_mode]

        @verify_mode.setter
        def verify_mode(self, mode):
            if mode == mod.CERT_NONE:
                self._ctx.check_hostname = False
            self._ctx.verify_mode = (_ssl.CERT_NONE, _ssl.CERT_OPTIONAL, _ssl.CERT_REQUIRED)[mode]
            if mode == mod.CERT_REQUIRED:
                self._ctx.check_hostname = True

        def load_verify_locations(self, cafile=None, cadata=None):
            self._ctx.load_verify_locations(cafile=cafile, cadata=cadata)

        def wrap_socket(self, sock, server_side=False, do_handshake_on_connect=True, server_hostname=None):
            inner = getattr(sock, "_sock", sock)
            wrapped = self._ctx.wrap_socket(inner, server_side=server_side, server_hostname=server_hostname,
                                            do_handshake_on_connect=do_handshake_on_connect)
            board_sock = type(sock)(_sock=wrapped) if hasattr(sock, "_sock") else wrapped
            return board_sock

    def wrap_socket(sock, server_side=False, key=None, cert=None, cert_reqs=0, cadata=None, server_hostname=None,
                    do_handshake=True):
        context = SSLContext(1 if server_side else 0)
        context.verify_mode = cert_reqs
        if cadata:
            context.load_verify_locations(cadata=cadata)
        return context.wrap_socket(sock, server_side, do_handshake, server_hostname)

    mod.SSLContext = SSLContext
    mod.wrap_socket = wrap_socket
    return mod
