# The shared half of the board interface (firmware/board.py), on CPython and the MicroPython unix
# port: TCP by host name with a timeout and a chosen source address over real sockets, the clock's
# "not set" rule, the status-light states, and open_board() choosing the emulator's shim when it is
# importable. The one stand-in here is a three-line `virtual_board` module (the real shim is the
# emulator's, Contract 4) used only to prove open_board() picks whatever that module provides.
import errno
import socket
import time

import pytest

from tests.firmware.plain_servers import GreetingServer


@pytest.fixture
def peer_reporting_server():
    """A real TCP server on 127.0.0.1 that tells each client the source address it came from."""
    with GreetingServer(lambda peer: ("from %s\n" % peer).encode()) as server:
        yield server.address[1]


def test_a_board_connects_by_host_name_from_its_own_source_address(run_firmware, peer_reporting_server):
    out = run_firmware(
        "from scanmail.firmware.board import SocketNet\n"
        "net = SocketNet('127.0.0.21')\n"
        "sock = net.open_tcp('localhost', %d, 5, local_ip='127.0.0.21')\n"
        "print(sock.recv(64).decode().strip())\n"
        "sock.close()\n"
        "print(net.address())\n" % peer_reporting_server
    )
    assert out.split("\n")[:2] == ["from 127.0.0.21", "127.0.0.21"]


def test_a_closed_port_is_refused_with_econnrefused(run_firmware):
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    closed_port = probe.getsockname()[1]
    probe.close()
    out = run_firmware(
        "from scanmail.firmware.board import SocketNet\n"
        "try:\n"
        "    SocketNet('127.0.0.1').open_tcp('127.0.0.1', %d, 5)\n"
        "except OSError as e:\n"
        "    print(e.args[0])\n" % closed_port
    )
    assert out.strip() == str(errno.ECONNREFUSED)


def test_an_unknown_host_name_is_an_error_naming_the_host_and_what_to_check(run_firmware):
    # A name the C library refuses to look up ("!" is no host-name character): getaddrinfo fails
    # as for an unknown name, on both runtimes, without a query to the machine's DNS server.
    out = run_firmware(
        "from scanmail.firmware.board import SocketNet\n"
        "try:\n"
        "    SocketNet('127.0.0.1').open_tcp('smtp!nonexistent.invalid', 587, 5)\n"
        "except OSError as e:\n"
        "    print(type(e.args[0]).__name__, e.args[1])\n"
    )
    assert out.strip() == (
        "int cannot resolve smtp!nonexistent.invalid: check the DNS server and the network connection"
    )


def test_the_clock_is_unset_before_2024_and_counts_utc_seconds_from_1970_after(run_firmware):
    before = int(time.time())
    out = run_firmware(
        "from scanmail.firmware.board import SystemClock\n"
        "print(SystemClock(lambda: 0).now())\n"             # just after power-up: the epoch
        "print(SystemClock(lambda: 1704067199).now())\n"    # 2023-12-31T23:59:59Z
        "print(SystemClock(lambda: 1704067200).now())\n"    # 2024-01-01T00:00:00Z
        "print(SystemClock().now())\n"                      # this machine's own clock
    )
    before_power_up, last_second_of_2023, first_second_of_2024, system = out.split()
    assert (before_power_up, last_second_of_2023, first_second_of_2024) == ("None", "None", "1704067200")
    after = int(time.time())
    # Read between the host's two readings: the same UTC count as the host's, not a 2000 epoch.
    assert before <= int(system) <= after


def test_the_status_light_takes_the_four_states_and_names_them_when_refusing(run_firmware):
    out = run_firmware(
        "from scanmail.firmware.board import NullStatusLight\n"
        "light = NullStatusLight()\n"
        "for state in ('idle', 'busy', 'ok', 'error'):\n"
        "    light.set(state)\n"
        "print(light.state)\n"
        "try:\n"
        "    light.set('green')\n"
        "except ValueError as e:\n"
        "    print(e)\n"
    )
    assert out.splitlines() == ["error", "status light state 'green'; allowed: idle | busy | ok | error"]


def test_a_board_that_cannot_reset_itself_says_to_power_cycle(run_firmware):
    out = run_firmware(
        "from scanmail.firmware.board import Board, BoardError, SocketNet, SystemClock\n"
        "board = Board('scanner-1', SocketNet('127.0.0.1'), SystemClock(), '/tmp')\n"
        "try:\n"
        "    board.reset()\n"
        "except BoardError as e:\n"
        "    print(e.what_to_do)\n"
        "print(board.scanner, board.status_light.state)\n"
    )
    assert out.splitlines() == ["power-cycle it", "None idle"]


def test_open_board_returns_the_emulators_virtual_board_when_its_shim_is_importable(run_firmware, tmp_path):
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "virtual_board.py").write_text(
        "# STAND-IN for the emulator's ROM shim (tests only)\n"
        "class VirtualBoard:\n"
        "    name = 'scanner-virtual'\n"
    )
    out = run_firmware(
        "from scanmail.firmware.board import open_board\n"
        "print(open_board({'wifi': {'ssid': 'x', 'password': 'y'}}).name)\n",
        extra_paths=[str(shim)],
    )
    assert out.strip() == "scanner-virtual"


def test_open_board_reports_a_broken_shim_instead_of_driving_absent_hardware(run_firmware, tmp_path):
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "virtual_board.py").write_text("import vnet_link_that_is_missing\n")
    out = run_firmware(
        "from scanmail.firmware.board import open_board\n"
        "try:\n"
        "    open_board()\n"
        "except ImportError as e:\n"
        "    print('ImportError', e)\n",
        extra_paths=[str(shim)],
    )
    assert out.startswith("ImportError") and "vnet_link_that_is_missing" in out


def test_open_board_without_the_shim_builds_the_esp32_board_without_touching_hardware(run_firmware, tmp_path):
    # On a host there is no `machine` module: Esp32Board must not need one until a part is used.
    out = run_firmware(
        "from scanmail.firmware.board import open_board\n"
        "board = open_board({'name': 'scanner-real', 'scanner': 'none'})\n"
        "print(type(board).__name__, board.name, board.storage_root, board.scanner)\n"
    )
    assert out.strip() == "Esp32Board scanner-real / None"


def test_importing_the_board_modules_touches_no_hardware_module(run_firmware):
    out = run_firmware(
        "import sys\n"
        "import scanmail.firmware.board, firmware.board_esp32\n"
        "print(sorted(m for m in ('machine', 'network', 'ntptime', 'esp32', 'neopixel', 'camera')"
        " if m in sys.modules))\n"
    )
    assert out.strip() == "[]"
