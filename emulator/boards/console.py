# What the MicroPython unix port writes, turned into what an ESP32's USB serial console writes,
# and when a Ctrl-C byte from the host is an interrupt. Sans-I/O: the supervisor feeds runtime
# output in and writes what comes out. Rule: text is cooked as the ESP32 cooks it (a "\n" becomes
# "\r\n"; the REPL's own "\r\n" stays) and the banner names the profile's chip (and the version of
# the MicroPython image esptool wrote into the board's SPI flash, when it wrote one), but bytes written
# while the board has Ctrl-C switched off (micropython.kbd_intr(-1), what mpremote mount does while
# it moves binary data) pass untouched; the board's kbd_intr() marks those spans in the stream.
import os
import re
import signal
import time

from scanmail.emulator.board_rom.board_link import CHIP_MACHINE, COOKED_OUTPUT_MARKER, RAW_OUTPUT_MARKER

_UNIX_MACHINE = re.compile(rb"; linux \[[^\]\r\n]*\] version")
_BANNER_VERSION = re.compile(rb"MicroPython [^ \r\n]+( on [^;\r\n]*; linux \[)")
_SIGINT_BIT = 1 << (2 - 1)


def interrupt_enabled(pid):
    """True when the runtime catches SIGINT: it runs code with Ctrl-C enabled, so a 0x03 byte from
    the host must interrupt it (as the ESP32's UART interrupt raises KeyboardInterrupt). At a prompt,
    or after micropython.kbd_intr(-1), the runtime leaves SIGINT at its default and the byte is
    ordinary input. Read from SigCgt in /proc/<pid>/status."""
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("SigCgt:"):
                    return bool(int(line.split()[1], 16) & _SIGINT_BIT)
    except (OSError, ValueError):
        pass
    return False


def interrupt(pid, wait_s=1.0):
    """Deliver a Ctrl-C byte from the host as an ESP32's UART interrupt does: at once, and only if
    the runtime has Ctrl-C enabled at that instant. The runtime is stopped while its SIGINT
    disposition is read and the signal sent, so it cannot switch Ctrl-C off in between (the unix
    port's default disposition would then end the process instead of raising KeyboardInterrupt).
    -> True when it was interrupted, False when the byte is ordinary input."""
    try:
        os.kill(pid, signal.SIGSTOP)
    except ProcessLookupError:
        return False
    try:
        deadline = time.monotonic() + wait_s
        while not _stopped(pid) and time.monotonic() < deadline:
            time.sleep(0.0005)
        if interrupt_enabled(pid):
            os.kill(pid, signal.SIGINT)
            return True
        return False
    except ProcessLookupError:
        return False
    finally:
        try:
            os.kill(pid, signal.SIGCONT)
        except ProcessLookupError:
            pass


def _stopped(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("T", "t", "Z", "X")
    except (OSError, IndexError):
        return True


def machine_name(chip):
    return CHIP_MACHINE.get(chip or "esp32", CHIP_MACHINE["esp32"])[0]


class ConsoleCooker:
    """Feed the runtime's output to feed(); write what it returns to the host."""

    def __init__(self, chip, cook=True):
        self.cook = cook
        self.banner_machine = b"; " + machine_name(chip).encode()
        self.firmware_version = None  # bytes: the banner says this version instead of the unix port's
        self.restart()

    def restart(self):
        """A new runtime starts with Ctrl-C enabled and text output."""
        self.raw = False
        self.last_byte = b""
        self.carry = b""

    def feed(self, data):
        data = self.carry + data
        self.carry = b""
        out = bytearray()
        while data:
            marker = COOKED_OUTPUT_MARKER if self.raw else RAW_OUTPUT_MARKER
            at = data.find(marker)
            if at < 0:
                keep = max(_prefix_at_end(data, marker), self._banner_start_at_end(data))
                if keep:
                    self.carry = data[-keep:]
                    data = data[:-keep]
                out += self._pass(data)
                break
            out += self._pass(data[:at])
            data = data[at + len(marker):]
            self.raw = not self.raw
        return bytes(out)

    def _banner_start_at_end(self, data):
        """Length of an unfinished banner line at the end of `data`, held back until its version
        can be replaced whole (the unix port writes the banner in pieces)."""
        if not self.firmware_version or self.raw or not self.cook:
            return 0
        at = data.rfind(b"MicroPython ")
        if at >= 0 and b"\n" not in data[at:] and len(data) - at < 200:
            return len(data) - at
        return _prefix_at_end(data, b"MicroPython ")

    def flush(self):
        """What was held back as a possible start of a marker, once no more output follows."""
        data, self.carry = self.carry, b""
        return self._pass(data)

    def _pass(self, data):
        if not data:
            return b""
        if self.raw or not self.cook:
            self.last_byte = data[-1:]
            return data
        if self.firmware_version:
            version = self.firmware_version
            data = _BANNER_VERSION.sub(lambda m: b"MicroPython " + version + m.group(1), data)
        cooked = _UNIX_MACHINE.sub(self.banner_machine, data)
        # "\n" not already after "\r" (also across reads) becomes "\r\n"
        cooked = re.sub(rb"(?<!\r)\n", b"\r\n", cooked)
        if self.last_byte == b"\r" and data[:1] == b"\n":
            cooked = cooked[1:]
        self.last_byte = data[-1:]
        return cooked


def _prefix_at_end(data, marker):
    for n in range(min(len(marker) - 1, len(data)), 0, -1):
        if marker.startswith(data[-n:]):
            return n
    return 0
