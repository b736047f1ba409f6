# The virtual network's switches for one board, kept in <state>/net.json and read live: by the
# board's own VirtualNet on every open_tcp (blocked ports) and by the supervisor's relay on every
# new connection (latency, bandwidth, drops). Rule: values are checked here, once, with an error
# that names the switch and the allowed range; nothing half-valid is written.
from scanmail.emulator.boards import board_state

BLOCK_MODES = ("refuse", "timeout")


class SwitchError(ValueError):
    pass


def _non_negative_int(name, value):
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise SwitchError("%s must be a whole number 0 or more, not %r" % (name, value))
    return value


def _port(value):
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise SwitchError("a blocked port must be 1-65535, not %r" % (value,))
    return value


def validate(switches):
    clean = {}
    for key, value in switches.items():
        if value is None:
            continue
        if key == "block_ports":
            ports = sorted({_port(p) for p in value})
            if ports:
                clean[key] = ports
        elif key == "block_mode":
            if value not in BLOCK_MODES:
                raise SwitchError("block mode must be one of %s, not %r" % (" | ".join(BLOCK_MODES), value))
            clean[key] = value
        elif key in ("latency_ms", "bandwidth_kbps", "drop_after_bytes"):
            if _non_negative_int(key, value):
                clean[key] = value
        else:
            raise SwitchError("unknown network switch %r (known: block_ports, block_mode, latency_ms, "
                              "bandwidth_kbps, drop_after_bytes)" % key)
    return clean


def update(state_dir, changes, clear=False):
    """Apply `changes` (None removes a switch) over the current switches; return the result."""
    current = {} if clear else board_state.read_net_switches(state_dir)
    merged = dict(current)
    merged.update(changes)
    clean = validate(merged)
    board_state.write_net_switches(state_dir, clean)
    return clean


def describe(switches):
    if not switches:
        return "no switches: a clean network"
    parts = []
    if switches.get("block_ports"):
        parts.append("outbound port%s %s blocked (%s)" % (
            "s" if len(switches["block_ports"]) > 1 else "", ", ".join(str(p) for p in switches["block_ports"]),
            "connections time out" if switches.get("block_mode") == "timeout" else "connections refused"))
    if switches.get("latency_ms"):
        parts.append("+%d ms round trip" % switches["latency_ms"])
    if switches.get("bandwidth_kbps"):
        parts.append("%d kbit/s each way" % switches["bandwidth_kbps"])
    if switches.get("drop_after_bytes"):
        parts.append("links drop after %d bytes" % switches["drop_after_bytes"])
    return "; ".join(parts)
