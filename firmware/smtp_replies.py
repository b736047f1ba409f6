# SMTP reply reader: bytes in, complete replies out (RFC 5321 section 4.2, enhanced status codes
# RFC 3463 / RFC 2034). Sans-I/O: it never touches a socket, so it is fed one byte or one buffer at
# a time alike. Rule: anything malformed or unbounded is a ValueError the moment it is seen (a line
# over 2 KB, more than 100 lines, a bad code, codes that change inside one reply): a broken or
# hostile server gets an error, never a hang, a crash or an ever-growing buffer. (ValueError, not a
# class of its own: a class costs a board about 450 bytes of heap for good; the SMTP client, the
# only caller, turns it into an SMTPError of kind "protocol" with the stage.)
from firmware.compat import const

MAX_LINE_BYTES = const(2048)   # RFC 5321 4.5.3.1.5 says 512; Exchange tags replies, so allow more
_MAX_REPLY_LINES = const(100)  # an EHLO list is about a dozen lines


class Reply:
    """One complete reply: `code` (int), `enhanced` ("2.1.0" or None) and its `lines` of text."""

    def __init__(self, code, lines):
        self.code = code
        self.lines = lines               # text after "250-"/"250 ", enhanced codes kept
        self.enhanced = _enhanced_code(code, lines[0])

    def text(self):
        """The reply's text on one line, without the code (the enhanced code stays in front)."""
        return " ".join([line for line in self.lines if line])

    def message(self):
        """The text without the enhanced code prefix, for people."""
        parts = []
        for line in self.lines:
            enhanced = _enhanced_code(self.code, line)
            if enhanced:
                line = line[len(enhanced):].lstrip()
            if line:
                parts.append(line)
        return " ".join(parts)

    def __str__(self):
        return ("%d %s" % (self.code, self.text())).rstrip()


def _enhanced_code(code, line):
    """The enhanced status code at the start of `line` if it is one for `code`'s class, else None."""
    word = line.split(" ", 1)[0] if line else ""
    parts = word.split(".")
    if len(parts) != 3 or parts[0] != str(code // 100):
        return None
    if not (parts[1].isdigit() and parts[2].isdigit()):   # the text is ASCII (_printable)
        return None
    if len(parts[1]) > 3 or len(parts[2]) > 3:
        return None
    return word


def _printable(raw):
    """Decode a reply line safely: anything outside printable ASCII becomes '?'."""
    out = bytearray(raw)
    for i in range(len(out)):
        b = out[i]
        if b < 32 or b > 126:
            if b != 9:
                out[i] = 63
    return out.decode()


class ReplyReader:
    """Feed bytes with `feed`; take complete replies with `next_reply` (None until one is whole)."""

    def __init__(self):
        self._partial = bytearray()      # the line being received, without its line ending
        self.lines = []                  # text lines of the reply being received
        self.code = 0                    # and its code
        self._ready = []                 # complete replies, oldest first

    def is_empty(self):
        """Nothing received beyond the replies already taken."""
        return not (self._partial or self.lines or self._ready)

    def feed(self, data):
        data = bytes(data)
        start = 0
        while start < len(data):
            end = data.find(b"\n", start)
            if end < 0:
                self._partial.extend(data[start:])
                if len(self._partial) > MAX_LINE_BYTES:
                    raise ValueError("a reply line is longer than %d bytes" % MAX_LINE_BYTES)
                return
            self._partial.extend(data[start:end])
            start = end + 1
            if len(self._partial) > MAX_LINE_BYTES:
                raise ValueError("a reply line is longer than %d bytes" % MAX_LINE_BYTES)
            line = bytes(self._partial)
            self._partial = bytearray()
            if line.endswith(b"\r"):
                line = line[:-1]
            self._take_line(line)

    def _take_line(self, raw):
        if len(raw) < 3 or not raw[:3].isdigit():
            raise ValueError("not an SMTP reply line: %r" % _printable(raw[:60]))
        code = int(raw[:3])
        if code < 200 or code > 599:
            raise ValueError("reply code %d is not a valid SMTP reply code" % code)
        separator = raw[3:4]
        if separator not in (b"", b" ", b"-"):
            raise ValueError("reply line %r lacks the space or hyphen after the code"
                                   % _printable(raw[:60]))
        if self.lines and code != self.code:
            raise ValueError("a multi-line reply changed its code from %d to %d"
                                   % (self.code, code))
        if len(self.lines) >= _MAX_REPLY_LINES:
            raise ValueError("a reply has more than %d lines" % _MAX_REPLY_LINES)
        self.code = code
        self.lines.append(_printable(raw[4:]))
        if separator != b"-":
            self._ready.append(Reply(code, self.lines))
            self.lines = []

    def next_reply(self):
        if self._ready:
            return self._ready.pop(0)
        return None
