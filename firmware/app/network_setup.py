# The scanner's network, from its configuration: which interface (the board profile's, or what the
# configuration chooses), the Wi-Fi network and its password (a secret), DHCP or a static address
# with gateway and DNS; and the one status line that says how the network is (the `status` console
# command shows it). Rule: the board's net takes the settings (`board.net.configure`) and joins with
# them on its next connection; nothing here talks to hardware, and no line built here ever holds
# the Wi-Fi password.

# the configuration keys that change the network: a change joins again with them
KEYS = ("network", "wifi_ssid", "ip", "gateway", "dns")


def is_ipv4(text):
    parts = text.split(".") if isinstance(text, str) else ()
    if len(parts) != 4:
        return False
    for part in parts:
        if not part or not part.isdigit() or len(part) > 3 or int(part) > 255:
            return False
    return True


def netmask(prefix):
    bits = (0xFFFFFFFF << (32 - prefix)) & 0xFFFFFFFF
    return "%d.%d.%d.%d" % (bits >> 24, (bits >> 16) & 255, (bits >> 8) & 255, bits & 255)


def static_problem(values):
    """What is wrong with a static address in `values` (words), or None (also for DHCP)."""
    if values["ip"] == "dhcp":
        return None
    address, _, prefix = values["ip"].partition("/")
    if not is_ipv4(address) or not prefix.isdigit() or not 1 <= int(prefix) <= 32:
        return "ip", "dhcp, or a static IPv4 address with its prefix such as 192.168.1.50/24"
    if values["gateway"] and not is_ipv4(values["gateway"]):
        return "gateway", "the router's IPv4 address such as 192.168.1.1, or \"\" for none"
    for server in values["dns"]:
        if not is_ipv4(server):
            return "dns", "with a static ip, DNS servers are IPv4 addresses such as 192.168.1.1"
    return None


def interface(values, board_kind):
    """wifi | ethernet: the configuration's choice, or the board profile's for auto."""
    chosen = values["network"]
    return (board_kind or "wifi") if chosen == "auto" else chosen


def interface_problem(values, board_kind):
    """Words for a configuration that asks for Ethernet on a board whose profile has none, else None."""
    if interface(values, board_kind) == "ethernet" and board_kind == "wifi":
        return "network is ethernet, but this board has no Ethernet port (its profile: wifi): " \
               "set network to wifi or auto"
    return None


def board_settings(values, secrets, board_kind):
    """What board.net.configure takes: {"network", "wifi": {ssid, password}, "static"}."""
    password = secrets.get("wifi_password") if secrets is not None else None
    static = None
    if values["ip"] != "dhcp":
        address, _, prefix = values["ip"].partition("/")
        gateway = values["gateway"]
        dns = values["dns"][0] if values["dns"] else (gateway or address)
        static = (address, netmask(int(prefix)), gateway or address, dns)
    return {"network": interface(values, board_kind),
            "wifi": {"ssid": values["wifi_ssid"], "password": password.decode() if password else ""},
            "static": static}


def describe(settings, address):
    """The status line of a network that is up, e.g. "wifi 'OfficeNet', 192.168.1.50 (static,
    gateway 192.168.1.1, dns 1.1.1.1)"."""
    kind = settings["network"]
    if kind == "wifi" and settings["wifi"]["ssid"]:
        kind = "wifi %r" % settings["wifi"]["ssid"]
    static = settings["static"]
    if static:
        return "%s, %s (static, gateway %s, dns %s)" % (kind, address, static[2], static[3])
    return "%s, %s (DHCP)" % (kind, address)
