# `scanmail oauth login --port P` against a virtual MicroPython board on the after-December-2026
# tenant (Basic auth off): the host shows the board's code, URL and a QR code, a person approves
# the code, the board polls until it is signed in and keeps the sign-in in its NVS; after a hard
# reset the board (a fresh session reading NVS) sends over XOAUTH2. Real time: the board waits
# the server's 5-second interval once.
import io
import json
import threading

from scanmail.emulator.boards import BoardHandle
from scanmail.emulator.tenant import FakeTenant
from scanmail.host_tools import cli
from tests.boards.conftest import install_firmware, open_repl

SEND = """
import json
from scanmail.firmware.board import open_board
from scanmail.firmware.mail import Message
from scanmail.firmware.oauth import OAuthSession
from scanmail.firmware.oauth_send import send_signed_in
from scanmail.firmware.secret_store import NvsSecrets
_f = open('/ca.der', 'rb'); _ca = _f.read(); _f.close()
_b = open_board()
_s = OAuthSession({'tenant': 'contoso.com', 'client_id': '5ca9a11e-0000-4000-8000-000000000001', 'ca_der': _ca},
                  _b, NvsSecrets('scanmail'))
_m = Message(_s.user, ['alice@contoso.com'], [], 'After oauth login', 'See attached.', [])
_r = send_signed_in({'method': 'submission', 'ca_der': _ca}, _m, _b, _s)['reply']
print(json.dumps({'state': _s.state, 'reply': _r[:12]}))
"""


class Watched(io.StringIO):
    """The command's output, with an event set once the code has been shown."""

    def __init__(self):
        super().__init__()
        self.shown = threading.Event()

    def write(self, text):
        n = super().write(text)
        if "Waiting for the sign-in" in self.getvalue():
            self.shown.set()
        return n


def test_oauth_login_signs_the_board_in_and_it_then_sends(tmp_path):
    with FakeTenant(tenant="after-december-2026", state_dir=str(tmp_path / "tenant")) as tenant:
        with BoardHandle("esp32-devkitc", "micropython", str(tmp_path / "board"), "127.0.0.20",
                         tenant_state=str(tmp_path / "tenant"), fast=True) as board:
            repl = open_repl(board)
            try:
                install_firmware(repl)
                with open(tenant.ca_der_path, "rb") as f:
                    repl.put_file(f.read(), "/ca.der")
            finally:
                repl.close()
            out, result = Watched(), {}
            args = cli.build_parser().parse_args(["oauth", "login", "--port", board.port, "--tenant", "contoso.com",
                                                  "--ca-on-board", "/ca.der"])
            worker = threading.Thread(target=lambda: result.setdefault("status", args.handler(args, out)))
            worker.start()
            assert out.shown.wait(60), out.getvalue()
            (code,) = tenant.pending_device_codes()
            text = out.getvalue()
            assert code in text and tenant.login_url + "/devicelogin" in text and "█" in text   # the QR code
            tenant.approve_device_code(code, "scanner@contoso.com")
            worker.join(60)
            assert result == {"status": 0}
            assert "Signed in as scanner@contoso.com." in out.getvalue()
            board.reset()                      # a power cycle: the sign-in must be in NVS, not in RAM
            repl = open_repl(board)
            try:
                raw = repl.exec(SEND, timeout_s=60)
                sent = json.loads(raw.strip().splitlines()[-1])
            finally:
                repl.close()
    assert sent["state"] == "signed_in" and sent["reply"].startswith("250 2.0.0 OK"), sent
    assert "1.AXoA" not in out.getvalue()
