# The scanner application's network on a virtual board, on both runtimes, as a person sets it up:
# Wi-Fi provisioned from a web installer by Improv Serial over the board's serial port (judged by
# the installers' own client, npm improv-wifi-serial-sdk), and a static address from the
# configuration that `status` shows and that the mail service sees the board's messages come from.
import json
import os
import tty

from tests.boards.test_scanner_app import started_app, tenant, until  # noqa: F401  (a fixture)
from tests.judges.improv import run_client

PASSWORD = "Office-WiFi-Pass-9"


def test_wifi_provisioned_by_improv_serial_over_the_boards_port(runtime, start_board, tenant):  # noqa: F811
    tenant.reset()
    board, console = started_app(start_board, runtime, tenant)
    fd = os.open(board.port, os.O_RDWR | os.O_NOCTTY)
    try:
        tty.setraw(fd)
        outcomes, errors = run_client(fd, [
            {"do": "initialize"},
            {"do": "scan"},
            {"do": "provision", "ssid": "OfficeNet", "password": PASSWORD},
        ])
    finally:
        os.close(fd)
    try:
        initialize, scan, provisioned = outcomes
        assert initialize["info"]["firmware"] == "scanmail" and initialize["info"]["chipFamily"] == "ESP32"
        assert initialize["state"] == 2
        assert [network["name"] for network in scan["networks"]] == ["scanmail-virtual"]
        assert provisioned == {"step": "provision", "state": 4, "nextUrl": None}
        assert console.request("status")["network"] == "up: wifi 'OfficeNet', 127.0.0.20 (DHCP)"
        assert console.request("secret.status")["wifi_password"]["set"] is True
        logs = console.request("logs", count=100)
        assert PASSWORD not in json.dumps(logs) + errors + json.dumps(outcomes) + "\n".join(console.log_lines)
    finally:
        console.close()


def test_a_static_address_shows_in_status_and_the_mail_comes_from_it(runtime, start_board, tenant):  # noqa: F811
    tenant.reset()
    board, console = started_app(start_board, runtime, tenant)
    try:
        console.request("config.set", changes={"wifi_ssid": "OfficeNet", "ip": "127.0.0.77/8",
                                               "gateway": "127.0.0.1", "dns": ["127.0.0.1"]})
        console.request("secret.set", name="wifi_password", value=PASSWORD)
        status = until(lambda: (lambda s: s if "127.0.0.77" in s["network"] else None)(console.request("status")),
                       "the board joins with its static address")
        assert status["network"] == "up: wifi 'OfficeNet', 127.0.0.77 (static, gateway 127.0.0.1, dns 127.0.0.1)"
        assert status["address"] == "127.0.0.77"
        assert console.request("send-test")["reply"].startswith("250")
        assert tenant.trace()[-1]["client_ip"] == "127.0.0.77"

        # an address the virtual network does not reach: down, with what to set
        console.request("config.set", changes={"ip": "192.168.1.50/24", "gateway": "192.168.1.1",
                                               "dns": ["192.168.1.1"]})
        down = until(lambda: (lambda s: s if s["network"].startswith("down") else None)(console.request("status")),
                     "the board reports the address it cannot use")
        assert "192.168.1.50 is not on this virtual board's network (127.0.0.0/8)" in down["network"]
        assert "next try in" in down["network"]
    finally:
        console.close()
