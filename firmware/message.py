# The message a board sends (sender, recipients, subject, text and attachment files), and the
# streaming MIME writer that turns it into the exact bytes of the message, telling their size
# before producing them. One module: both stay loaded while a scan streams out (a module costs a
# board's heap for good).
# Rules: a Message is checked when it is built, before anything touches the network
# (firmware/message_checks.py, loaded for the check and let go after it). The head (headers, text
# part, part headers) and the exact sizes are composed once by firmware/mime_headers.py, which
# also checks the attachment files (exist, readable size) right before sending; the writer only
# streams. Heap use does not grow with the attachments: files are read in fixed chunks into
# preallocated buffers and written as 76-character base64 lines, or as they are when the server
# takes BINARYMIME (RFC 3030, sent by BDAT). Every line ends in CRLF, none is over 998 octets, no
# bare CR or LF is ever produced (SMTP smuggling), and for DATA lines starting with "." are
# dot-stuffed (RFC 5321 4.5.2).
import binascii

from scanmail.firmware import call_once
from scanmail.firmware.compat import const, free_heap, read_into


class Message:
    """One e-mail: Message(sender, to, cc, subject, body, attachments=[(path, name, type)])."""

    def __init__(self, sender, to, cc=(), subject="", body="", attachments=()):
        call_once("message_checks", "check", sender, to, cc, subject, body, attachments)
        # The fields are made after the checker is let go, so that they land in the heap's lowest
        # free space instead of in the middle of the space it used (a board's heap has no
        # compaction: one small object there splits the run a TLS context needs). Whitespace
        # around a subject or file name means nothing to a reader and mail clients trim it, so it
        # is trimmed here: what is sent is what will be shown.
        self.sender = sender
        self.to = list(to)
        self.cc = list(cc)
        self.subject = subject.strip()
        self.body = body
        self.attachments = [(path, name.strip(), content_type.lower())
                            for path, name, content_type in attachments]

    def recipients(self):
        seen = []
        for address in self.to + self.cc:
            if address not in seen:
                seen.append(address)
        return seen


# --- the writer ----------------------------------------------------------------------------------
_B64_GROUP = const(57)                 # 57 bytes -> one 76-character base64 line (RFC 2045 6.8)
                                       # (firmware/mime_headers.py counts with the same figures)
_MIN_GROUPS = const(8)                 # per chunk: 57 bytes in, 78 out, 77 in b2a_base64's result
_MAX_GROUPS = const(256)
_BYTES_PER_GROUP = const(212)
_LINE_WITH_CRLF = const(78)


def dot_stuff(data):
    """RFC 5321 4.5.2: a line that starts with '.' gets one more. `data` starts at a line start."""
    data = data.replace(b"\r\n.", b"\r\n..")
    if data.startswith(b"."):
        data = b"." + data
    return data


class MimeWriter:
    """MimeWriter(message, now, random_hex).size(binary) and .write_to(write, binary, dot_stuffing).
    binary=True writes attachments unencoded (Content-Transfer-Encoding: binary, BINARYMIME)."""

    def __init__(self, message, now, random_hex):
        # Composed by firmware/mime_headers.py, which also checks the attachment files and counts
        # the exact sizes: (head, text, [(part head, path, size)], closing boundary,
        # (size with base64 attachments, size with binary ones)).
        self._head, self._text, self._parts, self._closing, self._sizes = call_once(
            "mime_headers", "compose", message, now, random_hex)
        # The buffer files are read into, made now rather than when the data is sent: a board's
        # heap is never compacted, and by then the connection's objects have split its free space
        # into runs too short for it. Its size comes from the free heap (an eighth of it): a small
        # board streams in small chunks, a roomy one in big ones (fewer TLS records and system
        # calls).
        self._groups = 0
        self._inbuf = None
        if self._parts:
            self._groups = max(_MIN_GROUPS, min(_MAX_GROUPS, free_heap() // 8 // _BYTES_PER_GROUP))
            self._inbuf = bytearray(_B64_GROUP * self._groups)

    def size(self, binary=False):
        """The exact size of the message content (RFC 1870: without dot-stuffing)."""
        return self._sizes[1 if binary else 0]

    def write_to(self, write, binary, dot_stuffing):
        """Call write(bytes-like) with the message, in order; return octets written. DATA needs
        dot_stuffing; BDAT counts octets instead and must not have it (RFC 3030 2)."""
        written = 0
        for piece in (self._head, self._text):
            if dot_stuffing:
                piece = dot_stuff(piece)
            write(piece)
            written += len(piece)
        if self._parts:
            inbuf = self._inbuf
            outbuf = None if binary else bytearray(_LINE_WITH_CRLF * self._groups)
            for head, path, size in self._parts:
                write(head)
                write(encoding_line(binary))
                written += len(head) + len(encoding_line(binary))
                if binary:
                    written += _write_binary_file(path, size, inbuf, write)
                else:
                    written += _write_base64_file(path, size, inbuf, outbuf, write)
            write(self._closing)
            written += len(self._closing)
        return written


def encoding_line(binary):
    """The end of a part header: its Content-Transfer-Encoding and the blank line."""
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
