# One virtual board: the supervisor process that owns its serial port. Run as
# `python -m emulator.boards.supervisor STATE_DIR` (what `scanmail board start` does).
# Rule: the host sees exactly what it would see on a USB serial port to an ESP32, and nothing
# else: the outer pty's slave (/dev/pts/N) is the port; the board runtime (MicroPython unix port, or
# the CPython raw REPL) runs on an inner pty. Between the two the supervisor emulates the edges of a
# board: resets (soft: `MPY: soft reboot`, boot.py only from the raw REPL; hard: boot noise,
# boot.py, main.py, friendly banner), Ctrl-C as an interrupt while code runs with it enabled, the
# console's line ends and banner (console.py), and on a USB-UART bridge the baud rate and the
# 260-byte input buffer that drops what overflows it. A reset with GPIO0 held low
# (`scanmail board reset NAME --download`) stops in the ESP32 ROM's serial download mode instead
# of booting: no runtime runs and the port speaks the ROM loader's protocol (rom_loader.py) to the
# SPI flash in spi_flash.bin, until the loader is told to run or reboot, or the next reset. Opening
# the port never resets the board: a pty has no DTR/RTS lines, so esptool runs with
# `--before no-reset` here, and mpremote and scanmail leave DTR/RTS released.
import errno
import fcntl
import os
import pty
import select
import signal
import struct
import subprocess
import sys
import termios
import time
import tty

from scanmail.emulator.boards import board_state, console, rom_loader, runtimes, spi_flash

from scanmail.emulator.board_rom.board_link import HARD_RESET_EXIT, READY_MARKER
RAW_BANNER = b"raw REPL; CTRL-B to exit\r\n"
FRIENDLY_BANNER_END = b'Type "help()" for more information.'
OWNER_CHECK_S = 1.0    # how often a board started for a process looks whether it still runs
SOFT_REBOOT = b"MPY: soft reboot\r\n"  # what an ESP32 prints (host tools match "soft reboot\r\n")
# What an ESP32's ROM bootloader and second stage print on a reset (abridged, as on a DevKitC).
BOOT_NOISE = (
    b"ets Jul 29 2019 12:21:46\r\n\r\n"
    b"rst:%s,boot:0x13 (SPI_FAST_FLASH_BOOT)\r\n"
    b"configsip: 0, SPIWP:0xee\r\n"
    b"clk_drv:0x00,q_drv:0x00,d_drv:0x00,cs0_drv:0x00,hd_drv:0x00,wp_drv:0x00\r\n"
    b"mode:DIO, clock div:2\r\n"
    b"load:0x3fff0030,len:4728\r\n"
    b"entry 0x400805f0\r\n"
)
RESET_REASON = {"power-on": b"0x1 (POWERON_RESET)", "hard": b"0xc (SW_CPU_RESET)", "crash": b"0x10 (RTCWDT_RTC_RESET)"}
# What the ROM prints when GPIO0 is low at reset, and what esptool looks for in it.
DOWNLOAD_NOISE = (
    b"ets Jul 29 2019 12:21:46\r\n\r\n"
    b"rst:0x1 (POWERON_RESET),boot:0x3 (DOWNLOAD_BOOT(UART0/UART1/SDIO_REI_REO_V2))\r\n"
    b"waiting for download\r\n"
)
# ESP-IDF's cpu_start lines about the application a written flash image holds.
APP_INFO = (
    b"I (31) cpu_start: Application information:\r\n"
    b"I (31) cpu_start: Project name:     %s\r\n"
    b"I (31) cpu_start: App version:      %s\r\n"
    b"I (31) cpu_start: Compile time:     %s %s\r\n"
    b"I (31) cpu_start: ESP-IDF:          %s\r\n"
)
# machine.reset_cause() values of the esp32 port
# machine.reset_cause() values of the esp32 port after each kind of reset (esp_restart() reports
# SOFT_RESET there; a soft reboot of MicroPython does not reset the chip, so the cause is kept).
RESET_CAUSE = {"power-on": 1, "hard": 5, "crash": 3}
CTRL_C = 0x03
# Ctrl-C bytes this close after one that interrupted are that same interrupt: on an ESP32 a second
# Ctrl-C while the first KeyboardInterrupt is still pending only sets it again, while the unix
# port ends itself on a second SIGINT before the first was raised (mpremote sends "\r\x03\x03").
CTRL_C_COALESCE_S = 0.25
# Give up restarting a runtime that crashes this many times in a row within a second of starting.
CRASH_LOOP_LIMIT = 5
OUTPUT_BACKLOG_LIMIT = 1 << 20  # bytes kept for a host that does not read; more are dropped


def _set_nonblocking(fd):
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_NONBLOCK)


def _open_raw_pty():
    master, slave = pty.openpty()
    tty.setraw(slave)
    _set_nonblocking(master)
    return master, slave


def unread_bytes(fd):
    """Bytes written into a pty that the reader on `fd` (its slave) has not read yet."""
    return struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"))[0]


class Supervisor:
    def __init__(self, state_dir):
        self.state_dir = state_dir
        self.config = board_state.read_supervisor_config(state_dir)
        self.log_file = open(os.path.join(state_dir, "supervisor.log"), "a", buffering=1)
        serial = self.config["serial"]
        self.fast = bool(self.config.get("fast"))
        self.uart = serial["kind"] == "usb-uart-bridge"
        self.rx_buffer = int(serial.get("rx_buffer_bytes") or 260)
        self.bytes_per_s = int(serial.get("baud") or 115200) / 10.0  # 8N1: 10 bits per byte
        self.outer_master, self.outer_slave = _open_raw_pty()
        self.inner_master, self.inner_slave = _open_raw_pty()
        self.port = os.ttyname(self.outer_slave)
        self.proc = None
        self.started_at = 0.0
        self.quick_deaths = 0
        self.phase = "booting"  # booting -> (entering_raw) -> running
        self.target_raw = False
        self.raw_mode = False
        self.tail = b""  # last output bytes, to find banners and prompts across reads
        self.carry = b""  # a possible start of the ready marker, held back
        self.swallowed = b""
        self.to_board = bytearray()
        self.to_host = bytearray()
        self.credit = 0.0
        self.interrupted_at = -CTRL_C_COALESCE_S   # when a Ctrl-C byte last interrupted the runtime
        self.last_tick = time.monotonic()
        self.dropped = 0
        self.holding = False  # host bytes are waiting for room in the board's input buffer
        self.ready_written = False
        self.stopping = False
        self.owner_checked_at = 0.0
        self.hard_reset_requested = False
        self.power_cut_requested = False
        self.relay = None
        self.reset_cause = RESET_CAUSE["power-on"]
        self.download_requested = False
        self.reset_pending_in_download = False
        self.download_entries = 0  # times download mode was entered (a waiting host counts them)
        self.loader = None  # the ROM loader while the board is in download mode
        self.spi_flash = spi_flash.SpiFlash(state_dir, self.config.get("flash_bytes") or (4 << 20))
        # The unix port's output as an ESP32's console writes it (the CPython runtime cooks its own).
        self.console = console.ConsoleCooker(self.config.get("chip"), cook=self.config["runtime"] == "micropython")

    # -- logging and state ----------------------------------------------------------------------
    def log(self, text):
        self.log_file.write("%s %s\n" % (time.strftime("%H:%M:%S"), text))

    def write_board_json(self, ready):
        board_state.write_board_json(
            self.state_dir,
            {
                "name": self.config["name"],
                "state": self.state_dir,
                "port": self.port,
                "profile": self.config["profile"],
                "runtime": self.config["runtime"],
                "ip": self.config["ip"],
                "flash": self.config["flash"],
                "pid": os.getpid(),
                "ready": ready,
                "fast": self.fast,
                "relay": list(self.relay.address) if self.relay else None,
                "boot": "download" if self.loader is not None else "flash",
                "download_entries": self.download_entries,
            },
        )

    # -- runtime lifecycle ------------------------------------------------------------------------
    def start_runtime(self, mode, cause):
        """mode: hard | soft-raw | soft-friendly."""
        termios.tcflush(self.inner_slave, termios.TCIOFLUSH)  # a reset empties the UART buffer
        if cause in RESET_CAUSE:
            self.reset_cause = RESET_CAUSE[cause]
        argv, env = runtimes.command(self.config, mode, self.reset_cause)
        self.proc = subprocess.Popen(
            argv,
            stdin=self.inner_slave,
            stdout=self.inner_slave,
            stderr=self.inner_slave,
            cwd=self.config["flash"],
            env=env,
            start_new_session=True,
            close_fds=True,
        )
        self.started_at = time.monotonic()
        self.phase = "booting"
        self.target_raw = mode == "soft-raw"
        self.raw_mode = False
        self.tail = b""
        self.carry = b""
        self.console.restart()
        app = self.spi_flash.app_description()
        self.console.firmware_version = app["version"].encode() if app and app["version"] else None
        self.log("runtime %s started (%s, %s), pid %d" % (self.config["runtime"], mode, cause, self.proc.pid))

    def on_runtime_exit(self, status):
        self.log("runtime exited with status %s" % status)
        intended = status in (0, -signal.SIGINT, HARD_RESET_EXIT) or self.hard_reset_requested \
            or self.power_cut_requested
        quick = time.monotonic() - self.started_at < 1.0
        # Resets asked for (even many in a row, as a script running mpremote in a loop does) are
        # not a crash loop; a runtime that keeps crashing at start is.
        self.quick_deaths = self.quick_deaths + 1 if quick and not intended else 0
        if self.quick_deaths >= CRASH_LOOP_LIMIT:
            self.emit(b"\r\n[virtual board] the runtime keeps dying at start (status %d): stopped; see %s\r\n"
                      % (status, os.path.join(self.state_dir, "supervisor.log").encode()))
            self.log("crash loop: giving up")
            self.stopping = True
            return
        if self.power_cut_requested:
            # power back: the RTC starts over as at power-on; flash and NVS keep what was written
            self.power_cut_requested = False
            board_state.power_on_state(self.state_dir, self.config.get("clock_set", True))
            self.boot_from_flash("power-on")
        elif self.download_requested:
            self.enter_download_mode()
        elif self.hard_reset_requested or status == HARD_RESET_EXIT:
            self.hard_reset_requested = False
            self.boot_from_flash("hard")
        elif status == 0 or status == -signal.SIGINT:
            # Ctrl-D on empty input, sys.exit(), machine.soft_reset(): a soft reset. From the raw
            # REPL it comes back in the raw REPL without running main.py, as an ESP32 does.
            self.emit(SOFT_REBOOT)
            self.start_runtime("soft-raw" if self.raw_mode else "soft-friendly", "soft")
        else:
            self.emit(b"\r\n[virtual board] runtime crashed (status %d)\r\n" % status)
            self.emit(BOOT_NOISE % RESET_REASON["crash"])
            self.start_runtime("hard", "crash")

    def boot_from_flash(self, cause):
        """The chip resets with GPIO0 high: ROM noise, the written application's description (when
        esptool wrote one), then the runtime boots."""
        self.emit(BOOT_NOISE % RESET_REASON[cause])
        app = self.spi_flash.app_description()
        if app:
            self.emit(APP_INFO % tuple(app[k].encode() for k in ("project", "version", "date", "time", "idf")))
        self.start_runtime("hard", cause)

    def enter_download_mode(self):
        self.download_requested = False
        self.hard_reset_requested = False
        mac = bytes([0x24, 0x0A, 0xC4] + [int(p) for p in self.config["ip"].split(".")[1:]])
        self.loader = rom_loader.RomLoader(self.spi_flash, mac, int(self.config["serial"].get("baud") or 115200))
        self.to_board.clear()
        self.credit = 0.0
        self.emit(DOWNLOAD_NOISE)
        self.download_entries += 1
        self.write_board_json(self.ready_written)
        self.log("reset with GPIO0 low: ROM download mode")

    def leave_download_mode(self, why):
        self.loader = None
        self.to_board.clear()
        self.log("download mode left (%s)" % why)
        self.write_board_json(self.ready_written)

    # -- board -> host ------------------------------------------------------------------------------
    def emit(self, data):
        self.to_host += data
        if len(self.to_host) > OUTPUT_BACKLOG_LIMIT:
            del self.to_host[: len(self.to_host) - OUTPUT_BACKLOG_LIMIT]

    def on_runtime_output(self, data):
        data = self.carry + data
        self.carry = b""
        if self.phase == "booting":
            at = data.find(READY_MARKER)
            if at < 0:
                keep = self._marker_prefix_length(data)
                if keep:
                    self.carry = data[-keep:]
                    data = data[:-keep]
                self.forward(data)
                return
            self.forward(data[:at])
            data = data[at + len(READY_MARKER):]
            if self.target_raw:
                self.phase = "entering_raw"
                self.swallowed = b""
                os.write(self.inner_master, b"\r\x01")
            else:
                self.phase = "running"
        if self.phase == "entering_raw":
            # Swallow the restarted runtime's friendly banner; show only the raw REPL prompt.
            self.swallowed += data
            at = self.swallowed.find(RAW_BANNER + b">")
            if at < 0:
                return
            data = self.swallowed[at:]
            self.swallowed = b""
            self.phase = "running"
        self.forward(data)

    @staticmethod
    def _marker_prefix_length(data):
        for n in range(min(len(READY_MARKER) - 1, len(data)), 0, -1):
            if READY_MARKER.startswith(data[-n:]):
                return n
        return 0

    def forward(self, data):
        if not data:
            return
        self.emit(data)
        self.tail = (self.tail + data)[-128:]
        if RAW_BANNER in self.tail:
            self.raw_mode = True
            self.tail = self.tail[self.tail.rfind(RAW_BANNER) + len(RAW_BANNER):]
        if FRIENDLY_BANNER_END in self.tail:
            self.raw_mode = False
            self.tail = self.tail[self.tail.rfind(FRIENDLY_BANNER_END) + len(FRIENDLY_BANNER_END):]
        if not self.ready_written and self.phase == "running" and (
            self.tail.endswith(b">>> ") or (self.raw_mode and self.tail.endswith(b">"))
        ):
            self.ready_written = True
            self.write_board_json(True)
            self.log("first prompt: ready on %s" % self.port)

    def flush_to_host(self):
        while self.to_host:
            try:
                n = os.write(self.outer_master, self.to_host[:4096])
            except BlockingIOError:
                return
            except OSError as exc:  # EIO: nobody holds the port; a UART just sends into the void
                if exc.errno == errno.EIO:
                    self.to_host.clear()
                    return
                raise
            del self.to_host[:n]

    # -- host -> board ------------------------------------------------------------------------------
    def accepting_host_bytes(self):
        # A UART bridge takes what the host writes (up to its own buffer) and sends it at the baud
        # rate; otherwise the supervisor takes bytes only as fast as the board reads them
        # (back-pressure, as native USB has), so the host's writes block instead of losing data.
        limit = 65536 if self.uart and not self.fast else 4096
        return len(self.to_board) < limit

    def deliver_to_board(self):
        now = time.monotonic()
        elapsed = now - self.last_tick
        self.last_tick = now
        if self.loader is not None:
            self.deliver_to_loader(elapsed)
            return
        if not self.to_board or self.phase != "running" or self.proc is None or self.proc.poll() is not None:
            self.credit = 0.0  # a wire that carries nothing builds up no credit
            return
        paced = self.uart and not self.fast
        if paced:
            self.credit = min(self.credit + elapsed * self.bytes_per_s, max(64.0, self.bytes_per_s * 0.05))
            due = int(self.credit)
            if due == 0:
                return
            self.credit -= due
        else:
            due = len(self.to_board)
        chunk = bytes(self.to_board[:due])
        del self.to_board[:due]
        leftover = b""
        start = 0
        for i, byte in enumerate(chunk):
            if byte == CTRL_C and console.interrupt_enabled(self.proc.pid):
                leftover += self._write_board(chunk[start:i], paced)
                if time.monotonic() - self.interrupted_at < CTRL_C_COALESCE_S:
                    start = i + 1                     # the same interrupt, still on its way
                elif console.interrupt(self.proc.pid):  # KeyboardInterrupt in the running code
                    self.interrupted_at = time.monotonic()
                    start = i + 1
                else:                                 # Ctrl-C went off meanwhile: input
                    start = i
        leftover += self._write_board(chunk[start:], paced)
        if leftover:
            self.to_board[:0] = leftover

    def deliver_to_loader(self, elapsed):
        """Download mode: the ROM reads the UART at the baud rate esptool set (CHANGE_BAUDRATE)."""
        if not self.to_board:
            self.credit = 0.0
            return
        if self.uart and not self.fast:
            per_s = self.loader.baud / 10.0
            self.credit = min(self.credit + elapsed * per_s, max(64.0, per_s * 0.05))
            due = int(self.credit)
            self.credit -= due
        else:
            due = len(self.to_board)
        chunk = bytes(self.to_board[:due])
        del self.to_board[:due]
        self.emit(self.loader.feed(chunk))
        if self.loader.leave:
            why = self.loader.leave
            self.leave_download_mode(why)
            # "run": the ROM jumps to the flash's bootloader; "reboot": the chip resets (GPIO0 high)
            self.boot_from_flash("hard")

    def _write_board(self, data, drop_overflow):
        """Write into the runtime's input; with drop_overflow (a UART) bytes beyond the input
        buffer are lost, otherwise what does not fit is returned to be sent later."""
        if not data:
            return b""
        capacity = 65536 if self.fast else self.rx_buffer
        room = max(0, capacity - unread_bytes(self.inner_slave))
        fits, rest = data[:room], data[room:]
        if fits:
            try:
                written = os.write(self.inner_master, fits)
            except BlockingIOError:
                written = 0
            rest = fits[written:] + rest
        if drop_overflow and rest:
            self.dropped += len(rest)
            self.log("input buffer full: dropped %d bytes (%d in all)" % (len(rest), self.dropped))
            return b""
        if rest and not self.holding:  # logged once per time the buffer fills (tests wait for it)
            self.log("input buffer full: holding %d bytes until the board reads" % len(rest))
        self.holding = bool(rest)
        return rest

    # -- main loop ------------------------------------------------------------------------------------
    def run(self):
        signal.signal(signal.SIGTERM, lambda *_: setattr(self, "stopping", True))
        signal.signal(signal.SIGINT, lambda *_: setattr(self, "stopping", True))
        signal.signal(signal.SIGUSR1, lambda *_: self.request_hard_reset())
        signal.signal(signal.SIGUSR2, lambda *_: self.cut_power())
        self.relay = runtimes.start_relay(self.config, self.log)
        board_state.write_runtime_config(self.state_dir, self.config, self.relay)
        board_state.power_on_state(self.state_dir, self.config.get("clock_set", True))
        self.write_board_json(False)
        self.log("port %s, profile %s, runtime %s, ip %s%s" % (
            self.port, self.config["profile"], self.config["runtime"], self.config["ip"],
            ", fast" if self.fast else ""))
        self.emit(BOOT_NOISE % RESET_REASON["power-on"])
        self.start_runtime("hard", "power-on")
        try:
            while not self.stopping:
                self.step()
        finally:
            self.shutdown()

    def request_hard_reset(self):
        self.download_requested = board_state.take_boot_pins(self.state_dir)
        self.hard_reset_requested = True
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
        elif self.proc is None and self.loader is not None:
            # reset while in download mode: no runtime to end; the step loop boots or stays
            self.reset_pending_in_download = True

    def cut_power(self):
        """`scanmail board power-cut`: the runtime is killed at once (SIGKILL: no handler, no
        flush, what it had not written is gone), then powers on again."""
        self.power_cut_requested = True
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
        elif self.proc is None and self.loader is not None:
            self.reset_pending_in_download = True
        self.log("power cut")

    def owner_gone(self):
        """True once the process the board was started for (config's owner_pid) has ended, looked
        at once a second at most: the board then stops, as `scanmail board stop` would stop it."""
        owner = self.config.get("owner_pid")
        now = time.monotonic()
        if not owner or now < self.owner_checked_at + OWNER_CHECK_S:
            return False
        self.owner_checked_at = now
        try:
            os.kill(owner, 0)
        except ProcessLookupError:
            self.log("its owner (pid %d) is gone: stopping" % owner)
            return True
        except PermissionError:
            pass
        return False

    def step(self):
        if self.owner_gone():
            self.stopping = True
            return
        if self.reset_pending_in_download:
            # a reset or power cut while the ROM loader runs: the same paths as a runtime's end
            self.reset_pending_in_download = False
            self.leave_download_mode("reset")
            self.on_runtime_exit(-signal.SIGKILL)
        readers = [self.inner_master]
        if self.accepting_host_bytes():
            readers.append(self.outer_master)
        writers = [self.outer_master] if self.to_host else []
        timeout = 0.005 if self.to_board else 0.05
        try:
            readable, writable, _ = select.select(readers, writers, [], timeout)
        except InterruptedError:
            return
        if self.inner_master in readable:
            self._read_runtime()
        elif self.console.carry:
            self.on_runtime_output(self.console.flush())
        if self.outer_master in readable:
            try:
                data = os.read(self.outer_master, 4096)
            except (BlockingIOError, OSError):
                data = b""
            if data:
                self.to_board += data
        self.deliver_to_board()
        if self.to_host:
            self.flush_to_host()
        if self.proc is not None:
            status = self.proc.poll()
            if status is not None:
                self._read_runtime()  # what it printed last (OK, a traceback) comes first
                self.proc = None
                self.on_runtime_exit(status)
                self.flush_to_host()

    def _read_runtime(self):
        while True:
            try:
                data = os.read(self.inner_master, 65536)
            except (BlockingIOError, OSError):
                return
            if not data:
                return
            self.on_runtime_output(self.console.feed(data))

    def shutdown(self):
        self.log("stopping")
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(3)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.relay is not None:
            self.relay.close()
        board_state.remove_board_json(self.state_dir)


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if len(argv) != 1:
        print("usage: python -m emulator.boards.supervisor STATE_DIR", file=sys.stderr)
        return 2
    Supervisor(os.path.abspath(argv[0])).run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
