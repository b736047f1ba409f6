# The console's request/response session over console_protocol frames: gathers the parts of each
# request, hands whole requests to the command handler and frames its replies. Sans-I/O: feed()
# takes bytes from the serial port and returns the bytes to write back. Rule: every request gets one
# reply with its id (an error reply for a bad frame or a command that raised); nothing a handler
# raises reaches the serial port as a traceback; a handler's `after_reply` (a reboot) runs only once
# the reply is out; a Streamed result (outbox list) goes out item by item, never whole in RAM.
import json

from scanmail.firmware.app.console_protocol import MAX_FRAME, MAX_MESSAGE, FrameReader, encode, encode_message


class CommandError(Exception):
    """A refused command: `code` for programs, the text for people (says what to do)."""

    def __init__(self, code, text):
        super().__init__(text)
        self.code = code


class Streamed:
    """A result too large for the heap: a list whose `items` (an iterator) are encoded and framed
    one at a time as they come, so only one item and one frame are in RAM at once."""

    def __init__(self, items):
        self.items = items


def _joined(text):
    """`text` with each surrogate pair joined into the one character it stands for. A host's JSON
    may write a character beyond U+FFFF (an emoji) as two \\u escapes, and MicroPython's json.loads
    keeps them as two halves, which are no UTF-8 and would reach the mail as broken bytes."""
    try:
        data = text.encode()
    except UnicodeError:                   # CPython: an unpaired half (json.loads joins pairs)
        return text
    out = bytearray()
    at = 0
    while at < len(data):
        # a high half is ED A0..AF xx in the bytes MicroPython keeps, a low half ED B0..BF xx
        if (data[at] == 0xED and at + 5 < len(data) and 0xA0 <= data[at + 1] <= 0xAF
                and data[at + 3] == 0xED and 0xB0 <= data[at + 4] <= 0xBF):
            high = ((data[at + 1] & 0x0F) << 6) | (data[at + 2] & 0x3F)
            low = ((data[at + 4] & 0x0F) << 6) | (data[at + 5] & 0x3F)
            out.extend(chr(0x10000 + (high << 10) + low).encode())
            at += 6
        else:
            out.append(data[at])
            at += 1
    return out.decode()


def _whole(value):
    """`value` (a decoded request) with the surrogate pairs in every string joined (_joined)."""
    if isinstance(value, str):
        return _joined(value)
    if isinstance(value, list):
        return [_whole(item) for item in value]
    if isinstance(value, dict):
        return dict((_whole(key), _whole(value[key])) for key in value)
    return value


class ConsoleSession:
    def __init__(self, handler, log=None):
        self._handler = handler              # handler(cmd, args) -> result; may raise CommandError
        self._log = log
        self._reader = FrameReader()
        self._parts = {}                     # request id -> bytearray of the parts so far
        self.after_reply = None

    def idle(self):
        """True when no request is half received (app_loop.LazyConsole may let the session go)."""
        return not self._parts and self._reader.idle()

    def feed(self, data):
        """Yields the frames to write back, each as soon as it is made (write them as they come:
        a streamed reply is never whole in RAM)."""
        for event in self._reader.feed(data):
            if event[0] == "bad":
                rid = event[1] if event[1] is not None else 0
                self._parts.pop(rid, None)
                yield from self._error(rid, "bad_frame", event[2])
                continue
            _, rid, flag, data = event
            buf = self._parts.get(rid)
            if buf is None:
                buf = self._parts[rid] = bytearray()
            buf.extend(data)
            if len(buf) > MAX_MESSAGE:
                self._parts.pop(rid)
                yield from self._error(rid, "too_long", "a request of more than %d bytes" % MAX_MESSAGE)
            elif flag == b"+":
                yield encode(rid, b"+", b"")       # "send the next part"
            else:
                self._parts.pop(rid)
                yield from self._request(rid, bytes(buf))

    def _request(self, rid, data):
        try:
            request = json.loads(data)
            if b"\\ud" in data or b"\\uD" in data:      # an escaped character beyond U+FFFF, perhaps
                request = _whole(request)
            cmd = request["cmd"]
            args = request.get("args") or {}
            if not isinstance(args, dict):
                raise TypeError
        except (ValueError, KeyError, TypeError, AttributeError):
            return self._error(rid, "bad_request", 'a request is JSON {"cmd": NAME, "args": {...}}')
        try:
            result = self._handler(cmd, args)
        except CommandError as err:
            return self._error(rid, err.code, str(err))
        except MemoryError:
            return self._error(rid, "no_memory", _NO_MEMORY % cmd)
        except Exception as err:             # a bug: one line, never a traceback on the port
            return self._error(rid, "internal", self._internal(cmd, err))
        if isinstance(result, Streamed):
            return self._stream(rid, cmd, result.items)
        return encode_message(rid, json.dumps({"ok": True, "result": result}).encode())

    def _internal(self, cmd, err):
        if self._log:
            self._log("console: %s failed: %s: %s" % (cmd, type(err).__name__, err))
        return "%s failed inside the board (%s); `logs` has details" % (cmd, type(err).__name__)

    def _stream(self, rid, cmd, items):
        """The frames of {"result": [item, ...], "ok": true}, made item by item. "ok" comes last,
        so a failure half-way still ends the message well formed: the items so far, "ok": false
        and the error."""
        room = MAX_FRAME - len(encode(rid, b"+", b"")) - 4
        pending = bytearray(b'{"result": [')
        tail = b'], "ok": true}'
        first = True
        try:
            for item in items:
                if not first:
                    pending.extend(b", ")
                first = False
                pending.extend(json.dumps(item).encode())
                while len(pending) > room:
                    yield encode(rid, b"+", bytes(pending[:room]))
                    pending = pending[room:]
        except MemoryError:
            tail = b'], "ok": false, "error": ' + json.dumps({"code": "no_memory", "text": _NO_MEMORY % cmd}).encode() + b"}"
        except Exception as err:
            tail = b'], "ok": false, "error": ' + json.dumps(
                {"code": "internal", "text": self._internal(cmd, err)}).encode() + b"}"
        pending.extend(tail)
        while len(pending) > room:
            yield encode(rid, b"+", bytes(pending[:room]))
            pending = pending[room:]
        yield encode(rid, b".", bytes(pending))

    def _error(self, rid, code, text):
        return encode_message(rid, json.dumps({"ok": False, "error": {"code": code, "text": text}}).encode())


_NO_MEMORY = "the board ran out of memory for %s: try again"
