# The DATA decoder, fed whole and one byte at a time and in odd chunk sizes (the h11 habit): the end
# of data is strictly <CRLF>.<CRLF>, leading dots are removed, bare LF is noticed, and the bytes
# after the end (pipelined commands) are handed back untouched.
import pytest

from scanmail.emulator.tenant.data_reader import LONG_LINE, DataDecoder

CASES = [
    # (name, wire bytes, message, rest, bare LF seen)
    ("plain", b"Subject: a\r\n\r\nbody\r\n.\r\n", b"Subject: a\r\n\r\nbody\r\n", b"", False),
    ("empty message", b".\r\nQUIT\r\n", b"", b"QUIT\r\n", False),
    ("empty line only", b"\r\n.\r\n", b"\r\n", b"", False),
    ("dot-stuffed lines", b"..one\r\n...two\r\n.three\r\n.\r\n", b".one\r\n..two\r\nthree\r\n", b"", False),
    ("pipelined rest", b"x\r\n.\r\nMAIL FROM:<a@b>\r\nRCPT", b"x\r\n", b"MAIL FROM:<a@b>\r\nRCPT", False),
    ("bare LF", b"a\nb\r\n.\r\n", b"a\nb\r\n", b"", True),
    ("LF dot LF is not the end", b"a\n.\nb\r\n.\r\n", b"a\n.\nb\r\n", b"", True),
    ("LF dot CRLF is not the end", b"a\n.\r\nb\r\n.\r\n", b"a\n.\r\nb\r\n", b"", True),
    ("CR alone is data", b"a\rb\r\n.\r\n", b"a\rb\r\n", b"", False),
    ("dot space is data", b". \r\n.\r\n", b" \r\n", b"", False),
]


def decode(wire, step):
    out = []
    decoder = DataDecoder(out.append)
    rest = None
    position = 0
    while rest is None:
        rest = decoder.feed(wire[position:position + step])
        position += step
    return b"".join(out), rest + wire[position:], decoder


@pytest.mark.parametrize("name,wire,expected,rest,bare", CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("step", [1, 2, 3, 5, 4096])
def test_the_decoder_gives_the_same_message_whatever_the_chunking(name, wire, expected, rest, bare, step):
    message, left, decoder = decode(wire, step)
    assert (message, left, decoder.bare_linefeeds) == (expected, rest, bare)
    assert decoder.size == len(expected) and decoder.done


def test_a_line_longer_than_the_carry_limit_is_written_out_in_pieces_with_bounded_memory():
    written = []
    decoder = DataDecoder(lambda data: written.append(len(data)))
    chunk = b"." + b"y" * (256 * 1024)
    for _ in range(8):
        assert decoder.feed(chunk) is None
    assert max(len(decoder._carry), 0) <= LONG_LINE + len(chunk)
    assert decoder.feed(b"\r\n.\r\n") == b""
    assert sum(written) == 8 * len(chunk) + 2 - 1     # only the very first dot is a stuffed one
