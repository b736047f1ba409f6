# The virtual board's private door to the host: its configuration (runtime.json, written by the
# board supervisor) and the host files that hold its NVS, RTC and network switches. Rule: only the
# board's "ROM" modules (this folder) use it; code on the board's flash sees the flash as "/" and
# nothing else. On MicroPython this module must be imported before the flash is mounted at "/":
# it keeps an unmounted VfsPosix of the host root for itself.
import json
import os

try:
    import vfs

    _HOST = vfs.VfsPosix()
except ImportError:  # CPython: the host filesystem is the ordinary one
    _HOST = None

from board_link import BOOT_ENV, CONFIG_ENV, RESET_CAUSE_ENV
_config = None


def _getenv(name):
    try:
        return os.getenv(name)
    except AttributeError:  # a MicroPython build without os.getenv
        return None


def host_vfs():
    """The unmounted VfsPosix of the host root (MicroPython only)."""
    return _HOST


def open_host(path, mode="r"):
    if _HOST is None:
        return open(path, mode)
    return _HOST.open(path, mode)


def read_json(path, default=None):
    """The JSON document at a host path, or `default` when the file does not exist."""
    if not path:
        return default
    try:
        f = open_host(path, "r")
    except OSError:
        return default
    try:
        return json.loads(f.read())
    finally:
        f.close()


def write_json(path, value):
    """Write a JSON document to a host path atomically (a reset mid-write keeps the old one)."""
    temp = path + ".tmp"
    f = open_host(temp, "w")
    try:
        f.write(json.dumps(value))
    finally:
        f.close()
    if _HOST is None:
        os.replace(temp, path)
    else:
        _HOST.rename(temp, path)


def config():
    """This board's configuration; defaults when run outside a supervisor (plain tests)."""
    global _config
    if _config is None:
        path = _getenv(CONFIG_ENV)
        loaded = read_json(path, None) if path else None
        if path and loaded is None:
            raise OSError(2, "virtual board configuration %s is missing" % path)
        _config = loaded or {}
    return _config


def boot_mode():
    """hard | soft-raw | soft-friendly: how the supervisor (re)started this runtime."""
    return _getenv(BOOT_ENV) or "hard"


def reset_cause():
    value = _getenv(RESET_CAUSE_ENV)
    return int(value) if value else 1


def unique_id():
    """The board's MAC-like id (machine.unique_id(), WLAN.config("mac")): Espressif's prefix and
    the last three bytes of the board's address."""
    ip = config().get("ip", "127.0.0.1")
    parts = [int(p) for p in ip.split(".")]
    return bytes([0x24, 0x0A, 0xC4] + parts[1:])
