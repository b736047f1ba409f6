# The scanner's configuration schema: every key, its default and what it allows, in one table.
# Rule: this table is the only place a key is defined; the console, the store and the application
# read it. check(key, value) returns the value in its stored form or raises ConfigError naming the
# key, what is allowed and the value kept. Secrets (passwords, tokens, keys) are never keys here:
# they live in the secret store. Loaded only while a configuration is read, checked or changed
# (config_store.py calls it through call_once), so its tables do not sit in the heap meanwhile.
from scanmail.firmware.app.config_store import VERSION, ConfigError  # noqa: F401  (here too)

# key -> (kind, default). Kinds: choice (CHOICES), int (RANGES), bool, text (LENGTHS, one line),
# address, hosts (a list of host names), book (name -> address), path (a flash path or "").
SCHEMA = {
    "method": ("choice", "submission"),
    "host": ("text", ""),               # "" = the method's own host
    "port": ("int", 0),          # 0 = the method's own port
    "tls": ("choice", ""),
    "auth": ("choice", ""),
    "username": ("text", ""),
    "timeout_s": ("int", 30),
    "sender": ("address", ""),
    "address_book": ("book", {}),
    "default_destination": ("text", ""),
    "subject": ("text", "Scan from {device} {date} {time}"),
    "body": ("text", "{pages} page(s) scanned by {device} on {date} at {time}."),
    "file_type": ("choice", "pdf"),
    "page_size": ("choice", "a4"),
    "quality": ("int", 80),
    "network": ("choice", "auto"),
    "wifi_ssid": ("text", ""),
    "ip": ("text", "dhcp"),              # dhcp, or a.b.c.d/nn (network_setup.py checks it)
    "gateway": ("text", ""),             # with a static ip: the router, "" for none
    "dns": ("hosts", []),                # with a static ip: IPv4 servers ([] = the gateway)
    "improv_url": ("text", ""),          # sent to a web installer once provisioned; {address}, {name}
    "ntp_servers": ("hosts", ["pool.ntp.org"]),
    "utc_offset_min": ("int", 0),
    "ca_path": ("path", ""),           # "" = the bundled roots
    "max_age_s": ("int", 86400),
    "retry_base_s": ("int", 30),
    "keep_sent": ("bool", False),
    "device_name": ("text", ""),         # "" = the board's own name
    # OAuth (auth "xoauth2"): device = a person signs in once by device code; app = app-only
    # (client credentials) as `username`, with a client secret or a certificate (its key a secret)
    "oauth_mode": ("choice", "device"),
    "oauth_tenant": ("text", ""),        # contoso.com or the tenant id
    "oauth_client_id": ("text", ""),     # the app registration's client id
    "oauth_credential": ("choice", "secret"),
    "oauth_thumbprint": ("text", ""),    # the certificate's SHA-1 thumbprint (hex), credential "certificate"
}
CHOICES = {
    "method": ("submission", "direct_send", "relay", "hve", "custom"),
    "tls": ("", "starttls", "opportunistic", "implicit", "none"),
    "auth": ("", "login", "xoauth2", "plain", "none"),
    "file_type": ("pdf", "jpeg"),
    "page_size": ("a4", "letter", "legal"),
    "network": ("auto", "wifi", "ethernet"),
    "oauth_mode": ("device", "app"),
    "oauth_credential": ("secret", "certificate"),
}
RANGES = {
    "port": (0, 65535),
    "timeout_s": (5, 300),
    "quality": (10, 95),
    "utc_offset_min": (-720, 840),
    "max_age_s": (60, 30 * 86400),
    "retry_base_s": (1, 3600),
}
LENGTHS = {
    "host": 253,
    "username": 254,
    "default_destination": 64,
    "subject": 200,
    "body": 1000,
    "wifi_ssid": 32,
    "ip": 18,
    "gateway": 15,
    "improv_url": 200,
    "device_name": 63,
    "oauth_tenant": 253,
    "oauth_client_id": 36,
    "oauth_thumbprint": 59,
}


def defaults():
    out = {}
    for key in SCHEMA:
        value = SCHEMA[key][1]
        out[key] = list(value) if isinstance(value, list) else (dict(value) if isinstance(value, dict) else value)
    return out


def checked(stored, values):
    """Each key of `stored` (a file's settings) checked into `values`; -> the keys dropped (unknown
    to this version, or a value it no longer allows: the default stays)."""
    dropped = []
    for key in stored:
        try:
            values[key] = check(key, stored[key], values.get(key))
        except ConfigError:
            dropped.append(key)
    return dropped


def validated(values, changes):
    """`values` with `changes` applied, each key then the rules between keys checked; raises
    ConfigError for the first refused key (with the value kept)."""
    if not isinstance(changes, dict) or not changes:
        raise ConfigError("changes", "an object of one or more keys to values", None)
    new = dict(values)
    for key in changes:
        new[key] = check(key, changes[key], values.get(key))
    problem = check_whole(new)
    if problem:
        raise ConfigError(problem[0], problem[1], values.get(problem[0]))
    return new

def allowed(key):
    """What `key` allows, in words."""
    kind = SCHEMA[key][0]
    if kind == "choice":
        return " | ".join(repr(c) if c == "" else c for c in CHOICES[key])
    if kind == "int":
        return "an integer %d..%d" % RANGES[key]
    if kind == "bool":
        return "true | false"
    if kind == "text":
        return "text of at most %d characters, one line" % LENGTHS[key]
    if kind == "address":
        return "an e-mail address such as scanner@contoso.com"
    if kind == "hosts":
        return "a list of host names or IPv4 addresses"
    if kind == "book":
        return "an object of names to e-mail addresses, e.g. {\"alice\": \"alice@contoso.com\"}"
    return "an absolute flash path such as /ca.der, or \"\""


def _is_address(value):
    if not isinstance(value, str) or len(value) > 254 or value.count("@") != 1:
        return False
    local, domain = value.split("@")
    return bool(local) and "." in domain and _one_line(value) and " " not in value


def _one_line(value):
    return "\r" not in value and "\n" not in value


def _is_host(value):
    if not isinstance(value, str) or not value or len(value) > 253 or not _one_line(value):
        return False
    for part in value.split("."):
        if not part or len(part) > 63:
            return False
        for c in part.encode():
            if not (48 <= c <= 57 or 65 <= c <= 90 or 97 <= c <= 122 or c == 45):
                return False
    return True


def check(key, value, current=None):
    """`value` as stored for `key`, or ConfigError (with `current` as the value kept)."""
    if key not in SCHEMA:
        raise ConfigError(key, "one of the keys " + ", ".join(sorted(SCHEMA)), None)
    kind = SCHEMA[key][0]
    ok = False
    if kind == "choice":
        ok = value in CHOICES[key]
    elif kind == "int":
        low, high = RANGES[key]
        ok = isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
    elif kind == "bool":
        ok = value is True or value is False
    elif kind == "text":
        ok = isinstance(value, str) and len(value) <= LENGTHS[key] and _one_line(value)
    elif kind == "address":
        ok = value == "" or _is_address(value)
    elif kind == "hosts":
        ok = isinstance(value, list) and len(value) <= 4
        if ok:
            for host in value:
                ok = ok and _is_host(host)
    elif kind == "book":
        ok = isinstance(value, dict) and len(value) <= 32
        if ok:
            for name in value:
                ok = ok and isinstance(name, str) and 0 < len(name) <= 64 and _one_line(name) \
                    and _is_address(value[name])
    elif kind == "path":
        ok = value == "" or (isinstance(value, str) and value.startswith("/") and len(value) < 128
                             and _one_line(value))
    if not ok:
        raise ConfigError(key, allowed(key), current)
    return value


def check_whole(config):
    """Rules between keys, after each key passed on its own: -> (key, problem) or None."""
    if config["default_destination"] and config["default_destination"] not in config["address_book"]:
        return "default_destination", "not a name in address_book (names: %s)" % (
            ", ".join(sorted(config["address_book"])) or "none yet")
    if config["method"] in ("direct_send", "relay") and not config["host"]:
        return "host", "the %s method needs host: your MX endpoint, e.g. " \
                       "contoso-com.mail.protection.outlook.com" % config["method"]
    if config["method"] == "custom" and not config["host"]:
        return "host", "the custom method needs host: the mail server's name"
    if config["auth"] == "xoauth2":
        problem = _oauth_problem(config)
        if problem:
            return problem
    from scanmail.firmware.app.network_setup import static_problem

    return static_problem(config)


def _oauth_problem(config):
    if config["method"] not in ("submission", "hve", "custom"):
        return "auth", "xoauth2 signs in to client submission, HVE or a custom server; %s has no " \
                       "sign-in (auth \"\")" % config["method"]
    if not config["oauth_tenant"]:
        return "oauth_tenant", "xoauth2 needs the tenant: your domain (contoso.com) or the tenant id"
    if not config["oauth_client_id"]:
        return "oauth_client_id", "xoauth2 needs the client id of the app registration the scanner " \
                                  "signs in with"
    if config["oauth_mode"] == "app" and not config["username"]:
        return "username", "app-only sending needs username: the mailbox the app sends as"
    if config["oauth_mode"] == "app" and config["oauth_credential"] == "certificate":
        digits = config["oauth_thumbprint"].replace(":", "")
        if len(digits) != 40 or digits.strip("0123456789abcdefABCDEF"):
            return "oauth_thumbprint", "the certificate's thumbprint: the 40 hex digits the app " \
                                       "registration shows"
    return None
