# The serial console of the running application, on both runtimes, through a pty as a board's
# serial port: every command and its refusals through the host's ConsoleClient, garbage and
# damaged frames on the line, a request longer than the ESP32's receive buffer, Ctrl-C back to the
# REPL, and no secret in any reply or log line.
import json
import os
import pty
import select
import subprocess
import tty

import pytest

from scanmail.emulator.boards.sample_document import write_pages
from scanmail.host_tools.console_client import ConsoleClient, ConsoleError, encode
from tests import runtimes

NOW = 1_800_000_000
ROM = os.path.join(runtimes.REPO_ROOT, "emulator", "board_rom")
HERE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "on_runtime")
FIRMWARE_ON_RUNTIME = os.path.join(runtimes.REPO_ROOT, "tests", "firmware", "on_runtime")
PASSWORD = "Scanner-Pass-1"


class PtyPort:
    """The host end of a pty, with the members of a pyserial port ConsoleClient uses."""

    port = "pty"

    def __init__(self, fd):
        self.fd = fd

    @property
    def in_waiting(self):
        return 1 if select.select([self.fd], [], [], 0)[0] else 0

    def read(self, n):
        if not select.select([self.fd], [], [], 0.05)[0]:
            return b""
        try:
            return os.read(self.fd, max(n, 1))
        except OSError:
            return b""

    def write(self, data):
        os.write(self.fd, data)

    def close(self):
        pass


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    folder = tmp_path_factory.mktemp("scanner")
    write_pages(str(folder), count=2, dpi=50)
    return str(folder)


@pytest.fixture
def board(runtime, tenant, pages, tmp_path):
    tenant.reset()
    routes = {"%s:%d" % (tenant.hostname(e), p): list(tenant.address(e))
              for e, p in (("submission", 587), ("mx", 25), ("hve", 587))}
    root = tmp_path / "flash"
    root.mkdir()
    (root / "ca.der").write_bytes(open(tenant.ca_der_path, "rb").read())
    spec = {"root": str(root), "nvs": str(tmp_path / "nvs.json"), "pages": pages, "routes": routes,
            "now": NOW}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    master, slave = pty.openpty()
    tty.setraw(slave)
    cmd = runtimes.command_for(runtime) + [os.path.join(HERE, "console_app.py"), str(tmp_path / "spec.json")]
    proc = subprocess.Popen(cmd, stdin=slave, stdout=slave, stderr=subprocess.PIPE,
                            env=runtimes.environment_for(runtime, (HERE, FIRMWARE_ON_RUNTIME, ROM)),
                            cwd=runtimes.REPO_ROOT)
    os.close(slave)
    client = ConsoleClient(None, timeout_s=20, serial_port=PtyPort(master))
    client.proc, client.tenant, client.root = proc, tenant, root
    yield client
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    os.close(master)


def configure(board):
    return board.request("config.set", changes={
        "username": "scanner@contoso.com", "sender": "scanner@contoso.com",
        "address_book": {"alice": "alice@contoso.com"}, "default_destination": "alice",
        "ca_path": "/ca.der", "timeout_s": 10})


def test_every_command_and_its_refusals(board):
    info = board.request("info")
    assert info["firmware"] and info["profile"] == "esp32-devkitc" and info["name"] == "scanner-3f2a"
    assert info["runtime"] in ("micropython", "cpython") and info["version"].count(".") == 2
    first = board.request("config.get", key="method")
    assert first["value"] == "submission"
    changed = configure(board)
    assert changed["hash"] != first["hash"]
    assert board.request("config.get")["value"]["sender"] == "scanner@contoso.com"
    with pytest.raises(ConsoleError) as refused:
        board.request("config.set", key="port", value=99999)
    assert refused.value.code == "refused" and str(refused.value) == \
        "port refused; allowed: an integer 0..65535; kept: 0"
    assert board.request("config.validate", changes={"method": "relay"}) == {
        "valid": False, "key": "host", "text": board.request("config.validate", changes={
            "method": "relay"})["text"]}
    assert board.request("config.validate", changes={"quality": 50}) == {"valid": True}
    assert board.request("config.get", key="quality")["value"] == 80      # validate stores nothing
    with pytest.raises(ConsoleError) as unknown_key:
        board.request("config.get", key="colour")
    assert unknown_key.value.code == "unknown_key"

    assert board.request("secret.status")["password"] == {"set": False, "fingerprint": None}
    status = board.request("secret.set", name="password", value=PASSWORD)
    assert status["set"] and len(status["fingerprint"]) == 8
    with pytest.raises(ConsoleError) as bad_secret:
        board.request("secret.set", name="pin", value="1234")
    assert bad_secret.value.code == "refused" and "the secrets are" in str(bad_secret.value)

    assert board.request("send-test")["reply"].startswith("250")
    with pytest.raises(ConsoleError) as nowhere:
        board.request("scan", to="nobody")
    assert nowhere.value.code == "no_destination"
    job = board.request("scan")
    assert job["pages"] == 2 and job["to"] == ["alice@contoso.com"]
    sent = wait_for(board, lambda jobs: jobs and jobs[0]["state"] == "sent")
    assert sent[0]["reply"].startswith("250")
    status = board.request("status")
    assert status["outbox"]["sent"] == 1 and status["clock_set"] and status["last"]["ok"]
    assert status["config_hash"] == board.request("config.get")["hash"]
    with pytest.raises(ConsoleError) as not_failed:
        board.request("outbox.retry", id=job["job"])
    assert not_failed.value.code == "wrong_state"
    with pytest.raises(ConsoleError) as missing:
        board.request("outbox.retry", id="999999")
    assert missing.value.code == "unknown_job"
    assert board.request("outbox.purge") == {"purged": [job["job"]]}
    assert board.request("outbox.list") == []
    logs = board.request("logs", count=100)
    assert any("sent: 250" in line for line in logs) and any("secret password set" in line for line in logs)
    with pytest.raises(ConsoleError) as bad_count:
        board.request("logs", count=0)
    assert bad_count.value.code == "bad_args"
    with pytest.raises(ConsoleError) as unknown:
        board.request("format-flash")
    assert unknown.value.code == "unknown_command" and "info, status" in str(unknown.value)
    with pytest.raises(ConsoleError) as no_reboot:
        board.request("reboot")                     # this test board cannot reset itself
    assert no_reboot.value.code == "not_here"
    # two messages arrived: the test message and the scan
    assert len(board.tenant.messages("alice@contoso.com", "Inbox")) == 2

    # a wrong password: the failure is diagnosed, and the password appears nowhere
    board.request("secret.set", name="password", value="Wrong-Secret-77")
    with pytest.raises(ConsoleError) as failed:
        board.request("send-test")
    assert failed.value.code == "send_failed" and "535" in str(failed.value)
    everything = json.dumps(board.request("logs", count=200)) + "\n".join(board.log_lines) + \
        json.dumps(board.request("status")) + str(failed.value) + \
        json.dumps(board.request("config.get")) + json.dumps(board.request("secret.status"))
    everything += (board.root / "log.0").read_text()
    assert PASSWORD not in everything and "Wrong-Secret-77" not in everything


def wait_for(board, done, tries=200):
    for _ in range(tries):
        jobs = board.request("outbox.list")
        if done(jobs):
            return jobs
    raise AssertionError("outbox never reached the state: %r" % jobs)


def test_garbage_damaged_frames_long_requests_and_ctrl_c(board):
    port = board.serial
    # line noise, a half frame, a frame with a wrong CRC: skipped or answered as bad_frame
    port.write(b"\x00\xff garbage #SM1 12 . 5 0000\n")
    port.write(encode(77, b".", b'{"cmd":"info"}').replace(b"info", b"inf0"))
    assert board.request("info")["profile"] == "esp32-devkitc"
    # a newer protocol version is refused with what to do
    port.write(b"#SM2 5 . 2 00000000 {}\n")
    # a request far longer than the 260-byte receive buffer goes in paced parts
    book = {"person%02d" % i: "person%02d@contoso.com" % i for i in range(30)}
    assert "hash" in board.request("config.set", changes={"address_book": book})
    assert len(board.request("config.get", key="address_book")["value"]) == 30
    # Ctrl-C stops the application and leaves the REPL (as mpremote expects): the byte on the
    # line, which the application reads itself while it waits on the console (Ctrl-C as an
    # interrupt is off then, so that a 3 inside an Improv packet is data)
    port.write(b"\x03")
    assert board.proc.wait(timeout=5) == 0
    assert b"Traceback" not in board.proc.stderr.read()


def test_text_beyond_the_basic_plane_set_from_the_host_arrives_in_the_mail_as_typed(board):
    # An emoji (outside Unicode's basic plane) in the subject and body templates, through the
    # host's client: the board stores and sends the very characters, not the halves of a
    # surrogate pair that a JSON \u escape would give MicroPython's json.loads.
    subject, body = "Scan {pages} \U0001F4C4 from the caf\u00e9", "Pages \U0001F5A8\ufe0f attached"
    configure(board)
    board.request("config.set", changes={"subject": subject, "body": body})
    board.request("secret.set", name="password", value=PASSWORD)
    assert board.request("config.get", key="subject")["value"] == subject
    assert board.request("send-test")["reply"].startswith("250")
    board.request("scan")
    for _ in range(300):
        jobs = board.request("outbox.list")
        if jobs and jobs[-1]["state"] not in ("queued", "sending"):
            break
    assert jobs[-1]["state"] == "sent", jobs[-1]
    scan = board.tenant.messages("alice@contoso.com", "Inbox")[-1]
    assert scan["Subject"] == "Scan 2 \U0001F4C4 from the caf\u00e9"
    assert scan.get_body(("plain",)).get_content().strip() == "Pages \U0001F5A8\ufe0f attached"


def test_a_host_that_never_stops_asking_starves_no_send(board):
    # a dashboard polling the status as fast as the line allows (each request sent before the
    # last is answered, so the board always finds one waiting): the console answers, and the
    # outbox still sends the scan queued before it began
    import threading
    import time

    configure(board)
    board.request("secret.set", name="password", value=PASSWORD)
    job = board.request("scan")
    port = board.serial
    status = encode(9, b".", b'{"cmd":"status"}')
    stop = threading.Event()

    def ask():
        while not stop.is_set():
            if select.select([], [port.fd], [], 0.05)[1]:
                port.write(status)

    asker = threading.Thread(target=ask, daemon=True)
    asker.start()
    answered = False
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not board.tenant.messages("alice@contoso.com", "Inbox"):
            answered = b"#SM1 9 " in port.read(4096) or answered
    finally:
        stop.set()
        asker.join()
    quiet = time.monotonic() + 5                    # the requests still waiting are answered
    while not answered and time.monotonic() < quiet:
        answered = b"#SM1 9 " in port.read(4096)
    assert answered
    assert len(board.tenant.messages("alice@contoso.com", "Inbox")) == 1, "job %s never sent" % job["job"]
