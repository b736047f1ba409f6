# Improv Serial's reader and packets (firmware/app/improv.py) on both runtimes, fed one byte at a
# time from one serial line that also carries console frames, log lines and noise, as the board's
# console does. The host's packets are built here the way the web installers' serial SDK builds
# them (header, version, type, length, data, checksum of every byte before it, then a newline),
# not with the firmware's own packet(); the board's packets are read back with this file's own
# reader, which follows that SDK's: nine bytes, "IMPROV", then length + 1 more.
import json

import pytest

HEADER = b"IMPROV\x01"


def host_packet(kind, data):
    body = HEADER + bytes([kind, len(data)]) + bytes(data)
    return body + bytes([sum(body) & 0xFF, 10])


def rpc(command, data=b""):
    return host_packet(3, bytes([command, len(data)]) + data)


def wifi_settings(ssid, password):
    return rpc(1, bytes([len(ssid)]) + ssid + bytes([len(password)]) + password)


def read_board_packets(stream):
    """(type, data) of each packet in what the board wrote, as the SDK's reader takes them:
    a line whose first nine bytes start "IMPROV" is a packet of 9 + length + 1 bytes."""
    packets, at = [], 0
    while at < len(stream):
        if stream[at:at + 6] == b"IMPROV" and at + 9 <= len(stream):
            end = at + 9 + stream[at + 8] + 1
            packet = stream[at:end]
            assert packet[6] == 1, "version"
            assert sum(packet[:-1]) & 0xFF == packet[-1], "checksum"
            packets.append((packet[7], packet[9:-1]))
            at = end
        else:
            at = stream.index(b"\n", at) + 1 if b"\n" in stream[at:] else len(stream)
    return packets


def result_strings(data):
    """The strings of an RPC result's data: command, total length, then length-prefixed strings."""
    assert data[1] == len(data) - 2
    out, at = [], 2
    while at < len(data):
        out.append(data[at + 1:at + 1 + data[at]].decode())
        at += 1 + data[at]
    return data[0], out


FEED = """
from scanmail.firmware.app.improv import ImprovReader
from scanmail.firmware.app.console_protocol import FrameReader
import binascii, json
stream = binascii.unhexlify(%r)
improv, frames = ImprovReader(), FrameReader()
out = []
for i in range(len(stream)):
    byte = stream[i:i + 1]
    for event in improv.feed(byte):
        out.append(["improv"] + [e.decode() if isinstance(e, bytes) else
                                 ([f.decode() for f in e] if isinstance(e, list) else e) for e in event[1:]]
                   if event[0] == "rpc" else [event[0]] + list(event[1:]))
    for event in frames.feed(byte):
        out.append(["frame", event[0]] + [e.decode() if isinstance(e, bytes) else e for e in event[1:]])
print(json.dumps(out))
"""


def feed_byte_by_byte(run_firmware, stream):
    return json.loads(run_firmware(FEED % stream.hex()).strip().splitlines()[-1])


def console_frame(rid, data):
    import binascii

    return b"#SM1 %d . %d %08x %s\n" % (rid, len(data), binascii.crc32(data) & 0xFFFFFFFF, data)


def test_packets_console_frames_and_log_lines_share_one_line_byte_by_byte(run_firmware):
    stream = (b"boot noise \x00\xff\n"
              + rpc(2)                                     # request current state
              + console_frame(7, b'{"cmd":"info"}')
              + b"I IMPRO IMPROVX half a header, then a log line\n"
              + wifi_settings(b"OfficeNet", b"correct horse")
              + rpc(3)                                     # device info
              + console_frame(8, b'{"cmd":"status"}')
              + rpc(4))                                    # Wi-Fi networks
    assert feed_byte_by_byte(run_firmware, stream) == [
        ["improv", 2, []],
        ["frame", "frame", 7, ".", '{"cmd":"info"}'],
        ["improv", 1, ["OfficeNet", "correct horse"]],
        ["improv", 3, []],
        ["frame", "frame", 8, ".", '{"cmd":"status"}'],
        ["improv", 4, []],
    ]


def test_a_ctrl_c_byte_is_an_interrupt_outside_a_packet_and_data_inside_one(run_firmware):
    # a password whose packet's checksum is 3, the byte a Ctrl-C sends
    password = next(b"p" * n for n in range(1, 300) if wifi_settings(b"Office", b"p" * n)[-2] == 3)
    packet = wifi_settings(b"Office", password)
    assert packet[-2] == 3
    events = feed_byte_by_byte(run_firmware, packet + b"\x03")
    assert events == [["improv", 1, ["Office", password.decode()]], ["ctrl_c"]]


@pytest.mark.parametrize("damage, why", [
    (lambda p: p[:-2] + bytes([(p[-2] + 1) & 0xFF]) + p[-1:], "checksum off by one"),
    (lambda p: p[:10] + bytes([p[10] + 1]) + p[11:-2] + bytes([(p[-2] + 1) & 0xFF]) + p[-1:],
     "the RPC's own length disagrees with the packet's"),
    (lambda p: p[:11] + bytes([200]) + p[12:-2] + bytes([(p[-2] + 200 - p[11]) & 0xFF]) + p[-1:],
     "the SSID's length runs past the data"),
])
def test_a_damaged_packet_is_an_invalid_rpc_and_the_next_one_is_read(run_firmware, damage, why):
    good = wifi_settings(b"OfficeNet", b"secret-1")
    events = feed_byte_by_byte(run_firmware, damage(good) + rpc(2))
    assert events == [["error", 1], ["improv", 2, []]], why


def test_another_protocol_version_is_not_answered(run_firmware):
    body = b"IMPROV\x02" + bytes([1, 1, 2])       # a current-state packet of version 2
    assert feed_byte_by_byte(run_firmware, body + bytes([sum(body) & 0xFF, 10]) + rpc(3)) == [
        ["improv", 3, []]]


BUILD = """
from scanmail.firmware.app import improv
import binascii
out = improv.state_packet(improv.STATE_PROVISIONED) + improv.error_packet(improv.ERROR_UNABLE_TO_CONNECT)
out += improv.result_packet(improv.CMD_DEVICE_INFO, ("scanmail", "0.1.0", "ESP32", "scanner-3f2a"))
out += improv.result_packet(improv.CMD_WIFI_NETWORKS, ())
print(binascii.hexlify(out).decode())
"""


def test_the_boards_packets_read_as_the_installers_reader_reads_them(run_firmware):
    stream = bytes.fromhex(run_firmware(BUILD).strip().splitlines()[-1])
    packets = read_board_packets(stream)
    assert packets[0] == (1, b"\x04") and packets[1] == (2, b"\x03")
    assert result_strings(packets[2][1]) == (3, ["scanmail", "0.1.0", "ESP32", "scanner-3f2a"])
    assert result_strings(packets[3][1]) == (4, [])        # the end of a network list
    assert stream.count(b"\n") == 4 and stream.endswith(b"\n")   # each packet a line of its own
