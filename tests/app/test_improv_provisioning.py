# Wi-Fi provisioning by Improv Serial on the running application, on both runtimes, judged by the
# web installers' own client (npm improv-wifi-serial-sdk's ImprovSerial, run by Node on the same pty
# as a person's browser would on the serial port): it finds the board, reads its info and the
# networks in range, is told "unable to connect" for a wrong password (the settings the board had
# stay), then provisions it. The console keeps answering on the same line before and after, and
# the Wi-Fi password is in no reply, log line or Improv packet the board sends.
import json
import os
import pty
import subprocess
import tty

import pytest

from scanmail.host_tools.console_client import ConsoleClient
from tests import runtimes
from tests.app.test_console import FIRMWARE_ON_RUNTIME, HERE, ROM, PtyPort
from tests.judges.improv import run_client

ACCESS_POINT = {"ssid": "OfficeNet", "key": "correct-horse-7"}


@pytest.fixture
def board(runtime, tenant, tmp_path):
    root = tmp_path / "flash"
    root.mkdir()
    spec = {"root": str(root), "nvs": str(tmp_path / "nvs.json"), "ip": "127.0.0.20",
            "tenant_state": str(tenant.state_dir), "access_point": ACCESS_POINT, "now": 1_800_000_000}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    master, slave = pty.openpty()
    tty.setraw(slave)
    tty.setraw(master)
    cmd = runtimes.command_for(runtime) + [os.path.join(HERE, "improv_app.py"), str(tmp_path / "spec.json")]
    proc = subprocess.Popen(cmd, stdin=slave, stdout=slave, stderr=subprocess.PIPE,
                            env=runtimes.environment_for(runtime, (HERE, FIRMWARE_ON_RUNTIME, ROM)),
                            cwd=runtimes.REPO_ROOT)
    os.close(slave)
    client = ConsoleClient(None, timeout_s=20, serial_port=PtyPort(master))
    client.proc, client.root, client.fd = proc, root, master
    client.wait_for_log("started on")
    yield client
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    os.close(master)


def test_a_web_installer_provisions_wifi_and_the_console_still_answers(board):
    board.request("config.set", changes={"improv_url": "http://{address}/scanner/{name}"})
    outcomes, errors = run_client(board.fd, [
        {"do": "initialize"},
        {"do": "scan"},
        {"do": "provision", "ssid": "OfficeNet", "password": "not-the-password"},
        {"do": "provision", "ssid": "OfficeNet", "password": ACCESS_POINT["key"]},
        {"do": "state"},
    ])
    initialize, scan, refused, provisioned, state = outcomes
    assert initialize["info"] == {"firmware": "scanmail", "version": board.request("info")["firmware"],
                                  "name": "scanner-3f2a", "chipFamily": "ESP32", "osName": None,
                                  "osVersion": None}
    assert initialize["state"] == 2                             # ready: no Wi-Fi configured yet
    assert scan["networks"] == [{"name": "OfficeNet", "rssi": -55, "secured": True}]
    assert refused == {"step": "provision", "error": "UNABLE_TO_CONNECT", "state": 2}
    assert provisioned == {"step": "provision", "state": 4,
                           "nextUrl": "http://127.0.0.20/scanner/scanner-3f2a"}
    assert state == {"step": "state", "state": 4, "nextUrl": "http://127.0.0.20/scanner/scanner-3f2a"}

    assert board.request("config.get", key="wifi_ssid")["value"] == "OfficeNet"
    assert board.request("secret.status")["wifi_password"]["set"] is True
    assert board.request("status")["network"] == "up: wifi 'OfficeNet', 127.0.0.20 (DHCP)"
    logs = board.request("logs", count=50)
    assert any("improv: could not join 'OfficeNet'" in line and "previous network settings stay" in line
               for line in logs), logs
    assert any("improv: joined 'OfficeNet'" in line for line in logs), logs
    everything = json.dumps(logs) + "\n".join(board.log_lines) + json.dumps(outcomes) + errors \
        + (board.root / "log.0").read_text() + (board.root / "config.json").read_text()
    assert ACCESS_POINT["key"] not in everything and "not-the-password" not in everything


def test_a_wrong_password_keeps_the_network_the_board_had(board):
    board.request("config.set", changes={"wifi_ssid": "OfficeNet"})
    board.request("secret.set", name="wifi_password", value=ACCESS_POINT["key"])
    fingerprint = board.request("secret.status")["wifi_password"]["fingerprint"]
    outcomes, _ = run_client(board.fd, [
        {"do": "initialize"},
        {"do": "provision", "ssid": "OfficeNet", "password": "guessed-wrong"},
    ])
    assert outcomes[1]["error"] == "UNABLE_TO_CONNECT"
    assert board.request("secret.status")["wifi_password"]["fingerprint"] == fingerprint
    assert board.request("config.get", key="wifi_ssid")["value"] == "OfficeNet"
    for _ in range(100):                  # the network task joins with the kept settings again
        if board.request("status")["network"].startswith("up"):
            break
    assert board.request("status")["network"] == "up: wifi 'OfficeNet', 127.0.0.20 (DHCP)"
