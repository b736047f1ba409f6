# Puts the scanner application on a board through its serial port: the firmware package (the mail
# core and firmware/app, as .mpy for MicroPython or .py for a CPython board), then boot.py and
# main.py, every file verified by SHA-256 (host_tools/raw_repl.py). Rule: main.py goes last, so a
# board reset in the middle of an install never starts a half-installed application; after
# install() a hard reset starts the application.
import os

from scanmail.host_tools import firmware_build

BOARD_FILES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "board_files")
# Where a CA of the site's own goes on the board (the configuration's ca_path names it).
BOARD_CA_PATH = "/ca.der"


def board_file(name):
    """The bytes of one of the board's own files (boot.py, main.py) as shipped in board_files/."""
    with open(os.path.join(BOARD_FILES, name), "rb") as f:
        return f.read()


def install(repl, progress=None, extra=()):
    """Install firmware + application through an entered RawRepl; `extra` is [(bytes, path)]
    (a CA certificate, say). -> number of files checked (written or already up to date)."""
    written, unchanged = firmware_build.install(repl, progress)
    count = written + unchanged
    for content, path in list(extra):
        repl.put_file(content, path)
        count += 1
    for name in ("boot.py", "main.py"):
        repl.put_file(board_file(name), "/" + name)
        count += 1
    return count
