# The console's frames as the board reads and writes them (firmware/app/console_protocol.py), on
# both runtimes, against the host's own implementation (host_tools/console_client.py) as the
# judge: what the host encodes the board reads back unchanged, CR LF endings and noise before a
# frame included; each kind of damage (flag, length, CRC, version, a cut header, a line too long to
# be a frame) is answered for what it is and never taken as a frame; and a long message is cut into
# frames that each fit the ESP32's receive buffer and that the host puts back together.
import binascii
import json

from scanmail.host_tools.console_client import encode, parse_frame

READ = r"""
import json
from scanmail.firmware.app.console_protocol import FrameReader, encode_message, MAX_FRAME
out = {"events": [], "messages": []}
for chunks in json.loads(%r):
    reader = FrameReader()
    events = []
    for chunk in chunks:
        events += reader.feed(bytes(chunk, "latin-1"))
    out["events"].append([[e[0], e[1]] + [x.decode("latin-1") if isinstance(x, bytes) else x
                                          for x in e[2:]] for e in events])
for size, room in json.loads(%r):
    data = bytes(97 + (i * 7) %% 26 for i in range(size))
    frames = encode_message(42, data, room) if room else encode_message(42, data)
    out["messages"].append([f.decode("latin-1") for f in frames])
out["max_frame"] = MAX_FRAME
print(json.dumps(out))
"""


def crc(data):
    return "%08x" % (binascii.crc32(data) & 0xFFFFFFFF)


INFO = b'{"cmd":"info","args":{}}'
GOOD = encode(7, b".", INFO)
# name -> (the bytes that reach the board, in the chunks they arrive in; the events it must see)
STREAMS = {
    "a host frame is read as it was sent": ([GOOD], [["frame", 7, ".", INFO.decode()]]),
    "a frame that arrives a byte at a time": ([GOOD[i:i + 1] for i in range(len(GOOD))],
                                              [["frame", 7, ".", INFO.decode()]]),
    "a frame ended by CR LF (a terminal's Enter)": ([GOOD[:-1] + b"\r\n"],
                                                    [["frame", 7, ".", INFO.decode()]]),
    "a CR inside the data stays in the data": ([encode(8, b"+", b"a\rb")], [["frame", 8, "+", "a\rb"]]),
    "an empty continuation frame": ([encode(9, b"+", b"")], [["frame", 9, "+", ""]]),
    "log text before the frame on its line": ([b"I (123) boot: " + GOOD], [["frame", 7, ".", INFO.decode()]]),
    "a log line is not a frame": ([b"I (123) wifi: connected\n"], []),
    "a flag that is neither + nor .": (
        [b"#SM1 5 * 2 %s hi\n" % crc(b"hi").encode()],
        [["bad", 5, "a frame failed its length or CRC check: send it again"]]),
    "a length one short": ([b"#SM1 5 . 1 %s hi\n" % crc(b"hi").encode()],
                           [["bad", 5, "a frame failed its length or CRC check: send it again"]]),
    "a length one long": ([b"#SM1 5 . 3 %s hi\n" % crc(b"hi").encode()],
                          [["bad", 5, "a frame failed its length or CRC check: send it again"]]),
    "a CRC off by one": ([b"#SM1 5 . 2 %08x hi\n" % ((binascii.crc32(b"hi") + 1) & 0xFFFFFFFF)],
                         [["bad", 5, "a frame failed its length or CRC check: send it again"]]),
    "a CRC in capitals is the same CRC": ([b"#SM1 5 . 2 %s hi\n" % crc(b"hi").upper().encode()],
                                          [["frame", 5, ".", "hi"]]),
    "a newer protocol": ([b"#SM2 5 . 2 %s hi\n" % crc(b"hi").encode()],
                         [["bad", 5, "protocol version 2 is not spoken here; this board speaks 1: "
                                     "update the host tool or the firmware"]]),
    "a header cut short": ([b"#SM1 5 . 2\n"], [["bad", 5, "a frame cut short: send it again"]]),
    "an id that is not a number": ([b"#SM1 x . 2 %s hi\n" % crc(b"hi").encode()],
                                   [["bad", None, "a damaged frame header: send it again"]]),
    "a length that is not a number": ([b"#SM1 5 . two %s hi\n" % crc(b"hi").encode()],
                                      [["bad", 5, "a damaged frame header: send it again"]]),
    "a line of 512 bytes with a frame at its end is read": (
        [b"x" * (512 - len(GOOD) + 1) + GOOD], [["frame", 7, ".", INFO.decode()]]),
    "a line of 513 bytes is skipped whole, the next line read": (
        [b"x" * (513 - len(GOOD) + 1) + GOOD, GOOD], [["frame", 7, ".", INFO.decode()]]),
}
# (data size, room per frame or 0 for the default)
MESSAGES = [(0, 0), (1, 0), (200, 0), (8192, 0), (100, 60), (300, 240)]


def test_the_board_reads_what_the_host_writes_and_refuses_each_kind_of_damage(run_firmware):
    names = list(STREAMS)
    streams = [[c.decode("latin-1") for c in STREAMS[n][0]] for n in names]
    out = json.loads(run_firmware(READ % (json.dumps(streams), json.dumps(MESSAGES))).strip().splitlines()[-1])
    wrong = [(n, got) for n, got in zip(names, out["events"]) if got != STREAMS[n][1]]
    assert not wrong, wrong
    # the board's frames, read by the host: each fits, the last is ".", the data comes back whole
    for (size, room), frames in zip(MESSAGES, out["messages"]):
        room = room or out["max_frame"]
        data = bytes(97 + (i * 7) % 26 for i in range(size))
        parsed = [parse_frame(f.encode("latin-1").rstrip(b"\n")) for f in frames]
        assert all(len(f.encode("latin-1")) <= room for f in frames), (size, room)
        assert [p[0] for p in parsed] == [42] * len(frames)
        assert [p[1] for p in parsed] == [b"+"] * (len(frames) - 1) + [b"."]
        assert b"".join(p[2] for p in parsed) == data
        # as few frames as the room allows: none but the last could have held less
        assert all(len(p[2]) > 0 for p in parsed[:-1])
