# The DATA phase decoder (RFC 5321 section 4.1.1.4 and 4.5.2), sans I/O: bytes in, message bytes out.
# Rule: work in large chunks with C-speed searches (`find`, `replace`, `count`), never per line;
# the end of data is strictly <CRLF>.<CRLF> (a lone "." line after a bare LF is not an end, which is
# what defeats SMTP smuggling); a leading dot is removed from every line (transparency); memory is
# bounded by the chunk size plus one unfinished line of at most LONG_LINE bytes.

END = b"\r\n.\r\n"
LONG_LINE = 1 << 20     # an unfinished line longer than this is written out in pieces


class DataDecoder:
    """Feed chunks with `feed(chunk)`; it writes the unstuffed message to `sink(bytes)` until the
    end-of-data marker, then returns the bytes after the marker (the next pipelined commands) and
    sets `done`. While not done, `feed` returns None. `size` counts message bytes written;
    `bare_linefeeds` is True if any LF was not preceded by CR."""

    def __init__(self, sink):
        self.sink = sink
        self.done = False
        self.size = 0
        self.bare_linefeeds = False
        self._carry = b""
        self._line_start = True     # the carry begins at the start of a line

    def feed(self, chunk):
        if self.done:
            raise RuntimeError("DATA already ended")
        work = self._carry + chunk if self._carry else bytes(chunk)
        if self._line_start and work.startswith(b".\r\n"):
            self.done = True
            self._carry = b""
            return work[3:]
        end = work.find(END)
        if end >= 0:
            self._emit(work[:end + 2])
            self.done = True
            self._carry = b""
            return work[end + 5:]
        cut = work.rfind(b"\r\n")
        if cut >= 0:
            # Everything up to the last complete line is final; the rest waits for more bytes.
            self._emit(work[:cut + 2])
            self._line_start = True
            self._carry = work[cut + 2:]
        elif len(work) > LONG_LINE:
            keep = 1 if work.endswith(b"\r") else 0
            self._emit(work[:len(work) - keep])
            self._line_start = False
            self._carry = work[len(work) - keep:]
        else:
            self._carry = work
        return None

    def _emit(self, region):
        if not region:
            return
        if self._line_start and region.startswith(b"."):
            region = region[1:]
        if b"\r\n." in region:
            region = region.replace(b"\r\n.", b"\r\n")
        # A region never ends in a lone CR (it is kept in the carry), so a LF at its start is bare too.
        if not self.bare_linefeeds and region.count(b"\n") != region.count(b"\r\n"):
            self.bare_linefeeds = True
        self.size += len(region)
        self.sink(region)
