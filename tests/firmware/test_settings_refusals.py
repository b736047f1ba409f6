# The settings refusals tests/firmware/test_methods_and_diagnosis.py does not reach, each tried
# at its edges from both sides, the forms of a secret that errors mask, and the masking and
# wording of SMTPError itself (firmware/methods.py, firmware/errors.py), on MicroPython and CPython.
import base64
import json

import pytest

from tests.firmware.runtime_cache import batch

SUBMISSION = {"method": "submission", "username": "scanner@contoso.com", "password": "Pass-1"}
CUSTOM = {"method": "custom", "host": "mail.example.org"}

# case -> (settings, None if accepted (then the filled values to check, or {}), or
#          (the setting named, words in the text))
CASES = {
    "settings that are not a dict": ("submission", ("settings", "must be a dict")),
    "no method means submission": ({"username": "a@contoso.com", "password": "p"},
                                   {"method": "submission", "host": "smtp.office365.com"}),
    "a custom server without a host": ({"method": "custom"}, ("host", "the mail server's name")),
    "a relay without a host": ({"method": "relay"}, ("host", "Manage DNS")),
    "a host with a space": (dict(CUSTOM, host="mail example.org"), ("host", "not a host name")),
    "a host that is a number": (dict(CUSTOM, host=42), ("host", "not a host name")),
    "a host starting with a hyphen": (dict(CUSTOM, host="-mail.example.org"), ("host", "not a host name")),
    "a host with a trailing dot": (dict(CUSTOM, host="mail.example.org."), {}),
    "a host given as an address": (dict(CUSTOM, host="192.0.2.7"), {"host": "192.0.2.7"}),
    "custom with STARTTLS defaults to port 587": (dict(CUSTOM), {"port": 587, "tls": "starttls"}),
    "port 0": (dict(CUSTOM, port=0), ("port", "not a port number")),
    "port 1": (dict(CUSTOM, port=1), {"port": 1}),
    "port 65535": (dict(CUSTOM, port=65535), {"port": 65535}),
    "port 65536": (dict(CUSTOM, port=65536), ("port", "not a port number")),
    "port True": (dict(CUSTOM, port=True), ("port", "not a port number")),
    "hve with implicit TLS": ({"method": "hve", "username": "h@contoso.com", "password": "p",
                               "tls": "implicit"}, ("tls", "choose starttls")),
    "credentials with opportunistic TLS": (dict(CUSTOM, tls="opportunistic", auth="login",
                                                username="a@example.org", password="p"),
                                           ("tls", "never sent without TLS")),
    "credentials with implicit TLS": (dict(CUSTOM, tls="implicit", auth="plain",
                                           username="a@example.org", password="p"),
                                      {"port": 465, "auth": "plain"}),
    "a sign-in without a user name": ({"method": "submission", "password": "p"},
                                      ("username", "mailbox address")),
    "an empty password": (dict(SUBMISSION, password=""), ("password", "missing")),
    "a token for xoauth2": ({"method": "submission", "username": "a@contoso.com",
                             "auth": "xoauth2", "token": "tok"}, {"auth": "xoauth2"}),
    "a CA as text": (dict(SUBMISSION, ca_der="-----BEGIN"), ("ca_der", "DER bytes")),
    "a CA as a bytearray": (dict(SUBMISSION, ca_der=bytearray(b"x")), {}),
    "a client key without its certificate": ({"method": "relay", "host": "mx.example",
                                              "client_key_der": b"k"},
                                             ("client_cert_der", "both")),
    "a client certificate with its key": ({"method": "relay", "host": "mx.example",
                                           "client_cert_der": b"c", "client_key_der": b"k"}, {}),
    "a client certificate as text": ({"method": "relay", "host": "mx.example",
                                      "client_cert_der": "c", "client_key_der": b"k"},
                                     ("client_cert_der", "DER bytes")),
    "a timeout of True": (dict(SUBMISSION, timeout_s=True), ("timeout_s", "positive")),
    "a timeout as text": (dict(SUBMISSION, timeout_s="30"), ("timeout_s", "positive")),
    "a negative timeout": (dict(SUBMISSION, timeout_s=-1), ("timeout_s", "positive")),
    "half a second": (dict(SUBMISSION, timeout_s=0.5), {"timeout_s": 0.5}),
    "an EHLO name that is all digits": (dict(SUBMISSION, ehlo_name="1234"), ("ehlo_name", "host name")),
    "an EHLO address literal out of range": (dict(SUBMISSION, ehlo_name="[999.0.0.1]"),
                                             ("ehlo_name", "address literal")),
    "an EHLO address literal": (dict(SUBMISSION, ehlo_name="[192.0.2.7]"),
                                {"ehlo_name": "[192.0.2.7]"}),
}

CODE = """
import json
from scanmail.firmware import methods
from scanmail.firmware.errors import SMTPError
cases = json.loads(%r)
out = {}
for name in cases:
    settings = cases[name]
    if isinstance(settings, dict):
        for key in ("ca_der", "client_cert_der", "client_key_der"):
            value = settings.get(key)
            if isinstance(value, list):          # [kind, text]: bytes or bytearray from JSON
                settings[key] = (bytes if value[0] == "bytes" else bytearray)(value[1].encode())
    try:
        filled = methods.fill(settings)
        out[name] = ["ok", dict((k, filled[k]) for k in ("method", "host", "port", "tls", "auth",
                                                         "timeout_s", "ehlo_name"))]
    except SMTPError as err:
        out[name] = ["refused", err.field, err.text, err.stage, err.kind, err.transient]
print(json.dumps(out))
"""


def _as_json(settings):
    if not isinstance(settings, dict):
        return settings
    out = {}
    for key, value in settings.items():
        if isinstance(value, bytearray):
            value = ["bytearray", value.decode()]
        elif isinstance(value, bytes):
            value = ["bytes", value.decode()]
        out[key] = value
    return out


@pytest.mark.parametrize("case", list(CASES))
def test_each_setting_rule_names_the_setting_and_says_what_to_do(runtime, case):
    specs = dict((name, _as_json(settings)) for name, (settings, _) in CASES.items())
    got = batch(runtime, "settings refusals", CODE % json.dumps(specs))[case]
    want = CASES[case][1]
    if isinstance(want, dict):
        assert got[0] == "ok", got
        for key, value in want.items():
            assert got[1][key] == value, (key, got[1])
        return
    field, words = want
    assert got[0] == "refused", got
    assert (got[1], got[3], got[4], got[5]) == (field, "settings", "settings", False), got
    assert got[2].startswith("setting %r: " % field) and words in got[2], got[2]


SECRETS_CODE = """
import json
from scanmail.firmware.methods import prepare
class Board:
    name = "scanner-3f2a"
out = []
for settings in json.loads(%r):
    cfg = prepare(settings, Board())
    # the XOAUTH2 line is bytes (what the client sends, the same object): shown as text here
    forms = [f if isinstance(f, str) else "bytes:" + f.decode() for f in cfg["secrets"]]
    line = cfg.get("xoauth2")
    out.append([forms, cfg["ehlo_name"], line is None or line is cfg["secrets"][-1]])
print(json.dumps(out))
"""


def b64(text):
    return base64.b64encode(text.encode()).decode()


def test_every_form_of_a_secret_on_the_wire_is_known_to_be_masked(runtime):
    settings = [dict(SUBMISSION), {"method": "submission", "username": "a@contoso.com",
                                   "auth": "xoauth2", "token": "tok-123"},
                {"method": "direct_send", "host": "mx.example"}]
    got = batch(runtime, "secret forms", SECRETS_CODE % json.dumps(settings))
    assert got[0] == [["Pass-1", b64("Pass-1"), b64("\0scanner@contoso.com\0Pass-1")],
                      "scanner-3f2a", True]
    # A token travels only inside the XOAUTH2 blob: its own base64 is never on the wire. The
    # blob's base64 is the very line the client sends (bytes, held once).
    assert got[1] == [["tok-123", "bytes:" + b64("user=a@contoso.com\x01auth=Bearer tok-123\x01\x01")],
                      "scanner-3f2a", True]
    assert got[2] == [[], "scanner-3f2a", True]


ERRORS_CODE = """
import json
from scanmail.firmware.errors import SMTPError
out = []
for args in json.loads(%r):
    err = SMTPError(*args)
    out.append([err.text, str(err), err.transient])
print(json.dumps(out))
"""


def test_an_error_masks_secrets_says_the_stage_and_code_and_knows_what_is_worth_a_retry(runtime):
    cases = [
        ["auth", "you sent Pass-1 and UGFzcy0x and ab", 535, "5.7.3", None,
         ["Pass-1", "UGFzcy0x", "ab", "", None]],
        ["auth", "abc abd", 535, None, None, ["abc"]],
        ["mail", "busy", 450, "4.7.0"],
        ["mail", "busy", 400],
        ["mail", "busy", 499],
        ["mail", "no", 500],
        ["rcpt", "no", 550, "5.7.64"],
        ["connect", "timed out", None, None, True],
        ["quit", ""],
        ["settings", "setting 'x': unknown"],
    ]
    got = batch(runtime, "errors", ERRORS_CODE % json.dumps(cases))
    assert got == [
        ["you sent [redacted] and [redacted] and ab", "auth failed: 535 5.7.3: you sent "
         "[redacted] and [redacted] and ab", False],
        ["[redacted] abd", "auth failed: 535: [redacted] abd", False],
        ["busy", "mail failed: 450 4.7.0: busy", True],
        ["busy", "mail failed: 400: busy", True],
        ["busy", "mail failed: 499: busy", True],
        ["no", "mail failed: 500: no", False],
        ["no", "rcpt failed: 550 5.7.64: no", False],
        ["timed out", "connect failed: timed out", True],
        ["", "quit failed", False],
        ["setting 'x': unknown", "settings failed: setting 'x': unknown", False],
    ]
