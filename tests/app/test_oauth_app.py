# OAuth in the running application, on both runtimes, through its serial console: a device-code
# sign-in started with oauth.login that the board polls at the server's interval (longer after
# slow_down) until a person approves it; scans then go by XOAUTH2, and an access token the server
# refuses is refreshed once and the scan sent. A sign-in that ends (revoked) is a state on the
# status light, the console and the outbox: jobs wait, never fail or expire, and go after a new
# sign-in. Declined and expired codes are states. App-only sending with a client secret and with
# a certificate (the board signs the RS256 client assertion itself). No token, secret, key or
# device code in any reply, log line or file beside the secret store.
import json
import os
import pty
import subprocess
import tty

import pytest

from scanmail.emulator.tenant import FakeClock, FakeTenant
from scanmail.host_tools.console_client import ConsoleClient, ConsoleError
from tests import runtimes
from tests.app.test_console import FIRMWARE_ON_RUNTIME, HERE, ROM, PtyPort

SCANNER_APP = "5ca9a11e-0000-4000-8000-000000000001"
SENDER_APP = "5ca9a11e-0000-4000-8000-000000000002"
SCANNER = "scanner@contoso.com"


@pytest.fixture(scope="module")
def tenant(tmp_path_factory):
    with FakeTenant(tenant="after-december-2026", state_dir=tmp_path_factory.mktemp("o365"),
                    clock=FakeClock()) as t:
        yield t


class Board(ConsoleClient):
    def set_clock(self, lag_s=0):
        """The board's clock reads the tenant's (or lags `lag_s` behind it)."""
        # in one step (a new file renamed over the old): the board reads it at any moment, and
        # a file being rewritten in place reads empty
        (self.dir / "clock.new").write_text(str(int(self.tenant.clock.now()) - lag_s))
        os.replace(self.dir / "clock.new", self.dir / "clock")

    def advance(self, seconds, lag_s=0):
        self.tenant.clock.advance(seconds)
        self.set_clock(lag_s)

    def light(self):
        return (self.dir / "light").read_text() if (self.dir / "light").exists() else None

    def until(self, what, done, tries=1500):
        for _ in range(tries):
            got = self.request(what)
            if done(got):
                return got
        raise AssertionError("%s never reached the state: %r\nthe board's last log lines:\n  %s" % (
            what, got, "\n  ".join(self.request("logs", count=15))))


@pytest.fixture
def board(runtime, tenant, tmp_path):
    tenant.reset()
    login = tenant.login_url.rsplit(":", 1)
    routes = {"%s:%d" % (tenant.hostname(e), p): list(tenant.address(e)) for e, p in (("submission", 587), ("hve", 587))}
    routes["login.microsoftonline.com:443"] = [login[0].split("//")[1], int(login[1])]
    root = tmp_path / "flash"
    root.mkdir()
    (root / "ca.der").write_bytes(open(tenant.ca_der_path, "rb").read())
    (tmp_path / "clock").write_text(str(int(tenant.clock.now())))
    spec = {"root": str(root), "nvs": str(tmp_path / "nvs.json"), "pages": str(tmp_path / "pages"),
            "routes": routes, "now": 0, "clock_path": str(tmp_path / "clock"),
            "light_path": str(tmp_path / "light")}
    from scanmail.emulator.boards.sample_document import write_pages

    (tmp_path / "pages").mkdir()
    write_pages(str(tmp_path / "pages"), count=1, dpi=40)
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    master, slave = pty.openpty()
    tty.setraw(slave)
    cmd = runtimes.command_for(runtime) + [os.path.join(HERE, "console_app.py"), str(tmp_path / "spec.json")]
    proc = subprocess.Popen(cmd, stdin=slave, stdout=slave, stderr=subprocess.PIPE,
                            env=runtimes.environment_for(runtime, (HERE, FIRMWARE_ON_RUNTIME, ROM)),
                            cwd=runtimes.REPO_ROOT)
    os.close(slave)
    client = Board(None, timeout_s=60, serial_port=PtyPort(master))   # a loaded machine: slow, not dead
    client.proc, client.tenant, client.root, client.dir = proc, tenant, root, tmp_path
    client.request("config.set", changes={
        "method": "submission", "auth": "xoauth2", "oauth_tenant": "contoso.com",
        "oauth_client_id": SCANNER_APP, "sender": SCANNER, "address_book": {"alice": "alice@contoso.com"},
        "default_destination": "alice", "ca_path": "/ca.der", "timeout_s": 10})
    yield client
    # shown by pytest only when the test failed: whether the board was still running, what it
    # wrote to stderr and its last lines on the port (a board that stopped answering says why)
    print("board exit status (None: still running):", proc.poll())
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    print("board stderr:", proc.stderr.read()[-3000:].decode("utf-8", "replace"))
    print("board's last lines on the port:", client.log_lines[-30:])
    os.close(master)


def sign_in(board):
    """A device-code sign-in a person approves at once; -> the status once the board's polls end
    it. The board polls once per interval of its clock; a poll the network cuts short (a loaded
    machine) is made again an interval later, so the clock moves on until a poll has answered."""
    code = board.request("oauth.login")
    board.tenant.approve_device_code(code["user_code"], SCANNER)
    polls = board.request("oauth.status")["polls"]
    for _ in range(4):
        board.advance(code["interval"])
        status = board.until("oauth.status", lambda s: s["state"] != "signing_in" or s["polls"] > polls)
        if status["state"] != "signing_in":
            return status
        polls = status["polls"]
    raise AssertionError("four polls after the approval and still signing in: %r\n  %s" % (
        status, "\n  ".join(board.request("logs", count=15))))


def everything_said(board):
    return json.dumps(board.request("logs", count=200)) + "\n".join(board.log_lines) + \
        json.dumps(board.request("status")) + json.dumps(board.request("outbox.list")) + \
        json.dumps(board.request("config.get")) + (board.root / "log.0").read_text()


def test_console_sign_in_polls_at_the_interval_and_scans_then_go_by_xoauth2(board):
    assert board.request("oauth.status")["state"] == "signed_out"
    waiting = board.request("scan")                     # before any sign-in: the job waits
    held = board.until("status", lambda s: s.get("last") and s["last"]["what"] == "sign_in")
    assert held["oauth"]["state"] == "signed_out" and "oauth login" in held["oauth"]["what_to_do"]
    assert held["outbox"]["queued"] == 1 and board.light() == "error"

    code = board.request("oauth.login")
    assert code["interval"] == 5 and code["expires_in"] == 900 and len(code["user_code"]) == 9
    assert code["verification_uri"] == board.tenant.login_url + "/devicelogin"
    assert set(code) == {"user_code", "verification_uri", "message", "interval", "expires_in"}
    # the board polls once its clock says the interval has passed: authorization pending
    board.advance(5)
    status = board.until("oauth.status", lambda s: s.get("polls") == 1)
    assert status["state"] == "signing_in" and status["interval"] == 5 and status["user_code"] == code["user_code"]
    # its clock runs 4 s ahead of the server's: the next poll comes 1 s early by the server's clock,
    # which answers slow_down, and the board waits 5 s longer from then on
    board.tenant.clock.advance(1)
    board.set_clock(lag_s=-4)
    assert board.until("oauth.status", lambda s: s.get("polls") == 2)["interval"] == 10
    board.advance(9, lag_s=-4)                           # 9 s after that poll by the board's clock: not yet
    board.tenant.approve_device_code(code["user_code"], SCANNER)
    board.advance(1, lag_s=-4)
    signed = board.until("oauth.status", lambda s: s["state"] != "signing_in")
    assert signed["state"] == "signed_in" and signed["user"] == SCANNER and signed["error"] is None
    assert signed["polls"] == 3                          # an early poll would have been slowed down again
    sent = board.until("outbox.list", lambda jobs: jobs[0]["state"] == "sent")
    assert sent[0]["id"] == waiting["job"] and sent[0]["reply"].startswith("250 2.0.0")
    assert board.light() == "ok"

    # two hours later by the server, but the board's clock lags: its token looks good to it, the
    # server refuses it, the board refreshes once and the scan goes
    board.advance(2 * 3600, lag_s=2 * 3600)
    later = board.request("scan")
    jobs = board.until("outbox.list", lambda jobs: [j for j in jobs if j["id"] == later["job"]][0]["state"] == "sent")
    assert len(jobs) == 2
    auth = [r for r in board.tenant.trace() if r.get("stage") == "auth"]
    assert [r["why"] for r in auth] == ["token expired"]
    assert [m["Subject"] is not None for m in board.tenant.messages("alice@contoso.com")] == [True, True]
    said = everything_said(board)
    assert "1.AXoA" not in said and "eyJ" not in said           # no refresh or access token anywhere
    assert "1.AXoA" not in (board.root / "config.json").read_text()


def test_a_sign_in_that_ends_holds_the_outbox_until_a_new_one(board):
    assert sign_in(board)["state"] == "signed_in"
    board.tenant.revoke_sign_ins(SCANNER)
    board.advance(2 * 3600)                              # the access token expired: a refresh is needed
    job = board.request("scan")
    status = board.until("status", lambda s: s["oauth"]["state"] == "sign_in_needed")
    assert status["outbox"]["queued"] == 1 and status["outbox"]["failed"] == 0
    assert "sign in again" in status["oauth"]["what_to_do"] and status["oauth"]["error"]["kind"] == "sign_in_needed"
    board.until("status", lambda s: s["last"] and s["last"]["what"] == "sign_in")
    assert board.light() == "error"
    board.advance(3 * 86400)                             # longer than max_age_s: waiting is not expiring
    (queued,) = board.until("outbox.list", lambda jobs: jobs[0]["state"] == "queued" and jobs[0]["attempts"] == 0)
    assert queued["stage"] == "sign_in" and "sign in again" in queued["what_to_do"]
    with pytest.raises(ConsoleError) as refused:
        board.request("send-test")
    assert refused.value.code == "send_failed" and "sign in again" in str(refused.value)

    assert sign_in(board)["state"] == "signed_in"
    sent = board.until("outbox.list", lambda jobs: jobs[0]["state"] == "sent")
    assert sent[0]["id"] == job["job"] and board.light() == "ok"
    assert len(board.tenant.messages("alice@contoso.com")) == 1


def test_declined_and_expired_codes_are_states_and_app_mode_needs_no_person(board):
    code = board.request("oauth.login")
    board.tenant.decline_device_code(code["user_code"])
    board.advance(5)
    declined = board.until("oauth.status", lambda s: s["state"] != "signing_in")
    assert declined["state"] == "signed_out" and declined["error"]["kind"] == "declined"
    assert declined["error"]["what_to_do"] == "start the sign-in again"
    board.request("oauth.login")
    board.advance(901)
    expired = board.until("oauth.status", lambda s: s["state"] != "signing_in")
    assert expired["error"]["kind"] == "expired"
    board.request("config.set", changes={"oauth_mode": "app", "oauth_client_id": SENDER_APP,
                                         "username": SCANNER})
    with pytest.raises(ConsoleError) as not_device:
        board.request("oauth.login")
    assert not_device.value.code == "not_device"
    with pytest.raises(ConsoleError) as no_tenant:
        board.request("config.set", key="oauth_tenant", value="")
    assert no_tenant.value.code == "refused" and "oauth_tenant" in str(no_tenant.value)


def test_app_only_sending_with_a_client_secret_and_with_a_certificate(board, runtime):
    board.request("config.set", changes={"oauth_mode": "app", "oauth_client_id": SENDER_APP, "username": SCANNER})
    board.request("secret.set", name="oauth_secret", value="Scanner-App-Secret-1")
    board.request("scan")
    board.until("outbox.list", lambda jobs: jobs[0]["state"] == "sent")

    cert = board.tenant.add_app_certificate(SENDER_APP)
    with open(cert["key_pem"]) as f:
        key_pem = f.read()
    board.request("secret.set", name="oauth_secret", value="")
    stored = board.request("secret.set", name="oauth_key", value=key_pem)       # the PEM file's text
    assert stored["set"] and len(stored["fingerprint"]) == 8
    with pytest.raises(ConsoleError) as bad_thumbprint:
        board.request("config.set", changes={"oauth_credential": "certificate", "oauth_thumbprint": "12ab"})
    assert "40 hex digits" in str(bad_thumbprint.value)
    board.request("config.set", changes={"oauth_credential": "certificate", "oauth_thumbprint": cert["thumbprint"]})
    board.request("scan")
    jobs = board.until("outbox.list", lambda jobs: len(jobs) == 2 and jobs[1]["state"] in ("sent", "failed"))
    assert jobs[1]["state"] == "sent", jobs[1]
    assert board.tenant.world.entra.counts["tokens"] >= 2
    assert len(board.tenant.messages("alice@contoso.com")) == 2
    said = everything_said(board)
    body = "".join(line for line in key_pem.splitlines() if "-----" not in line)
    assert "Scanner-App-Secret-1" not in said and body[40:80] not in said


def test_high_volume_email_signs_in_with_oauth_too(board):
    board.request("config.set", changes={"method": "hve", "sender": "hve-scanner@contoso.com",
                                         "address_book": {"bob": "bob@contoso.com"}, "default_destination": "bob"})
    code = board.request("oauth.login")
    board.tenant.approve_device_code(code["user_code"], "hve-scanner@contoso.com")
    board.advance(code["interval"])
    assert board.until("oauth.status", lambda s: s["state"] != "signing_in")["user"] == "hve-scanner@contoso.com"
    board.request("scan")
    (job,) = board.until("outbox.list", lambda jobs: jobs[0]["state"] in ("sent", "failed"))
    assert job["state"] == "sent" and job["reply"].startswith("250 "), job
    assert len(board.tenant.messages("bob@contoso.com")) == 1
    with pytest.raises(ConsoleError) as no_sign_in:
        board.request("config.set", changes={"method": "direct_send",
                                             "host": "contoso-com.mail.protection.outlook.com"})
    assert "auth refused" in str(no_sign_in.value) and "xoauth2 signs in to client submission" in str(no_sign_in.value)
