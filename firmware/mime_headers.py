# The head of a message, composed once before sending: RFC 5322 headers (RFC 2047 encoded-words,
# Date from the board's clock, Message-ID), the quoted-printable text part (RFC 2045) and each
# attachment's part header (RFC 2231 file names), with the attachment files checked and the exact
# size of the whole message counted. Loaded by MimeWriter through firmware.call_once
# and let go after it: while a scan streams out, only the writer in firmware/message.py stays in
# the heap.
# Rule: every line ends in CRLF, none is over 998 octets, and no bare CR or LF is ever produced.
import binascii
import os

from scanmail.firmware.compat import const
from scanmail.firmware.errors import SMTPError
from scanmail.firmware.message import encoding_line    # loaded already: the writer counted here streams

_QP_MAX = const(76)                    # RFC 2045 6.7 rule 5
_B64_GROUP = const(57)                 # 57 bytes -> one 76-character base64 line (RFC 2045 6.8)
_LINE_WITH_CRLF = const(78)
_HEX = const(b"0123456789ABCDEF")


def base64_size(size):
    """Octets of `size` bytes as 76-character base64 lines with CRLF, plus the blank line after."""
    full, rest = divmod(size, _B64_GROUP)
    total = full * _LINE_WITH_CRLF
    if rest:
        total += 4 * ((rest + 2) // 3) + 2
    return total + 2


def file_sizes(attachments):
    """The size of each attachment file; an SMTPError of kind "message" if one cannot be read."""
    sizes = []
    for path, name, _ in attachments:
        try:
            sizes.append(os.stat(path)[6])
            with open(path, "rb") as f:
                f.read(1)
        except OSError:
            raise SMTPError("message", "attachments: cannot read %r (for %r): check that the scan "
                            "was saved" % (path, name), transient=False, kind="message",
                            field="attachments")
    return sizes


def rfc5322_date(now):
    """'Sat, 28 Nov 2026 05:24:42 +0000' from UTC seconds since 1970, without the runtime's
    gmtime (its epoch differs between ports)."""
    days, secs = divmod(int(now), 86400)
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
        "MonTueWedThuFriSatSun"[3 * weekday:3 * weekday + 3], day,
        "JanFebMarAprMayJunJulAugSepOctNovDec"[3 * month - 3:3 * month], year, secs // 3600,
        (secs // 60) % 60, secs % 60)


def _is_plain_ascii(text):
    for b in text.encode():               # bytes, not characters: see message_checks.py
        if b < 32 or b > 126:
            return False
    return True


def header_unstructured(name, value):
    """An unstructured header (Subject): plain when short printable ASCII, else RFC 2047 'B'
    encoded-words of at most 75 characters, split on UTF-8 character boundaries and folded one
    per line."""
    if _is_plain_ascii(value) and len(name) + 2 + len(value) <= 78:
        return "%s: %s\r\n" % (name, value)
    raw = value.encode("utf-8")
    words = []
    start = 0
    while start < len(raw):
        # 45 bytes -> 60 base64 characters + 12 = 72: one encoded-word (at most 75) per line; the
        # first shares its line with "Name: ", within 78 octets too (78 - 2 - 12 = 64 for the rest)
        end = min(start + (45 if words else (64 - len(name)) // 4 * 3), len(raw))
        while end < len(raw) and (raw[end] & 0xC0) == 0x80:
            end -= 1                       # never cut a character in two
        words.append("=?UTF-8?B?" + binascii.b2a_base64(raw[start:end])[:-1].decode() + "?=")
        start = end
    return "%s: %s\r\n" % (name, "\r\n ".join(words))


def header_addresses(name, values):
    """An address list, folded after commas so that lines stay short."""
    line = name + ": "
    out = ""
    for i, address in enumerate(values):
        piece = address + ("," if i < len(values) - 1 else "")
        if len(line) + len(piece) > 77 and line.strip() != name + ":":
            out += line.rstrip() + "\r\n"
            line = " "
        line += piece + " "
    return out + line.rstrip() + "\r\n"


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


def file_name_param(key, name):
    """'; name="x.pdf"', or RFC 2231 '; name*0*=UTF-8''...' continuations for non-ASCII names."""
    if _is_plain_ascii(name) and len(name) <= 60:
        return ';\r\n %s="%s"' % (key, name.replace("\\", "\\\\").replace('"', '\\"'))
    encoded = _percent_encode(name.encode("utf-8"))
    pieces = []
    start = 0
    index = 0
    while start < len(encoded):
        prefix = "UTF-8''" if index == 0 else ""
        # the line " key*N*=" + prefix + chunk + ";" within 78 octets
        end = min(start + 73 - len(key) - len(str(index)) - len(prefix), len(encoded))
        if end < len(encoded):             # never split a %XX escape
            if encoded.endswith("%", 0, end):
                end -= 1
            elif encoded.endswith("%", 0, end - 1):
                end -= 2
        chunk = encoded[start:end]
        pieces.append(";\r\n %s*%d*=%s%s" % (key, index, prefix, chunk))
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


def compose(message, now, random_hex):
    """Everything MimeWriter needs to stream `message`, as bytes: (the headers up to the text
    part's own header, the text part (with the CRLF that belongs to the next boundary when there
    are attachments), [(an attachment's part header up to "Content-Transfer-Encoding: ", its path,
    its size)], the closing boundary, (the message's size with base64 attachments, with binary
    ones)). The attachment files are checked here, before anything is sent."""
    # The boundary cannot collide with a base64 or quoted-printable body: neither can contain
    # "=_" (base64 has no "_"; in QP "=" is always followed by two hex digits or a line break),
    # so no scan of the content is needed. A binary attachment could hold any bytes, but not
    # knowingly these: 96 random bits make a chance collision about size / 2**96.
    boundary = "=_scanmail_" + random_hex
    sizes = file_sizes(message.attachments)
    text = message.body
    if text and not text.endswith("\n") and not text.endswith("\r"):
        text += "\n"                       # the text body always ends with a line break
    # CRLF, lone CR and lone LF all become CRLF: nothing bare can reach the wire.
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\r\n")
    text = quoted_printable(text)
    parts = []
    closing = b""
    for (path, name, content_type), size in zip(message.attachments, sizes):
        parts.append((("--%s\r\nContent-Type: %s%s\r\nContent-Disposition: attachment%s\r\n"
                       "Content-Transfer-Encoding: " % (
                           boundary, content_type, file_name_param("name", name),
                           file_name_param("filename", name))).encode(), path, size))
    if parts:                              # multipart: the CRLF before a boundary belongs to the
        text += b"\r\n"                    # boundary (RFC 2046 5.1.1)
        closing = ("--%s--\r\n" % boundary).encode()
    head = _headers(message, now, random_hex, boundary)
    base64_total = binary_total = len(head) + len(text) + len(closing)
    for part_head, _, size in parts:
        base64_total += len(part_head) + len(encoding_line(False)) + base64_size(size)
        binary_total += len(part_head) + len(encoding_line(True)) + size + 2
    return head, text, parts, closing, (base64_total, binary_total)


def _headers(message, now, random_hex, boundary):
    # Pieces joined once at the end: growing one string would leave a trail of ever longer copies
    # in the heap, right where the send's long-lived objects go next.
    domain = message.sender.split("@")[1]
    head = []
    if now is not None:                    # unset clock: the receiving server adds the Date
        head.append("Date: %s\r\n" % rfc5322_date(now))
    head.append("From: %s\r\n" % message.sender)
    if message.to:
        head.append(header_addresses("To", message.to))
    if message.cc:
        head.append(header_addresses("Cc", message.cc))
    head.append(header_unstructured("Subject", message.subject))
    head.append("Message-ID: <%s.%d@%s>\r\nMIME-Version: 1.0\r\n" % (random_hex, int(now or 0),
                                                                    domain))
    text_type = ("Content-Type: text/plain; charset=utf-8\r\n"
                 "Content-Transfer-Encoding: quoted-printable\r\n")
    if not message.attachments:
        head.append(text_type + "\r\n")
    else:
        head.append('Content-Type: multipart/mixed;\r\n boundary="%s"\r\n\r\n'
                    "This is a multi-part message in MIME format.\r\n--%s\r\n%s\r\n"
                    % (boundary, boundary, text_type))
    return "".join(head).encode()
