# A bare serial-port reader/writer for the virtual boards' ptys, for tests that must see every
# byte a board sends (reset banners, boot output) or write without any flow control, as a careless
# host tool would. Every read has a deadline and says what it was waiting for.
import os
import select
import time
import tty


class Port:
    def __init__(self, path):
        self.path = path
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(self.fd)
        self.seen = bytearray()  # everything read and not yet consumed by read_until

    def close(self):
        os.close(self.fd)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def write(self, data):
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view):]

    def read_until(self, marker, timeout_s=20.0):
        """Bytes up to and including `marker`; the rest stays for the next read."""
        deadline = time.monotonic() + timeout_s
        while True:
            at = self.seen.find(marker)
            if at >= 0:
                data = bytes(self.seen[: at + len(marker)])
                del self.seen[: at + len(marker)]
                return data
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no %r from the board on %s within %.0f s; got %r"
                                     % (marker, self.path, timeout_s, bytes(self.seen[-300:])))
            ready, _, _ = select.select([self.fd], [], [], min(left, 0.1))
            if ready:
                self.seen += os.read(self.fd, 4096)

    def enter_raw_repl(self):
        # Ctrl-C, Ctrl-C, then Ctrl-A in one stream, as mpremote does: the board reads them in
        # order, so the interrupt is handled before the raw REPL is asked for; no pause between.
        self.write(b"\r\x03\x03\r\x01")
        self.read_until(b"raw REPL; CTRL-B to exit\r\n>")
        del self.seen[:]

    def run_raw(self, code, timeout_s=20.0):
        """Run code in plain raw mode; return (stdout, error text)."""
        self.write(code.encode() + b"\x04")
        self.read_until(b"OK", timeout_s)
        out = self.read_until(b"\x04", timeout_s)[:-1]
        err = self.read_until(b"\x04", timeout_s)[:-1]
        self.read_until(b">", timeout_s)
        return out.decode(), err.decode()
