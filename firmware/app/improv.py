# Improv Serial, sans-I/O: the Wi-Fi provisioning protocol that web installers speak over the same
# serial port as the console. A packet is
#
#     "IMPROV" <version 1> <type> <length> <data: length bytes> <checksum>
#
# where the checksum is the sum of every byte before it, mod 256. Types: current state (1), error
# state (2), RPC command (3, host -> board), RPC result (4, board -> host). An RPC command's data is
# <command> <length> <fields>; its result's data is <command> <length> and strings, each with a
# length byte in front. Commands: Wi-Fi settings (1: SSID, password), current state (2), device
# info (3), Wi-Fi networks (4: one result per network, then an empty one).
# Rule: this module does no I/O and knows nothing of Wi-Fi or the configuration: feed() takes the
# console's bytes and returns events; the functions below build the bytes to send. Bytes outside a
# packet (console frames, keystrokes) pass by untouched, except that a Ctrl-C byte outside a
# packet is reported (the console's interrupt; inside a packet it is data); a packet that fails its checksum or whose
# RPC data does not add up is reported as the error the protocol names (invalid RPC packet). Each
# packet the board sends ends with a newline, so line-based readers on the host (ours and the web
# installers') see it as one line of its own.
from scanmail.firmware.compat import const

HEADER = b"IMPROV"
VERSION = const(1)
TYPE_CURRENT_STATE = const(1)
TYPE_ERROR_STATE = const(2)
TYPE_RPC = const(3)
TYPE_RPC_RESULT = const(4)

STATE_AUTHORIZED = const(2)        # ready to be given Wi-Fi settings (no authorization on serial)
STATE_PROVISIONING = const(3)
STATE_PROVISIONED = const(4)

ERROR_NONE = const(0)
ERROR_INVALID_RPC = const(1)
ERROR_UNKNOWN_RPC = const(2)
ERROR_UNABLE_TO_CONNECT = const(3)
ERROR_UNKNOWN = const(0xFF)

CMD_WIFI_SETTINGS = const(1)
CMD_CURRENT_STATE = const(2)
CMD_DEVICE_INFO = const(3)
CMD_WIFI_NETWORKS = const(4)

_AT_VERSION = const(6)
_AT_TYPE = const(7)
_AT_LENGTH = const(8)


def packet(kind, data):
    """The bytes of one packet of type `kind` carrying `data` (at most 255 bytes), newline after."""
    out = bytearray(HEADER)
    out.append(VERSION)
    out.append(kind)
    out.append(len(data))
    out.extend(data)
    out.append(sum(out) & 0xFF)
    out.append(10)
    return bytes(out)


def state_packet(state):
    return packet(TYPE_CURRENT_STATE, bytes((state,)))


def error_packet(error):
    return packet(TYPE_ERROR_STATE, bytes((error,)))


def result_packet(command, strings):
    """An RPC result: `strings` (str or bytes each) with their length bytes in front."""
    body = bytearray()
    for text in strings:
        if isinstance(text, str):
            text = text.encode()
        body.append(len(text))
        body.extend(text)
    return packet(TYPE_RPC_RESULT, bytes((command, len(body))) + bytes(body))


def _fields(data):
    """The length-prefixed fields of a Wi-Fi settings command: [ssid, password], or None."""
    fields = []
    at = 0
    while at < len(data):
        end = at + 1 + data[at]
        if end > len(data):
            return None
        fields.append(bytes(data[at + 1:end]))
        at = end
    return fields if len(fields) == 2 else None


class ImprovReader:
    """feed(bytes) -> events: ("rpc", command, fields) for a well-formed RPC command (fields is
    [ssid, password] as bytes for Wi-Fi settings, [] otherwise), ("error", code) for a packet the
    host got wrong, and ("ctrl_c",) for a Ctrl-C byte (3) outside a packet: inside one it is packet
    data (a length or a checksum), so the console's Ctrl-C is told apart here."""

    def __init__(self):
        self._packet = bytearray()

    def feed(self, data):
        events = []
        for b in data:
            self._byte(b, events)
        return events

    def _byte(self, b, events):
        buf = self._packet
        at = len(buf)
        if at == 0 and b == 3:
            events.append(("ctrl_c",))
            return
        if at < _AT_VERSION:
            if b == HEADER[at]:
                buf.append(b)
            else:
                self._packet = bytearray(b"I" if b == 73 else b"")
            return
        if at == _AT_VERSION and b != VERSION:
            self._packet = bytearray()              # another version (or "IMPROV" in text): not ours
            return
        buf.append(b)
        if at <= _AT_LENGTH or at < _AT_LENGTH + 1 + buf[_AT_LENGTH]:
            return
        self._packet = bytearray()
        if (sum(buf) - b) & 0xFF != b:
            events.append(("error", ERROR_INVALID_RPC))
            return
        if buf[_AT_TYPE] != TYPE_RPC:
            return                                  # states and results are the board's to send
        data = buf[_AT_LENGTH + 1:-1]
        if len(data) < 2 or data[1] != len(data) - 2:
            events.append(("error", ERROR_INVALID_RPC))
            return
        fields = []
        if data[0] == CMD_WIFI_SETTINGS:
            fields = _fields(data[2:])
            if fields is None:
                events.append(("error", ERROR_INVALID_RPC))
                return
        events.append(("rpc", data[0], fields))
