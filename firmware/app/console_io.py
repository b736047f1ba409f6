# The serial console's bytes: what has arrived on stdin (read without blocking, after select.poll
# said so) and frames and log lines out on stdout. Rule: read through the unbuffered layer where
# the runtime has one (CPython's sys.stdin.buffer.raw: its buffered layer would keep bytes that
# poll no longer sees), else byte by byte from sys.stdin.buffer (MicroPython); nothing here is
# part of the mail core, which never touches the console.
import sys


def console_read(poller, limit):
    """The bytes waiting on stdin (at most `limit`), b"" when none. A Ctrl-C byte (3) ends the
    read: should it stop the application, what came after it stays on stdin for the REPL (mpremote
    sends its Ctrl-C and the Ctrl-A that asks for the raw REPL at once)."""
    read = getattr(sys.stdin.buffer, "raw", sys.stdin.buffer).read
    data = bytearray()
    while len(data) < limit and poller.poll(0):
        byte = read(1)
        if not byte:
            break
        data.extend(byte)
        if byte[0] == 3:
            break
    return bytes(data)


def console_write(data):
    out = sys.stdout.buffer
    out.write(data)
    flush = getattr(out, "flush", None)
    if flush is not None:
        flush()
