# A server that echoes credentials never gets them into an SMTPError: the password and the token
# are masked in any case, in every form the client sent them (plain, base64, the AUTH PLAIN and
# XOAUTH2 blobs) and when the echo is split across the lines of a multi-line reply; on MicroPython
# and CPython alike.
import base64
import json

PASSWORD = "Scanner-Pass-1"
TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJ1cG4iOiJzY2FubmVyIn0.c2lnbmF0dXJl"
USER = "scanner@contoso.com"


def b64(raw):
    return base64.b64encode(raw).decode("ascii")


FORMS = {
    "password": PASSWORD,
    "password base64": b64(PASSWORD.encode()),
    "PLAIN blob": b64(b"\0" + USER.encode() + b"\0" + PASSWORD.encode()),
    "token": TOKEN,
    # (no base64 of the token alone: a client never sends it so; the token travels inside the
    # XOAUTH2 blob, and a JWT is base64url text already, masked as the token itself)
    "XOAUTH2 blob": b64(("user=%s\x01auth=Bearer %s\x01\x01" % (USER, TOKEN)).encode()),
}

# The firmware reads each reply line, joins the lines with spaces and builds the error from them.
RUN = """
import json
from scanmail.firmware.errors import SMTPError
from scanmail.firmware.methods import _secret_forms
from scanmail.firmware.smtp_protocol import reply_text
# The secret forms the mail core masks for an attempt that signs in with both a password and a token.
secrets = _secret_forms({"username": %(user)r, "password": %(password)r, "token": %(token)r})
out = {}
for name, lines in json.loads(%(cases)r).items():
    error = SMTPError("auth", reply_text(535, lines), 535, "5.7.3", secrets=secrets)
    out[name] = [error.text, str(error)]
print(json.dumps(out))
"""


def echoes():
    cases = {}
    for name, form in FORMS.items():
        half = len(form) // 2
        cases[name + " as sent"] = ["5.7.3 you sent %s, bad" % form]
        cases[name + " upper case"] = ["5.7.3 you sent %s, bad" % form.upper()]
        cases[name + " lower case"] = ["5.7.3 you sent %s" % form.lower()]
        cases[name + " split across lines"] = ["5.7.3 you sent " + form[:half], form[half:] + " was wrong"]
        cases[name + " split in three"] = ["5.7.3 " + form[:3], form[3:half], form[half:]]
    return cases


def test_an_echoed_secret_is_masked_in_any_case_form_and_split(run_firmware):
    cases = echoes()
    out = json.loads(run_firmware(RUN % {"user": USER, "password": PASSWORD, "token": TOKEN,
                                         "cases": json.dumps(cases)}).strip().splitlines()[-1])
    assert set(out) == set(cases)
    for name, texts in out.items():
        for text in texts:
            flat = text.replace(" ", "").lower()
            for form in FORMS.values():
                assert form.lower() not in flat, (name, text)
            assert "[redacted]" in text, (name, text)
            assert text.startswith("5.7.3") or "535" in text, (name, text)


def test_text_around_a_masked_secret_is_kept_and_unrelated_text_untouched(run_firmware):
    cases = {"around": ["5.7.3 user %s password %s rejected" % (USER, PASSWORD.upper())],
             "nothing secret": ["5.7.3 Authentication unsuccessful [SC1PR80CA0174.outlook.office365.com]"]}
    out = json.loads(run_firmware(RUN % {"user": USER, "password": PASSWORD, "token": TOKEN,
                                         "cases": json.dumps(cases)}).strip().splitlines()[-1])
    assert out["around"][0] == "535 5.7.3 user %s password [redacted] rejected" % USER
    assert out["nothing secret"][0] == "535 5.7.3 Authentication unsuccessful [SC1PR80CA0174.outlook.office365.com]"
