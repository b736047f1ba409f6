# The scanner application's one asyncio loop: the console (frames and Improv Serial packets on the
# serial port), the scan button, the outbox worker and the network (the configuration's settings,
# joined with backoff and a status line, again when they change; then the clock by NTP before any
# TLS). Rule: a task never dies of an error a user can cause (it logs one line and carries on),
# and one that ends with an error nobody expected is logged and started again (_kept);
# Ctrl-C (KeyboardInterrupt) ends the loop and leaves the REPL, so mpremote keeps working; the
# mail core is blocking, so while a message goes out the console answers after it.
import asyncio
import select
import sys

from scanmail.firmware.app.console_io import console_read, console_write
from scanmail.firmware.compat import ticks_diff, ticks_ms

CONSOLE_POLL_S = 0.02
BUTTON_POLL_S = 0.05
WORK_POLL_S = 0.2
NETWORK_BACKOFF_S = (1, 2, 4, 8, 16, 30, 60)
NETWORK_WATCH_S = 0.5


def _text_out(line):
    console_write(line.encode())


def interruptible(handler):
    """The console's command handler with Ctrl-C on while a command runs."""
    def run(cmd, args):
        ctrl_c(True)
        try:
            return handler(cmd, args)
        finally:
            ctrl_c(False)
    return run


def ctrl_c(enabled):
    """Ctrl-C as an interrupt: off while the loop reads the console itself (a 3 inside an Improv
    packet is data, and what the board writes then goes out as raw bytes), while the outbox sends
    and while a scan from the button runs: a web installer's Improv packet may come at any moment
    then, and its type byte is a 3. A Ctrl-C stops the loop once that step is over. On only while
    a console command runs: the host that sent it waits for its reply and sends nothing else, so
    Ctrl-C stops a long command (a scan, a test message) at once."""
    try:
        import micropython

        micropython.kbd_intr(3 if enabled else -1)
    except (ImportError, AttributeError):
        pass


async def console_task(app, session, improv):
    from scanmail.firmware import call_once

    poller = select.poll()
    poller.register(sys.stdin, select.POLLIN)
    while True:
        data = console_read(poller, 256)
        if data:
            for event in improv.feed(data):
                if event[0] == "ctrl_c":
                    raise KeyboardInterrupt
                # the answers are loaded only while they are made (improv_provisioning.py)
                for packet in call_once("app.improv_provisioning", "answer", app, event):
                    console_write(packet)
            for frame in session.feed(data):           # each frame out as soon as it is made
                console_write(frame)
            if session.after_reply is not None:
                action, session.after_reply = session.after_reply, None
                await asyncio.sleep(0.1)
                action()
            # a host may have sent the next request already (one that never waits for replies
            # always has): the other tasks get their turn before it is read, or the outbox would
            # not send while a host keeps asking
            await asyncio.sleep(0)
        else:
            await asyncio.sleep(CONSOLE_POLL_S)


async def button_task(app):
    from scanmail.firmware.app.outbox import OutboxError

    button = getattr(app.board, "scan_button", None)
    if button is None:
        return
    while True:
        try:
            if button.pressed():
                app.scan()                     # Ctrl-C stays off: see ctrl_c()
        except OutboxError:
            pass                               # logged with what to do; the status says it too
        except Exception as err:               # MemoryError, a scanner fault: the next press may work
            app.log("scan: %s: %s" % (type(err).__name__, err))
        await asyncio.sleep(BUTTON_POLL_S)


async def worker_task(app):
    while True:
        try:
            pause = 0 if "job" in app.work() else WORK_POLL_S   # a job sent: the next one at once
        except MemoryError:
            app.log("outbox: out of memory; trying again")
            pause = 1
        except Exception as err:                  # a line a try, not five a second
            app.log("outbox: %s: %s" % (type(err).__name__, err))
            pause = 5
        await asyncio.sleep(pause)


def _backoff(attempt):
    return NETWORK_BACKOFF_S[min(attempt, len(NETWORK_BACKOFF_S) - 1)]


def _join(app):
    """Bring the network up with the current settings: -> True, or False with the status line
    saying why and when the next try is."""
    from scanmail.firmware import call_once

    if app.network_changed:
        app.network_changed = False
        app.apply_network()
    problem = call_once("app.network_setup", "interface_problem", app.config.values,
                        getattr(app.board, "network_kind", None))
    if problem:
        app.network = "down: " + problem
        return False
    try:
        address = app.board.net.address()
    except Exception as err:                  # BoardError, OSError: one line that says what to do
        what_to_do = getattr(err, "what_to_do", None)
        app.network = "down: %s%s" % (err, "; " + what_to_do if what_to_do and what_to_do not in str(err) else "")
        return False
    app.status_network = address
    app.network = "up: " + call_once("app.network_setup", "describe", app.network_settings, address)
    return True


async def _until_up(app):
    """Join with backoff until the network is up; a change of settings (console, Improv) ends
    the wait early, so the next try uses them at once."""
    attempt = 0
    logged = None
    while not _join(app):
        wait_s = _backoff(attempt)
        attempt += 1
        reason = app.network
        app.network += "; next try in %d s (attempt %d)" % (wait_s, attempt + 1)
        if reason != logged:                  # the status has every try; the log each new reason
            app.log("network %s" % app.network)
            logged = reason
        for _ in range(int(wait_s / NETWORK_WATCH_S)):
            if app.network_changed or app.network.startswith("up"):
                break
            await asyncio.sleep(NETWORK_WATCH_S)
    app.log("network %s" % app.network)


async def network_task(app):
    board = app.board
    await _until_up(app)
    attempt = 0
    while board.clock.now() is None:
        try:
            if hasattr(board.clock, "sync"):
                board.clock.sync()
            else:
                import ntptime

                servers = app.config.values["ntp_servers"]
                if servers:
                    ntptime.host = servers[attempt % len(servers)]
                ntptime.settime()
        except Exception as err:
            app.log("clock: NTP failed (%s); TLS waits for the clock" % err)
        if board.clock.now() is None:
            await asyncio.sleep(_backoff(attempt))
            attempt += 1
    app.log("network up (%s), clock set" % app.status_network)
    while True:                               # settings changed later: join again with them
        await asyncio.sleep(NETWORK_WATCH_S)
        if app.network_changed:
            await _until_up(app)


async def _kept(app, what, task):
    """Run a background task for good: one that ends with an error (a board part that raises
    where none was expected: an RTC on I2C, a network driver) is logged and started again after
    a pause that grows as the network's does (1 s to 60 s), so that one fault never stops the
    outbox or the network until the next reset. A task that then ran longer than the longest
    pause before its next error starts from the shortest pause again."""
    attempt = 0
    while True:
        started = ticks_ms()
        try:
            await task(app)
            return
        except Exception as err:
            if ticks_diff(ticks_ms(), started) > 1000 * NETWORK_BACKOFF_S[-1]:
                attempt = 0
            app.log("%s: stopped by %s: %s; starting it again in %d s"
                    % (what, type(err).__name__, err, _backoff(attempt)))
        await asyncio.sleep(_backoff(attempt))
        attempt += 1


async def _run(app, session, improv):
    tasks = [asyncio.create_task(console_task(app, session, improv)),
             asyncio.create_task(_kept(app, "scan button", button_task)),
             asyncio.create_task(_kept(app, "outbox", worker_task)),
             asyncio.create_task(_kept(app, "network", network_task))]
    await tasks[0]


class LazyConsole:
    """The console session where code stays in flash: loaded (with its framing) when bytes arrive,
    let go once no request is half received, so that between requests the heap a send needs is
    not held by it; with `keep` (the stock build, whose code would be read into the heap again for
    each request) made now and kept. The same feed() and after_reply (set by console_commands: a
    reboot) as console_session.ConsoleSession."""

    def __init__(self, handler, log, keep=False):
        self._handler = handler
        self._log = log
        self._keep = keep
        self._session = None
        self._loaded = None
        self.after_reply = None
        if keep:
            from scanmail.firmware.app.console_session import ConsoleSession

            self._session = ConsoleSession(handler, log)

    def feed(self, data):
        session = self._session
        if session is None:
            self._loaded = set(sys.modules)
            from scanmail.firmware.app.console_session import ConsoleSession

            session = self._session = ConsoleSession(self._handler, self._log)
        try:
            for frame in session.feed(data):      # frames as they are made (a reply may stream)
                yield frame
        finally:
            if not self._keep and session.idle():
                from scanmail.firmware import let_go

                self._session = session = None
                let_go(self._loaded)
                self._loaded = None


def _at_start(function, *args):
    """app_start.<function>(*args): the start's module is loaded for the call and let go after it
    (only it: the modules it loads stay)."""
    import sys

    from scanmail.firmware import let_go

    name = __name__.rpartition(".")[0] + ".app_start"
    try:
        return getattr(__import__(name, None, None, (function,)), function)(*args)
    finally:
        let_go(set(sys.modules) - set((name,)))


def preload(oauth=False):
    """Load what stays loaded (app_start.py); `oauth`: the configuration says auth "xoauth2"."""
    _at_start("preload", oauth)


def code_in_heap():
    """True when imported code lives in the heap: modules loaded from files on the filesystem (the
    stock build), not from a ROMFS partition (/rom) or frozen into the firmware."""
    return __file__.startswith("/") and not __file__.startswith("/rom/")


def start(board, nvs=None, capacity=None, echo=None):
    """The application and its console session, as main() runs them (the heap bench builds them
    the same way); -> (app, session)."""
    app = _at_start("application", board, nvs, capacity, echo)
    return app, _console(app)


def _console(app):
    from scanmail.firmware import call_once

    reboot = getattr(app.board, "reset", None)

    def commands(cmd, args):
        return call_once("app.console_commands", "handle", app, session, reboot, cmd, args)

    session = LazyConsole(interruptible(commands), app.log, keep=code_in_heap())
    return session


def main(board=None, capacity=None):
    """Start the application (main.py calls this); returns when Ctrl-C stops it, with every
    firmware module let go, so that the REPL (and mpremote) has the heap the application held."""
    from scanmail.firmware import let_go

    app = _at_start("boot", board, capacity, _text_out)
    if app is None:
        _text_out("scanmail: safe mode (scan button held at boot): the application is off\n")
        let_go(())               # the REPL gets the heap the start took
        return None
    from scanmail.firmware.app.improv import ImprovReader

    board = app.board
    session = _console(app)
    try:
        # inside the try: a host waits for this line and may press Ctrl-C at once, while the
        # line is still being written to the log on flash
        from scanmail.firmware.app.application import FIRMWARE_VERSION

        app.log("scanmail %s started on %s" % (FIRMWARE_VERSION, board.name))
        ctrl_c(False)
        asyncio.run(_run(app, session, ImprovReader()))
    except KeyboardInterrupt:
        _text_out("scanmail: stopped (Ctrl-C); REPL\n")
    finally:
        ctrl_c(True)
    # the loop's tasks hold the application: a new loop drops them (MicroPython's asyncio keeps
    # one queue of tasks), then the modules go (main() imports them again)
    asyncio.new_event_loop()
    app = session = board = None
    let_go(())
