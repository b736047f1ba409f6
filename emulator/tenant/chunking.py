# One message arriving by BDAT (RFC 3030 CHUNKING; BINARYMIME when the client said BODY=BINARYMIME).
# Rule: chunks are exact octet counts with no dot-stuffing and no end marker, written to the spool as
# they arrive; bare LF is still refused for text bodies (as for DATA) but is plain data in binary
# ones; the spool file is removed unless the message is accepted and delivered.


class BdatTransfer:
    def __init__(self, spool, places, sink, binary, started):
        self.spool = spool
        self.places = places        # where it will be delivered; the spool is in places[0]'s tmp/
        self.sink = sink
        self.binary = binary
        self.started = started
        self.size = 0
        self.bare_linefeeds = False
        self._ended_with_cr = False

    def add(self, chunk):
        if not self.binary and not self.bare_linefeeds:
            lf = chunk.count(b"\n") - chunk.count(b"\r\n")
            if self._ended_with_cr and chunk.startswith(b"\n"):
                lf -= 1          # the CR of this CRLF came at the end of the previous chunk
            self.bare_linefeeds = lf > 0
        if chunk:
            self._ended_with_cr = chunk.endswith(b"\r")
        self.size += len(chunk)
        self.sink(chunk)
