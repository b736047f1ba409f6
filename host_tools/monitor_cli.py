# `scanmail monitor --port P`: a running scanner's log, live, coloured by level (log_levels.py),
# until Ctrl-] (or Ctrl-C). Rules: the port is opened with its lock and without resetting the board;
# a port that goes away (a native-USB board resetting, a cable pulled) is waited for and opened
# again, with one line saying so, and nothing the board printed after it came back is lost; a
# virtual board's pty that goes away ends the monitor (its number goes to the next program that
# opens a terminal, never back to the board: raw_repl.is_pty); console frames (#SM...) are another
# tool's traffic and are not shown; nothing is ever sent to the board.
import os
import sys
import threading
import time

from scanmail.host_tools import terminal
from scanmail.host_tools.log_levels import styled
from scanmail.host_tools.user_error import UserError

LEAVE = b"\x1d"          # Ctrl-], as in telnet, miniterm and mpremote
REOPEN_EVERY_S = 0.2
PARTIAL_LINE_AFTER_S = 0.3   # a line without its end (the REPL's prompt) is shown after this quiet

EXAMPLES = """examples:
  scanmail monitor --port /dev/ttyUSB0
  scanmail monitor --port /dev/ttyACM0 --color always | tee scanner.log

Each line the board logs, as it comes, coloured by level (errors red, warnings yellow, sends and
starts green). A reset, or a native-USB port that disappears and comes back, is followed; a
virtual board's port (a /dev/pts pty) that goes away ends the monitor (exit status 1), since its
number goes to the next terminal opened. Ctrl-] leaves.
"""


class _StdinWatch:
    """Sets `left` when Ctrl-] arrives on stdin (a terminal in cbreak mode, or a pipe)."""

    def __init__(self, stdin):
        self.left = threading.Event()
        self._stdin = stdin
        self._saved = None
        if terminal.is_terminal(stdin) and os.name == "posix":
            import termios
            import tty

            self._saved = termios.tcgetattr(stdin.fileno())
            tty.setcbreak(stdin.fileno())
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        try:
            fd = self._stdin.fileno()
            while not self.left.is_set():
                data = os.read(fd, 1)
                if not data:
                    return                      # stdin closed: only Ctrl-C leaves now
                if LEAVE in data:
                    self.left.set()
        except (OSError, ValueError):
            return

    def restore(self):
        if self._saved is not None:
            import termios

            termios.tcsetattr(self._stdin.fileno(), termios.TCSADRAIN, self._saved)


def _open(port):
    from scanmail.host_tools.raw_repl import open_port

    return open_port(port, timeout=0.1, exclusive=True)


def _show(line, show):
    text = line.decode("utf-8", "replace").rstrip("\r")
    if text and "#SM" not in text:
        show(text)


def follow(port, show, status, left, first_open_error):
    """Print the board's lines through `show` until `left` is set (-> True) or a pty goes away
    (-> False); `status` gets "gone"/"back"/"ended"."""
    from scanmail.host_tools.raw_repl import ReplError, is_pty

    try:
        serial = _open(port)
    except ReplError as exc:
        raise first_open_error(exc)
    pending = bytearray()
    last_byte_at = time.monotonic()
    try:
        while not left.is_set():
            try:
                chunk = serial.read(serial.in_waiting or 1)
            except OSError as exc:                       # SerialException: the port went away
                serial.close()
                serial = None
                if is_pty(port):
                    if pending:
                        _show(bytes(pending), show)
                    status("ended", exc)
                    return False
                status("gone", exc)
                while serial is None and not left.is_set():
                    try:
                        serial = _open(port)
                    except ReplError:
                        time.sleep(REOPEN_EVERY_S)
                if serial is not None:
                    status("back", None)
                continue
            if not chunk:
                if pending and time.monotonic() - last_byte_at > PARTIAL_LINE_AFTER_S:
                    _show(bytes(pending), show)           # a prompt (">>> ") ends no line
                    pending = bytearray()
                continue
            last_byte_at = time.monotonic()
            pending.extend(chunk)
            while b"\n" in pending:
                line, _, rest = bytes(pending).partition(b"\n")
                pending = bytearray(rest)
                _show(line, show)
    finally:
        if serial is not None:
            serial.close()
    return True


def do_monitor(args):
    color = {"always": True, "never": False}.get(args.color)
    from rich.console import Console

    out = Console(highlight=False, soft_wrap=True, force_terminal=color,
                  no_color=(args.color == "never"))
    watch = _StdinWatch(sys.stdin)
    out.print("-- monitoring %s (Ctrl-] leaves) --" % args.port, style="dim", markup=False)

    def show(text):
        out.print(styled(text))

    def status(what, exc):
        if what == "ended":
            out.print("-- the board on %s went away (%s); a virtual board's port does not come back: "
                      "start it again and monitor its new port (`scanmail ports`) --" % (args.port, exc),
                      style="dim", markup=False)
        elif what == "gone":
            out.print("-- the board on %s went away (%s); waiting for it to come back --" % (args.port, exc),
                      style="dim", markup=False)
        else:
            out.print("-- %s is back --" % args.port, style="dim", markup=False)

    try:
        stayed = follow(args.port, show, status, watch.left, lambda exc: UserError(str(exc)))
    finally:
        watch.restore()
    return 0 if stayed else 1


def register(parser):
    parser.epilog = EXAMPLES
    parser.add_argument("--port", required=True, metavar="P",
                        help="the board's serial port or pyserial URL, e.g. /dev/ttyUSB0, COM3, /dev/pts/5")
    parser.add_argument("--color", choices=("auto", "always", "never"), default="auto",
                        help="colour the lines by level: auto (on a terminal), always, never")
    parser.set_defaults(handler=do_monitor)
