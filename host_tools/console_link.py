# One console connection per `scanmail` command that talks to a running scanner (config, secret,
# status, monitor, send-test, outbox, logs, reboot, info, advise --port), and the one place where
# everything that can go wrong on the way becomes one line saying what to do. Rule: every failure
# a user can cause (wrong port, busy port, a board at the REPL, MicroPython without scanmail,
# another protocol version, a cable pulled, no answer in time) leaves here as a UserError, never a
# traceback; the port is opened with its lock and without resetting the board (raw_repl.open_port).
import time

from scanmail.host_tools.console_client import ConsoleClient, ConsoleError
from scanmail.host_tools.user_error import UserError

DEFAULT_TIMEOUT_S = 20.0

# What the board holds when scanmail is installed: main.py starts the application (app_install),
# /app/active names the slot `scanmail flash` boots.
_INSTALLED_PROBE = """
import os
_found = 0
for _p in ('/main.py', '/app/active'):
    try:
        os.stat(_p)
        _found = 1
    except OSError:
        pass
print('scanmail-installed' if _found else 'scanmail-absent')
"""


def add_port_arguments(parser, timeout=True):
    parser.add_argument("--port", required=True, metavar="P",
                        help="the board's serial port or pyserial URL, e.g. /dev/ttyUSB0, COM3, /dev/pts/5")
    if timeout:
        parser.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT_S, metavar="S",
                            help="seconds to wait for the board's answer (default %.0f)" % DEFAULT_TIMEOUT_S)


class ConsoleLink:
    """with ConsoleLink(port, timeout_s) as link: link.request("status") -> the result, or UserError."""

    def __init__(self, port, timeout_s=DEFAULT_TIMEOUT_S):
        from scanmail.host_tools.raw_repl import ReplError

        self.port = port
        self.timeout_s = timeout_s
        try:
            self.client = ConsoleClient(port, timeout_s=timeout_s, exclusive=True)
        except ReplError as exc:       # its text names the port and what to check (busy, missing)
            raise UserError(str(exc))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        if self.client is not None:
            self.client.close()
            self.client = None

    def request(self, cmd, **args):
        try:
            return self.client.request(cmd, **args)
        except ConsoleError as exc:
            raise self.explain(exc)

    def explain(self, exc):
        """The UserError for a ConsoleError: a refusal as the board said it, a silent or echoing
        board after a look at what runs on it."""
        if exc.code == "disconnected" or exc.code == "protocol_version":
            return UserError(str(exc))
        if exc.code == "repl":
            return self._at_the_prompt()
        if exc.code == "timeout":
            if self.prompt_answers():
                return self._at_the_prompt()
            return UserError("the board on %s did not answer within %g s: it may be busy sending (try "
                             "again, or with --timeout 60), or it is not running scanmail; `scanmail "
                             "monitor --port %s` shows what it prints" % (self.port, self.timeout_s, self.port))
        return UserError("the board refused it (%s): %s" % (exc.code, exc))

    def prompt_answers(self):
        """After a silence: Ctrl-B brings a MicroPython REPL (raw or not) to its friendly prompt,
        which prints its banner; the application reads it as noise before a frame."""
        serial = self.client.serial
        try:
            serial.reset_input_buffer()
            serial.write(b"\r\x02")
            deadline = time.monotonic() + 1.0
            seen = bytearray()
            while time.monotonic() < deadline:
                seen += serial.read(serial.in_waiting or 1)
                if b">>> " in seen:
                    return True
        except OSError:
            return False
        return False

    def _at_the_prompt(self):
        """The board answers as a REPL: scanmail stopped (Ctrl-C, safe mode) or never installed."""
        from scanmail.host_tools.raw_repl import DeviceError, RawRepl, ReplError

        self.close()
        installed = None
        try:
            with RawRepl(self.port, read_timeout_s=5, exclusive=True) as repl:
                repl.enter()
                installed = "scanmail-installed" in repl.exec(_INSTALLED_PROBE)
        except (ReplError, DeviceError, OSError):
            pass
        if installed is False:
            return UserError("the board on %s runs MicroPython without scanmail: put it there with "
                             "`scanmail flash --port %s`" % (self.port, self.port))
        return UserError("the board on %s is at the MicroPython prompt, not running scanmail (stopped "
                         "with Ctrl-C, or the scan button held at boot): press its reset button or run "
                         "`scanmail reboot --port %s`" % (self.port, self.port))


def reboot_from_prompt(port):
    """Hard-reset a board that sits at the MicroPython prompt (machine.reset() from its raw REPL);
    -> a ConsoleClient on the same open port, so nothing the board prints as it starts is missed."""
    from scanmail.host_tools.raw_repl import RawRepl, ReplError

    try:
        repl = RawRepl(port, read_timeout_s=5, exclusive=True)
    except ReplError as exc:
        raise UserError(str(exc))
    try:
        repl.enter()
        repl.serial.write(b"import machine\r\nmachine.reset()\r\n\x04")
    except (ReplError, OSError) as exc:
        repl.close()
        raise UserError("the board on %s did not take the reset (%s): press its reset button" % (port, exc))
    return ConsoleClient(port, serial_port=repl.serial)
