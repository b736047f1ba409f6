# The board interface (Contract 1 in docs/architecture.md) for a virtual board, on MicroPython and
# CPython alike. `firmware.board.open_board()` returns `VirtualBoard()` when this module is
# importable. Rule: everything a real ESP32 would get from its hardware comes from here, and the
# network behaves like a network: names resolve only to the fake tenant's listeners, the board binds
# its own source address, and the switches in <state>/net.json (read on every open_tcp) block ports,
# add latency, cap bandwidth or drop the link (the last three through the supervisor's relay).
import socket
import time

import _vboard_host
from board_link import HARD_RESET_EXIT

# Ports each tenant endpoint answers on, as the real service does: submission also on 25.
_ENDPOINT_PORTS = {"submission": (587, 25), "mx": (25,), "hve": (587,)}
_LOGIN_NAMES = ("login.microsoftonline.com", "login.microsoft.com", "login.windows.net")
_ECONNREFUSED = 111
_ETIMEDOUT = 110
_ENETUNREACH = 101
_EAI_NONAME = -2
_EINVAL = 22
_CONNECT_GIVES_UP_S = 20  # a socket without a timeout: when lwIP stops resending the SYN


# The same test as firmware/profiles.py makes; the ROM cannot import firmware (a board's flash may
# not hold it, or hold another version).
def _is_ipv4(text):
    parts = text.split(".")
    if len(parts) != 4:
        return False
    for part in parts:
        if not part.isdigit() or int(part) > 255:
            return False
    return True


def _sockaddr(host, port):
    return socket.getaddrinfo(host, port)[0][-1]


class VirtualNet:
    """The board's network: `open_tcp` returns a connected plain socket (the caller wraps TLS)."""

    def __init__(self, config):
        self._config = config
        self._ip = config.get("ip", "127.0.0.1")
        self._settings = None     # the scanner's own network settings, once configure() gave them
        self._interface = None

    def configure(self, settings):
        """The scanner's network settings, as the ESP32's net takes them (network wifi|ethernet,
        wifi {ssid, password}, static (ip, netmask, gateway, dns) or None): the ROM's network.WLAN
        or LAN is joined with them on the next connection, and a static address becomes the
        board's own source address (the virtual network is 127.0.0.0/8, so it must be there)."""
        self._settings = settings
        if self._interface is not None:
            self._interface.active(False)
        self._interface = None

    def _ensure_up(self):
        settings = self._settings
        if settings is None or (self._interface is not None and self._interface.isconnected()):
            return
        wifi = settings.get("wifi") or {}
        if settings.get("network") != "ethernet" and not wifi.get("ssid") and not settings.get("static"):
            return    # nothing of its own configured: the link `scanmail board start` gave it stays
        import network

        static = settings.get("static")
        if static and not static[0].startswith("127."):
            raise OSError(_ENETUNREACH, "the static address %s is not on this virtual board's network "
                                        "(127.0.0.0/8): set ip to one there such as 127.0.0.77/8, or "
                                        "dhcp" % static[0])
        if settings.get("network") == "ethernet":
            interface = network.LAN()
            interface.active(True)
        else:
            if not wifi.get("ssid"):
                raise OSError(_ENETUNREACH, "no Wi-Fi network configured: set wifi_ssid and the "
                                            "wifi_password secret (or provision it by Improv Serial)")
            interface = network.WLAN(network.STA_IF)
            interface.active(True)
            interface.connect(wifi["ssid"], wifi.get("password") or "")
            if not interface.isconnected():
                status = interface.status()
                interface.active(False)
                raise OSError(_ENETUNREACH, "Wi-Fi network %r %s" % (wifi["ssid"], "refused the password"
                              if status == network.STAT_WRONG_PASSWORD else "was not found"))
        if static:
            interface.ifconfig(static)
        self._interface = interface
        self._ip = interface.ifconfig()[0]

    def address(self):
        self._ensure_up()
        return self._ip

    def scan(self):
        """The Wi-Fi networks in range of the virtual board: [(ssid, rssi, secured)]."""
        import network

        wlan = network.WLAN(network.STA_IF)
        wlan.active(True)
        return [(ssid.decode(), rssi, security != 0) for ssid, _b, _c, rssi, security, _h in wlan.scan()]

    def switches(self):
        """The live network switches (written by `scanmail board net`); {} when none are set."""
        path = self._config.get("net_switches")
        try:
            return _vboard_host.read_json(path, {}) or {}
        except ValueError:
            raise OSError(_EINVAL, "this board's network switches (%s) are not valid JSON; reset them "
                                   "with `scanmail board net --clear`" % path)

    def resolve(self, host, port):
        """(address, port) of the listener that answers for host:port, like a DNS lookup plus
        routing. Raises OSError as a failed lookup for unknown names."""
        if _is_ipv4(host):
            if not host.startswith("127."):
                raise OSError(
                    _ENETUNREACH,
                    "network unreachable: the virtual network reaches only 127.0.0.0/8 and the "
                    "fake tenant's host names, not %s" % host,
                )
            return host, port
        tenant_state = self._config.get("tenant_state")
        endpoints = None
        if tenant_state:
            endpoints = _vboard_host.read_json(tenant_state + "/endpoints.json", None)
        if not endpoints:
            raise OSError(
                _EAI_NONAME,
                "getaddrinfo failed for %s: no fake tenant is attached to this board (start the "
                "tenant, then the board with --tenant-state DIR)" % host,
            )
        wanted = host.lower().rstrip(".")
        known = []
        login = endpoints.get("login")      # the fake Entra ID: "https://127.0.0.1:N"
        if login:
            known.extend(_LOGIN_NAMES)
            if wanted in _LOGIN_NAMES:
                if port != 443:
                    return None, port
                address, _, login_port = login.split("//")[-1].rpartition(":")
                return address, int(login_port)
        for role, endpoint in endpoints.get("endpoints", {}).items():
            name = str(endpoint.get("hostname", "")).lower()
            known.append(name)
            if name != wanted:
                continue
            if port in _ENDPOINT_PORTS.get(role, (endpoint.get("port"),)):
                return endpoint["host"], endpoint["port"]
            return None, port  # the name exists but nothing answers on that port
        raise OSError(
            _EAI_NONAME,
            "getaddrinfo failed for %s: unknown host (the virtual network knows %s)"
            % (host, ", ".join(sorted(known)) or "no names"),
        )

    def open_tcp(self, host, port, timeout_s, local_ip=None):
        sock = socket.socket()
        try:
            self.connect(sock, host, port, timeout_s, local_ip)
        except BaseException:
            sock.close()
            raise
        return sock

    def connect(self, sock, host, port, timeout_s, local_ip=None):
        """Connect `sock` (a fresh host TCP socket) to host:port across the virtual network."""
        self._ensure_up()
        switches = self.switches()
        address, real_port = self.resolve(host, port)
        wait_s = timeout_s if timeout_s is not None else _CONNECT_GIVES_UP_S
        if port in switches.get("block_ports", ()):
            if switches.get("block_mode") == "timeout":
                time.sleep(wait_s)
                raise OSError(
                    _ETIMEDOUT, "connect to %s:%d timed out (outbound port %d is blocked on this "
                    "network)" % (host, port, port)
                )
            raise OSError(
                _ECONNREFUSED,
                "connect to %s:%d refused (outbound port %d is blocked on this network)" % (host, port, port),
            )
        if address is None:  # the real host drops packets to ports it does not serve
            time.sleep(wait_s)
            raise OSError(_ETIMEDOUT, "connect to %s:%d timed out (nothing answers on that port)" % (host, port))
        sock.settimeout(timeout_s)
        sock.bind(_sockaddr(local_ip or self._ip, 0))
        relay = self._config.get("relay")
        shaped = switches.get("latency_ms") or switches.get("bandwidth_kbps") or switches.get("drop_after_bytes")
        if shaped and relay:
            # The supervisor's relay applies latency, bandwidth and drops; it connects onward
            # from this board's address, so the tenant still sees the board's IP.
            sock.connect(_sockaddr(relay[0], relay[1]))
            header = ("VNET %s %d\n" % (address, real_port)).encode()
            sent = 0
            while sent < len(header):
                sent += sock.send(header[sent:])
        else:
            sock.connect(_sockaddr(address, real_port))


class VirtualClock:
    """The board's RTC: None until NTP (ntptime.settime) or RTC().datetime() sets it; it keeps
    time across resets of a running board, and is unset again when the board is started."""

    def __init__(self, config):
        self._path = config.get("rtc")

    def offset(self):
        state = _vboard_host.read_json(self._path, None)
        return None if state is None else state.get("offset", 0)

    def now(self):
        offset = self.offset()
        if offset is None:
            return None
        return int(time.time() + offset)

    def set(self, utc_seconds):
        if self._path:
            _vboard_host.write_json(self._path, {"offset": utc_seconds - time.time()})


class StatusLight:
    STATES = ("idle", "busy", "ok", "error")

    def __init__(self):
        self.state = "idle"

    def set(self, state):
        if state not in self.STATES:
            raise ValueError("status light state must be one of %s, not %r" % (", ".join(self.STATES), state))
        self.state = state


# A one-page PDF, the smallest a mail client shows as a document; the scan number is its text.
_PDF_TEMPLATE = (
    "%%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
    "2 0 obj<</Type/Pages/Kids[3 0 R]/Count 1>>endobj\n"
    "3 0 obj<</Type/Page/Parent 2 0 R/MediaBox[0 0 595 842]/Contents 4 0 R"
    "/Resources<</Font<</F1 5 0 R>>>>>>endobj\n"
    "4 0 obj<</Length %d>>stream\n%s\nendstream endobj\n"
    "5 0 obj<</Type/Font/Subtype/Type1/BaseFont/Helvetica>>endobj\n"
    "trailer<</Root 1 0 R>>\n%%%%EOF\n"
)


class VirtualScanner:
    """Writes a small PDF per scan, as the camera-and-converter of a real scanner board would."""

    def __init__(self):
        self.count = 0

    def scan(self, path):
        self.count += 1
        text = "BT /F1 24 Tf 72 760 Td (virtual scan %d) Tj ET" % self.count
        data = (_PDF_TEMPLATE % (len(text), text)).encode()
        f = open(path, "wb")
        try:
            f.write(data)
        finally:
            f.close()
        return len(data)


class VirtualBoard:
    def __init__(self):
        config = _vboard_host.config()
        self.config = config
        self.name = config.get("hostname", "scanner-virtual")
        self.profile = config.get("profile", "virtual")
        self.network_kind = config.get("network", "wifi")     # the profile's: wifi | ethernet
        self.net = VirtualNet(config)
        self.clock = VirtualClock(config)
        self.storage_root = config.get("storage_root") or _cwd()
        self.scanner = VirtualScanner() if config.get("scanner") not in (None, "none") else None
        self.status_light = StatusLight()
        _add_scanner_and_button(self, config)

    def reset(self):
        # what machine.reset() does (machine imports this module for the RTC, so not the reverse)
        raise SystemExit(HARD_RESET_EXIT)


def _add_scanner_and_button(board, config):
    """The sheet-feeder scanner over the pages the host drew (<state>/scanner/*.jpg) and the scan
    button (virtual_buttons.py), on every virtual board whose state folder has those pages."""
    import virtual_buttons
    import virtual_scanner

    state = config.get("state_dir")
    if state and virtual_scanner.page_names(state + "/scanner"):
        board.scanner = virtual_scanner.VirtualScanner(state + "/scanner")
    board.scan_button = virtual_buttons.Button(config, "scan")


def _cwd():
    import os

    return os.getcwd()
