# Streaming MIME writer: turns a Message into the exact bytes of the message (RFC 5322 headers,
# RFC 2045-2047 MIME, RFC 2231 file names), and can tell their size without producing them.
# Rule: heap use does not grow with the attachments: files are read in fixed chunks into
# preallocated buffers and written as 76-character base64 lines, or as they are when the server
# takes BINARYMIME (RFC 3030, sent by BDAT); only the headers and the text body are ever held whole.
# Every header and text line ends in CRLF, none is over 998 octets, no bare CR or LF is ever
# produced (SMTP smuggling), and for DATA lines starting with "." are dot-stuffed (RFC 5321 4.5.2).
import binascii

from firmware.compat import const, free_heap, read_into

_B64_GROUP = const(57)                 # 57 bytes -> one 76-character base64 line (RFC 2045 6.8)
_MIN_GROUPS = const(8)                 # per chunk: 57 bytes in, 78 out, 77 in b2a_base64's result
_MAX_GROUPS = const(256)
_BYTES_PER_GROUP = const(212)
_LINE_WITH_CRLF = const(78)
_QP_MAX = const(76)                    # RFC 2045 6.7 rule 5
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
_HEX = b"0123456789ABCDEF"


def rfc5322_date(epoch):
    """'Sat, 28 Nov 2026 05:24:42 +0000' from UTC seconds since 1970, without the runtime's
    gmtime (its epoch differs between ports)."""
    days, secs = divmod(int(epoch), 86400)
    weekday = (days + 3) % 7            # 1970-01-01 was a Thursday
    # civil_from_days (H. Hinnant), valid for any date after 1970
    z = days + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    year = yoe + era * 400
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    if month <= 2:
        year += 1
    return "%s, %02d %s %04d %02d:%02d:%02d +0000" % (
        _DAYS[weekday], day, _MONTHS[month - 1], year, secs // 3600, (secs // 60) % 60, secs % 60)


def normalize_newlines(text):
    """CRLF, lone CR and lone LF all become CRLF: nothing bare can reach the wire."""
    return text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\r\n")


def dot_stuff(data):
    """RFC 5321 4.5.2: a line that starts with '.' gets one more. `data` starts at a line start."""
    data = data.replace(b"\r\n.", b"\r\n..")
    if data.startswith(b"."):
        data = b"." + data
    return data


def _is_plain_ascii(text):
    for ch in text:
        if ord(ch) < 32 or ord(ch) > 126:
            return False
    return True


def encoded_words(text):
    """RFC 2047 'B' encoded-words of at most 75 characters, split on UTF-8 character boundaries."""
    raw = text.encode("utf-8")
    words = []
    start = 0
    while start < len(raw):
        end = min(start + 45, len(raw))   # 45 bytes -> 60 base64 characters + 12 = 72
        while end < len(raw) and (raw[end] & 0xC0) == 0x80:
            end -= 1                       # never cut a character in two
        words.append("=?UTF-8?B?" + binascii.b2a_base64(raw[start:end])[:-1].decode() + "?=")
        start = end
    return words


def header_unstructured(name, value):
    """An unstructured header (Subject): plain when short printable ASCII, else encoded-words
    folded one per line."""
    if _is_plain_ascii(value) and len(name) + 2 + len(value) <= 78:
        return "%s: %s\r\n" % (name, value)
    if not value:
        return "%s: \r\n" % name
    return "%s: %s\r\n" % (name, "\r\n ".join(encoded_words(value)))


def header_addresses(name, addresses):
    """An address list, folded after commas so that lines stay short."""
    line = name + ": "
    out = ""
    for i, address in enumerate(addresses):
        piece = address + ("," if i < len(addresses) - 1 else "")
        if len(line) + len(piece) > 77 and line.strip() != name + ":":
            out += line.rstrip() + "\r\n"
            line = " "
        line += piece + " "
    return out + line.rstrip() + "\r\n"


def _quote(value):
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _percent_encode(raw):
    out = bytearray()
    for b in raw:
        if (48 <= b <= 57) or (65 <= b <= 90) or (97 <= b <= 122) or b in b"!#$&+-.^_`|~":
            out.append(b)
        else:
            out.append(37)
            out.append(_HEX[b >> 4])
            out.append(_HEX[b & 15])
    return out.decode()


def file_name_param(param, name):
    """'; name="x.pdf"', or RFC 2231 '; name*0*=UTF-8''...' continuations for non-ASCII names."""
    if _is_plain_ascii(name) and len(name) <= 60:
        return ";\r\n %s=%s" % (param, _quote(name))
    encoded = _percent_encode(name.encode("utf-8"))
    pieces = []
    start = 0
    index = 0
    while start < len(encoded):
        end = min(start + 60, len(encoded))
        if end < len(encoded):             # never split a %XX escape
            if encoded[end - 1] == "%":
                end -= 1
            elif encoded[end - 2] == "%":
                end -= 2
        chunk = encoded[start:end]
        prefix = "UTF-8''" if index == 0 else ""
        pieces.append(";\r\n %s*%d*=%s%s" % (param, index, prefix, chunk))
        start = end
        index += 1
    return "".join(pieces)


def quoted_printable(text):
    """RFC 2045 6.7 quoted-printable of CRLF-normalized UTF-8 text, lines at most 76 characters."""
    out = bytearray()
    lines = text.encode("utf-8").split(b"\r\n")
    for n, line in enumerate(lines):
        width = 0
        last = len(line) - 1
        for i, b in enumerate(line):
            if (33 <= b <= 126 and b != 61) or ((b == 32 or b == 9) and i != last):
                token = bytes((b,))
            else:
                token = bytes((61, _HEX[b >> 4], _HEX[b & 15]))
            if width + len(token) > _QP_MAX - 1:   # keep room for the soft break "="
                out.extend(b"=\r\n")
                width = 0
            out.extend(token)
            width += len(token)
        if n < len(lines) - 1:
            out.extend(b"\r\n")
    return bytes(out)


def base64_size(size):
    """Octets of `size` bytes as 76-character base64 lines with CRLF, plus the blank line after."""
    full, rest = divmod(size, _B64_GROUP)
    total = full * _LINE_WITH_CRLF
    if rest:
        total += 4 * ((rest + 2) // 3) + 2
    return total + 2


class MimeWriter:
    """MimeWriter(message, now, random_hex).size(binary) and .write_to(write, binary, dot_stuffing).
    binary=True writes attachments unencoded (Content-Transfer-Encoding: binary, BINARYMIME)."""

    def __init__(self, message, now, random_hex, file_sizes=None):
        self.message = message
        self.file_sizes = file_sizes if file_sizes is not None else message.check_files()
        # The boundary cannot collide with a base64 or quoted-printable body: neither can contain
        # "=_" (base64 has no "_"; in QP "=" is always followed by two hex digits or a line break),
        # so no scan of the content is needed. A binary attachment could hold any bytes, but not
        # knowingly these: 96 random bits make a chance collision about size / 2**96.
        self.boundary = "=_scanmail_" + random_hex
        self._head = self._headers(now, random_hex)
        text = message.body
        if text and not text.endswith("\n") and not text.endswith("\r"):
            text += "\n"                   # the text body always ends with a line break
        self._text = quoted_printable(normalize_newlines(text))
        self._parts = []                   # (part header without its encoding, path, size)
        for (path, name, content_type), size in zip(message.attachments, self.file_sizes):
            head = ("--%s\r\nContent-Type: %s%s\r\nContent-Disposition: attachment%s\r\n"
                    "Content-Transfer-Encoding: " % (
                        self.boundary, content_type, file_name_param("name", name),
                        file_name_param("filename", name)))
            self._parts.append((head.encode(), path, size))

    def _headers(self, now, random_hex):
        m = self.message
        domain = m.sender.split("@")[1]
        head = ""
        if now is not None:                # unset clock: the receiving server adds the Date
            head += "Date: %s\r\n" % rfc5322_date(now)
        head += "From: %s\r\n" % m.sender
        if m.to:
            head += header_addresses("To", m.to)
        if m.cc:
            head += header_addresses("Cc", m.cc)
        head += header_unstructured("Subject", m.subject)
        head += "Message-ID: <%s.%d@%s>\r\n" % (random_hex, int(now or 0), domain)
        head += "MIME-Version: 1.0\r\n"
        text_type = ("Content-Type: text/plain; charset=utf-8\r\n"
                     "Content-Transfer-Encoding: quoted-printable\r\n")
        if not m.attachments:
            return (head + text_type + "\r\n").encode()
        head += 'Content-Type: multipart/mixed;\r\n boundary="%s"\r\n\r\n' % self.boundary
        head += "This is a multi-part message in MIME format.\r\n"
        head += "--%s\r\n%s\r\n" % (self.boundary, text_type)
        return head.encode()

    def _closing(self):
        if not self._parts:
            return b""
        return ("--%s--\r\n" % self.boundary).encode()

    def _text_tail(self):
        # Multipart: the CRLF before a boundary belongs to the boundary (RFC 2046 5.1.1).
        return b"\r\n" if self._parts else b""

    def size(self, binary=False):
        """The exact size of the message content (RFC 1870: without dot-stuffing)."""
        total = len(self._head) + len(self._text) + len(self._text_tail()) + len(self._closing())
        for head, path, size in self._parts:
            total += len(head) + len(_encoding(binary))
            total += size + 2 if binary else base64_size(size)
        return total

    def write_to(self, write, binary=False, dot_stuffing=True):
        """Call write(bytes-like) with the message, in order; return octets written. DATA needs
        dot_stuffing; BDAT counts octets instead and must not have it (RFC 3030 2)."""
        written = 0
        for piece in (self._head, self._text + self._text_tail()):
            if dot_stuffing:
                piece = dot_stuff(piece)
            write(piece)
            written += len(piece)
        if self._parts:
            # Chunks sized from the free heap (an eighth of it): a small board streams in small
            # chunks, a roomy one in big ones (fewer TLS records and system calls).
            groups = free_heap() // 8 // _BYTES_PER_GROUP
            groups = max(_MIN_GROUPS, min(_MAX_GROUPS, groups))
            inbuf = bytearray(_B64_GROUP * groups)
            outbuf = None if binary else bytearray(_LINE_WITH_CRLF * groups)
            for head, path, size in self._parts:
                write(head)
                write(_encoding(binary))
                written += len(head) + len(_encoding(binary))
                if binary:
                    written += _write_binary_file(path, size, inbuf, write)
                else:
                    written += _write_base64_file(path, size, inbuf, outbuf, write)
            closing = self._closing()
            write(closing)
            written += len(closing)
        return written


def _encoding(binary):
    return b"binary\r\n\r\n" if binary else b"base64\r\n\r\n"


def _write_binary_file(path, size, inbuf, write):
    """The first `size` bytes of `path` as they are (BINARYMIME), then the CRLF that belongs to
    the next boundary."""
    inview = memoryview(inbuf)
    remaining = size
    with open(path, "rb") as f:
        while remaining:
            want = min(len(inbuf), remaining)
            got = read_into(f, inview[:want])
            if got != want:
                raise OSError("%s became shorter while it was being sent" % path)
            write(inview[:got])
            remaining -= got
    write(b"\r\n")
    return size + 2


def _write_base64_file(path, size, inbuf, outbuf, write):
    """Base64 lines of the first `size` bytes of `path`. Base64 lines never start with '.', so
    they need no dot-stuffing. Every chunk but a file's last is a whole number of 57-byte groups,
    so its lines sit at fixed 78-byte strides: the CRLFs are written into outbuf once per file and
    only the 76 characters of each line are copied (the hot loop of a big scan)."""
    for k in range(76, len(outbuf), 78):
        outbuf[k] = 13
        outbuf[k + 1] = 10
    inview = memoryview(inbuf)
    outview = memoryview(outbuf)
    written = 0
    remaining = size
    with open(path, "rb") as f:
        while remaining:
            want = min(len(inbuf), remaining)
            got = read_into(f, inview[:want])
            if got != want:
                raise OSError("%s became shorter while it was being sent" % path)
            # MicroPython's and CPython's b2a_base64 take any buffer; the ESP32 stub says bytes.
            encoded = binascii.b2a_base64(inview[:got])  # type: ignore[arg-type]
            encview = memoryview(encoded)
            end = len(encoded) - 1         # b2a_base64 ends with one "\n"
            full = end - end % 76
            o = 0
            for i in range(0, full, 76):
                outview[o:o + 76] = encview[i:i + 76]
                o += 78
            if full < end:                 # the file's last, shorter line
                n = end - full
                outview[o:o + n] = encview[full:end]
                outbuf[o + n] = 13
                outbuf[o + n + 1] = 10
                o += n + 2
            write(outview[:o])
            written += o
            remaining -= got
            encview = None
            encoded = None
    write(b"\r\n")
    return written + 2
