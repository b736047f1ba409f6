# A MicroPython raw-REPL client over any serial port pyserial can open (/dev/ttyUSB0, COM3, a
# virtual board's /dev/pts/N, socket://, rfc2217://, loop://). It runs code on a board and copies
# files to it. Rules: raw-paste with the device's flow-control window whenever the board offers it
# (an ESP32 behind a USB-UART bridge drops what overflows its 260-byte input buffer), plain raw mode
# paced in small chunks otherwise; every read has a deadline; every file written is verified on the
# device by SHA-256 before it counts as written.
# Why not mpremote's SerialTransport (mpremote is a dependency, and the reference these tests hold
# this client to)? It is an internal class, not an API mpremote promises to keep; its plain raw
# mode writes a whole command at once (a board behind a USB-UART bridge drops what overflows 260
# bytes), its reads wait without an overall deadline unless each caller passes one, and its file
# copy does not verify what was written. This client is the protocol and nothing else; mpremote
# stays the judge: tests/boards runs mpremote itself against the same virtual boards.
import base64
import hashlib
import time

_CTRL_A, _CTRL_B, _CTRL_C, _CTRL_D, _CTRL_E = b"\x01", b"\x02", b"\x03", b"\x04", b"\x05"
_RAW_BANNER = b"raw REPL; CTRL-B to exit\r\n"
# Plain raw mode has no flow control: stay well inside the ESP32's 260-byte input buffer.
_PLAIN_RAW_CHUNK = 128
_PLAIN_RAW_CHUNK_PAUSE_S = 0.01
# Binary bytes per exec when copying a file: 3 KiB of data is 4 KiB of base64, a few raw-paste
# windows, and little heap on the board.
_FILE_CHUNK = 3072


class ReplError(Exception):
    """The board did not answer as a MicroPython raw REPL should (wrong port, busy, crashed)."""


class DeviceError(Exception):
    """Code sent to the board raised an exception there; `traceback` holds the board's text."""

    def __init__(self, traceback_text):
        self.traceback = traceback_text
        last = traceback_text.strip().splitlines()[-1] if traceback_text.strip() else "error"
        super().__init__("the board raised: %s" % last)


def is_pty(url):
    """Whether `url` names a pseudo-terminal (a virtual board's port). A USB serial device's name
    comes back with its board (a reset of native USB, a cable plugged in again); a pty's number,
    once its board is gone, goes to the next program that opens a terminal (a shell, another
    board), so a pty that went away is never opened again by its name."""
    return url.startswith("/dev/pts/")


def _never_again(serial, url):
    """The `open` of a pty's port once it is open: a tool that reopens a lost port by its name
    (esptool does, after a write fails) gets an error instead of another program's terminal."""
    def refuse():
        raise serial.SerialException("%s went away, and a pseudo-terminal does not come back (its number "
                                     "goes to the next program that opens one)" % url)
    return refuse


def open_port(url, baudrate=115200, timeout=0.05, exclusive=False):
    """Open a port without resetting the board: DTR and RTS stay released on open (on an ESP32
    dev board's auto-reset circuit RTS pulls EN, the reset, and DTR pulls IO0, the boot mode).
    exclusive: take the port's lock as mpremote does, so a second tool cannot interleave."""
    import serial  # pyserial; imported here so a missing install gives a clear error at use

    try:
        port = serial.serial_for_url(url, do_not_open=True, baudrate=baudrate, timeout=timeout)
        if exclusive and hasattr(port, "exclusive"):
            port.exclusive = True
        port.dtr = False
        port.rts = False
        port.open()
        if is_pty(url):
            port.open = _never_again(serial, url)
        return port
    except (serial.SerialException, OSError) as exc:
        if "lock" in str(exc).lower() or "busy" in str(exc).lower():
            raise ReplError("serial port %s is busy: another program (a serial monitor, mpremote, "
                            "another scanmail) holds it; close that program and try again" % url)
        raise ReplError(
            "cannot open serial port %s: %s (check the cable, the port name, and that no other "
            "program such as a serial monitor holds it)" % (url, exc)
        )


class RawRepl:
    """Drives one board's raw REPL. Use as a context manager; `enter()` before `exec()`."""

    def __init__(self, port_url, baudrate=115200, read_timeout_s=10.0, exclusive=False):
        self.port_url = port_url
        self.read_timeout_s = read_timeout_s
        self.serial = open_port(port_url, baudrate, exclusive=exclusive)
        self.in_raw_repl = False
        self.raw_paste = None  # None: not yet known; True/False once the board answered
        self._rx = bytearray()

    # -- context manager ------------------------------------------------------------------------
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        try:
            if self.in_raw_repl:
                self.serial.write(b"\r" + _CTRL_B)
        finally:
            self.serial.close()

    # -- low level ------------------------------------------------------------------------------
    # Bytes are read in whatever amounts the port has and kept in self._rx, so that reading up to a
    # marker never swallows what follows it (stdout, then the error text, then the prompt).
    def _fill(self):
        waiting = self.serial.in_waiting
        chunk = self.serial.read(waiting if waiting else 1)
        if chunk:
            self._rx += chunk
        return bool(chunk)

    def _read_until(self, ending, timeout_s=None, what="a reply"):
        limit = timeout_s if timeout_s is not None else self.read_timeout_s
        deadline = time.monotonic() + limit
        while True:
            at = self._rx.find(ending)
            if at >= 0:
                end = at + len(ending)
                data = bytes(self._rx[:end])
                del self._rx[:end]
                return data
            if not self._fill() and time.monotonic() > deadline:
                raise ReplError(
                    "no %s from the board on %s within %.0f s (last bytes %r); is it running "
                    "MicroPython, and is no other program using the port?"
                    % (what, self.port_url, limit, bytes(self._rx[-80:]))
                )

    def _read_exact(self, count, what):
        deadline = time.monotonic() + self.read_timeout_s
        while len(self._rx) < count:
            if not self._fill() and time.monotonic() > deadline:
                raise ReplError("no %s from the board on %s" % (what, self.port_url))
        data = bytes(self._rx[:count])
        del self._rx[:count]
        return data

    def _pending_input(self):
        return bool(self._rx) or self.serial.in_waiting > 0

    def _drain(self):
        time.sleep(0.05)
        while self.serial.in_waiting:
            self.serial.read(self.serial.in_waiting)
            time.sleep(0.02)
        self._rx.clear()

    # -- raw REPL ---------------------------------------------------------------------------------
    def enter(self, soft_reset=False):
        """Interrupt whatever runs, enter the raw REPL; with soft_reset, restart the interpreter
        (on an ESP32 boot.py runs again, main.py does not)."""
        # One Ctrl-C at a time, as mpremote sends it: a second one racing the first can land
        # while the board is back at its prompt. A program that catches the first (an event
        # loop that cleans up) gets another after each second without the raw REPL's banner.
        deadline = time.monotonic() + self.read_timeout_s
        while True:
            self.serial.write(b"\r" + _CTRL_C)
            self._flush_input()
            self.serial.write(b"\r" + _CTRL_A)
            try:
                self._read_until(_RAW_BANNER + b">", timeout_s=min(1.0, self.read_timeout_s), what="raw REPL prompt")
                break
            except ReplError:
                if time.monotonic() + 1.0 > deadline:
                    raise
        self._settle()
        if soft_reset:
            self.serial.write(_CTRL_D)
            self._read_until(b"soft reboot\r\n", what="soft reboot")
            self._read_until(_RAW_BANNER, what="raw REPL banner after soft reboot")
            self._read_until(b">", what="raw REPL prompt after soft reboot")
        self.in_raw_repl = True

    def _flush_input(self):
        """Drop what the board printed so far (boot noise, a program's output), without waiting."""
        while self.serial.in_waiting:
            self.serial.read(self.serial.in_waiting)
        self._rx.clear()

    def _settle(self, quiet_s=0.02):
        """After entering: a board that got Ctrl-A twice (one held while it booted) prints the
        banner twice. Read until the port stays quiet and keep nothing before the last prompt, so
        the first command's reply is not mistaken for a stale banner."""
        marker = _RAW_BANNER + b">"
        while True:
            time.sleep(quiet_s)
            if not self.serial.in_waiting:
                break
            while self.serial.in_waiting:
                self._fill()
        at = self._rx.rfind(marker)
        if at >= 0:
            del self._rx[: at + len(marker)]

    def soft_reset_to_application(self):
        """Leave the raw REPL and soft-reset from the friendly REPL, so boot.py and main.py run
        (the application starts), as mpremote's `soft-reset` does after Ctrl-B."""
        self.serial.write(b"\r" + _CTRL_B)
        self.in_raw_repl = False
        self._read_until(b">>> ", what="friendly REPL prompt")
        self.serial.write(_CTRL_D)
        self._read_until(b"soft reboot", what="soft reboot")
        # Wait for the restarted board: its REPL prompt when main.py ends (or there is none); an
        # application that keeps running prints none, and a short wait is all it gets then.
        try:
            self._read_until(b">>> ", timeout_s=3.0, what="prompt after the soft reboot")
        except ReplError:
            pass

    def _send_plain_raw(self, payload):
        for i in range(0, len(payload), _PLAIN_RAW_CHUNK):
            self.serial.write(payload[i : i + _PLAIN_RAW_CHUNK])
            time.sleep(_PLAIN_RAW_CHUNK_PAUSE_S)
        self.serial.write(_CTRL_D)
        self._read_until(b"OK", what="OK after the code was sent")

    def _send_raw_paste(self, payload):
        """Raw-paste: the board grants a window of bytes and tops it up with 0x01. Returns False if
        the board does not support raw-paste (then plain raw mode must be used)."""
        self.serial.write(_CTRL_E + b"A" + _CTRL_A)
        answer = self._read_exact(2, "raw-paste answer")
        while answer == _RAW_BANNER[:2]:
            # A banner printed twice (Ctrl-A held while the board booted) arrived late: skip it.
            self._read_until(_RAW_BANNER[2:] + b">", timeout_s=2, what="end of a repeated banner")
            answer = self._read_exact(2, "raw-paste answer")
        if answer == b"R\x00":
            return False
        if answer != b"R\x01":
            # Very old firmware echoes the bytes instead; recover the prompt and use plain raw.
            self._read_until(b">", timeout_s=2, what="raw REPL prompt")
            return False
        window = int.from_bytes(self._read_exact(2, "raw-paste window size"), "little")
        remaining = window
        sent = 0
        while sent < len(payload):
            while remaining == 0 or self._pending_input():
                flag = self._read_exact(1, "raw-paste flow control")
                if flag == _CTRL_A:
                    remaining += window
                elif flag == _CTRL_D:  # the board ended the paste early (a syntax error, say)
                    self.serial.write(_CTRL_D)
                    return True
                else:
                    raise ReplError("unexpected byte %r from the board during raw-paste" % flag)
            piece = payload[sent : sent + remaining]
            self.serial.write(piece)
            sent += len(piece)
            remaining -= len(piece)
        self.serial.write(_CTRL_D)
        self._read_until(_CTRL_D, what="end of raw-paste acknowledgement")
        return True

    def _send_code(self, payload):
        """Send code by raw-paste when the board offers it (found out once), plain raw otherwise."""
        if self.raw_paste is not False:
            used = self._send_raw_paste(payload)
            if self.raw_paste is None:
                self.raw_paste = used
            if not used:
                self._send_plain_raw(payload)
        else:
            self._send_plain_raw(payload)

    def _read_result(self, timeout_s):
        """(stdout, stderr) of the code that runs, then the raw REPL's prompt."""
        out = self._read_until(_CTRL_D, timeout_s, what="output of the code")[:-1]
        err = self._read_until(_CTRL_D, timeout_s, what="end of the error output")[:-1]
        self._read_until(b">", timeout_s, what="raw REPL prompt")
        return out, err

    def exec_raw(self, code, timeout_s=None):
        """Run `code` on the board; return (stdout, stderr) as bytes."""
        if not self.in_raw_repl:
            self.enter()
        payload = code.encode("utf-8") if isinstance(code, str) else code
        if _CTRL_C in payload or _CTRL_D in payload:
            raise ValueError("code sent to the board must not contain bytes 0x03 or 0x04")
        self._send_code(payload)
        return self._read_result(timeout_s)

    def exec_feeding(self, code, data, window=128, timeout_s=None):
        """Run `code`, which reads len(data) bytes from stdin and writes one 0x01 for each `window`
        bytes it has read, after two at its start: so never more than 2 * window bytes are in
        flight (inside a 260-byte UART buffer for window 128). `data` must hold no 0x03 or 0x04.
        Returns (stdout without the 0x01 bytes, stderr)."""
        if _CTRL_C in data or _CTRL_D in data:
            raise ValueError("data fed to the board must not contain bytes 0x03 or 0x04")
        if not self.in_raw_repl:
            self.enter()
        payload = code.encode("utf-8")
        self._send_code(payload)
        sent = credit = 0
        while sent < len(data):
            while credit <= 0 or self._pending_input():
                flag = self._read_exact(1, "flow control while sending data")
                if flag == b"\x01":
                    credit += window
                elif flag == _CTRL_D:  # the code ended early (an error): its output follows
                    self._rx[:0] = flag
                    sent = len(data)
                    break
                else:
                    raise ReplError("unexpected byte %r from the board while sending data" % flag)
            if sent >= len(data):
                break
            piece = data[sent : sent + min(credit, window)]
            self.serial.write(piece)
            sent += len(piece)
            credit -= len(piece)
        out, err = self._read_result(timeout_s)
        return out.replace(b"\x01", b""), err

    def exec(self, code, timeout_s=None):
        """Run `code` on the board; return its printed output as text, raise DeviceError on error."""
        out, err = self.exec_raw(code, timeout_s)
        if err:
            raise DeviceError(err.decode("utf-8", "replace"))
        return out.decode("utf-8", "replace")

    # -- files --------------------------------------------------------------------------------------
    def makedirs(self, device_path):
        self.exec(
            "import os\n"
            "_p = %r\n"
            "for _part in %r.split('/'):\n"
            "    if _part:\n"
            "        _p += _part\n"
            "        try:\n"
            "            os.mkdir(_p)\n"
            "        except OSError:\n"
            "            pass\n"
            "        _p += '/'\n" % ("/" if device_path.startswith("/") else "", device_path)
        )

    def sha256_of(self, device_path):
        """The SHA-256 of a file on the board as hex, or None if it does not exist."""
        out = self.exec(
            "import hashlib, binascii\n"
            "try:\n"
            "    _f = open(%r, 'rb')\n"
            "except OSError:\n"
            "    print('MISSING')\n"
            "else:\n"
            "    _h = hashlib.sha256()\n"
            "    _b = bytearray(1024)\n"
            "    while True:\n"
            "        _n = _f.readinto(_b)\n"
            "        if not _n:\n"
            "            break\n"
            "        _h.update(memoryview(_b)[:_n])\n"
            "    _f.close()\n"
            "    print(binascii.hexlify(_h.digest()).decode())\n" % device_path
        ).strip()
        return None if out == "MISSING" else out

    def put_file(self, data, device_path, progress=None):
        """Write `data` to `device_path` on the board, then check its SHA-256 there. Skips the
        write when the board already has the same bytes. Returns True if it wrote."""
        digest = hashlib.sha256(data).hexdigest()
        if self.sha256_of(device_path) == digest:
            if progress:
                progress(len(data))
            return False
        parent = device_path.rsplit("/", 1)[0] if "/" in device_path else ""
        if parent:
            self.makedirs(parent)
        temp_path = device_path + ".part"
        self.exec("import binascii\n_f = open(%r, 'wb')\n_w = _f.write\n_d = binascii.a2b_base64" % temp_path)
        try:
            for i in range(0, len(data), _FILE_CHUNK):
                chunk = base64.b64encode(data[i : i + _FILE_CHUNK]).decode("ascii")
                self.exec("_w(_d(%r))" % chunk)
                if progress:
                    progress(min(_FILE_CHUNK, len(data) - i))
        finally:
            self.exec("_f.close()")
        if self.sha256_of(temp_path) != digest:
            raise ReplError(
                "%s was corrupted on its way to the board (SHA-256 differs); nothing was replaced. "
                "Try again; on a USB-UART bridge lower the baud rate or use a shorter cable" % device_path
            )
        # Replace atomically: a reset mid-copy leaves the old file, never half a new one.
        self.exec("import os\ntry:\n    os.remove(%r)\nexcept OSError:\n    pass\nos.rename(%r, %r)" % (device_path, temp_path, device_path))
        return True
