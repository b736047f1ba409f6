# What a person does to a virtual board with their hands: press its buttons (`scanmail board press
# NAME scan`) and feed its scanner (the sample document's pages in <state>/scanner, drawn on first
# start); its power cut is lifecycle.power_cut_board (the supervisor's SIGUSR2). Rule: presses are
# counted in <state>/buttons.json (written atomically, read by the board's ROM, virtual_buttons.py),
# so none is lost between two polls of the firmware.
import json
import os

from scanmail.emulator.boards import board_state

BUTTONS = ("scan",)
SCANNER_DIR = "scanner"


class ButtonError(ValueError):
    """A press or cut that cannot be done; the text says what to do."""


def _path(state_dir):
    return os.path.join(state_dir, "buttons.json")


def press(state_dir, button="scan", hold=None):
    """Press `button` once, or (hold True/False) hold it down / let it go. -> its new state."""
    if button not in BUTTONS:
        raise ButtonError("board has no button %r; its buttons: %s" % (button, ", ".join(BUTTONS)))
    try:
        with open(_path(state_dir)) as f:
            state = json.load(f)
    except (OSError, ValueError):
        state = {}
    entry = state.setdefault(button, {"presses": 0, "held": False})
    if hold is None:
        entry["presses"] += 1
    else:
        entry["held"] = bool(hold)
    board_state.write_json(_path(state_dir), state)
    return entry


def ensure_scanner_pages(state_dir, count=3, dpi=100):
    """The sample document in the board's scanner (drawn once per state folder)."""
    folder = os.path.join(state_dir, SCANNER_DIR)
    if os.path.isdir(folder) and any(n.endswith(".jpg") for n in os.listdir(folder)):
        return folder
    from scanmail.emulator.boards.sample_document import write_pages

    write_pages(folder + ".tmp", count=count, dpi=dpi)
    os.replace(folder + ".tmp", folder)
    return folder
