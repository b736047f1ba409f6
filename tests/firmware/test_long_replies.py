# Replies longer than one read: the mail core reads the connection in small pieces (256 bytes, so
# that each MicroPython read allocates little), and a server whose greeting, EHLO list or final
# reply spans many reads (and whose pipelined replies arrive together) must still be understood,
# on MicroPython and on CPython alike.
import json
import time

from tests.firmware.plain_servers import ScriptedServer
from tests.firmware.runtime_cache import run_json

HOST = "mail.fabrikam.example"
LONG_TEXT = "x" * 900
EXTENSIONS = ["X-EXTENSION-%02d %s" % (n, "y" * 60) for n in range(20)] + ["PIPELINING", "8BITMIME"]


class LongReplyServer(ScriptedServer):
    """Plain SMTP server whose every reply is long: a 1 KB greeting, a 1.7 KB EHLO list, a final
    reply of 1 KB; it accepts one message by DATA and records it in `messages`."""

    session_timeout_s = 10

    def __init__(self):
        ScriptedServer.__init__(self)
        self.messages = []

    def _session(self, conn):
        conn.sendall(("220-%s\r\n220 %s ESMTP ready\r\n" % (LONG_TEXT, HOST)).encode())
        pending = b""
        in_data = False
        while True:
            data = conn.recv(65536)
            if not data:
                return
            pending += data
            while True:
                if in_data:
                    end = pending.find(b"\r\n.\r\n")
                    if end < 0:
                        break
                    self.messages.append(pending[:end + 2])
                    pending = pending[end + 5:]
                    in_data = False
                    conn.sendall(("250 2.0.0 OK %s queued\r\n" % LONG_TEXT).encode())
                    continue
                if b"\r\n" not in pending:
                    break
                line, pending = pending.split(b"\r\n", 1)
                verb = line.split(b" ")[0].upper()
                if verb == b"EHLO":
                    lines = ["%s Hello" % HOST] + EXTENSIONS
                    conn.sendall("".join("250%s%s\r\n" % ("-" if i < len(lines) - 1 else " ", text)
                                         for i, text in enumerate(lines)).encode())
                elif verb == b"DATA":
                    in_data = True
                    conn.sendall(b"354 go ahead\r\n")
                elif verb == b"QUIT":
                    conn.sendall(b"221 bye\r\n")
                    return
                else:
                    conn.sendall(b"250 2.1.0 OK\r\n")


def test_a_server_whose_replies_span_many_reads_still_takes_the_scan(runtime):
    with LongReplyServer() as server:
        spec = {"settings": {"method": "custom", "host": HOST, "port": 25, "tls": "none",
                             "auth": "none", "timeout_s": 10},
                "message": {"sender": "scanner@contoso.com", "to": ["bob@fabrikam.example"],
                            "subject": "Long replies", "body": "See attached."},
                "board": {"ip": "127.0.0.20", "now": int(time.time()),
                          "routes": {"%s:25" % HOST: list(server.address)}}}
        code = "import json, send_case\nprint(send_case.run(json.loads(%r)))\n" % json.dumps(spec)
        out = run_json(runtime, code)
    assert "error" not in out, out
    assert out["result"]["reply"] == "250 2.0.0 OK %s queued" % LONG_TEXT
    assert len(server.messages) == 1
    assert b"Subject: Long replies\r\n" in server.messages[0]
