# The forms of a secret the settings prepare for an attempt (firmware/methods.py prepare), on both
# runtimes, each computed here with Python's base64 module: every form a password or token can
# take on the wire is among those masked in errors, the XOAUTH2 line sent is the base64 of the
# XOAUTH2 blob (not the bare token), and a board whose network cannot say its address still greets
# the server, with the loopback literal.
import base64
import json

RUN = r"""
import json
from scanmail.firmware import methods

class NoName:
    name = None
    class net:
        @staticmethod
        def address():
            raise OSError(118, "not connected")

out = []
for settings in json.loads(%r):
    prepared = methods.prepare(settings, NoName())
    text = lambda v: v if v is None or isinstance(v, str) else bytes(v).decode()
    out.append({"secrets": [text(v) for v in prepared["secrets"]],
                "xoauth2": text(prepared.get("xoauth2")), "ehlo_name": prepared["ehlo_name"]})
defaults = methods.fill({"method": "submission", "username": "u@contoso.com", "password": "p"})
out.append({"timeout_s": defaults["timeout_s"]})
try:
    methods.fill({"method": "submission", "username": "u@contoso.com", "password": "p",
                  "ehlo_name": 5})
    out.append(None)
except methods.SMTPError as e:
    out.append([e.kind, e.field])
print(json.dumps(out))
"""

BASE = {"method": "submission", "username": "scanner@contoso.com"}
CASES = [dict(BASE, auth="login", password="Scanner-Pass-1"),
         dict(BASE, auth="xoauth2", token="tok-123", password=None),
         dict(BASE, auth="xoauth2", token="tok-123", password="Scanner-Pass-1")]


def b64(data):
    return base64.b64encode(data).decode()


def test_every_form_of_a_secret_is_masked_and_xoauth2_sends_the_blob(run_firmware):
    out = json.loads(run_firmware(RUN % json.dumps(CASES)).strip().splitlines()[-1])
    refused = out.pop()
    defaults = out.pop()
    # the default wait for a server is 30 s; an EHLO name that is not text is a settings refusal
    assert defaults == {"timeout_s": 30} and refused == ["settings", "ehlo_name"]
    plain = b"\0scanner@contoso.com\0Scanner-Pass-1"
    blob = b"user=scanner@contoso.com\x01auth=Bearer tok-123\x01\x01"
    assert out[0]["secrets"] == ["Scanner-Pass-1", b64(b"Scanner-Pass-1"), b64(plain)]
    assert out[0]["xoauth2"] is None
    assert out[1]["secrets"] == ["tok-123", b64(blob)]
    assert out[1]["xoauth2"] == b64(blob)
    assert sorted(out[2]["secrets"]) == sorted(["Scanner-Pass-1", b64(b"Scanner-Pass-1"), b64(plain),
                                                "tok-123", b64(blob)])
    assert out[2]["xoauth2"] == b64(blob)
    assert [o["ehlo_name"] for o in out] == ["[127.0.0.1]"] * 3


def test_the_xoauth2_line_is_the_blobs_base64_for_a_token_of_any_length(run_firmware):
    # the line is built in pieces of the token straight into one buffer: every length around the
    # piece size (and its multiples) and a token as long as Entra ID's still gives exactly the
    # base64 of the whole blob, no byte more, none short
    lengths = list(range(1, 200)) + [287, 288, 289, 383, 384, 385, 1151, 2000]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."
    tokens = ["".join(alphabet[(i * 11 + n) % len(alphabet)] for i in range(n)) for n in lengths]
    cases = [dict(BASE, auth="xoauth2", token=token, password=None) for token in tokens]
    out = json.loads(run_firmware(RUN % json.dumps(cases)).strip().splitlines()[-1])[:-2]
    for token, got in zip(tokens, out):
        blob = b"user=scanner@contoso.com\x01auth=Bearer " + token.encode() + b"\x01\x01"
        assert got["xoauth2"] == b64(blob), len(token)
        assert got["secrets"] == [token, b64(blob)]
