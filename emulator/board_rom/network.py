# `network` for a virtual board: a Wi-Fi station (or Ethernet LAN) that is up as soon as it is
# connected, with the board's own address from the supervisor. Rule: the same calls as the esp32
# port, and a wrong Wi-Fi password fails as it does there when the board is configured with one;
# link_up() says whether an interface is connected, which the board's `socket` requires (as an
# ESP32 without a connected interface has no route). ifconfig(tuple) sets a static address, which
# ifconfig() then reports; WLAN.scan() lists the supervisor's access point (or one open network).
import _vboard_host

STA_IF = 0
AP_IF = 1
STAT_IDLE = 1000
STAT_CONNECTING = 1001
STAT_GOT_IP = 1010
STAT_WRONG_PASSWORD = 202
STAT_NO_AP_FOUND = 201

_NETMASK = "255.0.0.0"
_GATEWAY = "127.0.0.1"


_link = {}  # interface object -> connected


def link_up():
    """True while a WLAN station or a LAN of this board is connected."""
    for up in _link.values():
        if up:
            return True
    return False


def _ifconfig(static=None):
    if static:
        return tuple(static)
    ip = _vboard_host.config().get("ip", "127.0.0.1")
    return (ip, _NETMASK, _GATEWAY, _GATEWAY)


def _access_points():
    """(ssid, bssid, channel, RSSI, security, hidden) of the networks in range, as WLAN.scan()
    gives them: the supervisor's access point when it names one, else a single open one."""
    wifi = _vboard_host.config().get("wifi") or {}
    ssid = wifi.get("ssid") or "scanmail-virtual"
    return [(ssid.encode(), b"\x02\x00\x00\x00\x00\x01", 6, -55, 3 if wifi.get("key") else 0, False)]


class WLAN:
    def __init__(self, interface=STA_IF):
        self._interface = interface
        self._active = False
        self._status = STAT_IDLE
        self._static = None

    def active(self, state=None):
        if state is None:
            return self._active
        self._active = bool(state)
        if not self._active:
            self._status = STAT_IDLE
            _link[id(self)] = False

    def connect(self, ssid=None, key=None, bssid=None):
        if not self._active:
            raise OSError("Wifi Not Started")
        wifi = _vboard_host.config().get("wifi")  # {"ssid": ..., "key": ...} or None: any
        if wifi and ssid != wifi.get("ssid"):
            self._status = STAT_NO_AP_FOUND
        elif wifi and key != wifi.get("key"):
            self._status = STAT_WRONG_PASSWORD
        else:
            self._status = STAT_GOT_IP
        _link[id(self)] = self._status == STAT_GOT_IP

    def disconnect(self):
        self._status = STAT_IDLE
        _link[id(self)] = False

    def isconnected(self):
        return self._active and self._status == STAT_GOT_IP

    def status(self, param=None):
        if param == "rssi":
            return -55
        return self._status

    def ifconfig(self, value=None):
        if value is None:
            return _ifconfig(self._static) if self.isconnected() else ("0.0.0.0",) * 4
        self._static = tuple(value)

    def scan(self):
        if not self._active:
            raise OSError("Wifi Not Started")
        return _access_points()

    def config(self, *args, **kwargs):
        if args and args[0] == "mac":
            return _vboard_host.unique_id()
        return None


class LAN:
    """Ethernet (WT32-ETH01 and friends): up once active."""

    def __init__(self, *args, **kwargs):
        self._active = False
        self._static = None

    def active(self, state=None):
        if state is None:
            return self._active
        self._active = bool(state)
        _link[id(self)] = self._active

    def isconnected(self):
        return self._active

    def status(self):
        return STAT_GOT_IP if self._active else STAT_IDLE

    def ifconfig(self, value=None):
        if value is None:
            return _ifconfig(self._static) if self._active else ("0.0.0.0",) * 4
        self._static = tuple(value)
