# The serial console's bytes: what has arrived on stdin (read without blocking, after select.poll
# said so) and frames and log lines out on stdout. Rule: read through the unbuffered layer where
# the runtime has one (CPython's sys.stdin.buffer.raw: its buffered layer would keep bytes that
# poll no longer sees), else byte by byte from sys.stdin.buffer (MicroPython); nothing here is
# part of the mail core, which never touches the console.
import sys


def console_read(poller, limit):
    """The bytes waiting on stdin (at most `limit`), b"" when none."""
    raw = getattr(sys.stdin.buffer, "raw", None)
    if raw is not None:
        return (raw.read(limit) or b"") if poller.poll(0) else b""
    data = bytearray()
    while len(data) < limit and poller.poll(0):
        data.extend(sys.stdin.buffer.read(1))
    return bytes(data)


def console_write(data):
    out = sys.stdout.buffer
    out.write(data)
    flush = getattr(out, "flush", None)
    if flush is not None:
        flush()
