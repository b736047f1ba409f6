# `scanmail flash --micropython FIRMWARE.bin`: writes MicroPython itself onto an ESP32 through
# esptool's Python API (esptool.cmds: detect_chip, attach_flash, write_flash, reset_chip), before
# scanmail goes on as usual. Rule: esptool is the judge of the ROM protocol; this file only picks
# how the chip gets into its download mode and turns esptool's failures into one line that says
# what to do. Getting there: a real board by esptool's own DTR/RTS reset (default-reset), or by the
# user holding BOOT while pressing EN (--manual-download: no reset); a virtual board, whose pty has
# no DTR/RTS lines, by its supervisor's reset with GPIO0 held low; it has no room for esptool's
# stub, so esptool runs `--no-stub` there. esptool logs through one logger per process, so the
# MicroPython write runs one board at a time (a lock); the scanmail install after it runs in parallel.
import glob
import os
import threading

from scanmail.host_tools.flash import FlashError
from scanmail.host_tools.raw_repl import ReplError, open_port

FIRMWARE_OFFSET = 0x1000       # where an ESP32 MicroPython firmware.bin goes (bootloader first)
CONNECT_BAUD = 115200          # the ROM's own rate; esptool switches to `baud` after connecting
DEFAULT_BAUD = 460800
ESPTOOL_LOCK = threading.Lock()


def virtual_board_state(port, boards_dirs=()):
    """The state folder of the running virtual board behind `port` (a pty), or None."""
    from scanmail.emulator.boards import lifecycle

    if not port.startswith("/dev/"):
        return None
    folders = list(boards_dirs) + [lifecycle.DEFAULT_ROOT]
    candidates = [b["state"] for folder in folders for b in lifecycle.list_boards(folder)]
    # Boards started elsewhere (tests, another --root): their supervisors' command lines name them.
    for cmdline in glob.glob("/proc/[0-9]*/cmdline"):
        try:
            with open(cmdline, "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if any(a.endswith(b"scanmail.emulator.boards.supervisor") for a in argv) and len(argv) >= 2:
            candidates.append(os.fsdecode([a for a in argv if a][-1]))
    for state in dict.fromkeys(candidates):
        status = lifecycle.board_status(state)
        if status and status["alive"] and status.get("port") == port:
            return state
    return None


class _ProgressLogger:
    """esptool's log, kept off the terminal (the flash command draws its own bars); progress goes
    to the board's bar, the last lines are kept for an error."""

    def __init__(self, progress):
        self.progress = progress
        self.lines = []

    def print(self, *args, **kwargs):
        text = " ".join(str(a) for a in args).strip()
        if text:
            self.lines = (self.lines + [text])[-20:]

    def note(self, message):
        self.print(message)

    def warning(self, message, suggestion=None):
        self.print(message)

    def error(self, message, suggestion=None):
        self.print(message)

    def stage(self, finish=False):
        pass

    def progress_bar(self, cur_iter, total_iters, prefix="", suffix="", bar_length=30):
        self.progress(cur_iter, total_iters)

    def set_verbosity(self, verbosity):
        pass


def write_micropython(port, image_path, manual_download=False, baud=DEFAULT_BAUD, boards_dirs=(),
                      progress=None, stage=None):
    """Write `image_path` at 0x1000 and boot it. Returns {"chip": ..., "bytes": n, "virtual": bool}."""
    import esptool
    from esptool import cmds
    from esptool.logger import TemplateLogger, log
    from esptool.util import FatalError
    from esp_pylib.logger import EspLog

    progress = progress or (lambda done, total: None)
    stage = stage or (lambda text: None)
    try:
        with open(image_path, "rb") as f:
            image = f.read()
    except OSError as exc:
        raise FlashError("cannot read --micropython %s (%s): give the firmware .bin downloaded for your board"
                         % (image_path, exc.strerror or exc))
    if not image or image[0] != 0xE9:
        raise FlashError("--micropython %s is not an ESP32 firmware image (it does not start with 0xE9): download "
                         "the .bin for your board (ESP32_GENERIC) from micropython.org" % image_path)
    state = None if manual_download else virtual_board_state(port, boards_dirs)
    virtual = state is not None
    if virtual:
        from scanmail.emulator.boards import lifecycle

        stage("download mode")
        try:
            lifecycle.reset_board(state, download=True)
        except lifecycle.VirtualBoardError as exc:
            raise FlashError(str(exc))
    logger = type("EsptoolLog", (_ProgressLogger, TemplateLogger), {})(progress)
    with ESPTOOL_LOCK:
        previous = EspLog.instance
        log.set_logger(logger)
        try:
            serial_port = open_port(port, CONNECT_BAUD, timeout=1.0, exclusive=True)
        except ReplError as exc:
            raise FlashError(str(exc))
        connected = False
        try:
            stage("connecting")
            esp = cmds.detect_chip(serial_port, CONNECT_BAUD,
                                   "no-reset" if (virtual or manual_download) else "default-reset",
                                   connect_attempts=3)
            chip = esp.CHIP_NAME
            connected = True
            if chip != "ESP32":
                raise FlashError("the board on %s is an %s; scanmail flash writes ESP32 firmware only: give "
                                 "the port of an ESP32 board" % (port, chip))
            if not virtual:
                esp = cmds.run_stub(esp)
            if baud != CONNECT_BAUD:
                esp.change_baud(baud)
            cmds.attach_flash(esp)
            stage("writing MicroPython")
            cmds.write_flash(esp, [(FIRMWARE_OFFSET, image_path)])
            stage("booting it")
            # A virtual board's ROM runs the written image on soft-reset; a real one is reset by RTS.
            cmds.reset_chip(esp, "soft-reset" if virtual else "hard-reset")
        except FatalError as exc:
            raise FlashError(_one_line(port, exc, connected, virtual, manual_download))
        except (OSError, esptool.util.UnsupportedCommandError) as exc:  # serial.SerialException is an OSError
            raise FlashError("lost the board on %s while writing MicroPython (%s): check the cable, put the "
                             "board in download mode again and run the flash again" % (port, exc))
        finally:
            try:
                serial_port.close()
            except Exception:  # the port is gone already (cable pulled)
                pass
            EspLog.instance = previous
    return {"chip": chip, "bytes": len(image), "virtual": virtual}


def _one_line(port, exc, connected, virtual, manual_download):
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if connected and ("Failed to connect" in text or "No serial data received" in text
                      or "Timed out" in text or "No more data" in text):
        # it answered, then went silent: esptool's own retry could not reach it again
        return ("lost the board on %s while writing MicroPython (%s): check the cable, put the board in "
                "download mode again and run the flash again" % (port, text.rstrip(".:")))
    if "Failed to connect" in text or "No serial data received" in text:
        if manual_download:
            how = ("hold BOOT, press and release EN, then let go of BOOT (a virtual board: "
                   "`scanmail board reset NAME --download`) and run the flash again; or leave out "
                   "--manual-download to let esptool reset it")
        elif virtual:
            how = "see the board's supervisor.log, reset it (`scanmail board reset NAME`) and try again"
        else:
            how = ("hold BOOT while esptool connects (a board without an auto-reset circuit), or put "
                   "it in download mode yourself and add --manual-download")
        return "the board on %s did not answer as an ESP32 ROM loader: it is not in download mode; %s" % (port, how)
    return "esptool could not write MicroPython to %s: %s" % (port, text)
