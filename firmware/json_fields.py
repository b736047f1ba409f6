# A streaming reader for the one JSON object a token endpoint answers: it takes the body in pieces
# of any size and keeps only the top-level fields it was asked for (strings and numbers); every
# other value (an id_token, nested objects, arrays) is skipped as it streams by, never held.
# Rules: sans-I/O (feed bytes, read `values`); the heap it holds is the wanted values and a few
# counters, whatever the body's size; a value longer than `limit` or a body that is not one JSON
# object is a ValueError saying so (the caller turns it into a sign-in error); \uXXXX escapes are
# decoded (UTF-8), surrogate pairs included. A string value comes out as the list of UTF-8 pieces
# it arrived in (joined(value) makes it one), so that the caller makes a 2 KB token one block only
# once the connection it came on has let go of its buffers.
from scanmail.firmware.compat import const

# States of the reader.
_BEFORE = const(0)        # before the opening brace
_KEY = const(1)           # expecting a key (or the closing brace)
_IN_KEY = const(2)        # inside a key string
_COLON = const(3)         # after a key
_VALUE = const(4)         # expecting a value
_IN_STRING = const(5)     # inside a string value
_IN_SCALAR = const(6)     # inside a number, true, false or null
_IN_NESTED = const(7)     # inside an object or array value being skipped
_AFTER = const(8)         # after a value: a comma or the closing brace
_DONE = const(9)          # after the closing brace

_SPACE = b" \t\r\n"


def joined(value):
    """A string value (list of pieces) as one bytes object; other values as they are."""
    return b"".join(value) if isinstance(value, list) else value


class JsonFields:
    """feed(bytes) as the body arrives; finish(); then `values` {name: [UTF-8 pieces] or int}."""

    def __init__(self, wanted, limit=8192):
        self.wanted = wanted
        self.limit = limit
        self.values = {}
        self._state = _BEFORE
        self._key = bytearray()
        self._value = None          # the runs of a wanted value while it is read, else None
        self._size = 0
        self._escape = 0            # 0 none, 1 after a backslash, 2..5 inside \uXXXX
        self._hex = 0
        self._high = 0              # a pending high surrogate of a \uXXXX pair
        self._depth = 0
        self._nested_string = False

    def feed(self, data):
        data = bytes(data)
        i, end = 0, len(data)
        while i < end:
            if self._state == _IN_STRING and not self._escape:
                # The bulk of an answer is long string values: take a run up to the next quote or
                # backslash in one step instead of byte by byte.
                stop = data.find(b'"', i)
                if stop < 0:
                    stop = end
                slash = data.find(b"\\", i, stop)
                if slash >= 0:
                    stop = slash
                if stop > i:
                    self._collect_run(data[i:stop])
                    i = stop
                    continue
            self._byte(data[i])
            i += 1

    def _collect_run(self, run):
        # A wanted value is kept as the runs it arrived in and joined once at its end: a value
        # grown in place would be moved again and again in a heap that never compacts.
        if self._value is not None:
            self._size += len(run)
            if self._size > self.limit:
                self._fail("a value is longer than %d bytes" % self.limit)
            self._value.append(run)

    def finish(self):
        if self._state != _DONE:
            raise ValueError("the answer ended before its JSON object did")
        return self.values

    def _fail(self, what):
        raise ValueError("the answer is not the JSON object expected: " + what)

    def _byte(self, b):
        state = self._state
        if state == _IN_STRING or state == _IN_KEY:
            self._string_byte(b)
        elif state == _IN_NESTED:
            self._nested_byte(b)
        elif b in _SPACE:
            if state == _IN_SCALAR:
                self._end_scalar()
        elif state == _BEFORE:
            if b != 0x7B:                       # {
                self._fail("it does not start with {")
            self._state = _KEY
        elif state == _KEY:
            if b == 0x22:                       # "
                self._key = bytearray()
                self._state = _IN_KEY
            elif b == 0x7D:                     # } (an empty object)
                self._state = _DONE
            else:
                self._fail("a key is not a string")
        elif state == _COLON:
            if b != 0x3A:                       # :
                self._fail("no colon after a key")
            self._state = _VALUE
        elif state == _VALUE:
            self._start_value(b)
        elif state == _IN_SCALAR:
            if b == 0x2C or b == 0x7D:
                self._end_scalar()
                self._after(b)
            else:
                self._collect(b)
        elif state == _AFTER:
            self._after(b)
        else:
            self._fail("something follows the closing brace")

    def _start_value(self, b):
        want = bytes(self._key).decode() in self.wanted
        self._value = [] if want else None
        self._size = 0
        if b == 0x22:
            self._state = _IN_STRING
        elif b == 0x7B or b == 0x5B:            # { or [: skipped whole
            self._value = None
            self._depth = 1
            self._nested_string = False
            self._state = _IN_NESTED
        else:
            self._state = _IN_SCALAR
            self._collect(b)

    def _collect(self, b):
        self._collect_run(bytes((b,)))

    def _joined(self):
        value = b"".join(self._value)
        self._value = None
        return value

    def _end_scalar(self):
        if self._value is not None:
            text = self._joined().decode()
            try:
                self.values[bytes(self._key).decode()] = int(text)
            except ValueError:
                self.values[bytes(self._key).decode()] = text
        self._value = None
        self._state = _AFTER

    def _after(self, b):
        if b == 0x2C:                           # ,
            self._state = _KEY
        elif b == 0x7D:                         # }
            self._state = _DONE
        else:
            self._fail("no comma between fields")

    def _nested_byte(self, b):
        if self._nested_string:
            if self._escape:
                self._escape = 0
            elif b == 0x5C:
                self._escape = 1
            elif b == 0x22:
                self._nested_string = False
        elif b == 0x22:
            self._nested_string = True
        elif b == 0x7B or b == 0x5B:
            self._depth += 1
        elif b == 0x7D or b == 0x5D:
            self._depth -= 1
            if not self._depth:
                self._state = _AFTER

    def _string_byte(self, b):
        in_key = self._state == _IN_KEY
        if self._escape == 1:
            self._escape = 0
            if b == 0x75:                       # \u
                self._escape, self._hex = 2, 0
                return
            b = {0x6E: 0x0A, 0x74: 0x09, 0x72: 0x0D, 0x62: 0x08, 0x66: 0x0C}.get(b, b)
        elif self._escape:
            digit = b - 48 if 48 <= b <= 57 else (b | 0x20) - 87
            if not 0 <= digit < 16:
                self._fail("a bad \\u escape")
            self._hex = self._hex * 16 + digit
            self._escape += 1
            if self._escape == 6:
                self._escape = 0
                self._code_point(self._hex, in_key)
            return
        elif b == 0x5C:
            self._escape = 1
            return
        elif b == 0x22:
            if in_key:
                self._state = _COLON
            else:
                if self._value is not None:
                    self.values[bytes(self._key).decode()] = self._value
                self._value = None
                self._state = _AFTER
            return
        if in_key:
            if len(self._key) < 64:
                self._key.append(b)
        else:
            self._collect(b)

    def _code_point(self, code, in_key):
        if 0xD800 <= code < 0xDC00:
            self._high = code
            return
        if 0xDC00 <= code < 0xE000 and self._high:
            code = 0x10000 + ((self._high - 0xD800) << 10) + (code - 0xDC00)
        self._high = 0
        for b in chr(code).encode():
            if in_key:
                self._key.append(b)
            else:
                self._collect(b)
