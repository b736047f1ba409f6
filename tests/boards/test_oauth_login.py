# `scanmail oauth login --port P` against a virtual MicroPython board running the scanner
# application, on the after-December-2026 tenant (Basic auth off): the host asks the application
# over its serial console, shows the board's code, URL and a QR code, a person approves the code,
# the board polls until it is signed in and keeps the sign-in in its NVS; after a power cut the
# application (a fresh session reading NVS) sends a scan over XOAUTH2. Real time: the board waits
# the server's 5-second interval once.
import io
import threading

from scanmail.emulator.tenant import FakeTenant
from scanmail.host_tools import cli
from scanmail.host_tools.console_client import ConsoleClient
from scanmail.host_tools.user_error import UserError
from tests.boards.oauth_cuts import install_app


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


def installed_app(start_board, tenant):
    board = start_board("micropython", tenant_state=str(tenant.state_dir), fast=True)
    install_app(board, tenant)
    return board


def login(board, *extra):
    out, result = Watched(), {}
    args = cli.build_parser().parse_args(["oauth", "login", "--port", board.port] + list(extra))

    def run():
        try:
            result["status"] = args.handler(args, out)
        except UserError as exc:
            result["error"] = str(exc)
            out.shown.set()
    worker = threading.Thread(target=run)
    worker.start()
    return out, result, worker


def test_oauth_login_signs_the_running_application_in_and_it_then_sends(start_board, tmp_path):
    with FakeTenant(tenant="after-december-2026", state_dir=str(tmp_path / "tenant")) as tenant:
        board = installed_app(start_board, tenant)
        out, result, worker = login(board, "--tenant", "contoso.com", "--ca-on-board", "/ca.der")
        assert out.shown.wait(60), out.getvalue()
        (code,) = tenant.pending_device_codes()
        text = out.getvalue()
        assert code in text and tenant.login_url + "/devicelogin" in text and "█" in text   # the QR code
        tenant.approve_device_code(code, "scanner@contoso.com")
        worker.join(60)
        assert result == {"status": 0}, result
        assert "Signed in as scanner@contoso.com." in out.getvalue()

        board.power_cut()                     # the sign-in must be in NVS, not in RAM
        with ConsoleClient(board.port, timeout_s=30) as console:
            console.wait_for_log("started on")
            assert console.request("oauth.status")["state"] == "signed_in"
            job = console.request("scan")
            for _ in range(600):
                jobs = console.request("outbox.list")
                if jobs[0]["state"] != "queued" and jobs[0]["state"] != "sending":
                    break
            assert jobs[0]["id"] == job["job"] and jobs[0]["state"] == "sent", jobs
            assert jobs[0]["reply"].startswith("250 2.0.0 OK")
        assert len(tenant.messages("bob@contoso.com", "Inbox")) == 1
        assert "1.AXoA" not in out.getvalue()
        shown = status_row(board, "sign-in")       # what a technician reads from `scanmail status`
        assert shown == "signed in as scanner@contoso.com (device code)", shown


def status_row(board, name):
    """The row `name` of the table `scanmail status` prints."""
    import contextlib

    table = io.StringIO()
    with contextlib.redirect_stdout(table):
        assert cli.main(["status", "--port", board.port]) == 0
    parts, current = [], None
    for line in table.getvalue().splitlines():
        cells = line.strip().strip("│").split("│")
        if len(cells) != 2:
            continue
        current = cells[0].strip() or current           # a long value goes on under an empty name
        if current == name:
            parts.append(cells[1].strip())
    return " ".join(parts) or None


def test_oauth_login_says_what_to_do_when_the_code_is_declined(start_board, tmp_path):
    with FakeTenant(tenant="after-december-2026", state_dir=str(tmp_path / "tenant")) as tenant:
        board = installed_app(start_board, tenant)
        out, result, worker = login(board, "--tenant", "contoso.com", "--ca-on-board", "/ca.der")
        assert out.shown.wait(60), out.getvalue()
        (code,) = tenant.pending_device_codes()
        tenant.decline_device_code(code)
        worker.join(60)
        assert result["error"].startswith("not signed in: ") and "declined" in result["error"]
        assert "start the sign-in again" in result["error"]
        shown = status_row(board, "sign-in")
        assert shown.startswith("signed out: ") and "declined" in shown, shown
        assert shown.endswith("; start the sign-in again"), shown


def test_oauth_login_without_a_tenant_on_a_board_not_set_for_oauth_says_to_give_one(start_board, tmp_path):
    with FakeTenant(tenant="after-december-2026", state_dir=str(tmp_path / "tenant")) as tenant:
        board = installed_app(start_board, tenant)
        out, result, worker = login(board)
        worker.join(60)
        assert result == {"error": "the board is not set to send with OAuth: give --tenant (your domain, "
                                   "e.g. contoso.com)"}
        assert "Waiting for the sign-in" not in out.getvalue()
