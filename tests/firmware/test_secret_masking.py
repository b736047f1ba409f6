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


# An attempt that signs in with a token only: the XOAUTH2 line is held as the bytes the client
# sends (methods.prepare), and a server that echoes that line back, as sent, in another case or
# split over lines, still gets it masked; and the line the client writes is that same form.
TOKEN_ONLY = """
import json
from scanmail.firmware.errors import SMTPError
from scanmail.firmware.methods import prepare
from scanmail.firmware.smtp_protocol import SEND, SmtpClient, reply_text
class Board:
    name = "scanner-3f2a"
cfg = prepare({"username": %(user)r, "auth": "xoauth2", "token": %(token)r}, Board())
client = SmtpClient(cfg)
client._send_line(cfg["xoauth2"], "auth")
client._send_line("QUIT", "quit")
wire = b""
while client.next_event() == SEND:
    wire += client.take_output()
out = {"kinds": [type(form).__name__ for form in cfg["secrets"]], "wire": wire.decode()}
for name, lines in json.loads(%(cases)r).items():
    error = SMTPError("auth", reply_text(535, lines), 535, "5.7.3", secrets=cfg["secrets"])
    out[name] = [error.text, str(error)]
print(json.dumps(out))
"""


def test_a_token_echoed_in_its_xoauth2_form_is_masked(run_firmware):
    # a long token (access tokens are often 2 KB): the line goes out whole, then the next command
    token = TOKEN * 40
    line = b64(("user=%s\x01auth=Bearer %s\x01\x01" % (USER, token)).encode())
    half = len(line) // 2
    cases = {"as sent": ["5.7.3 you sent %s, bad" % line],
             "upper case": ["5.7.3 you sent %s" % line.upper()],
             "split": ["5.7.3 you sent " + line[:half], line[half:] + " was wrong"],
             "token": ["5.7.3 token %s expired" % token]}
    out = json.loads(run_firmware(TOKEN_ONLY % {"user": USER, "token": token,
                                                "cases": json.dumps(cases)}).strip().splitlines()[-1])
    assert out.pop("kinds") == ["str", "bytearray"]
    assert out.pop("wire") == line + "\r\nQUIT\r\n"
    for name, texts in out.items():
        for text in texts:
            flat = text.replace(" ", "").lower()
            assert line.lower() not in flat and token.lower() not in flat, (name, text)
            assert "[redacted]" in text, (name, text)


LINES = """
import json
from scanmail.firmware.methods import _secret_forms
out = []
for user, token in json.loads(%r):
    forms = _secret_forms({"username": user, "password": None, "token": token})
    out.append(bytes(forms[-1]).decode())
print(json.dumps(out))
"""


def test_the_xoauth2_line_made_in_pieces_is_the_base64_of_the_whole_blob(run_firmware):
    # lengths around the 96-character pieces and the 3-byte groups of base64, non-ASCII too
    cases = [(user, ("tok-é" * 60)[:n]) for n in (1, 2, 95, 96, 97, 191, 192, 193, 290)
             for user in (USER, "ü@contoso.com")] + [(USER, TOKEN * 30)]
    out = json.loads(run_firmware(LINES % json.dumps(cases)).strip().splitlines()[-1])
    assert out == [b64(("user=%s\x01auth=Bearer %s\x01\x01" % case).encode()) for case in cases]
