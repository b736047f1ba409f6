# The scanner's network from its configuration, on both runtimes: the application hands the
# configured interface, Wi-Fi network, password (a secret) and static address to the real
# Esp32Board (over the stand-in `network` and `machine` modules of tests/firmware/test_board_esp32.py,
# which are held to the ESP32 stubs' signatures there), and the status line says how the network
# is, or why it is down and when the next try comes. Refusals of bad addresses name the key.
import json
import os

from tests import runtimes
from tests.firmware.test_board_esp32 import SECRET, stand_ins  # noqa: F401  (a fixture)

ROM = os.path.join(runtimes.REPO_ROOT, "emulator", "board_rom")

APP = """
import network, machine, sys, json
sys.path.append(%(rom)r)               # the ROM's NVS for the secrets (network and machine stay the stand-ins)
import _vboard_host, esp32
_vboard_host._config = {"nvs": %(nvs)r}
from scanmail.firmware.board_esp32 import Esp32Board
from scanmail.firmware.app.application import Application
from scanmail.firmware.app import app_loop
board = Esp32Board(%(board)r)
app = Application(board, esp32.NVS("scanmail"))
app.config.update(%(changes)r)
if %(password)r:
    app.secrets.set("wifi_password", %(password)r)
"""


def run_app(run_firmware, stand_ins, tmp_path, changes, then, board=None, password=SECRET):  # noqa: F811
    flash = tmp_path / "flash"
    flash.mkdir()
    config = dict(board or {"name": "scanner-1"}, storage_root=str(flash))
    code = APP % {"rom": ROM, "nvs": str(tmp_path / "nvs.json"), "board": config, "changes": changes,
                  "password": password} + then
    return run_firmware(code, extra_paths=[str(stand_ins)], cwd=str(tmp_path)), flash


STATIC = {"wifi_ssid": "OfficeNet", "ip": "192.168.1.77/24", "gateway": "192.168.1.1", "dns": ["1.1.1.1"]}


def test_a_static_address_from_the_configuration_is_the_boards_and_shows_in_status(
        run_firmware, stand_ins, tmp_path):  # noqa: F811
    out, flash = run_app(run_firmware, stand_ins, tmp_path, STATIC, (
        "print('joined', app_loop._join(app))\n"
        "from scanmail.firmware.app.console_commands import status\n"
        "print('status', json.dumps(status(app)))\n"
        "print('calls', [c for c in network.calls if c[0] in ('ifconfig', 'connect')])\n"))
    lines = dict(line.split(" ", 1) for line in out.strip().splitlines())
    assert lines["joined"] == "True"
    status = json.loads(lines["status"])
    assert status["address"] == "192.168.1.77"
    assert status["network"] == "up: wifi 'OfficeNet', 192.168.1.77 (static, gateway 192.168.1.1, dns 1.1.1.1)"
    assert lines["calls"] == ("[('ifconfig', ('192.168.1.77', '255.255.255.0', '192.168.1.1', '1.1.1.1')),"
                              " ('connect', 'OfficeNet')]")
    assert SECRET not in out


def test_dhcp_on_the_boards_own_interface_is_the_default(run_firmware, stand_ins, tmp_path):  # noqa: F811
    out, _ = run_app(run_firmware, stand_ins, tmp_path, {"wifi_ssid": "OfficeNet"}, (
        "app_loop._join(app)\n"
        "print(app.network)\n"
        "print([c for c in network.calls if c[0] == 'ifconfig'])\n"))
    assert out.strip().splitlines() == ["up: wifi 'OfficeNet', 192.168.1.50 (DHCP)", "[]"]


def test_a_refused_password_is_a_status_line_with_the_fix_and_the_next_try(
        run_firmware, stand_ins, tmp_path):  # noqa: F811
    out, flash = run_app(run_firmware, stand_ins, tmp_path, {"wifi_ssid": "OfficeNet"}, (
        "import asyncio\n"
        "app_loop.NETWORK_BACKOFF_S = (0,)\n"
        "network.wlan_statuses = [network.STAT_WRONG_PASSWORD, network.STAT_GOT_IP]\n"
        "asyncio.run(app_loop._until_up(app))\n"
        "print(json.dumps(app.log.lines(10)))\n"))
    logs = json.loads(out.strip().splitlines()[-1])
    assert any("network down: Wi-Fi network 'OfficeNet' refused the password (status 202, "
               "WRONG_PASSWORD): re-enter the Wi-Fi password in the scanner's settings; next try in 0 s "
               "(attempt 2)" in line for line in logs), logs
    assert any("network up: wifi 'OfficeNet', 192.168.1.50 (DHCP)" in line for line in logs), logs
    assert SECRET not in out and SECRET not in (flash / "log.0").read_text()


def test_a_reason_that_repeats_is_logged_once_while_the_tries_go_on(run_firmware, stand_ins, tmp_path):  # noqa: F811
    out, _ = run_app(run_firmware, stand_ins, tmp_path, {"wifi_ssid": "OfficeNet"}, (
        "import asyncio\n"
        "app_loop.NETWORK_BACKOFF_S = (0,)\n"
        "network.wlan_statuses = [network.STAT_WRONG_PASSWORD] * 4 + [network.STAT_GOT_IP]\n"
        "asyncio.run(app_loop._until_up(app))\n"
        "print(json.dumps(app.log.lines(20)))\n"))
    logs = json.loads(out.strip().splitlines()[-1])
    assert len([line for line in logs if "network down" in line]) == 1, logs
    assert any("network up" in line for line in logs)


def test_ethernet_asked_of_a_board_without_it_says_what_to_set(run_firmware, stand_ins, tmp_path):  # noqa: F811
    out, _ = run_app(run_firmware, stand_ins, tmp_path, {"network": "ethernet"}, (
        "print(app_loop._join(app))\n"
        "print(app.network)\n"), board={"name": "scanner-1", "network": "wifi"})
    assert out.strip().splitlines() == [
        "False", "down: network is ethernet, but this board has no Ethernet port (its profile: wifi): "
                 "set network to wifi or auto"]


def test_auto_on_a_wt32_eth01_is_its_ethernet_with_the_static_address(run_firmware, stand_ins, tmp_path):  # noqa: F811
    from scanmail.hardware import profiles

    out, _ = run_app(run_firmware, stand_ins, tmp_path, {"ip": "10.0.0.50/24", "gateway": "10.0.0.1"}, (
        "app_loop._join(app)\n"
        "print(app.network)\n"), board=dict(profiles.board_config("wt32-eth01"), name="scanner-eth"),
        password="")
    assert out.strip() == "up: ethernet, 10.0.0.50 (static, gateway 10.0.0.1, dns 10.0.0.1)"


REFUSE = """
from scanmail.firmware.app.config_store import ConfigStore
from scanmail.firmware.app.config_schema import ConfigError
store = ConfigStore(%r)
for changes in %r:
    try:
        store.update(changes)
        print("accepted")
    except ConfigError as err:
        print(err.key, "|", err)
"""


def test_bad_addresses_are_refused_naming_the_key_and_keeping_the_value(run_firmware, tmp_path):
    cases = [{"ip": "192.168.1.300/24"}, {"ip": "192.168.1.7"}, {"ip": "192.168.1.7/24", "gateway": "router"},
             {"ip": "192.168.1.7/24", "dns": ["dns.example.com"]}, {"ip": "192.168.1.7/24", "dns": ["9.9.9.9"]},
             {"network": "wifi", "ip": "dhcp"}]
    out = run_firmware(REFUSE % (str(tmp_path / "config.json"), cases)).strip().splitlines()
    assert [line.split(" |")[0] for line in out] == ["ip", "ip", "gateway", "dns", "accepted", "accepted"]
    assert "192.168.1.50/24" in out[0] and 'kept: "dhcp"' in out[0]
