# The SIZE a board declares in MAIL FROM (RFC 1870) is the size of the message it then sends, on
# both runtimes, judged by aiosmtpd (a server written elsewhere) that received it: with an
# attachment sent base64 by DATA (no BINARYMIME offered), the declared size counts the encoded
# message, not the file's bytes. A server that enforces its limit on the declared size would
# otherwise take or refuse a scan by the wrong figure.
import json
import os
import socket

from aiosmtpd.controller import Controller

from tests.firmware.runtime_cache import run_json


class Keep:
    def __init__(self):
        self.received = []

    async def handle_DATA(self, server, session, envelope):
        self.received.append((list(envelope.mail_options), bytes(envelope.original_content)))
        return "250 2.0.0 OK kept"


def test_the_declared_size_is_the_size_of_the_message_sent(runtime, tmp_path):
    handler = Keep()
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))                 # a free port (aiosmtpd checks it by connecting)
    port = probe.getsockname()[1]
    probe.close()
    controller = Controller(handler, hostname="127.0.0.1", port=port, data_size_limit=10_000_000)
    controller.start()
    try:
        scan = tmp_path / "scan.pdf"
        scan.write_bytes(bytes(range(256)) * 40 + b"%%EOF\n")
        spec = {"settings": {"method": "custom", "host": "mx.example", "port": 25, "tls": "none",
                             "auth": "none", "timeout_s": 20},
                "message": {"sender": "scanner@contoso.com", "to": ["bob@contoso.com"],
                            "subject": "Scan", "body": "See attached.",
                            "attachments": [[str(scan), "scan.pdf", "application/pdf"]]},
                "board": {"ip": "127.0.0.20", "now": 1_800_000_000,
                          "routes": {"mx.example:25": ["127.0.0.1", port]}}}
        out = run_json(runtime, "import json, send_case\nprint(send_case.run(json.loads(%r)))\n"
                       % json.dumps(spec))
    finally:
        controller.stop()
    assert out.get("error") is None, out
    (options, content), = handler.received
    declared = [int(o.split("=", 1)[1]) for o in options if o.upper().startswith("SIZE=")]
    assert declared == [len(content)], (options, len(content))
    assert len(content) > os.path.getsize(scan) * 4 // 3          # the file went base64
