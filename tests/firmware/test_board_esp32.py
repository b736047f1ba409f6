# The ESP32 backing of the board interface (firmware/board_esp32.py), run on CPython and on the
# MicroPython unix port. An ESP32 cannot run here, so these tests use STAND-IN modules for the
# hardware-only MicroPython modules `network`, `machine`, `ntptime`, `neopixel` and `camera`: small
# fakes written to a temporary folder that is put on sys.path for that test's run only (they are
# defined below, nothing else sees them). Everything else is real: the firmware modules, sockets
# and files. The stand-ins are held to the MicroPython ESP32 stubs' names, constants and signatures
# by test_every_stand_in_follows_the_esp32_stubs (the camera driver has no stub), and the type
# check in test_type_check.py holds board_esp32.py to the same stubs. Kept small on purpose: the
# logic here is error wording, pins and retries.

import pytest

from tests.firmware.plain_servers import GreetingServer

STAND_IN_NETWORK = '''
# STAND-IN for MicroPython's ESP32 `network` module (tests only).
STA_IF = 0
STAT_IDLE = 1000
STAT_CONNECTING = 1001
STAT_GOT_IP = 1010
STAT_BEACON_TIMEOUT = 200
STAT_NO_AP_FOUND = 201
STAT_WRONG_PASSWORD = 202
STAT_ASSOC_FAIL = 203
STAT_CONNECT_FAIL = 203
STAT_HANDSHAKE_TIMEOUT = 204
PHY_LAN8720 = 1
wlan_statuses = [STAT_GOT_IP]   # WLAN.status() answers, one per call; the last one repeats
lan_link_up = True
calls = []
static = [None]                 # the address a static ifconfig() set
access_points = [(b"OfficeNet", b"\\x02\\x00\\x00\\x00\\x00\\x01", 6, -61, 3, False),
                 (b"Guests", b"\\x02\\x00\\x00\\x00\\x00\\x02", 11, -70, 0, False),
                 (b"OfficeNet", b"\\x02\\x00\\x00\\x00\\x00\\x03", 1, -48, 3, False)]

class WLAN:
    def __init__(self, interface_id=0):
        calls.append(("WLAN", interface_id))
        self._connected = False
    def active(self, is_active=None):
        calls.append(("active", is_active))
    def isconnected(self):
        return self._connected
    def connect(self, ssid=None, password=None, *, bssid=None):
        calls.append(("connect", ssid))
    def status(self, param=None):
        calls.append(("status",))
        status = wlan_statuses.pop(0) if len(wlan_statuses) > 1 else wlan_statuses[0]
        self._connected = status == STAT_GOT_IP
        return status
    def disconnect(self):
        calls.append(("disconnect",))
    def ifconfig(self, ip_mask_gateway_dns=None):
        if ip_mask_gateway_dns is not None:
            calls.append(("ifconfig", ip_mask_gateway_dns))
            static[0] = ip_mask_gateway_dns
            return None
        return static[0] or ("192.168.1.50", "255.255.255.0", "192.168.1.1", "192.168.1.1")
    def scan(self):
        calls.append(("scan",))
        return access_points

_UNSET = object()

class LAN:
    # The stub's parameters, plus the ESP32 port's own (ESP32_PORT_PARAMETERS below).
    def __init__(self, id=_UNSET, *, phy_type=_UNSET, phy_addr=_UNSET, ref_clk_mode=_UNSET,
                 mdc=_UNSET, mdio=_UNSET, power=_UNSET, ref_clk=_UNSET):
        given = (("id", id), ("phy_type", phy_type), ("phy_addr", phy_addr),
                 ("ref_clk_mode", ref_clk_mode), ("mdc", mdc), ("mdio", mdio), ("power", power),
                 ("ref_clk", ref_clk))
        calls.append(("LAN", sorted((k, v) for k, v in given if v is not _UNSET)))
    def active(self, is_active=None):
        calls.append(("active", is_active))
    def isconnected(self):
        return lan_link_up
    def ifconfig(self, configtuple=None):
        if configtuple is not None:
            calls.append(("ifconfig", configtuple))
            static[0] = configtuple
            return None
        return static[0] or ("10.0.0.7", "255.255.255.0", "10.0.0.1", "10.0.0.1")
'''

STAND_IN_MACHINE = '''
# STAND-IN for MicroPython's `machine` module (tests only).
class Pin:
    IN = 1
    OUT = 3
    def __init__(self, id, mode=-1, pull=-1, *, value=None, drive=None, alt=None):
        self.number = id
        self.mode = mode
        self.level = value
    def value(self, x=None):
        if x is None:
            return self.level
        self.level = x
    def __repr__(self):
        return "Pin(%d)" % self.number

class ResetRequested(Exception):
    pass

def unique_id():
    return b"\\x24\\x0a\\xc4\\x12\\x3f\\x2a"

def reset():
    raise ResetRequested()
'''

STAND_IN_NTPTIME = '''
# STAND-IN for micropython-lib `ntptime` (tests only): fails `failures` times, then sets the RTC.
host = "pool.ntp.org"
failures = 0
attempts = 0
rtc_set = False

def settime():
    global failures, attempts, rtc_set
    attempts += 1
    if failures > 0:
        failures -= 1
        raise OSError(110, "ETIMEDOUT")
    rtc_set = True
'''

STAND_IN_NEOPIXEL = '''
# STAND-IN for MicroPython's `neopixel` module (tests only).
shown = []

class NeoPixel:
    def __init__(self, pin, n, bpp=3, timing=1):
        self.pin = pin
        self.pixels = [(0, 0, 0)] * n
    def __setitem__(self, i, v):
        self.pixels[i] = v
    def write(self):
        shown.append(self.pixels[0])
'''

STAND_IN_CAMERA = '''
# STAND-IN for the esp32-camera builds' `camera` module, lemariva driver API (tests only).
JPEG = 3
PSRAM = 1
started = False

def init(camera_id, format=None, fb_location=None):
    global started
    started = True
    return True

def capture():
    return b"\\xff\\xd8" + b"page" * 1000 + b"\\xff\\xd9"

def deinit():
    global started
    started = False
'''

SECRET = "correct-horse-battery-staple"


@pytest.fixture
def stand_ins(tmp_path):
    folder = tmp_path / "stand_ins"
    folder.mkdir()
    for name, source in (
        ("network", STAND_IN_NETWORK),
        ("machine", STAND_IN_MACHINE),
        ("ntptime", STAND_IN_NTPTIME),
        ("neopixel", STAND_IN_NEOPIXEL),
    ):
        (folder / (name + ".py")).write_text(source)
    return folder


@pytest.fixture
def run_on_esp32_stand_ins(run_firmware, stand_ins, tmp_path):
    def run(code):
        return run_firmware(code, extra_paths=[str(stand_ins)], cwd=str(tmp_path))

    return run


WIFI_FAILURES = [
    # (statuses the access point gives, what the error must say)
    ("[network.STAT_CONNECTING, network.STAT_WRONG_PASSWORD]",
     ["'OfficeNet'", "refused the password", "WRONG_PASSWORD", "re-enter the Wi-Fi password"]),
    ("[network.STAT_CONNECTING, network.STAT_NO_AP_FOUND]",
     ["'OfficeNet'", "was not found", "SSID", "2.4 GHz"]),
    ("[network.STAT_HANDSHAKE_TIMEOUT]",
     ["'OfficeNet'", "handshake", "wrong password"]),
    ("[network.STAT_CONNECTING]",
     ["'OfficeNet'", "did not give an address within 0.3 s", "signal"]),
]


@pytest.mark.parametrize("statuses, must_say", WIFI_FAILURES)
def test_a_wifi_failure_is_a_clear_error_that_never_shows_the_password(run_on_esp32_stand_ins, statuses, must_say):
    out = run_on_esp32_stand_ins(
        "import network\n"
        "from scanmail.firmware.board import BoardError\n"
        "from scanmail.firmware.board_esp32 import Esp32Board\n"
        "network.wlan_statuses = %s\n"
        "board = Esp32Board({'name': 'scanner-1', 'wifi': {'ssid': 'OfficeNet', 'password': %r},"
        " 'connect_timeout_s': 0.3})\n"
        "try:\n"
        "    board.net.open_tcp('smtp.office365.com', 587, 5)\n"
        "    print('CONNECTED')\n"
        "except BoardError as e:\n"
        "    print(str(e))\n"
        "    print('WHAT_TO_DO', e.what_to_do)\n"
        "print(repr(board))\n"
        "print(('disconnect',) in network.calls)\n" % (statuses, SECRET)
    )
    assert "CONNECTED" not in out
    for phrase in must_say:
        assert phrase in out, phrase
    assert SECRET not in out
    assert out.strip().endswith("True")  # a failed join is abandoned, not left retrying


def test_a_wrong_password_ends_the_join_at_once_since_the_esp32_driver_stops_retrying(run_on_esp32_stand_ins):
    out = run_on_esp32_stand_ins(
        "import network\n"
        "from scanmail.firmware.board import BoardError\n"
        "from scanmail.firmware.board_esp32 import connect_wifi\n"
        "network.wlan_statuses = [network.STAT_CONNECTING, network.STAT_WRONG_PASSWORD, network.STAT_CONNECTING]\n"
        "try:\n"
        "    connect_wifi('OfficeNet', %r, timeout_s=60)\n"
        "except BoardError as e:\n"
        "    print(e.what)\n"
        "print(len([c for c in network.calls if c == ('status',)]))\n" % SECRET
    )
    error, polls = out.strip().splitlines()
    assert error == "Wi-Fi network 'OfficeNet' refused the password (status 202, WRONG_PASSWORD)"
    assert polls == "2"  # no waiting for the 60 s deadline


@pytest.fixture
def tcp_server():
    """A real TCP server on 127.0.0.1 that answers each connection with a greeting."""
    with GreetingServer(lambda peer: b"220 ready\r\n") as server:
        yield server.address[1]


def test_the_board_joins_wifi_before_its_first_connection_and_reports_its_address(run_on_esp32_stand_ins, tcp_server):
    out = run_on_esp32_stand_ins(
        "import network\n"
        "from scanmail.firmware.board_esp32 import Esp32Board\n"
        "network.wlan_statuses = [network.STAT_CONNECTING, network.STAT_CONNECTING, network.STAT_GOT_IP]\n"
        "board = Esp32Board({'wifi': {'ssid': 'OfficeNet', 'password': %r}})\n"
        "print('before', [c[0] for c in network.calls])\n"
        "sock = board.net.open_tcp('127.0.0.1', %d, 5)\n"
        "print('greeting', sock.recv(64))\n"
        "sock.close()\n"
        "print('address', board.net.address())\n"
        "print('joins', [c for c in network.calls if c[0] == 'connect'])\n"
        "print('name', board.name)\n" % (SECRET, tcp_server)
    )
    lines = dict(line.split(" ", 1) for line in out.strip().splitlines())
    assert lines["before"] == "[]"  # nothing touched the radio before it was needed
    assert "220 ready" in lines["greeting"]
    assert lines["address"] == "192.168.1.50"
    assert lines["joins"] == "[('connect', 'OfficeNet')]"  # joined once, not per connection
    assert lines["name"] == "scanner-3f2a"  # from the last two bytes of machine.unique_id()


# network.LAN's keywords for the WT32-ETH01's LAN8720, as its hardware profile gives the pins
WT32_LAN_OPTIONS = ("[('mdc', Pin(23)), ('mdio', Pin(18)), ('phy_addr', 1), ('phy_type', 1), "
                    "('power', Pin(16)), ('ref_clk', Pin(0)), ('ref_clk_mode', 1)]")


def test_a_wt32_eth01_starts_its_lan8720_on_the_pins_of_its_hardware_profile(run_on_esp32_stand_ins):
    from scanmail.hardware import profiles

    config = profiles.board_config("wt32-eth01")
    config["name"] = "scanner-eth"
    out = run_on_esp32_stand_ins(
        "import network\n"
        "from scanmail.firmware.board_esp32 import Esp32Board\n"
        "board = Esp32Board(%r)\n"
        "print(board.net.address())\n"
        "print([c for c in network.calls if c[0] == 'LAN'][0][1])\n" % (config,)
    )
    address, options = out.strip().splitlines()
    assert address == "10.0.0.7"
    assert options == WT32_LAN_OPTIONS


def test_a_board_flashed_with_its_profile_starts_ethernet_from_the_board_file(run_on_esp32_stand_ins, tmp_path):
    # what `scanmail flash --profile wt32-eth01` writes to /board.json, read by Esp32Board() at start;
    # a missing or damaged file is no board file (the network's status then names what is missing)
    from scanmail.host_tools.flash_cli import site_files

    (tmp_path / "board.json").write_bytes(site_files("wt32-eth01")["/board.json"])
    (tmp_path / "damaged.json").write_text('{"network": "ether')
    out = run_on_esp32_stand_ins(
        "import network\n"
        "from scanmail.firmware import board_esp32\n"
        "board_esp32.BOARD_FILE = 'board.json'\n"
        "board = board_esp32.Esp32Board()\n"
        "print(board.network_kind, board.net.address())\n"
        "print([c for c in network.calls if c[0] == 'LAN'][0][1])\n"
        "print(board_esp32.read_board_file('damaged.json'), board_esp32.read_board_file('absent.json'))\n"
    )
    kind, options, unreadable = out.strip().splitlines()
    assert kind == "ethernet 10.0.0.7"
    assert options == WT32_LAN_OPTIONS
    assert unreadable == "{} {}"


def test_an_ethernet_board_without_a_link_says_to_check_the_cable(run_on_esp32_stand_ins):
    out = run_on_esp32_stand_ins(
        "import network\n"
        "from scanmail.firmware.board import BoardError\n"
        "from scanmail.firmware.board_esp32 import Esp32Board\n"
        "network.lan_link_up = False\n"
        "board = Esp32Board({'name': 'x', 'network': 'ethernet', 'connect_timeout_s': 0.3,\n"
        "                    'ethernet': {'mdc': 23, 'mdio': 18, 'phy_addr': 1}})\n"
        "try:\n"
        "    board.net.address()\n"
        "except BoardError as e:\n"
        "    print(e)\n"
    )
    assert "no Ethernet link or no DHCP address within 0.3 s" in out
    assert "check the cable" in out


def test_ethernet_without_its_pins_names_what_is_missing(run_on_esp32_stand_ins):
    out = run_on_esp32_stand_ins(
        "from scanmail.firmware.board import BoardError\n"
        "from scanmail.firmware.board_esp32 import Esp32Board\n"
        "board = Esp32Board({'name': 'x', 'network': 'ethernet'})\n"
        "try:\n"
        "    board.net.address()\n"
        "except BoardError as e:\n"
        "    print(e)\n"
    )
    assert "missing mdc, mdio" in out
    assert "[ethernet]" in out


def test_the_clock_is_unset_until_ntp_answers_then_reports_utc(run_on_esp32_stand_ins):
    out = run_on_esp32_stand_ins(
        "import network, ntptime\n"
        "from scanmail.firmware.board_esp32 import Esp32Board, Esp32Clock\n"
        "ntptime.failures = 1\n"
        "board = Esp32Board({'name': 'x', 'wifi': {'ssid': 'OfficeNet', 'password': 'p'},"
        " 'ntp_host': 'time.contoso.com'})\n"
        "rtc = lambda: 1767225600 if ntptime.rtc_set else 0\n"  # 2026-01-01 once set, else the epoch
        "clock = Esp32Clock(board.net, 'time.contoso.com', read_time=rtc)\n"
        "print('offline', clock.now(), ntptime.attempts)\n"
        "board.net.address()\n"
        "print('online', clock.now(), ntptime.attempts, ntptime.host)\n"
    )
    offline, online = out.strip().splitlines()
    assert offline == "offline None 0"  # no NTP attempt without a network
    assert online == "online 1767225600 2 time.contoso.com"  # one retry after a timeout


STATUS_LIGHTS = [
    # (pins table, states shown, what the hardware must show)
    ({"status_led": 33, "status_led_active_low": True}, ["busy", "ok", "error", "idle"], "[0, 1, 0, 1]"),
    ({"status_led": 2}, ["busy", "ok", "error", "idle"], "[1, 0, 1, 0]"),
    ({"status_led": 48, "status_led_kind": "neopixel"}, ["busy", "ok", "error"],
     "[(0, 0, 32), (0, 32, 0), (32, 0, 0)]"),
]


@pytest.mark.parametrize("pins, states, shown", STATUS_LIGHTS)
def test_the_status_light_shows_each_state_on_the_boards_own_led(run_on_esp32_stand_ins, pins, states, shown):
    out = run_on_esp32_stand_ins(
        "import neopixel\n"
        "from scanmail.firmware.board_esp32 import Esp32Board\n"
        "board = Esp32Board({'name': 'x', 'pins': %r})\n"
        "levels = []\n"
        "for state in %r:\n"
        "    board.status_light.set(state)\n"
        "    pin = getattr(board.status_light, '_pin', None)\n"
        "    levels.append(pin.value() if pin is not None else None)\n"
        "print(neopixel.shown if neopixel.shown else levels)\n"
        "try:\n"
        "    board.status_light.set('blinking')\n"
        "except ValueError as e:\n"
        "    print(e)\n" % (pins, states)
    )
    first, refusal = out.strip().splitlines()
    assert first == shown
    assert "'blinking'" in refusal and "idle | busy | ok | error" in refusal


def test_an_esp32_cam_build_gives_each_frame_as_a_page(run_on_esp32_stand_ins, stand_ins):
    (stand_ins / "camera.py").write_text(STAND_IN_CAMERA)
    out = run_on_esp32_stand_ins(
        "import camera\n"
        "from scanmail.firmware.board_esp32 import Esp32Board\n"
        "board = Esp32Board({'name': 'x', 'scanner': 'ov2640'})\n"
        "def read(page):\n"
        "    buf, data = bytearray(1000), b''\n"
        "    while True:\n"
        "        n = page.readinto(buf)\n"
        "        if not n:\n"
        "            page.close()\n"
        "            return data\n"
        "        data += bytes(buf[:n])\n"
        "first = read(board.scanner.next_page())\n"
        "print(len(first), first == camera.capture(), camera.started, board.scanner.next_page())\n"
        "print(len(read(board.scanner.next_page())), board.scanner.next_page())\n"
        "print(Esp32Board({'name': 'y', 'scanner': 'none'}).scanner)\n"
    )
    first, again, disabled = out.strip().splitlines()
    # the frame read out whole in buffer-sized pieces, the camera released, then the feeder empty
    assert first == "4004 True False None"
    assert again == "4004 None"          # the next scan takes a new frame
    assert disabled == "None"


def test_a_build_without_a_camera_has_no_scanner(run_on_esp32_stand_ins):
    out = run_on_esp32_stand_ins(
        "from scanmail.firmware.board_esp32 import Esp32Board\n"
        "print(Esp32Board({'name': 'x'}).scanner)\n"
    )
    assert out.strip() == "None"


def test_reset_asks_the_chip_for_a_hard_reset(run_on_esp32_stand_ins):
    out = run_on_esp32_stand_ins(
        "import machine\n"
        "from scanmail.firmware.board_esp32 import Esp32Board\n"
        "try:\n"
        "    Esp32Board({'name': 'x'}).reset()\n"
        "except machine.ResetRequested:\n"
        "    print('reset')\n"
    )
    assert out.strip() == "reset"


def test_a_static_address_is_set_before_joining_so_no_dhcp_request_goes_out(run_on_esp32_stand_ins):
    out = run_on_esp32_stand_ins(
        "import network\n"
        "from scanmail.firmware.board_esp32 import Esp32Board\n"
        "board = Esp32Board({'name': 'scanner-1'})\n"
        "board.net.configure({'network': 'wifi', 'wifi': {'ssid': 'OfficeNet', 'password': %r},"
        " 'static': ('192.168.1.77', '255.255.255.0', '192.168.1.1', '1.1.1.1')})\n"
        "print('address', board.net.address())\n"
        "print('calls', [c for c in network.calls if c[0] in ('ifconfig', 'connect')])\n" % SECRET
    )
    lines = dict(line.split(" ", 1) for line in out.strip().splitlines())
    assert lines["address"] == "192.168.1.77"
    assert lines["calls"] == ("[('ifconfig', ('192.168.1.77', '255.255.255.0', '192.168.1.1', '1.1.1.1')),"
                              " ('connect', 'OfficeNet')]")


def test_new_settings_leave_the_old_network_and_join_the_new_one(run_on_esp32_stand_ins):
    out = run_on_esp32_stand_ins(
        "import network\n"
        "from scanmail.firmware.board_esp32 import Esp32Board\n"
        "board = Esp32Board({'wifi': {'ssid': 'OldNet', 'password': 'x'}})\n"
        "print('first', board.net.address())\n"
        "board.net.configure({'wifi': {'ssid': 'OfficeNet', 'password': %r}, 'static': None})\n"
        "print('second', board.net.address())\n"
        "print('calls', [c for c in network.calls if c[0] in ('connect', 'disconnect')])\n" % SECRET
    )
    lines = dict(line.split(" ", 1) for line in out.strip().splitlines())
    assert lines["calls"] == "[('connect', 'OldNet'), ('disconnect',), ('connect', 'OfficeNet')]"
    assert SECRET not in out


def test_a_wt32_eth01_with_a_static_address_sets_it_on_its_lan(run_on_esp32_stand_ins):
    from scanmail.hardware import profiles

    config = profiles.board_config("wt32-eth01")
    out = run_on_esp32_stand_ins(
        "import network\n"
        "from scanmail.firmware.board_esp32 import Esp32Board\n"
        "board = Esp32Board(%r)\n"
        "board.net.configure({'network': 'ethernet', 'static': ('10.0.0.50', '255.255.255.0', '10.0.0.1', '10.0.0.1')})\n"
        "print('address', board.net.address())\n"
        "print('ifconfig', [c for c in network.calls if c[0] == 'ifconfig'])\n" % config
    )
    lines = dict(line.split(" ", 1) for line in out.strip().splitlines())
    assert lines["address"] == "10.0.0.50"
    assert lines["ifconfig"] == "[('ifconfig', ('10.0.0.50', '255.255.255.0', '10.0.0.1', '10.0.0.1'))]"


def test_a_wifi_scan_lists_each_network_once_strongest_first(run_on_esp32_stand_ins):
    out = run_on_esp32_stand_ins(
        "from scanmail.firmware.board_esp32 import Esp32Board\n"
        "print(Esp32Board({'name': 'x'}).net.scan())\n"
    )
    assert out.strip() == "[('OfficeNet', -48, True), ('Guests', -70, False)]"


# --- the stand-ins follow the ESP32 stubs ------------------------------------------------------
# Each stand-in class, method, function and constant must exist in the MicroPython ESP32 stubs
# (PyPI micropython-esp32-stubs, the same ones the firmware's type check uses), with the same
# constant values, and accept exactly the calls the stub allows: every call the stub's signature
# (each overload) takes binds to the stand-in, and an argument the stub does not know is refused,
# so a stand-in cannot quietly accept what a board would not. What the stubs lack but the ESP32
# port has is listed here by name, with where it comes from.
import ast
import inspect
from importlib.metadata import distribution

STAND_INS = {"network": STAND_IN_NETWORK, "machine": STAND_IN_MACHINE, "ntptime": STAND_IN_NTPTIME,
             "neopixel": STAND_IN_NEOPIXEL}
# Names the tests use to steer and observe a stand-in; no board has them.
TEST_CONTROLS = {"calls", "wlan_statuses", "lan_link_up", "static", "access_points", "failures", "attempts", "rtc_set",
                 "shown", "ResetRequested", "_UNSET"}
# network.LAN on the ESP32 port (ports/esp32/network_lan.c, the ESP32 quickref) takes the RMII
# pins as keywords and a default id; the stub, made from the generic network.LAN docs, has neither.
ESP32_PORT_PARAMETERS = {("network", "LAN.__init__"): {"mdc", "mdio", "power", "ref_clk"}}


def stub_tree(module):
    for path in distribution("micropython-esp32-stubs").files:
        if str(path) == module + ".pyi":
            return ast.parse(path.read_text())
    raise AssertionError("micropython-esp32-stubs has no %s.pyi" % module)


def signature(node, method):
    """inspect.Signature of an ast function (without self), defaults as 0."""
    a = node.args
    positional = a.posonlyargs + a.args
    defaults = [None] * (len(positional) - len(a.defaults)) + list(a.defaults)
    params = []
    for i, (arg, default) in enumerate(zip(positional, defaults)):
        kind = (inspect.Parameter.POSITIONAL_ONLY if i < len(a.posonlyargs)
                else inspect.Parameter.POSITIONAL_OR_KEYWORD)
        params.append(inspect.Parameter(arg.arg, kind, default=inspect.Parameter.empty
                                        if default is None else 0))
    if a.vararg:
        params.append(inspect.Parameter(a.vararg.arg, inspect.Parameter.VAR_POSITIONAL))
    for arg, default in zip(a.kwonlyargs, a.kw_defaults):
        params.append(inspect.Parameter(arg.arg, inspect.Parameter.KEYWORD_ONLY,
                                        default=inspect.Parameter.empty if default is None else 0))
    if a.kwarg:
        params.append(inspect.Parameter(a.kwarg.arg, inspect.Parameter.VAR_KEYWORD))
    return inspect.Signature(params[1:] if method else params)


def members(tree):
    """name -> ('function', [overloads]) | ('class', {member: [overloads]}) | ('value', literal)."""
    out = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef):
            out.setdefault(node.name, ("function", []))[1].append(node)
        elif isinstance(node, ast.ClassDef):
            # (network.pyi defines LAN twice, the second time with active() only: both count)
            methods = out.get(node.name, ("class", {}))[1]
            for item in node.body:
                if isinstance(item, ast.FunctionDef):
                    if not isinstance(methods.get(item.name, []), list):
                        methods[item.name] = []
                    methods.setdefault(item.name, []).append(item)
                elif isinstance(item, (ast.Assign, ast.AnnAssign)):
                    for target in (item.targets if isinstance(item, ast.Assign) else [item.target]):
                        methods[target.id] = item.value
            out[node.name] = ("class", methods)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            for target in (node.targets if isinstance(node, ast.Assign) else [node.target]):
                if isinstance(target, ast.Name):
                    out[target.id] = ("value", node.value)
    return out


def literal(node):
    try:
        return ast.literal_eval(node) if node is not None else None
    except ValueError:
        return None


def calls_of(stub):
    """The calls a stub signature takes: only what it requires, and everything it names."""
    required_args, required_kwargs, all_args, all_kwargs = [], {}, [], {}
    for p in stub.parameters.values():
        if p.kind == p.POSITIONAL_ONLY:
            all_args.append(1)
            if p.default is p.empty:
                required_args.append(1)
        elif p.kind == p.POSITIONAL_OR_KEYWORD:
            all_kwargs[p.name] = 1
            if p.default is p.empty:
                required_args.append(1)
        elif p.kind == p.KEYWORD_ONLY:
            all_kwargs[p.name] = 1
            if p.default is p.empty:
                required_kwargs[p.name] = 1
    return (required_args, required_kwargs), (all_args, all_kwargs)


def mismatches(module, name, stand_in_node, stub_nodes, method):
    where = "%s.%s" % (module, name)
    extras = ESP32_PORT_PARAMETERS.get((module, name), set())
    mine = signature(stand_in_node, method)
    found = []
    for stub_node in stub_nodes:
        stub = signature(stub_node, method)
        for args, kwargs in calls_of(stub):
            try:
                mine.bind(*args, **kwargs)
            except TypeError as e:
                found.append("%s%s does not take a call the stub %s allows: %s" % (
                    where, mine, stub, e))
        kinds = [p.kind for p in stub.parameters.values()]
        if inspect.Parameter.VAR_KEYWORD not in kinds:
            (args, kwargs), _ = calls_of(stub)
            try:
                mine.bind(*args, not_a_parameter_of_the_stub=1, **kwargs)
                found.append("%s%s takes arguments the stub %s does not" % (where, mine, stub))
            except TypeError:
                pass
    stub_names = set(p.name for node in stub_nodes for p in signature(node, method).parameters.values())
    for p in mine.parameters.values():
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD) and not any(
                q.kind == p.kind for node in stub_nodes for q in signature(node, method).parameters.values()):
            found.append("%s takes *args or **kwargs, which the stub does not" % where)
        if p.kind == p.KEYWORD_ONLY and p.name not in stub_names | extras:
            found.append("%s has keyword %r, which neither the stub nor the port has" % (where, p.name))
    return found


def test_every_stand_in_follows_the_esp32_stubs():
    problems = []
    for module, source in STAND_INS.items():
        stub = members(stub_tree(module))
        for name, (kind, value) in members(ast.parse(source)).items():
            if name in TEST_CONTROLS:
                continue
            if name not in stub:
                problems.append("%s.%s is not in the ESP32 stubs" % (module, name))
            elif kind == "value":
                if stub[name][0] != "value" or literal(stub[name][1]) not in (None, literal(value)):
                    problems.append("%s.%s = %r, the stub says %r" % (
                        module, name, literal(value), literal(stub[name][1])))
            elif kind == "function":
                problems += mismatches(module, name, value[0], stub[name][1], False)
            else:
                stub_class = stub[name][1]
                for member, nodes in value.items():
                    if member == "__repr__":
                        continue
                    if member not in stub_class:
                        problems.append("%s.%s.%s is not in the ESP32 stubs" % (module, name, member))
                    elif isinstance(nodes, list):
                        problems += mismatches(module, "%s.%s" % (name, member), nodes[0],
                                               stub_class[member], True)
                    elif literal(stub_class[member]) not in (None, literal(nodes)):
                        problems.append("%s.%s.%s = %r, the stub says %r" % (
                            module, name, member, literal(nodes), literal(stub_class[member])))
    assert not problems, "\n".join(problems)


FREE_FORM_LAN = "class LAN:\n    def __init__(self, *args, **kwargs):\n        pass\n"


def test_the_check_refuses_a_stand_in_that_takes_anything():
    stub = members(stub_tree("network"))["LAN"][1]["__init__"]
    mine = members(ast.parse(FREE_FORM_LAN))["LAN"][1]["__init__"][0]
    assert mismatches("network", "LAN.__init__", mine, stub, True)
