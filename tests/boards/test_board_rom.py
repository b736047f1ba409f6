# The board's "ROM" modules (emulator/board_rom) on both runtimes: device paths that never
# leave the flash, NVS that stores each change when it is made (as ESP-IDF does), Wi-Fi that
# connects as the esp32 port does, and a clock that stays unset until NTP when the board powers on without one.
import json
import time

import pytest

from scanmail.emulator.boards import runtimes
from tests.boards.conftest import open_repl

SHIMS = runtimes.ROM_DIR

# (device path typed on the board, cwd, the path it means on the flash)
DEVICE_PATHS = [
    ("/boot.py", "/", "/boot.py"),
    ("boot.py", "/", "/boot.py"),
    ("x.py", "/lib", "/lib/x.py"),
    ("../main.py", "/lib", "/main.py"),
    ("/../../etc/passwd", "/", "/etc/passwd"),
    ("../../../../x", "/lib", "/x"),
    ("./a//b/./c", "/", "/a/b/c"),
    ("", "/lib", "/lib"),
    ("/flashroot/scans/1.pdf", "/", "/scans/1.pdf"),  # a host path inside the flash (CPython storage_root)
]


def test_device_paths_resolve_inside_the_flash_and_never_above_it(run_firmware):
    out = run_firmware(
        "import json, _vboard_flashfs\n"
        "fs = _vboard_flashfs.FlashFS(None, '/flashroot')\n"
        "result = []\n"
        "for path, cwd in %r:\n"
        "    fs._cwd = cwd\n"
        "    result.append(fs.device_path(path))\n"
        "print(json.dumps(result))\n" % [(p, c) for p, c, _ in DEVICE_PATHS],
        extra_paths=(SHIMS,),
    )
    assert json.loads(out) == [expected for _, _, expected in DEVICE_PATHS]


@pytest.mark.parametrize("runtime", ["micropython", "cpython"])
def test_nvs_keeps_each_change_as_it_is_made_across_a_power_cut_and_checks_key_length(start_board, runtime):
    # ESP-IDF writes every nvs_set to flash before it returns (nvs_commit writes nothing): a value
    # set but not yet committed when the power goes is there at the next boot, and so is an erase;
    # firmware that writes two keys must expect a cut to land between them
    board = start_board(runtime, fast=True)
    repl = open_repl(board)
    try:
        repl.exec("import esp32\nn = esp32.NVS('app')\nn.set_i32('boots', 7)\nn.set_blob('cfg', b'\\x01\\x02')\n"
                  "n.set_i32('gone', 3)\nn.commit()\nn.set_i32('uncommitted', 1)\nn.erase_key('gone')")
        out = repl.exec("try:\n    esp32.NVS('app').set_i32('a_key_of_16_chars', 1)\nexcept OSError as e:\n"
                        "    print(e.args[1])")
        assert out.strip() == "ESP_ERR_NVS_KEY_TOO_LONG"
    finally:
        repl.close()
    board.stop()
    board.start()  # a power cycle: NVS survives, with the changes made after the last commit
    repl = open_repl(board)
    try:
        out = repl.exec(
            "import esp32\nn = esp32.NVS('app')\nbuf = bytearray(8)\nsize = n.get_blob('cfg', buf)\n"
            "print(n.get_i32('boots'), bytes(buf[:size]))\n"
            "print(n.get_i32('uncommitted'))\n"
            "try:\n    n.get_i32('gone')\nexcept OSError as e:\n    print(e.args[1])\n"
            # a buffer shorter than the blob: the esp32 port raises ESP-IDF's error, copies nothing
            "short = bytearray(1)\n"
            "try:\n    n.get_blob('cfg', short)\nexcept OSError as e:\n    print(e.args[1], short)")
    finally:
        repl.close()
    assert out.split() == ["7", "b'\\x01\\x02'", "1", "ESP_ERR_NVS_NOT_FOUND", "ESP_ERR_NVS_INVALID_LENGTH",
                           "bytearray(b'\\x00')"]


@pytest.mark.parametrize("runtime", ["micropython", "cpython"])
def test_a_board_powered_on_without_a_clock_has_none_until_ntp_and_wifi_connects_with_its_address(
        start_board, runtime):
    board = start_board(runtime, fast=True, clock_set=False)
    repl = open_repl(board)
    before = int(time.time())
    try:
        out = repl.exec(
            "import network, ntptime, time\n"
            "from virtual_board import VirtualBoard\n"
            "b = VirtualBoard()\n"
            "wlan = network.WLAN(network.STA_IF)\n"
            "print(b.clock.now(), wlan.isconnected())\n"
            "wlan.active(True)\nwlan.connect('office', 'secret')\n"
            "ntptime.settime()\n"
            "print(wlan.isconnected(), wlan.ifconfig()[0], b.net.address(), b.clock.now())")
    finally:
        repl.close()
    after = int(time.time())
    first, second = out.strip().splitlines()
    assert first.split() == ["None", "False"]
    assert second.split()[:3] == ["True", "127.0.0.20", "127.0.0.20"]
    # NTP set the board's clock to the host's: read between the host's two readings.
    assert before <= int(float(second.split()[3])) <= after


def test_a_machine_without_the_micropython_port_falls_back_to_cpython_and_says_so_loudly(monkeypatch):
    monkeypatch.setattr(runtimes, "micropython_executable", lambda: None)
    warnings = []
    assert runtimes.choose("auto", warnings.append) == "cpython"
    assert len(warnings) == 1 and warnings[0].startswith("WARNING") and "NOT the runtime of a real board" in warnings[0]
    with pytest.raises(LookupError, match="--runtime cpython"):
        runtimes.choose("micropython")

