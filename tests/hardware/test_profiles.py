# Board profiles (hardware/boards/*.toml) load, hold consistent figures, cite their sources, and a
# broken profile fails with an error that names the file, the key and what is allowed.
# Every board also ships wiring notes and a parts list that parse.
import csv
import os
import shutil

import pytest

from scanmail.hardware import profiles

HARDWARE_DIR = os.path.dirname(profiles.BOARDS_DIR)
REQUIRED_BOARDS = ("esp32-devkitc", "esp32-s3-devkitc-1", "esp32-cam", "wt32-eth01")


def test_the_four_supported_boards_each_have_a_profile():
    assert set(REQUIRED_BOARDS) <= set(profiles.list_ids())


@pytest.mark.parametrize("board_id", profiles.list_ids())
def test_every_profile_loads_and_its_id_matches_its_file(board_id):
    profile = profiles.load(board_id)
    assert profile["id"] == board_id
    assert profile["serial"]["baud"] == 115200


@pytest.mark.parametrize("board_id", profiles.list_ids())
def test_psram_boards_have_a_larger_heap_with_psram_than_without(board_id):
    profile = profiles.load(board_id)
    if profile["psram_bytes"] > 0:
        assert profile["heap_bytes_psram"] > profile["heap_bytes"]
        assert profile["heap_bytes_psram"] <= profile["psram_bytes"] + profile["heap_bytes"]
    else:
        assert "heap_bytes_psram" not in profile


@pytest.mark.parametrize("board_id", profiles.list_ids())
def test_boards_behind_a_usb_uart_bridge_declare_the_260_byte_receive_buffer(board_id):
    serial = profiles.load(board_id)["serial"]
    if serial["kind"] == "usb-uart-bridge":
        assert serial["rx_buffer_bytes"] == 260
        assert serial["bridge"] != "none"


@pytest.mark.parametrize("board_id", profiles.list_ids())
def test_every_figure_says_where_it_comes_from(board_id):
    profile = profiles.load(board_id)
    for figure in ("heap_bytes", "psram_bytes", "flash_bytes", "filesystem_bytes", "serial", "tls"):
        assert len(profile["sources"][figure]) > 20, figure


@pytest.mark.parametrize(
    "board_id, expected",
    [
        ("esp32-devkitc", {"psram_bytes": 0, "network": "wifi", "scanner": "none", "serial.bridge": "CP2102"}),
        ("esp32-s3-devkitc-1", {"psram_bytes": 8 * 1024 * 1024, "network": "wifi", "serial.kind": "native-usb"}),
        ("esp32-cam", {"psram_bytes": 4 * 1024 * 1024, "scanner": "ov2640", "serial.kind": "usb-uart-bridge"}),
        ("wt32-eth01", {"network": "ethernet", "ethernet.phy": "LAN8720", "ethernet.mdc": 23, "ethernet.mdio": 18}),
    ],
)
def test_each_board_is_described_as_the_hardware_really_is(board_id, expected):
    profile = profiles.load(board_id)
    for dotted, value in expected.items():
        node = profile
        for part in dotted.split("."):
            node = node[part]
        assert node == value, dotted


def test_an_unknown_board_id_lists_the_known_boards():
    with pytest.raises(profiles.ProfileError) as caught:
        profiles.load("esp8266-nodemcu")
    message = str(caught.value)
    assert "esp8266-nodemcu" in message
    for board_id in REQUIRED_BOARDS:
        assert board_id in message


def _write_broken(tmp_path, board_id, edit):
    text = open(profiles.path_for(board_id)).read()
    broken = tmp_path / ("%s.toml" % board_id)
    broken.write_text(edit(text))
    return str(broken)


@pytest.mark.parametrize(
    "board_id, edit, must_mention",
    [
        # a wrong value names the key, the bad value and the allowed ones
        ("esp32-devkitc", lambda t: t.replace('network = "wifi"', 'network = "lte"'),
         ["'network'", "'lte'", "wifi | ethernet"]),
        ("esp32-devkitc", lambda t: t.replace('kind = "usb-uart-bridge"', 'kind = "usb"'),
         ["'serial.kind'", "usb-uart-bridge | native-usb"]),
        ("esp32-devkitc", lambda t: t.replace("heap_bytes = 111936", 'heap_bytes = "100k"'),
         ["'heap_bytes'", "'100k'", "whole number"]),
        # a missing key names the key and what is allowed
        ("esp32-devkitc", lambda t: t.replace('chip = "esp32"\n', ""),
         ["missing key 'chip'", "esp32 | esp32s2"]),
        ("esp32-devkitc", lambda t: t.replace("rx_buffer_bytes = 260\n", ""),
         ["missing key 'serial.rx_buffer_bytes'", "USB-UART bridge"]),
        # inconsistent figures
        ("esp32-cam", lambda t: t.replace("heap_bytes_psram = 1174368", "heap_bytes_psram = 1000"),
         ["'heap_bytes_psram'", "1000", "larger"]),
        ("esp32-cam", lambda t: t.replace("heap_bytes_psram = 1174368\n", ""),
         ["missing key 'heap_bytes_psram'", "PSRAM"]),
        ("wt32-eth01", lambda t: t.replace("mdc = 23\n", ""),
         ["missing key 'ethernet.mdc'", "ethernet"]),
        ("esp32-devkitc", lambda t: t.replace("heap_bytes = \"MicroPython", "heap_bytes_note = \"MicroPython"),
         ["missing key 'sources.heap_bytes'"]),
        # not TOML at all
        ("esp32-devkitc", lambda t: t.replace('id = "esp32-devkitc"', "id = esp32-devkitc"),
         ["not valid TOML"]),
    ],
)
def test_a_broken_profile_names_the_file_the_key_and_what_is_allowed(tmp_path, board_id, edit, must_mention):
    path = _write_broken(tmp_path, board_id, edit)
    with pytest.raises(profiles.ProfileError) as caught:
        profiles.load_file(path)
    message = str(caught.value)
    assert message.startswith(path)
    for fragment in must_mention:
        assert fragment in message


def test_a_profile_whose_id_differs_from_its_file_name_is_refused(tmp_path):
    renamed = tmp_path / "my-board.toml"
    shutil.copy(profiles.path_for("esp32-devkitc"), renamed)
    with pytest.raises(profiles.ProfileError) as caught:
        profiles.load_file(str(renamed), expected_id="my-board")
    assert "'id' is 'esp32-devkitc'" in str(caught.value)


@pytest.mark.parametrize("board_id", profiles.list_ids())
def test_every_board_has_wiring_notes_and_a_parts_list_that_parse(board_id):
    wiring = open(os.path.join(HARDWARE_DIR, board_id, "wiring.md")).read()
    assert wiring.startswith("# ")
    assert "hardware/boards/%s.toml" % board_id in wiring
    assert "Status LED" in wiring
    with open(os.path.join(HARDWARE_DIR, board_id, "parts.csv"), newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows, "parts.csv has no parts"
    for row in rows:
        assert list(row) == ["part", "quantity", "notes", "example supplier part number"]
        assert row["part"].strip()
        assert int(row["quantity"]) > 0
        assert row["example supplier part number"].strip()


@pytest.mark.parametrize(
    "board_id, wiring_must_say",
    [
        ("esp32-cam", ["GPIO0 to GND", "5 V", "OV2640", "GPIO33"]),
        ("wt32-eth01", ["MDC | 23", "MDIO | 18", "PHY_LAN8720", "IO0 to GND"]),
        ("esp32-s3-devkitc-1", ["native USB", "GPIO48"]),
        ("esp32-devkitc", ["CP2102", "GPIO2"]),
    ],
)
def test_wiring_notes_cover_what_a_builder_gets_wrong(board_id, wiring_must_say):
    wiring = open(os.path.join(HARDWARE_DIR, board_id, "wiring.md")).read()
    for phrase in wiring_must_say:
        assert phrase in wiring, phrase


@pytest.mark.parametrize(
    "board_id, expected",
    [
        ("wt32-eth01", {"network": "ethernet", "ethernet.mdc": 23, "ethernet.phy_addr": 1, "pins.status_led": 2}),
        ("esp32-cam", {"network": "wifi", "scanner": "ov2640", "pins.status_led": 33, "pins.status_led_active_low": True}),
        ("esp32-s3-devkitc-1", {"pins.status_led_kind": "neopixel", "scanner": "none"}),
    ],
)
def test_a_boards_hardware_config_for_the_firmware_comes_from_its_profile(board_id, expected):
    config = profiles.board_config(board_id)
    assert set(config) <= set(profiles.BOARD_CONFIG_KEYS)
    assert "sources" not in config and "heap_bytes" not in config  # only what the firmware uses
    for dotted, value in expected.items():
        node = config
        for part in dotted.split("."):
            node = node[part]
        assert node == value, dotted
