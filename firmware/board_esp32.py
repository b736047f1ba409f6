# The real ESP32 behind the board interface (Contract 1, firmware/board.py): Wi-Fi or Ethernet,
# NTP time, a status LED, the camera of camera builds, and reset.
# Rule: hardware modules (network, machine, ntptime, neopixel, camera) are imported inside the
# function that needs them, on first use, never at module level; every failure the user can fix
# raises BoardError saying what to do, and no error, repr or log line ever contains the Wi-Fi
# password.
#
# config (a dict, every key optional; the tables mirror hardware/boards/<id>.toml):
#   name          EHLO host name; default "scanner-" + the last 2 bytes of machine.unique_id()
#   network       "wifi" | "ethernet"                        (default "wifi")
#   wifi          {"ssid": ..., "password": ...}
#   ethernet      {"phy": "LAN8720", "phy_addr": 1, "mdc": 23, "mdio": 18, "power": 16,
#                  "ref_clk": 0, "ref_clk_mode": "input"}
#   pins          {"status_led": 2, "status_led_active_low": false, "status_led_kind": "led"|"neopixel"}
#   scanner       "none" | "ov2640"                          (default: the camera if the build has one)
#   static        (ip, netmask, gateway, dns) for a fixed address, or None for DHCP (default)
#   ntp_host      NTP server (default: ntptime's, pool.ntp.org)
#   connect_timeout_s  how long Wi-Fi/Ethernet may take to come up (default 20)
#   storage_root  default "/"
# Without a config, Esp32Board reads /board.json, which `scanmail flash --profile ID` writes from
# the board's profile (hardware.profiles.board_config).
from scanmail.firmware.board_parts import STATUS_STATES, BoardError, NullStatusLight, SocketNet, SystemClock
from scanmail.firmware.compat import sleep_ms, ticks_diff, ticks_ms

CONNECT_TIMEOUT_S = 20
NTP_ATTEMPTS = 3
NTP_RETRY_AFTER_S = 60

# network.STAT_* name -> (what happened, what to do). Names are looked up on the network module:
# not every build defines every code.
_WIFI_FAILURES = (
    ("STAT_WRONG_PASSWORD", "refused the password",
     "re-enter the Wi-Fi password in the scanner's settings"),
    ("STAT_NO_AP_FOUND", "was not found",
     "check the network name (SSID, case matters) and that a 2.4 GHz access point is in range"),
    ("STAT_HANDSHAKE_TIMEOUT", "did not complete the WPA handshake",
     "usually a wrong password: re-enter it; otherwise move the scanner closer to the access point"),
    ("STAT_ASSOC_FAIL", "refused to associate",
     "check that the access point allows new devices (MAC filter, client limit)"),
    ("STAT_CONNECT_FAIL", "could not be joined",
     "check the access point's security mode (WPA2/WPA3-transition work) and the signal"),
)


class Esp32Net(SocketNet):
    """TCP over the ESP32's Wi-Fi or Ethernet interface, brought up on first use."""

    def __init__(self, config):
        super().__init__()
        self._config = dict(config)
        self._interface = None

    def configure(self, settings):
        """Take the scanner's own network settings (firmware/app/network_setup.py): `network`
        (wifi | ethernet), `wifi` {ssid, password} and `static` (a tuple, or None for DHCP). The
        interface is joined again with them on the next connection."""
        for key in ("network", "wifi", "static"):
            if key in settings:
                self._config[key] = settings[key]
        interface, self._interface = self._interface, None
        if interface is not None and hasattr(interface, "disconnect"):
            interface.disconnect()

    def is_up(self):
        return self._interface is not None and self._interface.isconnected()

    def _ensure_up(self):
        if self.is_up():
            return
        timeout_s = self._config.get("connect_timeout_s", CONNECT_TIMEOUT_S)
        static = self._config.get("static")
        if self._config.get("network", "wifi") == "ethernet":
            self._interface = start_ethernet(self._config.get("ethernet") or {}, timeout_s, static)
        else:
            wifi = self._config.get("wifi") or {}
            self._interface = connect_wifi(wifi.get("ssid"), wifi.get("password"), timeout_s, static)

    def address(self):
        self._ensure_up()
        return self._interface.ifconfig()[0]

    def scan(self):
        """The Wi-Fi networks in range: [(ssid, rssi, secured)], strongest first."""
        import network

        wlan = network.WLAN(network.STA_IF)
        wlan.active(True)
        found = {}
        for ssid, _bssid, _channel, rssi, security, _hidden in wlan.scan():
            name = ssid.decode("utf-8", "replace") if isinstance(ssid, bytes) else ssid
            if name and (name not in found or found[name][1] < rssi):
                found[name] = (name, rssi, security != 0)
        return sorted(found.values(), key=lambda network_found: -network_found[1])


def _wifi_failure(network, status, ssid):
    for name, what, what_to_do in _WIFI_FAILURES:
        code = getattr(network, name, None)
        if code is not None and status == code:
            return BoardError(
                "Wi-Fi network %r %s (status %d, %s)" % (ssid, what, status, name[5:]), what_to_do
            )
    return None


def connect_wifi(ssid, password, timeout_s=CONNECT_TIMEOUT_S, static=None):
    """Join `ssid` as a station; return the WLAN once it has an address, else raise BoardError.
    `static` (ip, netmask, gateway, dns) is set before joining, so no DHCP request goes out."""
    import network

    if not ssid:
        raise BoardError(
            "no Wi-Fi network configured", "set the Wi-Fi name (SSID) and password in the scanner's settings"
        )
    wlan = network.WLAN(network.STA_IF)
    wlan.active(True)
    if static:
        wlan.ifconfig(static)
    if wlan.isconnected():
        return wlan
    wlan.connect(ssid, password or "")
    started = ticks_ms()
    got_ip = getattr(network, "STAT_GOT_IP", None)
    # The ESP32 driver stops after an authentication failure but keeps retrying after the others
    # (an access point missed in one scan, a lost handshake): those are reported at the deadline.
    wrong_password = getattr(network, "STAT_WRONG_PASSWORD", None)
    while True:
        status = wlan.status()
        if wlan.isconnected() or (got_ip is not None and status == got_ip):
            return wlan
        if wrong_password is not None and status == wrong_password:
            wlan.disconnect()
            raise _wifi_failure(network, status, ssid)
        if ticks_diff(ticks_ms(), started) > timeout_s * 1000:
            wlan.disconnect()
            failure = _wifi_failure(network, status, ssid)
            if failure is not None:
                raise failure
            raise BoardError(
                "Wi-Fi network %r did not give an address within %s s (last status %r)" % (ssid, timeout_s, status),
                "check the signal strength and that the network's DHCP server has free addresses",
            )
        sleep_ms(100)


def start_ethernet(pins, timeout_s=CONNECT_TIMEOUT_S, static=None):
    """Start the Ethernet PHY (LAN8720 on WT32-ETH01) and wait for the link and a DHCP address
    (or set `static`, (ip, netmask, gateway, dns), and wait for the link only)."""
    import machine
    import network

    missing = [key for key in ("mdc", "mdio") if pins.get(key) is None]
    if missing:
        raise BoardError(
            "Ethernet pins not configured (missing %s)" % ", ".join(missing),
            "use the board profile's [ethernet] table (WT32-ETH01: mdc 23, mdio 18, power 16, phy_addr 1)",
        )
    phy_name = pins.get("phy", "LAN8720")
    phy_type = getattr(network, "PHY_" + phy_name, None)
    if phy_type is None:
        raise BoardError("this build has no driver for the %s PHY" % phy_name, "flash a stock ESP32 build")
    options = {
        "mdc": machine.Pin(pins["mdc"]),
        "mdio": machine.Pin(pins["mdio"]),
        "phy_type": phy_type,
        "phy_addr": pins.get("phy_addr", 0),
    }
    if pins.get("power") is not None:
        options["power"] = machine.Pin(pins["power"])
    if pins.get("ref_clk") is not None:
        options["ref_clk"] = machine.Pin(pins["ref_clk"])
        options["ref_clk_mode"] = machine.Pin.IN if pins.get("ref_clk_mode", "input") == "input" else machine.Pin.OUT
    try:
        # The ESP32 port takes mdc/mdio/power/ref_clk keywords (MicroPython docs, network.LAN)
        # although the stubs' LAN signature lists only the generic ones: pass them as a dict.
        lan = network.LAN(**options)
        lan.active(True)
        if static:
            lan.ifconfig(static)
    except (OSError, ValueError) as e:
        raise BoardError(
            "the Ethernet PHY did not start (%s)" % e,
            "check the [ethernet] pins and phy_addr against the board (WT32-ETH01: phy_addr 1, power 16)",
        ) from None
    started = ticks_ms()
    while not lan.isconnected():
        if ticks_diff(ticks_ms(), started) > timeout_s * 1000:
            raise BoardError(
                "no Ethernet link or no DHCP address within %s s" % timeout_s,
                "check the cable and the switch port's link light, and that the network has a DHCP server",
            )
        sleep_ms(100)
    return lan


class Esp32Clock(SystemClock):
    """UTC seconds since 1970 from the RTC, set by NTP once the network is up; None until then."""

    def __init__(self, net, ntp_host=None, read_time=None):
        super().__init__(read_time)
        self._net = net
        self._ntp_host = ntp_host
        self._last_attempt_ms = None

    def now(self):
        seconds = super().now()
        if seconds is not None or not self._net.is_up():
            return seconds
        if self._last_attempt_ms is None or ticks_diff(ticks_ms(), self._last_attempt_ms) > NTP_RETRY_AFTER_S * 1000:
            self.sync()
            seconds = super().now()
        return seconds

    def sync(self, attempts=NTP_ATTEMPTS):
        """Set the RTC from NTP; True when it worked. Retries with a growing pause."""
        import ntptime

        if self._ntp_host:
            ntptime.host = self._ntp_host
        self._last_attempt_ms = ticks_ms()
        for attempt in range(attempts):
            try:
                ntptime.settime()
                return True
            except OSError:
                if attempt + 1 < attempts:
                    sleep_ms(500 * (attempt + 1))
        return False


def _check_state(state):
    if state not in STATUS_STATES:
        raise ValueError("status light state %r; allowed: %s" % (state, " | ".join(STATUS_STATES)))


class LedStatusLight:
    """One LED: on while busy or after an error, off when idle or done."""

    def __init__(self, pin_number, active_low=False):
        self._pin_number = pin_number
        self._active_low = active_low
        self._pin = None
        self.state = None

    def set(self, state):
        _check_state(state)
        if self._pin is None:
            import machine

            self._pin = machine.Pin(self._pin_number, machine.Pin.OUT)
        lit = state in ("busy", "error")
        self._pin.value(0 if lit == self._active_low else 1)
        self.state = state


class NeoPixelStatusLight:
    """An addressable RGB LED (ESP32-S3-DevKitC-1): blue busy, green ok, red error, dark idle."""

    COLOURS = {"idle": (0, 0, 0), "busy": (0, 0, 32), "ok": (0, 32, 0), "error": (32, 0, 0)}

    def __init__(self, pin_number):
        self._pin_number = pin_number
        self._pixels = None
        self.state = None

    def set(self, state):
        _check_state(state)
        if self._pixels is None:
            import machine
            import neopixel

            self._pixels = neopixel.NeoPixel(machine.Pin(self._pin_number), 1)
        self._pixels[0] = self.COLOURS[state]
        self._pixels.write()
        self.state = state


def status_light_for(pins):
    if not pins or pins.get("status_led") is None:
        return NullStatusLight()
    if pins.get("status_led_kind") == "neopixel":
        return NeoPixelStatusLight(pins["status_led"])
    return LedStatusLight(pins["status_led"], bool(pins.get("status_led_active_low")))


class FramePage:
    """One camera frame (the JPEG bytes the driver returned) read out as a page stream."""

    def __init__(self, frame):
        self._frame = memoryview(frame)
        self._at = 0

    def readinto(self, buf):
        n = min(len(buf), len(self._frame) - self._at)
        buf[:n] = self._frame[self._at:self._at + n]
        self._at += n
        return n

    def close(self):
        self._frame = memoryview(b"")


class CameraScanner:
    """The OV2640 of an ESP32-CAM through the `camera` module of esp32-camera builds, as the
    scanner contract's sheet feeder (firmware/board.py): each scan is one page, the frame the camera
    takes when the application asks for it, then the feeder is empty until the next scan. The
    driver returns the frame whole (in PSRAM on these boards); the page is read out of it in the
    application's buffer-sized pieces."""

    def __init__(self, camera):
        self._camera = camera
        self._taken = False

    def next_page(self):
        if self._taken:
            self._taken = False
            return None
        page = FramePage(self._capture())
        self._taken = True
        return page

    def _capture(self):
        camera = self._camera
        if hasattr(camera, "Camera"):  # cnadler86/micropython-camera-API
            device = camera.Camera()
            try:
                image = device.capture()
            finally:
                device.deinit()
        else:  # lemariva/micropython-camera-driver
            if not camera.init(0, format=camera.JPEG, fb_location=camera.PSRAM):
                raise BoardError(
                    "the camera did not start",
                    "reseat the OV2640 ribbon cable and power the board from a 5 V supply",
                )
            try:
                image = camera.capture()
            finally:
                camera.deinit()
        if not image:
            raise BoardError("the camera returned no image", "power-cycle the board and scan again")
        return image


def find_scanner(kind=None):
    """The camera scanner when the build has a camera module (and the config does not say none)."""
    if kind == "none":
        return None
    try:
        import camera  # type: ignore[import-not-found]  # only esp32-camera builds have it
    except ImportError:
        return None
    return CameraScanner(camera)


def default_name():
    import machine

    uid = machine.unique_id()
    return "scanner-%02x%02x" % (uid[-2], uid[-1])


BOARD_FILE = "/board.json"     # the board's hardware, written by `scanmail flash --profile ID`


def read_board_file(path=None):
    """The config `scanmail flash --profile` wrote (the profile's network, ethernet pins, status
    light and scanner); {} when there is none or it cannot be read (the network's status then says
    what is missing)."""
    import json

    try:
        f = open(path or BOARD_FILE)
    except OSError:
        return {}
    try:
        config = json.load(f)
    except ValueError:
        return {}
    finally:
        f.close()
    return config if isinstance(config, dict) else {}


class Esp32Board:
    """The ESP32 this firmware runs on; parts are built from `config` on first use (by default
    the board file `scanmail flash --profile` wrote)."""

    def __init__(self, config=None):
        config = read_board_file() if config is None else config
        self.name = config.get("name") or default_name()
        self.net = Esp32Net(config)
        self.clock = Esp32Clock(self.net, config.get("ntp_host"))
        self.storage_root = config.get("storage_root", "/")
        self.scanner = find_scanner(config.get("scanner"))
        self.status_light = status_light_for(config.get("pins"))
        self.network_kind = config.get("network", "wifi")

    def reset(self):
        import machine

        machine.reset()

    def __repr__(self):
        return "<Esp32Board %s %s>" % (self.name, self.network_kind)
