# The sans-I/O SMTP client, driven by a scripted server that feeds every reply one byte at a time,
# on MicroPython and CPython alike (tests/firmware/on_runtime/scripted_server.py): the commands it
# sends for each Microsoft 365 option, pipelining, downgrade protection, and every way a server
# can refuse or break the protocol.
import base64
import json

import pytest

from tests.firmware.runtime_cache import batch

LOGIN_B64 = ["AUTH LOGIN c2Nhbm5lckBjb250b3NvLmNvbQ==", "U2Nhbm5lci1QYXNzLTE="]  # user, password
NO_PIPELINING_EHLO = "250-mx.example Hello\r\n250-SIZE 1000000\r\n250 STARTTLS\r\n"
NO_PIPELINING_EHLO_TLS = "250-mx.example Hello\r\n250-SIZE 1000000\r\n250 AUTH LOGIN\r\n"
MX_EHLO = "250-mx.example Hello\r\n250-SIZE 157286400\r\n250-PIPELINING\r\n250 STARTTLS\r\n"
MX_EHLO_TLS = "250-mx.example Hello\r\n250-SIZE 157286400\r\n250 PIPELINING\r\n"
PLAIN_MX_EHLO = "250-mx.example Hello\r\n250-SIZE 157286400\r\n250 PIPELINING\r\n"

EXCHANGE_EHLO_TLS = ("250-x Hello\r\n250-SIZE 157286400\r\n250-PIPELINING\r\n250-AUTH LOGIN XOAUTH2\r\n"
                     "250-8BITMIME\r\n250-BINARYMIME\r\n250 CHUNKING\r\n")
TLS_LOGIN = ["EHLO scanner-3f2a", "STARTTLS", "<tls>", "EHLO scanner-3f2a"] + LOGIN_B64

# An access token as long as Entra ID's (about 1.1 KB here): its XOAUTH2 line is exactly three
# pieces of the 512 bytes the client hands out at a time (no buffer the size of the line is made).
_HEAD = "user=scanner@contoso.com\x01auth=Bearer "
LONG_TOKEN = "eyJ0eXAiOiJKV1Qi." + "".join("abcdefghijklmnopqrstuvwxyz0123456789-_"[i * 7 % 38]
                                          for i in range(1152 - len(_HEAD) - 2 - 17))
LONG_XOAUTH2 = base64.b64encode((_HEAD + LONG_TOKEN + "\x01\x01").encode()).decode()

# name -> (spec for scripted_server.run, what must hold)
CASES = {
    "Exchange offers CHUNKING and BINARYMIME: the scan goes unencoded by one BDAT after the RCPTs": (
        {"replies": {"ehlo_tls": EXCHANGE_EHLO_TLS}, "binary_size": 900,
         "rcpts": ["alice@contoso.com", "bob@contoso.com"]},
        {"commands": TLS_LOGIN + ["MAIL FROM:<scanner@contoso.com> SIZE=900 BODY=BINARYMIME",
                                  "RCPT TO:<alice@contoso.com>", "RCPT TO:<bob@contoso.com>",
                                  "BDAT 900 LAST", "<binary message>", "QUIT"],
         "writes": [1, 1, 1, 1, 1, 3, 1], "outcome": "done"}),
    "a refused recipient before BDAT costs no upload": (
        {"replies": {"ehlo_tls": EXCHANGE_EHLO_TLS,
                     "rcpt": ["550 5.4.1 Recipient address rejected: Access denied\r\n"]},
         "binary_size": 900},
        {"commands_suffix": ["RCPT TO:<alice@contoso.com>", "QUIT"], "outcome": "failed",
         "error": {"stage": "rcpt", "code": 550, "enhanced": "5.4.1"}}),
    "CHUNKING without BINARYMIME sends the base64 message by BDAT": (
        {"replies": {"ehlo_tls": "250-x\r\n250-SIZE 0\r\n250-AUTH LOGIN\r\n250 CHUNKING\r\n"},
         "binary_size": 900},
        {"commands": TLS_LOGIN + ["MAIL FROM:<scanner@contoso.com> SIZE=1000",
                                  "RCPT TO:<alice@contoso.com>", "BDAT 1000 LAST", "<message>",
                                  "QUIT"], "outcome": "done"}),
    "a BINARYMIME message refused after its BDAT fails at the end of data": (
        {"replies": {"ehlo_tls": EXCHANGE_EHLO_TLS, "bdat": "554 5.2.252 SendAsDenied; not allowed\r\n"},
         "binary_size": 900},
        {"commands_suffix": ["BDAT 900 LAST", "<binary message>", "QUIT"], "outcome": "failed",
         "error": {"stage": "end_of_data", "code": 554, "enhanced": "5.2.252"}}),
    "a scanner submits with AUTH LOGIN: STARTTLS first, MAIL+RCPT+DATA in one write, QUIT pipelined": (
        {"rcpts": ["alice@contoso.com", "bob@contoso.com"]},
        {"commands": ["EHLO scanner-3f2a", "STARTTLS", "<tls>", "EHLO scanner-3f2a"]
         + LOGIN_B64 + ["MAIL FROM:<scanner@contoso.com> SIZE=1000", "RCPT TO:<alice@contoso.com>",
                        "RCPT TO:<bob@contoso.com>", "DATA", "<message>", ".", "QUIT"],
         "writes": [1, 1, 1, 1, 1, 4, 2], "outcome": "done",
         "result": "250 2.0.0 OK <id@example> [Hostname=EXAMPLE]"}),
    "a server without PIPELINING gets one command per round trip": (
        {"replies": {"ehlo": NO_PIPELINING_EHLO, "ehlo_tls": NO_PIPELINING_EHLO_TLS}},
        {"commands": ["EHLO scanner-3f2a", "STARTTLS", "<tls>", "EHLO scanner-3f2a"]
         + LOGIN_B64 + ["MAIL FROM:<scanner@contoso.com> SIZE=1000", "RCPT TO:<alice@contoso.com>",
                        "DATA", "<message>", ".", "QUIT"],
         "writes": [1] * 10, "outcome": "done"}),
    "a server that ignores the user name sent with AUTH LOGIN is given it again": (
        {"replies": {"auth": ["334 VXNlcm5hbWU6\r\n", "334 UGFzc3dvcmQ6\r\n",
                              "235 2.7.0 Authentication successful\r\n"]}},
        {"commands_prefix": ["EHLO scanner-3f2a", "STARTTLS", "<tls>", "EHLO scanner-3f2a"]
         + LOGIN_B64[:1] + ["c2Nhbm5lckBjb250b3NvLmNvbQ==", LOGIN_B64[1]], "outcome": "done"}),
    "a scanner signs in with an OAuth token (XOAUTH2)": (
        {"client": {"auth": "xoauth2", "token": "tok-123", "password": None, "secrets": ["tok-123"]},
         "replies": {"auth": ["334 \r\n", "235 2.7.0 Authentication successful\r\n"]}},
        {"commands_prefix": ["EHLO scanner-3f2a", "STARTTLS", "<tls>", "EHLO scanner-3f2a",
                             "AUTH XOAUTH2",
                             "dXNlcj1zY2FubmVyQGNvbnRvc28uY29tAWF1dGg9QmVhcmVyIHRvay0xMjMBAQ=="],
         "outcome": "done"}),
    "a long OAuth token goes out whole, its AUTH line handed out 512 bytes at a time": (
        {"client": {"auth": "xoauth2", "token": LONG_TOKEN, "password": None, "secrets": [LONG_TOKEN]},
         "replies": {"auth": ["334 \r\n", "235 2.7.0 Authentication successful\r\n"]}},
        {"commands_prefix": ["EHLO scanner-3f2a", "STARTTLS", "<tls>", "EHLO scanner-3f2a",
                             "AUTH XOAUTH2", LONG_XOAUTH2, "MAIL FROM:<scanner@contoso.com> SIZE=1000"],
         "pieces": [512, 1024], "outcome": "done"}),
    "a custom server takes AUTH PLAIN with the initial response": (
        {"client": {"auth": "plain"},
         "replies": {"ehlo_tls": "250-x\r\n250 AUTH PLAIN LOGIN\r\n",
                     "auth": ["235 2.7.0 Authentication successful\r\n"]}},
        {"commands_prefix": ["EHLO scanner-3f2a", "STARTTLS", "<tls>", "EHLO scanner-3f2a",
                             "AUTH PLAIN AHNjYW5uZXJAY29udG9zby5jb20AU2Nhbm5lci1QYXNzLTE=",
                             "MAIL FROM:<scanner@contoso.com>"], "outcome": "done"}),
    "STARTTLS stripped by the server: nothing but EHLO and QUIT is sent, no credentials": (
        {"replies": {"ehlo": PLAIN_MX_EHLO}},
        {"commands": ["EHLO scanner-3f2a", "QUIT"], "outcome": "failed",
         "error": {"stage": "starttls", "kind": "no_starttls", "transient": False}}),
    "STARTTLS answered with an error on submission ends the attempt before AUTH": (
        {"replies": {"starttls": "454 4.7.0 TLS not available due to temporary reason\r\n"}},
        {"commands": ["EHLO scanner-3f2a", "STARTTLS", "QUIT"], "outcome": "failed",
         "error": {"stage": "starttls", "code": 454, "enhanced": "4.7.0", "transient": True}}),
    "replies smuggled in clear in the same read as the STARTTLS reply are refused, TLS never starts": (
        {"replies": {"starttls": "220 2.0.0 SMTP server ready\r\n250-AUTH LOGIN PLAIN\r\n"},
         "delivery": "whole"},
        {"commands": ["EHLO scanner-3f2a", "STARTTLS"], "outcome": "raised",
         "error": {"stage": "starttls", "cls": "SMTPError", "kind": "protocol"},
         "text_contains": "sent data after its STARTTLS reply, before TLS began"}),
    "a smuggled reply that arrives in a read of its own after the STARTTLS reply is refused too": (
        {"replies": {"starttls": "220 2.0.0 SMTP server ready\r\n250-AUTH LOGIN PLAIN\r\n"}},
        {"commands": ["EHLO scanner-3f2a", "STARTTLS"], "outcome": "raised",
         "error": {"stage": "starttls", "cls": "SMTPError", "kind": "protocol"},
         "text_contains": "the server sent data nobody asked for"}),
    "a server that writes each reply in one read is understood as one read byte by byte": (
        {"rcpts": ["alice@contoso.com", "bob@contoso.com"], "delivery": "whole"},
        {"commands": ["EHLO scanner-3f2a", "STARTTLS", "<tls>", "EHLO scanner-3f2a"]
         + LOGIN_B64 + ["MAIL FROM:<scanner@contoso.com> SIZE=1000", "RCPT TO:<alice@contoso.com>",
                        "RCPT TO:<bob@contoso.com>", "DATA", "<message>", ".", "QUIT"],
         "writes": [1, 1, 1, 1, 1, 4, 2], "outcome": "done",
         "result": "250 2.0.0 OK <id@example> [Hostname=EXAMPLE]"}),
    "direct send with opportunistic TLS falls back to plaintext when STARTTLS is refused": (
        {"client": {"tls": "opportunistic", "auth": "none", "method": "direct_send"},
         "replies": {"starttls": "454 4.7.0 TLS not available\r\n", "ehlo": MX_EHLO}},
        {"commands": ["EHLO scanner-3f2a", "STARTTLS", "MAIL FROM:<scanner@contoso.com> SIZE=1000",
                      "RCPT TO:<alice@contoso.com>", "DATA", "<message>", ".", "QUIT"],
         "outcome": "done"}),
    "direct send with opportunistic TLS uses STARTTLS when offered": (
        {"client": {"tls": "opportunistic", "auth": "none", "method": "direct_send"},
         "replies": {"ehlo": MX_EHLO, "ehlo_tls": MX_EHLO_TLS}},
        {"commands_prefix": ["EHLO scanner-3f2a", "STARTTLS", "<tls>", "EHLO scanner-3f2a",
                             "MAIL FROM:<scanner@contoso.com> SIZE=1000"], "outcome": "done"}),
    "direct send to an outside address is refused with 5.7.64 and the data is never ended": (
        {"client": {"tls": "opportunistic", "auth": "none", "method": "direct_send"},
         "replies": {"ehlo": PLAIN_MX_EHLO,
                     "rcpt": ["550 5.7.64 TenantAttribution; Relay Access Denied [HOST]\r\n"]},
         "rcpts": ["someone@fabrikam.example"]},
        {"commands": ["EHLO scanner-3f2a", "MAIL FROM:<scanner@contoso.com> SIZE=1000",
                      "RCPT TO:<someone@fabrikam.example>", "DATA"],
         "outcome": "abort",
         "error": {"stage": "rcpt", "code": 550, "enhanced": "5.7.64", "transient": False}}),
    "one refused recipient among several fails the whole send (QUIT, no DATA) without pipelining": (
        {"replies": {"ehlo": NO_PIPELINING_EHLO, "ehlo_tls": NO_PIPELINING_EHLO_TLS,
                     "rcpt": ["250 2.1.5 Recipient OK\r\n",
                              "550 5.4.1 Recipient address rejected: Access denied\r\n"]},
         "rcpts": ["alice@contoso.com", "nobody@contoso.com"]},
        {"commands_suffix": ["RCPT TO:<alice@contoso.com>", "RCPT TO:<nobody@contoso.com>", "QUIT"],
         "outcome": "failed", "error": {"stage": "rcpt", "code": 550, "enhanced": "5.4.1"}}),
    "a wrong password is refused with 535 5.7.3 and the error never shows the password": (
        {"replies": {"auth": ["334 UGFzc3dvcmQ6\r\n",
                              "535 5.7.3 Authentication unsuccessful, you sent Scanner-Pass-1 "
                              "U2Nhbm5lci1QYXNzLTE=\r\n"]},
         "client": {"secrets": ["Scanner-Pass-1", "U2Nhbm5lci1QYXNzLTE="]}},
        {"commands_suffix": LOGIN_B64 + ["QUIT"], "outcome": "failed",
         "error": {"stage": "auth", "code": 535, "enhanced": "5.7.3", "transient": False},
         "secret_free": ["Scanner-Pass-1", "U2Nhbm5lci1QYXNzLTE="]}),
    "SMTP AUTH disabled for the tenant is refused with 5.7.139": (
        {"replies": {"auth": ["535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication "
                              "is disabled for the Tenant. [HOST]\r\n"]}},
        {"commands_suffix": ["AUTH LOGIN c2Nhbm5lckBjb250b3NvLmNvbQ==", "QUIT"], "outcome": "failed",
         "error": {"stage": "auth", "code": 535, "enhanced": "5.7.139"}}),
    "a mechanism the server does not offer is not attempted": (
        {"client": {"auth": "plain"}},
        {"commands_suffix": ["EHLO scanner-3f2a", "QUIT"], "outcome": "failed",
         "error": {"stage": "auth", "kind": "auth_unavailable"}}),
    "a message over the server's SIZE limit fails before MAIL, nothing of it is sent": (
        {"size": 1000001, "replies": {"ehlo": NO_PIPELINING_EHLO, "ehlo_tls": NO_PIPELINING_EHLO_TLS}},
        {"commands_suffix": LOGIN_B64 + ["QUIT"], "outcome": "failed",
         "error": {"stage": "mail", "kind": "too_big", "enhanced": "5.3.4", "transient": False}}),
    "too many devices on one mailbox: 432 4.3.2 after the data is transient": (
        {"replies": {"dot": "432 4.3.2 Concurrent connections limit exceeded. [Hostname=H]\r\n"}},
        {"commands_suffix": ["<message>", ".", "QUIT"], "outcome": "failed",
         "error": {"stage": "end_of_data", "code": 432, "enhanced": "4.3.2", "transient": True}}),
    "a 421 in the pipeline closes the session without a QUIT": (
        {"replies": {"mail": "421 4.3.2 Service not available, closing channel\r\n",
                     "rcpt": ["503 5.5.1 Need MAIL first\r\n"], "data": "503 5.5.1 Need RCPT\r\n"}},
        {"commands_suffix": ["RCPT TO:<alice@contoso.com>", "DATA"], "outcome": "failed",
         "error": {"stage": "mail", "code": 421, "transient": True}}),
    "a server that answers MAIL with 354 broke the protocol: the pipelined data is never ended": (
        {"replies": {"mail": "354 go ahead\r\n"}},
        {"outcome": "abort", "error": {"stage": "mail", "cls": "SMTPError", "kind": "protocol"}}),
    "a greeting that is not an SMTP reply is a protocol error, not a hang": (
        {"replies": {"greeting": "HTTP/1.1 400 Bad Request\r\n"}},
        {"outcome": "raised", "error": {"stage": "greeting", "cls": "SMTPError", "kind": "protocol"}}),
    "a reply line over 2 KB is a protocol error": (
        {"replies": {"greeting": "220 " + "x" * 3000 + "\r\n"}},
        {"outcome": "raised", "error": {"stage": "greeting", "cls": "SMTPError", "kind": "protocol"}}),
    "an EHLO reply of more than 100 lines is a protocol error": (
        {"replies": {"ehlo": "250-X\r\n" * 120 + "250 Y\r\n"}},
        {"outcome": "raised", "error": {"stage": "ehlo", "cls": "SMTPError", "kind": "protocol"}}),
    "a multi-line reply that changes its code is a protocol error": (
        {"replies": {"ehlo": "250-mx Hello\r\n251 PIPELINING\r\n"}},
        {"outcome": "raised", "error": {"stage": "ehlo", "cls": "SMTPError", "kind": "protocol"}}),
    "a server that closes after the end of data without answering QUIT still delivered": (
        {"replies": {"quit": None, "ehlo": NO_PIPELINING_EHLO, "ehlo_tls": NO_PIPELINING_EHLO_TLS}},
        {"outcome": "done", "result": "250 2.0.0 OK <id@example> [Hostname=EXAMPLE]"}),
    "a server that closes before answering MAIL fails transiently at the mail stage": (
        {"replies": {"mail": None, "ehlo": NO_PIPELINING_EHLO, "ehlo_tls": NO_PIPELINING_EHLO_TLS}},
        {"outcome": "failed", "error": {"stage": "mail", "kind": "closed", "transient": True}}),
}

RUN_ALL = (
    "import json, scripted_server\n"
    "cases = json.loads(%r)\n"
    "print(json.dumps(dict((name, json.loads(scripted_server.run(cases[name]))) for name in cases)))\n"
)


@pytest.mark.parametrize("name", list(CASES))
def test_smtp_conversation(runtime, name):
    specs = dict((n, CASES[n][0]) for n in CASES)
    results = batch(runtime, "conversation", RUN_ALL % json.dumps(specs))
    got = results[name]
    want = CASES[name][1]
    if "commands" in want:
        assert got["commands"] == want["commands"]
    if "commands_prefix" in want:
        assert got["commands"][: len(want["commands_prefix"])] == want["commands_prefix"]
    if "commands_suffix" in want:
        assert got["commands"][-len(want["commands_suffix"]):] == want["commands_suffix"]
    if "writes" in want:
        assert got["writes"] == want["writes"]
    assert got["pieces"] == want.get("pieces", [])      # a line left unfinished by a write
    assert got["outcome"] == want["outcome"], got
    if "result" in want:
        assert got["result"] == want["result"]
    if "error" in want:
        assert got["error"] is not None, got
        for key, value in want["error"].items():
            assert got["error"][key] == value, (key, got["error"])
    else:
        assert got["error"] is None, got["error"]
    if "text_contains" in want:
        assert want["text_contains"] in got["error"]["text"], got["error"]
    for secret in want.get("secret_free", ()):
        assert secret not in got["error"]["text"] and secret not in got["error"]["str"]


def test_both_runtimes_hold_the_same_conversations():
    specs = dict((n, CASES[n][0]) for n in CASES)
    cpython = batch("cpython", "conversation", RUN_ALL % json.dumps(specs))
    micropython = batch("micropython", "conversation", RUN_ALL % json.dumps(specs))
    assert cpython == micropython
