# The edges of the SMTP client's reading and answering (firmware/smtp_protocol.py), on MicroPython
# and CPython: reply codes and enhanced codes at the limits of their syntax, how a server's text is
# shown (control characters as "?"), the longest line and the most lines a reply may have, the
# EHLO forms of AUTH, the XOAUTH2 error challenge, and commands that could carry a line break.
# Each case is one conversation with the scripted server (tests/firmware/on_runtime/), compared
# with what a user sees: the commands sent, the outcome, the error's stage, code, kind and text.
import json
import smtplib
import time

import pytest

from tests.firmware.plain_servers import ScriptedServer
from tests.firmware.runtime_cache import batch, run_json

NOW = int(time.time())

EHLO_TLS = "250-x Hello\r\n250-SIZE 157286400\r\n250-PIPELINING\r\n250 AUTH LOGIN\r\n"
DIRECT = {"tls": "none", "auth": "none", "method": "custom"}
START = ["EHLO scanner-3f2a", "STARTTLS", "<tls>", "EHLO scanner-3f2a"]


def ehlo_lines(count):
    """An EHLO reply of exactly `count` lines."""
    return "".join("250-X%d\r\n" % i for i in range(count - 1)) + "250 PIPELINING\r\n"


# name -> (spec for scripted_server.run, what must hold: outcome, error fields, text, commands)
CASES = {
    "a greeting of just its code is a greeting": (
        {"replies": {"greeting": "220\r\n"}, "client": DIRECT},
        {"outcome": "done"}),
    "a greeting continued by a bare code and hyphen is one reply": (
        {"replies": {"greeting": "220-\r\n220 ready\r\n"}, "client": DIRECT},
        {"outcome": "done"}),
    "a line shorter than a code is not SMTP": (
        {"replies": {"greeting": "22\r\n"}},
        {"outcome": "raised", "error": {"stage": "greeting", "kind": "protocol", "transient": True},
         "text": "not an SMTP reply line: '22'"}),
    "two digits and a letter are not a code": (
        {"replies": {"greeting": "22x hi\r\n"}},
        {"outcome": "raised", "text": "not an SMTP reply line: '22x hi'"}),
    "a long line without the separator is quoted by its first 60 characters": (
        {"replies": {"greeting": "220x" + "y" * 100 + "\r\n"}},
        {"outcome": "raised", "text": "reply line %r lacks the space or hyphen after the code"
         % ("220x" + "y" * 56)}),
    "an EHLO greeting line that reads like a keyword is no keyword (no STARTTLS offered)": (
        {"replies": {"ehlo": "250-STARTTLS\r\n250 SIZE 100\r\n"}},
        {"outcome": "failed", "error": {"stage": "starttls", "kind": "no_starttls"},
         "commands_suffix": ["EHLO scanner-3f2a", "QUIT"]}),
    "a message exactly at the server's SIZE limit is sent": (
        {"replies": {"ehlo_tls": "250-x Hello\r\n250-SIZE 1000\r\n250 AUTH LOGIN\r\n"},
         "size": 1000},
        {"outcome": "done", "commands_suffix": ["MAIL FROM:<scanner@contoso.com> SIZE=1000",
                                                "RCPT TO:<alice@contoso.com>", "DATA",
                                                "<message>", ".", "QUIT"]}),
    "a reply after QUIT's, in the same read, is one nobody asked for": (
        {"replies": {"quit": "221 2.0.0 bye\r\n250 2.0.0 and more\r\n"}, "client": DIRECT},
        {"outcome": "raised", "error": {"stage": "quit", "kind": "protocol"},
         "text": "the server sent a reply nobody asked for: 250 2.0.0 and more"}),
    "a server that closes after answering a pipelined MAIL fails at the RCPT it owes": (
        {"replies": {"rcpt": [None], "data": None}, "client": DIRECT},
        {"outcome": "failed", "error": {"stage": "rcpt", "kind": "closed", "transient": True}}),
    "a multi-line refusal takes its enhanced code from its first line": (
        {"replies": {"mail": "550-5.7.60 SMTP; Client does not have permissions\r\n550 to send as "
                             "this sender\r\n"}, "client": DIRECT},
        {"outcome": "abort", "error": {"stage": "mail", "code": 550, "enhanced": "5.7.60"}}),
    "a LOGIN prompt that is not base64 is taken as the password prompt": (
        {"replies": {"auth": ["334 abc\r\n", "235 2.7.0 Authentication successful\r\n"]}},
        {"outcome": "done",
         "commands_prefix": START + ["AUTH LOGIN c2Nhbm5lckBjb250b3NvLmNvbQ==", "U2Nhbm5lci1QYXNzLTE="]}),
    "a long line that is not SMTP is quoted by its first 60 characters": (
        {"replies": {"greeting": "HTTP/1.1 400 " + "y" * 100 + "\r\n"}},
        {"outcome": "raised", "text": "not an SMTP reply line: %r" % ("HTTP/1.1 400 " + "y" * 47)}),
    "a code after its three digits needs a space or a hyphen": (
        {"replies": {"greeting": "220x ready\r\n"}},
        {"outcome": "raised", "error": {"kind": "protocol"},
         "text": "reply line '220x ready' lacks the space or hyphen after the code"}),
    "code 199 is not an SMTP code": (
        {"replies": {"greeting": "199 hi\r\n"}},
        {"outcome": "raised", "text": "reply code 199 is not a valid SMTP reply code"}),
    "code 600 is not an SMTP code": (
        {"replies": {"greeting": "600 hi\r\n"}},
        {"outcome": "raised", "text": "reply code 600 is not a valid SMTP reply code"}),
    "code 200 is an SMTP code, but not the greeting": (
        {"replies": {"greeting": "200 hi\r\n"}},
        {"outcome": "failed", "error": {"stage": "greeting", "kind": "protocol"},
         "text": "unexpected reply to greeting: 200 hi"}),
    "a 399 to MAIL is no refusal but a broken server": (
        {"replies": {"mail": "399 what\r\n"}, "client": DIRECT},
        {"outcome": "abort", "error": {"stage": "mail", "kind": "protocol", "code": None}}),
    "a 400 to MAIL is a refusal worth a retry": (
        {"replies": {"mail": "400 4.0.0 try later\r\n"}, "client": DIRECT},
        {"outcome": "abort", "error": {"stage": "mail", "code": 400, "enhanced": "4.0.0",
                                       "kind": None, "transient": True}, "text": "try later"}),
    "a 599 to RCPT is a refusal for good": (
        {"replies": {"rcpt": ["599 5.0.0 no\r\n"]}, "client": DIRECT},
        {"outcome": "abort", "error": {"stage": "rcpt", "code": 599, "enhanced": "5.0.0",
                                       "transient": False}}),
    "a 251 to RCPT (will forward) accepts the recipient": (
        {"replies": {"rcpt": ["251 2.1.5 User not local; will forward\r\n"]}, "client": DIRECT},
        {"outcome": "done"}),
    "a refused STARTTLS is told apart from other refusals": (
        {"replies": {"starttls": "554 5.7.3 no TLS for you\r\n"}},
        {"outcome": "failed", "error": {"stage": "starttls", "kind": "starttls_refused",
                                        "code": 554, "transient": False}}),
    "a refused MAIL has no kind of its own": (
        {"replies": {"mail": "550 5.7.60 no\r\n"}, "client": DIRECT},
        {"outcome": "abort", "error": {"stage": "mail", "kind": None, "code": 550}}),
    "control characters in a server's text are shown as question marks": (
        {"replies": {"mail": "550 5.1.8 a\tb\x08c\x7fd~e}f\x1fg h\x80i\r\n"}, "client": DIRECT},
        {"outcome": "abort", "text": "a\tb?c?d~e}f?g h??i"}),
    "a reply line of 2048 bytes is read": (
        {"replies": {"greeting": "220 " + "x" * 2043 + "\r\n"}, "client": DIRECT},
        {"outcome": "done"}),
    "a reply line of 2049 bytes is refused": (
        {"replies": {"greeting": "220 " + "x" * 2044 + "\r\n"}, "client": DIRECT},
        {"outcome": "raised", "text": "a reply line is longer than 2048 bytes"}),
    "an EHLO reply of 100 lines is read": (
        {"replies": {"ehlo": ehlo_lines(100)}, "client": DIRECT},
        {"outcome": "done"}),
    "an EHLO reply of 101 lines is refused": (
        {"replies": {"ehlo": ehlo_lines(101)}, "client": DIRECT},
        {"outcome": "raised", "text": "a reply has more than 100 lines"}),
    "an empty line inside an EHLO reply does not hide the keywords after it (STARTTLS)": (
        {"replies": {"ehlo": "250-x Hello\r\n250-\r\n250 STARTTLS\r\n"}},
        {"outcome": "done", "commands_prefix": START}),
    "AUTH offered in the old AUTH=LOGIN form is understood": (
        {"replies": {"ehlo_tls": "250-x Hello\r\n250 AUTH=LOGIN\r\n"}},
        {"outcome": "done", "commands_prefix": START + ["AUTH LOGIN c2Nhbm5lckBjb250b3NvLmNvbQ=="]}),
    "AUTH offered on two lines offers both lines' mechanisms": (
        {"replies": {"ehlo_tls": "250-x Hello\r\n250-AUTH LOGIN\r\n250 AUTH=XOAUTH2 PLAIN\r\n"}},
        {"outcome": "done"}),
    "a SIZE given twice is not read as a sum of the two": (
        {"replies": {"ehlo_tls": "250-x Hello\r\n250-SIZE 500\r\n250-SIZE 600\r\n250 AUTH LOGIN\r\n"},
         "size": 1000},
        {"outcome": "failed", "error": {"stage": "mail", "kind": "too_big"},
         "text": "the message is 1000 bytes; the server accepts at most 600"}),
    "no AUTH offered at all is said as such and is not worth a retry": (
        {"replies": {"ehlo_tls": "250-x Hello\r\n250 SIZE 0\r\n"}},
        {"outcome": "failed", "error": {"stage": "auth", "kind": "auth_unavailable",
                                        "transient": False},
         "text": "the server offers AUTH nothing, not LOGIN"}),
    "an XOAUTH2 error challenge is answered empty, then the refusal is reported": (
        {"client": {"auth": "xoauth2", "token": "tok-123", "password": None, "secrets": ["tok-123"]},
         "replies": {"auth": ["334 \r\n", "334 eyJzdGF0dXMiOiI0MDEifQ==\r\n",
                              "535 5.7.3 Authentication unsuccessful\r\n"]}},
        {"outcome": "failed", "error": {"stage": "auth", "code": 535, "enhanced": "5.7.3"},
         "commands_suffix": ["AUTH XOAUTH2",
                             "dXNlcj1zY2FubmVyQGNvbnRvc28uY29tAWF1dGg9QmVhcmVyIHRvay0xMjMBAQ==",
                             "", "QUIT"]}),
    "a third XOAUTH2 challenge is more than the mechanism has": (
        {"client": {"auth": "xoauth2", "token": "tok-123", "password": None, "secrets": ["tok-123"]},
         "replies": {"auth": ["334 \r\n", "334 e30=\r\n", "334 again\r\n",
                              "221 2.0.0 bye\r\n"]}},      # (QUIT's, after the refusal)
        {"outcome": "failed", "error": {"stage": "auth", "kind": "protocol"},
         "text": "the server asked for more AUTH XOAUTH2 steps than the mechanism has"}),
    "a challenge to AUTH PLAIN's initial response is more than the mechanism has": (
        {"client": {"auth": "plain"},
         "replies": {"ehlo_tls": "250-x\r\n250 AUTH PLAIN\r\n",
                     "auth": ["334 \r\n", "221 2.0.0 bye\r\n"]}},
        {"outcome": "failed", "error": {"stage": "auth", "kind": "protocol"}}),
    "a LOGIN prompt on several lines is read from its first line": (
        {"replies": {"auth": ["334-VXNlcm5hbWU6\r\n334 more\r\n", "334 UGFzc3dvcmQ6\r\n",
                              "235 2.7.0 Authentication successful\r\n"]}},
        {"outcome": "done",
         "commands_prefix": START + ["AUTH LOGIN c2Nhbm5lckBjb250b3NvLmNvbQ==",
                                     "c2Nhbm5lckBjb250b3NvLmNvbQ==", "U2Nhbm5lci1QYXNzLTE="]}),
}

RUN_ALL = (
    "import json, scripted_server\n"
    "cases = json.loads(%r)\n"
    "print(json.dumps(dict((name, json.loads(scripted_server.run(cases[name]))) for name in cases)))\n"
)


@pytest.mark.parametrize("name", list(CASES))
def test_reply_edges(runtime, name):
    specs = dict((n, dict(CASES[n][0], delivery="whole")) for n in CASES)
    got = batch(runtime, "smtp client edges", RUN_ALL % json.dumps(specs))[name]
    want = CASES[name][1]
    assert got["outcome"] == want["outcome"], got
    for key, value in want.get("error", {}).items():
        assert got["error"][key] == value, (key, got["error"])
    if "text" in want:
        assert got["error"]["text"] == want["text"], got["error"]
    if want["outcome"] == "done":
        assert got["error"] is None, got["error"]
    if "commands_prefix" in want:
        assert got["commands"][:len(want["commands_prefix"])] == want["commands_prefix"], got
    if "commands_suffix" in want:
        assert got["commands"][-len(want["commands_suffix"]):] == want["commands_suffix"], got


class SmtplibEhloReader(smtplib.SMTP):
    """Python's smtplib reading one EHLO reply (its own parser, no connection): the judge of
    which AUTH mechanisms an odd EHLO line offers."""

    def __init__(self, lines):
        super().__init__()
        self._reply = (250, "\n".join(lines).encode())

    def putcmd(self, cmd, args=""):
        pass

    def getreply(self):
        return self._reply


# EHLO lines offering AUTH in the old "AUTH=" form and in odd shapes a server may send.
ODD_AUTH_LINES = ["AUTH=LOGIN=X", "AUTH=X=LOGIN", "AUTH=LOGIN", "AUTH=PLAIN LOGIN", "AUTH LOGIN=X",
                  "AUTH=", "AUTH= LOGIN", "AUTH=LOGINX", "AUTH=XOAUTH2=LOGIN LOGIN"]


def test_the_board_signs_in_only_with_a_mechanism_the_server_offers_as_smtplib_reads_it(runtime):
    # A server that advertises AUTH=LOGIN=X offers a mechanism named "LOGIN=X", not LOGIN: the
    # board must not send the password by a mechanism the server never offered, and must say what
    # it was offered; smtplib, reading the same reply, is the judge of what is offered.
    specs = dict((line, {"replies": {"ehlo_tls": "250-x Hello\r\n250 %s\r\n" % line},
                         "delivery": "whole"}) for line in ODD_AUTH_LINES)
    results = batch(runtime, "odd AUTH lines", RUN_ALL % json.dumps(specs))
    for line in ODD_AUTH_LINES:
        reader = SmtplibEhloReader(["x Hello", line])
        reader.ehlo("scanner-3f2a")
        offered = reader.esmtp_features.get("auth", "").upper().split()
        got = results[line]
        if "LOGIN" in offered:
            assert got["outcome"] == "done", (line, got)
            assert got["commands"][4] == "AUTH LOGIN c2Nhbm5lckBjb250b3NvLmNvbQ==", (line, got)
        else:
            assert got["outcome"] == "failed", (line, got)
            assert (got["error"]["stage"], got["error"]["kind"]) == ("auth", "auth_unavailable")
            assert got["error"]["text"] == "the server offers AUTH %s, not LOGIN" % (
                " ".join(offered) or "nothing"), (line, got["error"])
            assert not [c for c in got["commands"] if c.startswith("AUTH")], (line, got)


CODES = [
    [250, "2.0.0 OK"], [550, "5.7.64 TenantAttribution"], [550, "4.7.0 wrong class"],
    [550, "5.123.123 widest"], [550, "5.1234.1 too wide"], [550, "5.1.1234 too wide"],
    [550, "5.7.x letter"], [550, "5.x.7 letter"], [550, "5.7 two parts"], [550, "5.7.1"],
    [550, ""], [400, "4.0.0 lowest"], [599, "5.9.9 highest"], [421, "4.3.2.1 four parts"],
]
TEXT_CODE = """
import json
from scanmail.firmware.smtp_protocol import enhanced_code, reply_text
out = [enhanced_code(code, line) for code, line in json.loads(%r)]
out.append([reply_text(250, ["2.0.0 OK", "queued"]), reply_text(250, ["2.0.0 OK", "queued"], False),
            reply_text(221, [""]), reply_text(550, ["5.7.64 no"], False),
            reply_text(250, ["hello", "2.0.0 x"], False), reply_text(354, ["go ahead"])])
print(json.dumps(out))
"""


def test_enhanced_codes_are_read_only_when_well_formed_and_of_the_replys_class(runtime):
    got = batch(runtime, "enhanced codes", TEXT_CODE % json.dumps(CODES))
    assert got[:-1] == ["2.0.0", "5.7.64", None, "5.123.123", None, None, None, None, None,
                        "5.7.1", None, "4.0.0", "5.9.9", None]
    assert got[-1] == ["250 2.0.0 OK queued", "OK queued", "221", "no", "hello x", "354 go ahead"]


INJECTION_CODE = """
import json
from scanmail.firmware import smtp_protocol as sp
out = []
for rcpt in json.loads(%r):
    client = sp.SmtpClient({"ehlo_name": "scanner-3f2a", "tls": "none", "auth": "none",
                            "username": None, "password": None, "token": None, "secrets": [],
                            "method": "custom", "port": 25})
    client.set_transaction("scanner@contoso.com", [rcpt], 10)
    sent = b""
    try:
        client.receive_data(b"220 ready\\r\\n")
        sent += client.take_output()
        client.receive_data(b"250-x\\r\\n250 PIPELINING\\r\\n")
        out.append(["sent", (sent + client.take_output()).decode()])
    except RuntimeError as err:
        out.append(["refused", str(err), (sent + client.take_output()).decode()])
print(json.dumps(out))
"""


def test_a_command_never_carries_a_line_break_even_if_a_check_before_it_was_missed(runtime):
    got = batch(runtime, "command line breaks", INJECTION_CODE % json.dumps(
        ["a@contoso.com\r\nDATA", "a@contoso.com\nDATA", "a@contoso.com\rDATA", "a@contoso.com"]))
    for refused in got[:3]:
        assert refused[:2] == ["refused", "a command must not contain CR or LF"], refused
        assert "DATA" not in refused[2] and "RCPT" not in refused[2], refused
    assert got[3] == ["sent", "EHLO scanner-3f2a\r\nMAIL FROM:<scanner@contoso.com>\r\n"
                              "RCPT TO:<a@contoso.com>\r\nDATA\r\n"]


class MuteAfterEhloServer(ScriptedServer):
    """Greets, offers PIPELINING, then reads the pipelined MAIL, RCPT and DATA and never answers."""

    def _session(self, conn):
        conn.sendall(b"220 mx.example ready\r\n")
        received = b""
        while b"EHLO" not in received:
            received += conn.recv(4096)
        conn.sendall(b"250-mx.example Hello\r\n250 PIPELINING\r\n")
        while b"DATA\r\n" not in received:
            received += conn.recv(4096)
        self.received = received
        while conn.recv(4096):
            pass


def test_a_read_that_times_out_names_the_oldest_reply_still_due(runtime):
    # MAIL, RCPT and DATA went out in one write: the reply that did not come is MAIL's.
    with MuteAfterEhloServer() as server:
        spec = {"settings": {"method": "custom", "host": "mx.example", "port": 25, "tls": "none",
                             "timeout_s": 1},
                "message": {"sender": "scanner@contoso.com", "to": ["bob@contoso.com"]},
                "board": {"ip": "127.0.0.20", "now": NOW,
                          "routes": {"mx.example:25": list(server.address)}}}
        out = run_json(runtime, "import json, send_case\nprint(send_case.run(json.loads(%r)))\n"
                       % json.dumps(spec))
    err = out["error"]
    assert (err["stage"], err["kind"], err["transient"]) == ("mail", "timeout", True), err
    assert b"RCPT TO:<bob@contoso.com>\r\nDATA\r\n" in server.received


class MuteAfterDataServer(ScriptedServer):
    """Answers every command until the end of the data, then never says another word."""

    def _session(self, conn):
        conn.sendall(b"220 mx.example ready\r\n")
        received = b""
        while True:
            data = conn.recv(65536)
            if not data:
                return
            received += data
            while b"\r\n" in received:
                if received.startswith(b"DATA\r\n"):
                    conn.sendall(b"354 go ahead\r\n")
                    received = received[6:]
                    while b"\r\n.\r\n" not in received:
                        received += conn.recv(65536)
                    while conn.recv(4096):      # the message is in; the reply never comes
                        pass
                    return
                line, received = received.split(b"\r\n", 1)
                conn.sendall(b"250 mx.example\r\n" if not line.startswith(b"QUIT") else b"221 bye\r\n")


def test_a_reply_that_never_comes_after_the_data_is_a_timeout_at_the_end_of_data(runtime):
    # What the user must know: the message went out whole and its fate is unknown.
    with MuteAfterDataServer() as server:
        spec = {"settings": {"method": "custom", "host": "mx.example", "port": 25, "tls": "none",
                             "timeout_s": 1},
                "message": {"sender": "scanner@contoso.com", "to": ["bob@contoso.com"]},
                "board": {"ip": "127.0.0.20", "now": NOW,
                          "routes": {"mx.example:25": list(server.address)}}}
        out = run_json(runtime, "import json, send_case\nprint(send_case.run(json.loads(%r)))\n"
                       % json.dumps(spec))
    err = out["error"]
    assert (err["stage"], err["kind"], err["transient"]) == ("end_of_data", "timeout", True), err
