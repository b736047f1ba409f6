# Every configuration key at the edges of what it allows, on both runtimes: its default, the last
# value kept and the first refused for each number and length, each choice, the address, host,
# address-book and path forms, and the rules between keys. The limits are written here as the user
# is told them (not read from firmware/app/config_schema.py), so a changed limit or a check that
# lets a wrong value through fails here; a refusal must say what is allowed, in the words the
# console shows.
import json

HOST_WORDS = "a list of host names or IPv4 addresses"
ADDRESS_WORDS = "an e-mail address such as scanner@contoso.com"
BOOK_WORDS = "an object of names to e-mail addresses, e.g. {\"alice\": \"alice@contoso.com\"}"
PATH_WORDS = "an absolute flash path such as /ca.der, or \"\""

WORDS = {
    "method": "submission | direct_send | relay | hve | custom",
    "tls": "'' | starttls | opportunistic | implicit | none",
    "auth": "'' | login | xoauth2 | plain | none",
    "file_type": "pdf | jpeg", "page_size": "a4 | letter | legal", "network": "auto | wifi | ethernet",
    "keep_sent": "true | false",
    "sender": ADDRESS_WORDS, "dns": HOST_WORDS, "ntp_servers": HOST_WORDS,
    "address_book": BOOK_WORDS, "ca_path": PATH_WORDS,
}
RANGES = {"port": (0, 65535), "timeout_s": (5, 300), "quality": (10, 95),
          "utc_offset_min": (-720, 840), "max_age_s": (60, 30 * 86400), "retry_base_s": (1, 3600)}
LENGTHS = {"host": 253, "username": 254, "default_destination": 64, "subject": 200, "body": 1000,
           "wifi_ssid": 32, "ip": 18, "gateway": 15, "device_name": 63, "improv_url": 200,
           "oauth_tenant": 253, "oauth_client_id": 36, "oauth_thumbprint": 59}
for _key, (_low, _high) in RANGES.items():
    WORDS[_key] = "an integer %d..%d" % (_low, _high)
for _key, _most in LENGTHS.items():
    WORDS[_key] = "text of at most %d characters, one line" % _most


def label(n, c="a"):
    return c * n


def host_of(length):
    """A host name of exactly `length` characters, in labels of 63."""
    labels, left = [], length
    while left > 0:
        take = min(63, left)
        labels.append(label(take))
        left -= take + 1
    name = ".".join(labels)
    assert len(name) == length
    return name


# (key, value, kept?)
CASES = []
for _key, (_low, _high) in RANGES.items():
    CASES += [(_key, _low, True), (_key, _high, True), (_key, _low - 1, False), (_key, _high + 1, False)]
CASES += [("port", True, False), ("port", "25", False), ("quality", 50.0, False)]
for _key, _most in LENGTHS.items():
    CASES += [(_key, "x" * _most, True), (_key, "x" * (_most + 1), False)]
CASES += [("subject", "a\nb", False), ("subject", "a\rb", False), ("subject", 5, False),
          ("subject", "", True)]
for _key in ("method", "tls", "auth", "file_type", "page_size", "network"):
    for _choice in WORDS[_key].split(" | "):
        CASES.append((_key, "" if _choice == "''" else _choice, True))
CASES += [("method", "SUBMISSION", False), ("tls", "ssl", False), ("auth", "cram-md5", False),
          ("file_type", "png", False), ("page_size", "a3", False), ("network", "lte", False),
          ("method", None, False)]
CASES += [("keep_sent", True, True), ("keep_sent", False, True), ("keep_sent", 1, False),
          ("keep_sent", 0, False), ("keep_sent", None, False), ("keep_sent", "true", False)]
CASES += [("sender", "", True), ("sender", "scanner@contoso.com", True),
          ("sender", "x" * 242 + "@contoso.com", True), ("sender", "x" * 243 + "@contoso.com", False),
          ("sender", "scanner@contoso", False), ("sender", "@contoso.com", False),
          ("sender", "a@b@contoso.com", False), ("sender", "scanner.contoso.com", False),
          ("sender", "scan ner@contoso.com", False), ("sender", "scanner@contoso.com\r\n", False),
          ("sender", "scanner@contoso.com\n", False), ("sender", 5, False)]
CASES += [("dns", [], True), ("dns", ["pool.ntp.org"], True), ("dns", ["10.0.0.1"], True),
          ("dns", ["a", "b", "c", "d"], True), ("dns", ["a", "b", "c", "d", "e"], False),
          ("dns", "pool.ntp.org", False), ("dns", [5], False), ("dns", [""], False),
          ("dns", ["a..b"], False), ("dns", ["a."], False), ("dns", [label(63) + ".com"], True),
          ("dns", [label(64) + ".com"], False), ("dns", [host_of(253)], True),
          ("dns", [host_of(254)], False), ("dns", ["host-09.AZaz"], True),
          ("dns", ["ok", "a b"], False), ("dns", ["a\nb"], False), ("dns", ["ok", "bad"], True),
          ("ntp_servers", ["ok", "x_y"], False)]
for _c in "/:@[`{_ ":                          # just outside each range of letters and digits
    CASES.append(("dns", ["a%sb" % _c], False))
CASES += [("address_book", {}, True), ("address_book", {"alice": "alice@contoso.com"}, True),
          ("address_book", dict(("p%02d" % i, "p@contoso.com") for i in range(32)), True),
          ("address_book", dict(("p%02d" % i, "p@contoso.com") for i in range(33)), False),
          ("address_book", {"": "a@contoso.com"}, False), ("address_book", {"a": "a@contoso.com"}, True),
          ("address_book", {"n" * 64: "a@contoso.com"}, True),
          ("address_book", {"n" * 65: "a@contoso.com"}, False),
          ("address_book", {"a\nb": "a@contoso.com"}, False),
          ("address_book", {"alice": "alice@contoso.com", "bob": "bob"}, False),
          ("address_book", [["alice", "alice@contoso.com"]], False)]
CASES += [("ca_path", "", True), ("ca_path", "/ca.der", True), ("ca_path", "ca.der", False),
          ("ca_path", "/" + "x" * 126, True), ("ca_path", "/" + "x" * 127, False),
          ("ca_path", "/a\nb", False), ("ca_path", 5, False)]

CHECK = r"""
import json
from scanmail.firmware.app import config_schema
out = []
for key, value in json.loads(%r):
    try:
        out.append(["kept", config_schema.check(key, value)])
    except config_schema.ConfigError as e:
        out.append(["refused", str(e), e.key, e.allowed, e.current])
try:
    config_schema.check("colour", 1, "red")
except config_schema.ConfigError as e:
    out.append(["refused", str(e), e.key, e.allowed, e.current])
wholes = []
for changes in json.loads(%r):
    config = config_schema.defaults()
    config.update(changes)
    found = config_schema.check_whole(config)
    wholes.append(list(found) if found else None)
out.append(wholes)
empties = []
for changes in ({}, [], None):                   # no change at all is refused, not stored
    try:
        config_schema.validated(config_schema.defaults(), changes)
        empties.append(None)
    except config_schema.ConfigError as e:
        empties.append([e.key, e.allowed])
out.append(empties)
first = config_schema.defaults()
first["ntp_servers"].append("changed")
first["address_book"]["x"] = "x@contoso.com"
out.append(config_schema.defaults())
print(json.dumps(out))
"""

# what a new board starts with (each a copy: changing one board's list changes no other's)
DEFAULTS = {
    "method": "submission", "host": "", "port": 0, "tls": "", "auth": "", "username": "",
    "timeout_s": 30, "sender": "", "address_book": {}, "default_destination": "",
    "subject": "Scan from {device} {date} {time}",
    "body": "{pages} page(s) scanned by {device} on {date} at {time}.", "file_type": "pdf",
    "page_size": "a4", "quality": 80, "network": "auto", "wifi_ssid": "", "ip": "dhcp",
    "gateway": "", "dns": [], "ntp_servers": ["pool.ntp.org"], "utc_offset_min": 0, "ca_path": "",
    "max_age_s": 86400, "retry_base_s": 30, "keep_sent": False, "device_name": "",
}
MX_HOST = "contoso-com.mail.protection.outlook.com"
WHOLE = [
    ({}, None),
    ({"default_destination": "bob"}, ["default_destination",
                                      "not a name in address_book (names: none yet)"]),
    ({"default_destination": "bob", "address_book": {"carol": "c@contoso.com", "alice": "a@contoso.com"}},
     ["default_destination", "not a name in address_book (names: alice, carol)"]),
    ({"default_destination": "alice", "address_book": {"alice": "a@contoso.com"}}, None),
    ({"method": "direct_send"}, ["host", "the direct_send method needs host: your MX endpoint, "
                                         "e.g. " + MX_HOST]),
    ({"method": "relay"}, ["host", "the relay method needs host: your MX endpoint, e.g. " + MX_HOST]),
    ({"method": "relay", "host": MX_HOST}, None),
    ({"method": "custom"}, ["host", "the custom method needs host: the mail server's name"]),
    ({"method": "custom", "host": "mail.contoso.com"}, None),
    ({"method": "hve"}, None),
    ({"ip": "192.168.1.50/24"}, None),
]
# OAuth's rules between keys: where it signs in, and what each mode needs
OAUTH = {"auth": "xoauth2", "oauth_tenant": "contoso.com", "oauth_client_id": "5ca9a11e-0000-4000-8000-000000000001"}
APP = dict(OAUTH, oauth_mode="app", username="scanner@contoso.com")
CERT = dict(APP, oauth_credential="certificate")
THUMBPRINT_WORDS = ["oauth_thumbprint", "the certificate's thumbprint: the 40 hex digits the app "
                                        "registration shows"]
WHOLE += [
    ({"auth": "xoauth2", "method": "relay", "host": MX_HOST},
     ["auth", "xoauth2 signs in to client submission, HVE or a custom server; relay has no sign-in "
              "(auth \"\")"]),
    ({"auth": "xoauth2"}, ["oauth_tenant", "xoauth2 needs the tenant: your domain (contoso.com) or "
                                           "the tenant id"]),
    ({"auth": "xoauth2", "oauth_tenant": "contoso.com"},
     ["oauth_client_id", "xoauth2 needs the client id of the app registration the scanner signs in with"]),
    (OAUTH, None),                                   # device mode: no username, no thumbprint needed
    (dict(OAUTH, method="hve"), None),
    (dict(OAUTH, method="custom", host="mail.contoso.com"), None),
    (dict(APP, username=""), ["username", "app-only sending needs username: the mailbox the app sends as"]),
    (APP, None),                                     # a client secret: no thumbprint
    (CERT, THUMBPRINT_WORDS),
    (dict(CERT, oauth_thumbprint="ab" * 20), None),
    (dict(CERT, oauth_thumbprint=":".join(["AB"] * 20)), None),
    (dict(CERT, oauth_thumbprint="ab" * 19 + "a"), THUMBPRINT_WORDS),
    (dict(CERT, oauth_thumbprint="ab" * 20 + "a"), THUMBPRINT_WORDS),
    (dict(CERT, oauth_thumbprint="ab" * 19 + "ag"), THUMBPRINT_WORDS),
]
for _ip in ("192.168.1.50", "192.168.1.50/24/1", "192.168.1.50/x", "bad_host/24", "/24", "192.168.1.50/"):
    WHOLE.append(({"ip": _ip}, ["ip", "dhcp, or a static IPv4 address with its prefix such as "
                                      "192.168.1.50/24"]))


def test_each_key_keeps_its_last_allowed_value_and_refuses_the_first_beyond(run_firmware):
    out = json.loads(run_firmware(CHECK % (json.dumps([[k, v] for k, v, _ in CASES]),
                                           json.dumps([c for c, _ in WHOLE]))).strip().splitlines()[-1])
    defaults = out.pop()
    empties = out.pop()
    wholes = out.pop()
    unknown = out.pop()
    assert dict((k, defaults.get(k)) for k in DEFAULTS) == DEFAULTS
    wrong = []
    for (key, value, kept), got in zip(CASES, out):
        want = ["kept", value] if kept else [
            "refused", "%s refused; allowed: %s; kept: null" % (key, WORDS[key]), key, WORDS[key], None]
        if got != want:
            wrong.append((key, value, got))
    assert not wrong, wrong
    # an unknown key keeps nothing, whatever the caller held
    assert unknown[0] == "refused" and unknown[2] == "colour" and unknown[4] is None
    assert unknown[1].startswith("colour refused; allowed: one of the keys address_book, auth, body,")
    assert unknown[1].endswith("; kept: null") and "utc_offset_min" in unknown[3]
    assert wholes == [want for _, want in WHOLE]
    assert empties == [["changes", "an object of one or more keys to values"]] * 3
