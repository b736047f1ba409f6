# Board profiles: one TOML file per board in hardware/boards/<id>.toml (Contract 5 of
# docs/architecture.md), loaded and validated here for the emulator, the flashing tools and tests.
# Rule: a profile either loads completely valid or fails with an error that names the file, the
# key, what was found and what is allowed. The schema below is the single place that says so.
import os

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

BOARDS_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "boards")


class ProfileError(ValueError):
    """A board profile is missing, unreadable or does not match the schema."""


def _positive_int(value):
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _non_negative_int(value):
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _text(value):
    return isinstance(value, str) and value.strip() != ""


def _one_of(*choices):
    def check(value):
        return value in choices

    check.allowed = " | ".join(str(choice) for choice in choices)
    return check


def _pin(value):
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 48


_positive_int.allowed = "a whole number of bytes greater than 0"
_non_negative_int.allowed = "a whole number of bytes, 0 or more"
_text.allowed = "a non-empty string"
_pin.allowed = "a GPIO number 0..48"

# key -> (check, required). Dotted keys live in a [table].
SCHEMA = {
    "id": (_text, True),
    "name": (_text, True),
    "chip": (_one_of("esp32", "esp32s2", "esp32s3", "esp32c3", "esp32c6"), True),
    "heap_bytes": (_positive_int, True),
    "heap_bytes_psram": (_positive_int, False),
    "psram_bytes": (_non_negative_int, True),
    "flash_bytes": (_positive_int, True),
    "filesystem_bytes": (_positive_int, True),
    "network": (_one_of("wifi", "ethernet"), True),
    "scanner": (_one_of("none", "ov2640"), True),
    "serial.kind": (_one_of("usb-uart-bridge", "native-usb"), True),
    "serial.bridge": (_one_of("CP2102", "CP2102N", "CH340", "CH9102", "FT232R", "none"), True),
    "serial.baud": (_one_of(115200), True),
    "serial.rx_buffer_bytes": (_positive_int, False),
    "tls.library": (_one_of("mbedtls"), True),
    "tls.max_version": (_one_of("1.2", "1.3"), True),
    "pins.status_led": (_pin, False),
    "ethernet.phy": (_one_of("LAN8720"), False),
    "ethernet.phy_addr": (_non_negative_int, False),
    "ethernet.mdc": (_pin, False),
    "ethernet.mdio": (_pin, False),
    "ethernet.power": (_pin, False),
    "ethernet.ref_clk": (_pin, False),
    "ethernet.ref_clk_mode": (_one_of("input", "output"), False),
}

# Figures that must say where they come from in [sources] (the table key or the top-level key).
FIGURES_NEEDING_A_SOURCE = (
    "heap_bytes",
    "heap_bytes_psram",
    "psram_bytes",
    "flash_bytes",
    "filesystem_bytes",
    "serial",
    "tls",
)


def list_ids():
    """The ids of every board with a profile file, sorted."""
    return sorted(
        name[: -len(".toml")] for name in os.listdir(BOARDS_DIR) if name.endswith(".toml")
    )


def path_for(board_id):
    return os.path.join(BOARDS_DIR, "%s.toml" % board_id)


def load(board_id):
    """The validated profile of `board_id` as a dict (tables as nested dicts)."""
    if not isinstance(board_id, str) or not board_id or os.sep in board_id or "/" in board_id:
        raise ProfileError(
            "board id %r is not a plain name; known boards: %s" % (board_id, ", ".join(list_ids()))
        )
    path = path_for(board_id)
    if not os.path.exists(path):
        raise ProfileError(
            "no board profile %r (looked for %s); known boards: %s"
            % (board_id, path, ", ".join(list_ids()))
        )
    return load_file(path, expected_id=board_id)


def load_file(path, expected_id=None):
    """Parse and validate one profile file; errors name the file and the key."""
    try:
        with open(path, "rb") as f:
            profile = tomllib.load(f)
    except tomllib.TOMLDecodeError as e:
        raise ProfileError("%s: not valid TOML: %s" % (path, e)) from None
    validate(profile, path)
    if expected_id is not None and profile["id"] != expected_id:
        raise ProfileError(
            "%s: key 'id' is %r but the file is named for %r: make them the same"
            % (path, profile["id"], expected_id)
        )
    return profile


def _lookup(profile, dotted):
    node = profile
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return False, None
        node = node[part]
    return True, node


def validate(profile, path="<profile>"):
    """Raise ProfileError for the first thing wrong with `profile`; return None when it is valid."""
    for key, (check, required) in SCHEMA.items():
        present, value = _lookup(profile, key)
        if not present:
            if required:
                raise ProfileError(
                    "%s: missing key '%s' (allowed: %s)" % (path, key, check.allowed)
                )
            continue
        if not check(value):
            raise ProfileError(
                "%s: key '%s' is %r; allowed: %s" % (path, key, value, check.allowed)
            )
    _validate_consistency(profile, path)


def _validate_consistency(profile, path):
    psram = profile["psram_bytes"]
    heap_psram = profile.get("heap_bytes_psram")
    if psram > 0 and heap_psram is None:
        raise ProfileError(
            "%s: missing key 'heap_bytes_psram': the board has %d bytes of PSRAM, so give the GC heap "
            "MicroPython reports with it (allowed: %s)" % (path, psram, _positive_int.allowed)
        )
    if psram == 0 and heap_psram is not None:
        raise ProfileError(
            "%s: key 'heap_bytes_psram' is set but psram_bytes is 0: remove it or give the PSRAM size"
            % path
        )
    if heap_psram is not None and heap_psram <= profile["heap_bytes"]:
        raise ProfileError(
            "%s: key 'heap_bytes_psram' is %d, not more than heap_bytes %d: the heap with PSRAM must be larger"
            % (path, heap_psram, profile["heap_bytes"])
        )
    if profile["filesystem_bytes"] >= profile["flash_bytes"]:
        raise ProfileError(
            "%s: key 'filesystem_bytes' is %d, not less than flash_bytes %d: the firmware needs room too"
            % (path, profile["filesystem_bytes"], profile["flash_bytes"])
        )
    serial = profile["serial"]
    if serial["kind"] == "usb-uart-bridge":
        if "rx_buffer_bytes" not in serial:
            raise ProfileError(
                "%s: missing key 'serial.rx_buffer_bytes': a USB-UART bridge drops bytes beyond the "
                "device's stdin buffer, so host tools need its size (allowed: %s)"
                % (path, _positive_int.allowed)
            )
        if serial["bridge"] == "none":
            raise ProfileError(
                "%s: key 'serial.bridge' is 'none' but serial.kind is usb-uart-bridge: name the bridge chip"
                % path
            )
    if profile["network"] == "ethernet":
        for key in ("ethernet.phy", "ethernet.mdc", "ethernet.mdio", "ethernet.phy_addr"):
            present, _ = _lookup(profile, key)
            if not present:
                raise ProfileError(
                    "%s: missing key '%s': network is ethernet, so the PHY and its pins are needed"
                    % (path, key)
                )
    sources = profile.get("sources")
    if not isinstance(sources, dict):
        raise ProfileError("%s: missing table [sources]: say where each figure comes from" % path)
    for figure in FIGURES_NEEDING_A_SOURCE:
        present, _ = _lookup(profile, figure)
        if present and not _text(sources.get(figure)):
            raise ProfileError(
                "%s: missing key 'sources.%s': say where the figure comes from (a non-empty string)"
                % (path, figure)
            )


# The parts of a profile the ESP32 backing (firmware/board_esp32.py) reads from its config; a board
# cannot read TOML, so host tools write these into the board's settings.
BOARD_CONFIG_KEYS = ("network", "ethernet", "pins", "scanner")


def board_config(board_id):
    """The config dict for firmware.board_esp32.Esp32Board that describes this board's hardware."""
    profile = load(board_id)
    return {key: profile[key] for key in BOARD_CONFIG_KEYS if key in profile}
