# The host's side of the scanner application's serial console (the board's side is
# firmware/app/console_protocol.py and console_session.py), over any port pyserial opens
# (/dev/ttyUSB0, COM3, a virtual board's /dev/pts/N, socket://, rfc2217://). Tests, the demo and
# the host tools talk to a running scanner through ConsoleClient.
#
#     with ConsoleClient("/dev/ttyUSB0") as board:
#         board.request("config.set", changes={"method": "submission"})   # -> {"hash": "..."}
#         board.request("secret.set", name="password", value="...")     # -> {"set": True, ...}
#
# Frames: `#SM1 <id> <flag> <length> <crc32> <data>\n`, at most 240 bytes each; a long request
# goes in parts, each sent only after the board answered the one before (an empty "+" frame), so
# the ESP32's 260-byte receive buffer never overflows. Rule: this module never imports firmware
# (it speaks the protocol, as a tool for a real board must); lines that are not frames are the
# board's log and are kept in `log_lines`; every wait has a deadline (moved on by each part of a
# reply that streams in parts); a frame the board reports as damaged is sent again; a port that fails mid-request (cable pulled) is a ConsoleError
# "disconnected", the request echoed back (a REPL, not the application, is listening) "repl", a
# board that speaks another protocol version "protocol_version".
import binascii
import itertools
import json
import time

VERSION = 1
MAX_FRAME = 240
_RETRIES = 3


class ConsoleError(Exception):
    """The board refused a request (`code`, and a text that says what to do) or did not answer."""

    def __init__(self, code, text):
        super().__init__(text)
        self.code = code


def encode(rid, flag, data):
    return b"#SM%d %d %s %d %08x %s\n" % (VERSION, rid, flag, len(data), binascii.crc32(data) & 0xFFFFFFFF, data)


def request_frames(rid, cmd, args):
    data = json.dumps({"cmd": cmd, "args": args}, separators=(",", ":")).encode()
    step = MAX_FRAME - len(encode(rid, b"+", b"")) - 4
    frames = []
    for at in range(0, max(len(data), 1), step):
        frames.append(encode(rid, b"+" if at + step < len(data) else b".", data[at:at + step]))
    return frames


def parse_frame(line):
    """(id, flag, data) of a frame line, ("bad", text) for a damaged one, ("version", text) for
    another protocol version, None for a log line."""
    at = line.find(b"#SM")
    if at < 0:
        return None
    fields = line[at + 3:].rstrip(b"\r").split(b" ", 5)
    try:
        version, rid, flag, length, crc = int(fields[0]), int(fields[1]), fields[2], int(fields[3]), int(fields[4], 16)
        data = fields[5]
    except (ValueError, IndexError):
        return ("bad", "a damaged frame from the board")
    if version != VERSION:
        return ("version", "the board speaks console protocol %d, this scanmail %d: update scanmail "
                           "(pip install -U scanmail) or flash this one's firmware (`scanmail flash`)"
                % (version, VERSION))
    if len(data) != length or binascii.crc32(data) & 0xFFFFFFFF != crc:
        return ("bad", "a frame from the board failed its CRC check")
    return (rid, flag, data)


class ConsoleClient:
    def __init__(self, port_url, timeout_s=20.0, baudrate=115200, serial_port=None, exclusive=False):
        """exclusive: take the port's lock (as mpremote does), so a second tool is told it is busy."""
        if serial_port is None:
            from scanmail.host_tools.raw_repl import open_port

            serial_port = open_port(port_url, baudrate, exclusive=exclusive)
        self.serial = serial_port
        self.port_url = port_url
        self.timeout_s = timeout_s
        self.log_lines = []
        self._rx = bytearray()
        self._ids = itertools.count(int(time.time() * 1000) % 100000 + 1)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        try:
            self.serial.close()
        except OSError:               # the port went away under us: nothing left to close
            pass

    def _lost(self, exc):
        return ConsoleError("disconnected", "the board on %s went away in the middle of a request (%s): "
                                            "check the cable, then try again" % (self.port_url, exc))

    def _write(self, data):
        try:
            self.serial.write(data)
        except OSError as exc:        # pyserial's SerialException is an IOError
            raise self._lost(exc)

    def _at_the_prompt(self):
        return ConsoleError("repl", "the board on %s is at the MicroPython prompt, not running the "
                                    "scanmail application" % self.port_url)

    def _frames(self, deadline, echo=None):
        """Frames as they arrive (log lines go to log_lines) until the deadline (a list of one
        time, which the caller may move on while a long reply keeps coming). `echo`: the frame
        just sent, which only a REPL sends back (some before its line ends)."""
        while time.monotonic() < deadline[0]:
            try:
                chunk = self.serial.read(self.serial.in_waiting or 1)
            except OSError as exc:    # pyserial's SerialException is an IOError: the cable, a reset
                raise self._lost(exc)
            if chunk:
                self._rx.extend(chunk)
                if echo is not None and echo in self._rx:
                    raise self._at_the_prompt()
            while b"\n" in self._rx:
                line, _, rest = bytes(self._rx).partition(b"\n")
                self._rx = bytearray(rest)
                parsed = parse_frame(line)
                if parsed is None:
                    text = line.decode("utf-8", "replace").rstrip("\r")
                    if text:
                        self.log_lines.append(text)
                        yield ("log", text)
                else:
                    yield parsed
        raise ConsoleError("timeout", "the board did not answer within %.0f s: is the application "
                                      "running (not the REPL, not safe mode) on %s?"
                           % (self.timeout_s, getattr(self.serial, "port", "the port")))

    def wait_for_log(self, text, timeout_s=None):
        """Read the board's log until a line containing `text` arrives (e.g. "started on" after a
        reset, so that no request goes to the REPL the application replaces); -> that line."""
        deadline = [time.monotonic() + (timeout_s or self.timeout_s)]
        try:
            for frame in self._frames(deadline):
                if frame[0] == "log" and text in frame[1]:
                    return frame[1]
        except ConsoleError as exc:
            if exc.code != "timeout":
                raise
        raise ConsoleError("timeout", "the board did not log %r within %.0f s: is the application "
                                      "installed (main.py)?" % (text, timeout_s or self.timeout_s))

    def request(self, cmd, **args):
        """Send one command; -> its result. Raises ConsoleError when the board refuses it."""
        rid = next(self._ids)
        frames = request_frames(rid, cmd, args)
        deadline = [time.monotonic() + self.timeout_s]
        reply = bytearray()
        index = 0
        tries = 0
        self._write(frames[0])
        for frame in self._frames(deadline, echo=frames[0].rstrip(b"\n")):
            if frame[0] == "version":
                raise ConsoleError("protocol_version", frame[1])
            if frame[0] in ("bad", "log"):
                continue
            got_id, flag, data = frame
            if got_id not in (rid, 0):
                continue                               # a late reply to an earlier request
            if flag == b"+" and not data and index < len(frames) - 1:
                index += 1                             # the board took a part: the next one
                self._write(frames[index])
                continue
            reply.extend(data)
            if flag == b"+":
                # a long reply (outbox list) streams in parts: each part gives the rest time
                deadline[0] = time.monotonic() + self.timeout_s
                continue
            try:
                message = json.loads(bytes(reply))
            except ValueError:
                message = {"ok": False, "error": {"code": "bad_frame"}}
            reply = bytearray()
            if "cmd" in message:
                # our own request came back: a REPL echoes what it is sent, the application never
                raise self._at_the_prompt()
            if not message.get("ok"):
                error = message.get("error") or {}
                if error.get("code") == "bad_frame" and tries < _RETRIES:
                    tries += 1                         # damaged on the way: send it again
                    index = 0                          # (the board dropped the parts it had)
                    self._write(frames[0])
                    continue
                raise ConsoleError(error.get("code", "error"), error.get("text", "refused"))
            return message.get("result")
