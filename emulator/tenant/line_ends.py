# Maildir files as mail clients read them, with the exact bytes received still available.
# Rule: a stored message file has LF line ends (the local convention mutt, Python's `mailbox` and
# every Maildir reader expect); the bytes received over SMTP (CRLF) are LF -> CRLF of that file,
# which is exact whenever every LF received followed a CR. A message with a bare LF keeps its exact
# bytes beside it, in `<folder>/exact/<key>`, started at the first bare LF from what was written so
# far. A message sent with BODY=BINARYMIME is stored as received (its attachments are binary: changing
# its line ends would change them), and its exact copy is a second name of that same file. Nothing
# is stored twice.
import os

EXACT_SUFFIX = ".exact"     # beside a spool file in tmp/, while the message arrives
EXACT_FOLDER = "exact"      # in a Maildir folder, beside cur/ new/ tmp/: exact bytes by message key
READ_CHUNK = 64 * 1024


def lf_to_crlf(data):
    return data.replace(b"\n", b"\r\n")


class LfSpool:
    """A write-only binary spool file that stores CRLF as LF as data streams in (a CR at the end of
    one write is held until the next shows whether an LF follows), or, for a binary message, the
    bytes as they come. Has `name` like a file object."""

    def __init__(self, path, binary=False):
        self.name = path
        self.exact_name = self.exact_name_of(path)
        self._file = open(path, "wb", buffering=0)
        self._exact = None
        self._held_cr = False
        self.binary = binary
        if binary:      # kept as received: the exact copy is the file itself, by a second name
            os.link(path, self.exact_name)

    @staticmethod
    def exact_name_of(spool_path):
        return spool_path + EXACT_SUFFIX

    @property
    def closed(self):
        return self._file.closed

    def write(self, data):
        if not data:
            return 0
        if self.binary:
            self._file.write(data)
            return len(data)
        if self._exact is None:
            bare = data.count(b"\n") - data.count(b"\r\n")
            if self._held_cr and data.startswith(b"\n"):
                bare -= 1
            if bare > 0:
                self._start_exact()
        if self._exact is not None:
            self._exact.write(data)
        text = b"\r" + data if self._held_cr else data
        self._held_cr = text.endswith(b"\r")
        if self._held_cr:
            text = text[:-1]
        self._file.write(text.replace(b"\r\n", b"\n"))
        return len(data)

    def _start_exact(self):
        # Everything written so far had no bare LF, so LF -> CRLF gives it back exactly.
        self._exact = open(self.exact_name, "wb")
        with open(self.name, "rb") as so_far:
            for chunk in iter(lambda: so_far.read(READ_CHUNK), b""):
                self._exact.write(lf_to_crlf(chunk))
        if self._held_cr:
            self._exact.write(b"\r")

    def close(self):
        if self._file.closed:
            return
        try:
            if self._held_cr:
                self._file.write(b"\r")
                self._held_cr = False
        finally:
            self._file.close()
            if self._exact is not None:
                self._exact.close()


def exact_path(message_path):
    """Where the exact bytes of a stored message would be kept (they exist only after a bare LF)."""
    cur_or_new, name = os.path.split(message_path)
    return os.path.join(os.path.dirname(cur_or_new), EXACT_FOLDER, name.split(":", 1)[0])


def exact_bytes(message_path):
    """The message exactly as received, from its Maildir file (and its exact copy when there is one)."""
    try:
        with open(exact_path(message_path), "rb") as f:
            return f.read()
    except FileNotFoundError:
        pass
    with open(message_path, "rb") as f:
        return lf_to_crlf(f.read())
