# The console's frames on the serial port, sans-I/O: the board's side of the protocol host tools
# speak (host_tools/console_client.py is the host's side). One frame is one line:
#
#     #SM1 <id> <flag> <length> <crc32> <data>\n
#
# SM1 names the protocol and its version; <id> is the request id a reply repeats; <flag> is "+"
# when more parts of the same message follow, "." on its last part; <length> is the byte length of
# <data> and <crc32> its CRC-32 in 8 hex digits. A request's data is JSON {"cmd": ..., "args": {...}},
# a reply's {"ok": true, "result": ...} or {"ok": false, "error": {"code": ..., "text": ...}}.
# Rule: a frame is at most MAX_FRAME bytes, so one fits the ESP32's 260-byte receive buffer whole;
# the host sends the next part of a long request only after the board answered the last one (an
# empty "+" frame), so input is paced by the board. Anything that is not a frame (log lines, line
# noise, a half frame) is skipped up to the next "#SM"; a frame that fails its length or CRC check is
# answered with an error naming the id, so the host sends it again.
import binascii

from scanmail.firmware.compat import const

VERSION = 1
PREFIX = b"#SM"
MAX_FRAME = 240
MAX_MESSAGE = 8192
_MAX_LINE = const(512)


def encode(rid, flag, data):
    """One frame (bytes) carrying `data` (bytes, at most what fits MAX_FRAME)."""
    return b"#SM%d %d %s %d %08x %s\n" % (VERSION, rid, flag, len(data), binascii.crc32(data) & 0xFFFFFFFF, data)


def encode_message(rid, data, room=MAX_FRAME):
    """The frames carrying `data` (bytes), split so that each is at most `room` bytes."""
    header = len(encode(rid, b"+", b"")) + 4
    step = max(16, room - header)
    frames = []
    at = 0
    while True:
        piece = data[at:at + step]
        at += step
        frames.append(encode(rid, b"+" if at < len(data) else b".", piece))
        if at >= len(data):
            return frames


class FrameReader:
    """feed(bytes) -> list of events: ("frame", id, flag, data) or ("bad", id or None, text)."""

    def __init__(self):
        self._line = bytearray()
        self._skipping = False

    def idle(self):
        """True when no line is half received."""
        return not self._line and not self._skipping

    def feed(self, data):
        events = []
        for b in data:
            if b == 10:
                if not self._skipping:
                    event = self._parse(bytes(self._line))
                    if event:
                        events.append(event)
                self._line = bytearray()
                self._skipping = False
            elif not self._skipping:
                self._line.append(b)
                if len(self._line) > _MAX_LINE:         # no frame is this long: skip to the line's end
                    self._skipping = True
        return events

    def _parse(self, line):
        at = line.find(PREFIX)
        if at < 0:
            return None                                  # a log line or noise: not ours
        line = line[at + len(PREFIX):]
        if line.endswith(b"\r"):
            line = line[:-1]
        fields = line.split(b" ", 5)
        rid = None
        try:
            rid = int(fields[1])
            version = int(fields[0])
        except (ValueError, IndexError):
            return ("bad", rid, "a damaged frame header: send it again")
        if version != VERSION:
            return ("bad", rid, "protocol version %d is not spoken here; this board speaks %d: update "
                                "the host tool or the firmware" % (version, VERSION))
        if len(fields) < 6:
            return ("bad", rid, "a frame cut short: send it again")
        flag, data = fields[2], fields[5]
        try:
            length = int(fields[3])
            crc = int(fields[4], 16)
        except ValueError:
            return ("bad", rid, "a damaged frame header: send it again")
        if flag not in (b"+", b".") or length != len(data) or crc != binascii.crc32(data) & 0xFFFFFFFF:
            return ("bad", rid, "a frame failed its length or CRC check: send it again")
        return ("frame", rid, flag, data)
