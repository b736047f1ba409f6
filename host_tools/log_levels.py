# The level of a scanner's log line, for colouring it in `scanmail monitor` and `scanmail logs`.
# The board writes plain lines (`<clock or -> <text>`, firmware/app/log_ring.py) without a level,
# so the level is read from the words the application uses; the table below is the only place that
# knows them. Rule: the first matching row wins (a "NTP failed ... trying again" is a warning, not
# an error); a line nothing matches is info; the line itself is never changed, only its colour.
from rich.text import Text

# (level, words that mark it, style)
LEVELS = (
    ("warning", ("trying again", "power went", "safe mode", "NTP failed", " queued: ", "migrated",
                 "stopped", "sign-in needed"), "yellow"),
    ("error", (" failed", "refused", " expired", "out of memory", "Error", "Traceback", "bad_"), "bold red"),
    ("ok", (" sent: ", "started on", "network up", "set (fingerprint"), "green"),
)


def level(line):
    for name, words, _ in LEVELS:
        for word in words:
            if word in line:
                return name
    return "info"


def styled(line):
    """The line as rich Text in its level's colour (plain text when the output is not a terminal)."""
    for name, _, style in LEVELS:
        if name == level(line):
            return Text(line, style=style)
    return Text(line)
