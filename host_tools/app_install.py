# Puts the scanner application on a board through its serial port, the way `scanmail flash` does
# (host_tools/flash.py: an application slot, the flash's one boot.py, every file verified by
# SHA-256), plus main.py, which starts the application, and the site's extra files (a CA
# certificate, say). Rule: this is a thin caller of the flash, so there is one install path and
# one boot.py; main.py is written only after the new slot is switched in, so a reset in the middle
# of an install boots the old application or the new one; after install() a hard reset starts it.
import os

from scanmail.host_tools.flash import BoardFlash

BOARD_FILES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "board_files")


def main_py():
    with open(os.path.join(BOARD_FILES, "main.py"), "rb") as f:
        return f.read()


def install(port, progress=None, extra=(), read_timeout_s=60.0):
    """Install firmware + application on the board at `port` (any pyserial URL), leaving it in the
    REPL; `extra` is [(bytes, device path)]. -> number of files checked (sent, copied on the board
    or already up to date). Raises flash.FlashError with one line on failure."""
    files = {"/main.py": main_py()}
    files.update({path: content for content, path in extra})
    summary = BoardFlash(port, reset=False, files=files, read_timeout_s=read_timeout_s,
                         progress=progress).run()
    return summary["files"] + len(files)
