# Output for people at a terminal: tables to compare rows and progress bars, drawn by rich (a
# well-kept library made for it). Rule: every `scanmail` command that shows rows to compare or a
# transfer in progress goes through here; nothing here decides anything, and a pipe (not a
# terminal) gets plain text without colour codes.
import sys


def console(stderr=False):
    """A rich Console on stdout (or stderr) that writes plain text when it is not a terminal."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    # A pipe or a log file is not 80 columns wide: keep each row on one line there.
    width = None if is_terminal(stream) else 200
    return Console(stderr=stderr, highlight=False, soft_wrap=False, width=width)


def table(headers, rows, title=None):
    """A rich Table of `rows` (lists of cells, None shown empty) under `headers` (None: no header
    row, for a list of name and value)."""
    from rich.table import Table
    from rich.text import Text

    out = Table(title=title, show_lines=False, header_style="bold", show_header=headers is not None)
    headers = headers if headers is not None else [""] * max((len(r) for r in rows), default=1)
    for name in headers:
        out.add_column(name, overflow="fold")
    for row in rows:
        # Text, not markup: a server's reply or a log line may hold "[...]" that rich would eat
        out.add_row(*[Text("" if cell is None else str(cell)) for cell in row])
    return out


def print_table(headers, rows, title=None):
    console().print(table(headers, rows, title))


def is_terminal(stream=None):
    stream = stream or sys.stdin
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
