# The CPython board runtime: the board's firmware run by CPython behind a raw REPL written in
# Python, for machines without the MicroPython unix port. Started by the board supervisor as
# `python -B -S -u cpython_repl.py` with the board's pty as stdin/stdout (never imported).
# Rule: speak the REPL exactly as MicroPython's own pyexec.c does, so the same host
# tools and mpremote drive it: Ctrl-A raw REPL, Ctrl-B friendly, Ctrl-C clear, Ctrl-D run (empty:
# soft reset by exiting 0), raw-paste with a 128-byte window topped up by 0x01, `OK`/0x04 framing.
# Code typed at the REPL sees the flash as "/" (a MicroPython-style `os` and `open` over it); the
# firmware itself gets the flash folder as board.storage_root. It reads stdin one byte at a time
# with a blocking read on fd 0, so the supervisor can tell "at a prompt" from "running code".
import builtins
import codeop
import errno
import importlib
import os
import sys
import traceback
import types

import _vboard_flashfs  # noqa: E402  (the ROM folder is on PYTHONPATH)
import _vboard_host  # noqa: E402
import cpython_modules  # noqa: E402
from cpython_modules import Interrupts, cook  # noqa: E402

from board_link import READY_MARKER  # noqa: E402
ROM_DIR = os.path.dirname(os.path.abspath(__file__))
RAW_PASTE_WINDOW = 128  # MICROPY_REPL_STDIN_BUFFER_MAX / 2, as on an ESP32
CTRL_A, CTRL_B, CTRL_C, CTRL_D, CTRL_E = 1, 2, 3, 4, 5
FRIENDLY, RAW = "friendly", "raw"


def out(data):
    if isinstance(data, str):
        data = data.encode("utf-8", "replace")
    view = memoryview(data)
    while view:
        view = view[os.write(1, view):]


class _UserCode:
    """Ctrl-C (SIGINT from the supervisor) interrupts user code only (and only while
    micropython.kbd_intr has not switched it off); while the REPL itself works (printing a prompt,
    framing output) the byte is input, as on MicroPython."""

    def __enter__(self):
        Interrupts.enter()

    def __exit__(self, *exc):
        Interrupts.leave()


def read_byte():
    while True:
        data = os.read(0, 1)
        if not data:
            raise SystemExit(0)  # the supervisor went away
        return data[0]


# -- the flash as "/" for code typed at the REPL ---------------------------------------------------
class HostPosix:
    """What _vboard_flashfs.FlashFS needs from the host, in CPython terms."""

    open = staticmethod(builtins.open)
    mkdir = staticmethod(os.mkdir)
    rmdir = staticmethod(os.rmdir)
    remove = staticmethod(os.remove)
    rename = staticmethod(os.replace)

    @staticmethod
    def ilistdir(path):
        for entry in os.scandir(path):
            yield (entry.name, 0x4000 if entry.is_dir() else 0x8000, entry.inode())

    @staticmethod
    def chdir(path):
        pass

    @staticmethod
    def stat(path):
        return tuple(os.stat(path))[:10]

    @staticmethod
    def statvfs(path):
        st = os.statvfs(path)
        return (st.f_bsize, st.f_frsize, st.f_blocks, st.f_bfree, st.f_bavail, st.f_files, st.f_ffree,
                st.f_favail, st.f_flag, st.f_namemax)


def board_builtins(board_vfs):
    """The builtins of code typed at the REPL (and of modules imported from a mounted filesystem):
    `open` over the board's mount table, and MicroPython's modules from cpython_modules."""
    table = dict(builtins.__dict__)
    stand_ins = {
        "os": cpython_modules.board_os(board_vfs),
        "vfs": cpython_modules.board_vfs_module(board_vfs),
        "sys": cpython_modules.board_sys(),
        "micropython": cpython_modules.board_micropython(),
        "gc": cpython_modules.board_gc(),
        "select": cpython_modules.board_select(),
        "time": cpython_modules.board_time(),
        "socket": cpython_modules.board_socket(),
        "ssl": cpython_modules.board_ssl(),
    }
    # CPython has no module of this name, so modules on the flash import it as on a board
    # (micropython.kbd_intr: the application switches Ctrl-C off while it reads the console)
    sys.modules.setdefault("micropython", stand_ins["micropython"])
    stand_ins["tls"] = stand_ins["ssl"]
    stand_ins["uos"] = stand_ins["os"]
    stand_ins["uselect"] = stand_ins["select"]

    def board_open(path, mode="r", *args, **kwargs):
        if isinstance(path, int) or args or kwargs:
            return builtins.open(path, mode, *args, **kwargs)
        return board_vfs.open(path, mode)

    def board_import(name, globals=None, locals=None, fromlist=(), level=0):
        if level == 0 and name in stand_ins:
            return stand_ins[name]
        if level == 0 and name[:1] == "u" and name[1:] in stand_ins:
            return stand_ins[name[1:]]
        if level == 0 and name[:1] == "u" and "." not in name and name not in sys.modules:
            try:  # MicroPython still answers the old u-names (ubinascii, uhashlib, ...)
                return builtins.__import__(name[1:], globals, locals, fromlist, level)
            except ImportError:
                pass
        if name not in sys.modules:
            # Files written onto the flash since the last import (a folder that did not exist at
            # start-up is cached as "no finder" by CPython): look again, as MicroPython always does.
            for path in [p for p, finder in sys.path_importer_cache.items() if finder is None]:
                del sys.path_importer_cache[path]
            importlib.invalidate_caches()
        return builtins.__import__(name, globals, locals, fromlist, level)

    table["open"] = board_open
    table["__import__"] = board_import
    return table


def _print_exception(exc, file=None):
    (file or sys.stdout).write("".join(traceback.format_exception(type(exc), exc, exc.__traceback__)))


# -- running code ------------------------------------------------------------------------------------
class ReplSession:
    def __init__(self, flash, capacity_bytes=None):
        self.fs = _vboard_flashfs.FlashFS(HostPosix(), flash, capacity_bytes)
        self.vfs = cpython_modules.BoardVFS(self.fs)
        table = board_builtins(self.vfs)
        self.namespace = {"__name__": "__main__", "__builtins__": table}
        sys.meta_path.insert(0, cpython_modules.MountFinder(self.vfs, table))

    def exists(self, name):
        try:
            self.fs.stat(name)
            return True
        except OSError:
            return False

    def run_file(self, name):
        try:
            self.fs.stat(name)
        except OSError:
            return
        with builtins.open(self.fs.host_path(name)) as f:
            source = f.read()
        try:
            with _UserCode():
                exec(compile(source, name, "exec"), self.namespace)
        except SystemExit:
            raise
        except BaseException as exc:  # a board prints the traceback and carries on to the REPL
            self._print_traceback(exc)

    def _print_traceback(self, exc):
        # frames of this REPL and of the board's ROM are not the user's business (an ESP32's
        # traceback shows no frames of its C modules either)
        frames = [f for f in traceback.extract_tb(exc.__traceback__)
                  if os.path.dirname(os.path.abspath(f.filename)) != ROM_DIR]
        lines = (["Traceback (most recent call last):\n"] if frames else []) + traceback.format_list(frames)
        lines += traceback.format_exception_only(type(exc), exc)
        if isinstance(exc, OSError) and isinstance(exc.errno, int):
            # MicroPython's words, which host tools parse: "OSError: [Errno 2] ENOENT"
            lines[-1] = "OSError: [Errno %d] %s\n" % (exc.errno, errno.errorcode.get(exc.errno, exc.strerror))
        elif isinstance(exc, OSError) and len(exc.args) == 1 and isinstance(exc.args[0], int):
            lines[-1] = "OSError: %d\n" % exc.args[0]  # MicroPython's words for OSError(-202)
        out(cook("".join(lines)))

    def execute(self, source, mode):
        """Compile and run; returns the exception (or None). SystemExit propagates."""
        try:
            code = compile(source, "<stdin>", mode)
            with _UserCode():
                exec(code, self.namespace)
        except SystemExit:
            raise
        except BaseException as exc:
            return exc
        return None

    # -- the raw REPL ----------------------------------------------------------------------------------
    def raw_repl(self):
        """Returns FRIENDLY on Ctrl-B; raises SystemExit for a soft reset."""
        out("raw REPL; CTRL-B to exit\r\n")
        while True:
            out(">")
            line = bytearray()
            while True:
                c = read_byte()
                if c == CTRL_A:
                    if line == b"\x05A":
                        self.raw_paste()
                        break
                    out("raw REPL; CTRL-B to exit\r\n")
                    line = bytearray()
                    out(">")
                elif c == CTRL_B:
                    out("\r\n" + banner())
                    return FRIENDLY
                elif c == CTRL_C:
                    line = bytearray()
                elif c == CTRL_D:
                    out("OK")
                    if not line:
                        out("\r\n")
                        raise SystemExit(0)
                    self.run_framed(bytes(line))
                    break
                else:
                    line.append(c)

    def raw_paste(self):
        out(b"R\x01" + RAW_PASTE_WINDOW.to_bytes(2, "little"))
        source = bytearray()
        remaining = 0
        while True:
            if remaining == 0:
                out(b"\x01")
                remaining = RAW_PASTE_WINDOW
            c = read_byte()
            remaining -= 1
            if c == CTRL_C:  # the host aborted: wait for its end marker, then back to the prompt
                while read_byte() != CTRL_D:
                    pass
                out(b"\x04")
                out(b"\x04Traceback (most recent call last):\nKeyboardInterrupt: \n\x04")
                return
            if c == CTRL_D:
                out(b"\x04")
                break
            source.append(c)
        self.run_framed(bytes(source))

    def run_framed(self, source):
        """stdout, 0x04, the error text, 0x04: what the host's raw-REPL client reads back."""
        try:
            error = self.execute(source.decode("utf-8", "replace"), "exec")
        except SystemExit as exc:
            out(b"\x04\x04")
            raise SystemExit(exc.code if isinstance(exc.code, int) else 0)
        out(b"\x04")
        if error is not None:
            self._print_traceback(error)
        out(b"\x04")

    # -- the friendly REPL -------------------------------------------------------------------------------
    def friendly_repl(self):
        """Returns RAW on Ctrl-A; raises SystemExit for a soft reset (Ctrl-D on an empty line)."""
        compiler = codeop.CommandCompiler()
        lines = []
        line = bytearray()
        out(">>> ")
        while True:
            c = read_byte()
            if c == CTRL_A:
                out("\r\n")
                return RAW
            if c == 13 and not line and not lines:
                out("\r\n>>> ")
                continue
            if c == CTRL_B:
                out("\r\n" + banner())
                lines, line = [], bytearray()
                out(">>> ")
            elif c == CTRL_C:
                lines, line = [], bytearray()
                out("\r\n>>> ")
            elif c == CTRL_D:
                if not line and not lines:
                    out("\r\n")
                    raise SystemExit(0)
            elif c in (8, 127):
                if line:
                    del line[-1]
                    out("\x08 \x08")
            elif c == 13:
                out("\r\n")
                lines.append(line.decode("utf-8", "replace"))
                line = bytearray()
                source = "\n".join(lines)
                try:
                    code = compiler(source, "<stdin>", "single")
                except (SyntaxError, OverflowError, ValueError) as exc:
                    code, lines = None, []
                    self._print_traceback(exc)
                else:
                    if code is None and lines[-1] != "":
                        out("... ")
                        continue
                    lines = []
                    if code is not None:
                        error = self.execute(source, "single")
                        if error is not None:
                            self._print_traceback(error)
                out(">>> ")
            elif c >= 32 or c == 9:
                line.append(c)
                out(bytes([c]))


def banner():
    chip = _vboard_host.config().get("chip") or "esp32"
    machine = cpython_modules.CHIP_MACHINE.get(chip, cpython_modules.CHIP_MACHINE["esp32"])[0]
    return ("MicroPython-compatible CPython %s (scanmail virtual board, CPython runtime); %s\r\n"
            'Type "help()" for more information.\r\n' % (sys.version.split()[0], machine))


def _flash_open(host_open, fs):
    """CPython's open for the whole runtime: a file written inside the flash folder (the firmware
    writes board.storage_root + name) counts against the partition, ENOSPC included."""
    root = fs.host_path("/").rstrip("/")

    def open_on_board(file, mode="r", *args, **kwargs):
        if (isinstance(file, str) and not args and not kwargs and any(c in mode for c in "wax+")
                and (file == root or file.startswith(root + "/"))):
            return fs.open(file, mode)
        return host_open(file, mode, *args, **kwargs)

    return open_on_board


def main():
    Interrupts.leave()
    sys.stdout = sys.stderr = cpython_modules.Console()
    sys.print_exception = _print_exception
    config = _vboard_host.config()
    board = ReplSession(config.get("flash") or os.getcwd(), config.get("filesystem_bytes"))
    builtins.open = _flash_open(builtins.open, board.fs)
    mode = _vboard_host.boot_mode()
    ready = False
    try:
        board.run_file("boot.py")
        if mode in ("hard", "soft-friendly") and board.exists("main.py"):
            out(READY_MARKER)          # main.py may read the serial port (an application's console)
            ready = True
            board.run_file("main.py")
    finally:
        if not ready:
            out(READY_MARKER)
    out(banner())
    repl = FRIENDLY
    while True:
        repl = board.raw_repl() if repl == RAW else board.friendly_repl()


if __name__ == "__main__":
    main()
