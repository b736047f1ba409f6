# The board's HTTPS request to the sign-in service (firmware/token_request.py) on both runtimes,
# against a TLS server of the test's own that records the request byte for byte and answers what
# each case scripts: the form is encoded as x-www-form-urlencoded says (a secret with reserved
# characters arrives as it was), the Content-Length is the body's, the answer is read however the
# server cuts it into pieces, and every broken answer (not HTTP, headers without an end, a close
# before any answer, JSON cut short) is one SMTPError at stage "sign_in" whose kind and retry flag
# say what happened, with no secret in its text.
import json
import os
import ssl
import urllib.parse

import pytest

from tests.firmware import plain_servers

HOST = "login.microsoftonline.com"
PATH = "/contoso.com/oauth2/v2.0/token"
ON_RUNTIME = os.path.join(os.path.dirname(os.path.abspath(__file__)), "on_runtime")
SECRET = "Sc+ret &=%/?~._-ÄÖ 42"           # reserved, unreserved and non-ASCII characters


class AnswerServer(plain_servers.CertificateServer):
    """TLS for HOST (its CA: `ca_der`); reads one request whole (its headers, then Content-Length
    bytes) and writes `pieces`, one send each, then closes. `requests` holds what it read.
    `then`: the pieces of the answers to the next connections, in order."""

    def __init__(self, pieces, then=()):
        plain_servers.CertificateServer.__init__(self, HOST)
        self.answers, self.requests = [pieces] + list(then), []

    def _session(self, conn):
        with self._context.wrap_socket(conn, server_side=True) as tls:
            data = b""
            while b"\r\n\r\n" not in data:
                chunk = tls.recv(4096)
                if not chunk:
                    return
                data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            length = int(dict(line.split(b": ", 1) for line in head.split(b"\r\n")[1:])[b"Content-Length"])
            while len(body) < length:
                chunk = tls.recv(4096)
                if not chunk:
                    break
                body += chunk
            self.requests.append((head, body, length))
            for piece in self.answers[min(len(self.requests), len(self.answers)) - 1]:
                tls.sendall(piece)


CODE = """
import json
from loopback_board import TestBoard
from scanmail.firmware import token_request
from scanmail.firmware.errors import SMTPError
from oauth_case import error_fields

spec = json.loads(%r)
board = TestBoard("scanner-3f2a", "127.0.0.1", spec["routes"], spec["now"])
cfg = dict(spec["cfg"], host=spec["host"], ca_der=bytes(spec["ca"]))      # no port: 443
try:
    status, answer = token_request.post(cfg, board, spec["path"], [(k, v) for k, v in spec["fields"]])
    out = {"status": status, "answer": dict((k, b"".join(v).decode() if isinstance(v, list) else v)
                                            for k, v in answer.items())}
except SMTPError as err:
    out = {"error": error_fields(err)}
print(json.dumps(out))
"""


def post(run_firmware, server, fields, timeout_s=5, now=None, ca_der=None):
    import time

    spec = {"routes": {"%s:443" % HOST: list(server.address)}, "now": int(time.time()) if now is None else now,
            "host": HOST, "path": PATH, "ca": list(ca_der or server.ca_der), "fields": fields,
            "cfg": {"timeout_s": timeout_s}}
    return json.loads(run_firmware(CODE % json.dumps(spec), extra_paths=(ON_RUNTIME,)).strip().splitlines()[-1])


def answer(status_line, body, cut=None):
    """An HTTP/1.0 answer in pieces of `cut` bytes (None: one piece)."""
    whole = ("%s\r\nContent-Type: application/json; charset=utf-8\r\nCache-Control: no-store\r\n\r\n"
             % status_line).encode() + body
    if not cut:
        return [whole]
    return [whole[i:i + cut] for i in range(0, len(whole), cut)]


TOKEN = json.dumps({"token_type": "Bearer", "expires_in": 3599, "access_token": "eyJ0" + "A" * 1500,
                    "refresh_token": "1.AR" + "b" * 900, "id_token": "x" * 700}).encode()


@pytest.mark.parametrize("cut", [None, 7, 256])
def test_the_form_arrives_as_sent_and_the_answer_is_read_in_any_pieces(run_firmware, cut):
    fields = [["grant_type", "client_credentials"], ["client_id", "5ca9a11e-0000-4000-8000-000000000002"],
              ["scope", "https://outlook.office365.com/.default"], ["client_secret", SECRET]]
    with AnswerServer(answer("HTTP/1.1 200 OK", TOKEN, cut)) as server:
        out = post(run_firmware, server, fields)
    head, body, length = server.requests[0]
    lines = head.decode().split("\r\n")
    assert lines[0] == "POST %s HTTP/1.0" % PATH and "Host: %s" % HOST in lines
    assert "Content-Type: application/x-www-form-urlencoded" in lines
    assert length == len(body)                               # the length the header gave is the body's
    assert urllib.parse.parse_qsl(body.decode(), strict_parsing=True) == [tuple(f) for f in fields]
    assert body.decode().split("&")[3] == "client_secret=" + urllib.parse.quote(SECRET, safe="")
    assert out["status"] == 200
    assert out["answer"] == {"token_type": "Bearer", "expires_in": 3599, "access_token": "eyJ0" + "A" * 1500,
                             "refresh_token": "1.AR" + "b" * 900}     # id_token is not kept


def test_a_refusal_is_the_status_and_the_error_fields(run_firmware):
    body = json.dumps({"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret.",
                       "error_codes": [7000215]}).encode()
    with AnswerServer(answer("HTTP/1.1 401 Unauthorized", body, 5)) as server:
        out = post(run_firmware, server, [["client_secret", SECRET]])
    assert out == {"status": 401, "answer": {"error": "invalid_client"}}     # the rest streams by unkept


# what the server does -> (kind, worth retrying, words of the text)
BROKEN = {
    "answers something that is not HTTP": (
        [b"SSH-2.0-OpenSSH_9.6\r\n\r\n"], ("protocol", False, "did not answer HTTP")),
    "sends a status line without a number": (
        [b"HTTP/1.1 OK\r\n\r\n{}"], ("protocol", False, "did not answer HTTP")),
    "sends a status line with only its version": (
        [b"HTTP/1.1\r\n\r\n{}"], ("protocol", False, "did not answer HTTP")),
    "answers another protocol's status line": (
        [b"RTSP/1.0 200 OK\r\n\r\n{}"], ("protocol", False, "did not answer HTTP")),
    "sends an empty status line": (
        [b"\r\n\r\n{}"], ("protocol", False, "did not answer HTTP")),
    "sends headers that never end": (
        [b"HTTP/1.1 200 OK\r\n" + b"X-Padding: " + b"p" * 5000 + b"\r\n"], ("protocol", False, "no end of headers")),
    "closes before any answer": (
        [], ("closed", True, "closed the connection without an answer")),
    "cuts its JSON short (HTTP 200)": (
        answer("HTTP/1.1 200 OK", TOKEN[:300]), ("protocol", False, "(HTTP 200)")),
    "cuts its JSON short (HTTP 499)": (
        answer("HTTP/1.1 499 Client Closed Request", b'{"error": "inv'), ("protocol", False, "(HTTP 499)")),
    "cuts its JSON short (HTTP 500)": (
        answer("HTTP/1.1 500 Internal Server Error", b'{"error": "server_err'), ("protocol", True, "(HTTP 500)")),
    "cuts its JSON short (HTTP 503)": (
        answer("HTTP/1.1 503 Service Unavailable", b'{"error": "temporarily_unava'), ("protocol", True, "(HTTP 503)")),
    "answers a body that is not JSON": (
        answer("HTTP/1.1 200 OK", b"<html>sign-in proxy</html>"), ("protocol", False, "the sign-in server's answer")),
}


@pytest.mark.parametrize("case", list(BROKEN))
def test_a_broken_answer_is_one_error_that_says_whether_to_retry(run_firmware, case):
    pieces, (kind, transient, words) = BROKEN[case]
    with AnswerServer(pieces) as server:
        out = post(run_firmware, server, [["client_secret", SECRET]])
    err = out["error"]
    assert (err["stage"], err["kind"], err["transient"]) == ("sign_in", kind, transient), err
    assert words in err["str"] and SECRET not in err["str"], err["str"]


def test_a_host_nobody_listens_on_is_a_network_error_worth_retrying(run_firmware):
    with AnswerServer([]) as server:
        pass                                # stopped: its port now refuses
    out = post(run_firmware, server, [["client_secret", SECRET]])
    err = out["error"]
    assert (err["stage"], err["kind"], err["transient"]) == ("sign_in", "refused", True), err
    assert "cannot connect to %s:443 (refused)" % HOST in err["str"] and SECRET not in err["str"]


def test_a_status_line_without_a_reason_and_long_headers_are_still_an_answer(run_firmware):
    # "HTTP/1.1 200" is a whole status line (the reason may be empty); a proxy's long headers
    # of about 4 KB are read to their end
    long_head = b"HTTP/1.1 200\r\nX-Proxy-Trace: " + b"t" * 4167 + b"\r\n\r\n"     # 4200 bytes
    with AnswerServer([long_head + TOKEN]) as server:
        out = post(run_firmware, server, [["client_secret", SECRET]])
    assert out["status"] == 200 and out["answer"]["expires_in"] == 3599, out


class SilentAnswerServer(AnswerServer):
    """Reads the request, then says nothing until the client gives up."""

    def _session(self, conn):
        with self._context.wrap_socket(conn, server_side=True) as tls:
            while tls.recv(4096):           # until the client closes (or the session's timeout)
                pass


def test_a_server_that_stops_answering_is_a_timeout_worth_retrying(run_firmware):
    with SilentAnswerServer([]) as server:
        out = post(run_firmware, server, [["client_secret", SECRET]], timeout_s=1)
    err = out["error"]
    assert (err["stage"], err["kind"], err["transient"]) == ("sign_in", "timeout", True), err
    assert "timed out talking to %s" % HOST in err["str"] and SECRET not in err["str"]


def test_an_unset_clock_and_an_untrusted_certificate_stop_before_the_form_is_sent(run_firmware):
    import trustme

    other_ca = ssl.PEM_cert_to_DER_cert(trustme.CA().cert_pem.bytes().decode())   # not the server's
    with AnswerServer(answer("HTTP/1.1 200 OK", TOKEN)) as server:
        unset = post(run_firmware, server, [["client_secret", SECRET]], now=0)
        untrusted = post(run_firmware, server, [["client_secret", SECRET]], ca_der=other_ca)
    assert (unset["error"]["stage"], unset["error"]["kind"]) == ("sign_in", "clock"), unset
    assert (untrusted["error"]["stage"], untrusted["error"]["kind"], untrusted["error"]["transient"]) == \
        ("sign_in", "untrusted", False), untrusted
    assert server.requests == []            # the secret never went to a server not proven
