# First code in every MicroPython board runtime (`micropython -i _vboard_start.py`), standing in for
# what an ESP32's firmware does before the REPL. Rule: after this script the board's flash folder
# is "/" (the unix port's root VFS is replaced by _vboard_flashfs.FlashFS over the flash), sys.path is the
# ESP32's ('', '.frozen', '/lib'), sys/os/micropython answer as the esp32 port's (_vboard_port) and
# `socket` is the virtual network's (_vboard_socket), boot.py always runs, main.py only on a hard
# reset or a soft reset from the friendly REPL; a ready marker tells the supervisor that the board
# reads its serial port from now on (printed before main.py, which may run an application's
# console, else before the REPL). machine.reset() from main.py asks the supervisor for the hard
# reset (the unix port's -i would otherwise take the SystemExit to its REPL).
import sys
import os

import _vboard_host  # before the mount: it keeps its own view of the host filesystem

# The board's "ROM": imported now, while the shims folder is still on sys.path, so that
# `import network` etc. keep working once only the flash is visible.
import machine
import network
import esp32
import ntptime
import virtual_board
import _vboard_port
import _vboard_socket
import virtual_buttons
import virtual_scanner
import _vboard_romfs

from board_link import HARD_RESET_EXIT as _HARD_RESET_EXIT
from board_link import READY_MARKER as _READY_MARKER


def _hard_reset_from_main():
    """machine.reset() raised in main.py: `-i` would go on to the REPL, so the supervisor (the
    pid in board.json) is asked for the hard reset, as `scanmail board reset` asks it, and this
    runtime waits to be ended, printing nothing more (a chip that resets says nothing either)."""
    import time

    state = _vboard_host.config().get("state_dir")
    board = _vboard_host.read_json(state + "/board.json", None) if state else None
    if not board or not board.get("pid"):
        return False
    os.system("kill -USR1 %d" % int(board["pid"]))
    while True:
        time.sleep(1)


def _mount_flash():
    flash = _vboard_host.config().get("flash")
    if not flash:
        return
    import _vboard_flashfs

    os.umount("/")
    capacity = _vboard_host.config().get("filesystem_bytes")
    os.mount(_vboard_flashfs.FlashFS(_vboard_host.host_vfs(), flash, capacity), "/")
    os.chdir("/")
    sys.path[:] = ["", ".frozen", "/lib"]


def _run_if_exists(name):
    try:
        os.stat(name)
    except OSError:
        return
    f = open(name)
    try:
        source = f.read()
    finally:
        f.close()
    try:
        exec(compile(source, name, "exec"), globals())
    except KeyboardInterrupt as exc:
        sys.print_exception(exc)
    except SystemExit:
        raise
    except Exception as exc:  # a board prints the traceback and carries on to the REPL
        sys.print_exception(exc)


def _exists(name):
    try:
        os.stat(name)
        return True
    except OSError:
        return False


def _start():
    _mount_flash()
    _vboard_romfs.install(_vboard_host._getenv(_vboard_romfs.ROMFS_ENV))  # a board with a ROMFS partition
    _vboard_port.install()
    sys.modules["socket"] = _vboard_socket
    mode = _vboard_host.boot_mode()
    ready = False
    try:
        _run_if_exists("boot.py")
        if mode in ("hard", "soft-friendly") and _exists("main.py"):
            # main.py reads the serial port as on an ESP32 (an application's console): the
            # supervisor passes host bytes on from the marker on
            sys.stdout.write(_READY_MARKER.decode())
            ready = True
            try:
                _run_if_exists("main.py")
            except SystemExit as exc:
                if not (exc.args and exc.args[0] == _HARD_RESET_EXIT and _hard_reset_from_main()):
                    raise
    finally:
        if not ready:
            sys.stdout.write(_READY_MARKER.decode())


_start()
del _start, _run_if_exists, _mount_flash, _exists, _READY_MARKER, _hard_reset_from_main
