# The scanner application's console suite on a board: with `pytest --port /dev/ttyUSB0` the ESP32
# on that port, else a virtual board per runtime (tests/boards/targets.py), the application
# installed over the serial port as a user installs it and started fresh. What a host tool sees:
# line noise and damaged frames skipped or answered, a request longer than the receive buffer in
# paced parts, every command and its refusals, a test message and a scan delivered to the fake
# tenant, no secret in any reply or log line, and Ctrl-C back to the REPL. (tests/app/test_console.py
# drives the same application on a pty without a board around it.)
import json

import pytest

from scanmail.host_tools.console_client import ConsoleError, encode
from tests.boards.targets import open_application_board, target_ids

PASSWORD = "Scanner-Pass-1"


def pytest_generate_tests(metafunc):
    if "target_id" in metafunc.fixturenames:
        metafunc.parametrize("target_id", target_ids(metafunc.config), scope="module")


@pytest.fixture(scope="module")
def tenant(request, target_id, tmp_path_factory):
    from scanmail.emulator.tenant import FakeTenant

    state = tmp_path_factory.mktemp("tenant-" + target_id.replace("/", "_"))
    if target_id.startswith("esp32@"):
        # a real board reaches this machine over the LAN, on the ports it dials
        tenant = FakeTenant(state_dir=str(state), bind="0.0.0.0", ports={"submission": 587, "mx": 25})
    else:
        tenant = FakeTenant(state_dir=str(state))
    with tenant:
        yield tenant


@pytest.fixture(scope="module")
def board(request, target_id, tenant, tmp_path_factory):
    ip = "127.0.0.%d" % (80 + ["virtual-micropython", "virtual-cpython"].index(target_id)
                         if target_id.startswith("virtual-") else 80)
    opened = open_application_board(request, target_id, str(tmp_path_factory.mktemp("board") / "b"),
                                    ip, tenant)
    yield opened
    opened.close()


def test_frames_commands_and_refusals_as_a_host_tool_sees_them(board):
    port = board.console.serial
    # line noise, a half frame, a frame with a wrong CRC: skipped or answered as bad_frame
    port.write(b"\x00\xff garbage #SM1 12 . 5 0000\n")
    port.write(encode(77, b".", b'{"cmd":"info"}').replace(b"info", b"inf0"))
    info = board.request("info")
    assert info["firmware"] and info["version"].count(".") == 2 and info["name"]
    assert board.profile is None or info["profile"] == board.profile
    port.write(b"#SM2 5 . 2 00000000 {}\n")                 # a newer protocol: refused, not fatal
    first = board.request("config.get", key="method")
    assert first["value"] == "submission" and board.request("config.get", key="quality")["value"] == 80
    # a request far longer than the ESP32's 260-byte receive buffer goes in paced parts
    book = dict(("person%02d" % i, "person%02d@contoso.com" % i) for i in range(30))
    assert board.request("config.set", changes={"address_book": book})["hash"] != first["hash"]
    assert board.request("config.get", key="address_book")["value"] == book
    with pytest.raises(ConsoleError) as refused:
        board.request("config.set", key="port", value=99999)
    assert refused.value.code == "refused" and str(refused.value) == \
        "port refused; allowed: an integer 0..65535; kept: 0"
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
    with pytest.raises(ConsoleError) as bad_count:
        board.request("logs", count=0)
    assert bad_count.value.code == "bad_args"
    with pytest.raises(ConsoleError) as unknown:
        board.request("format-flash")
    assert unknown.value.code == "unknown_command" and "info, status" in str(unknown.value)
    everything = json.dumps(board.request("logs", count=200)) + "\n".join(board.console.log_lines) \
        + json.dumps(board.request("config.get")) + json.dumps(board.request("secret.status"))
    assert PASSWORD not in everything


def ready_to_send(board, tenant):
    """An empty tenant, and the board configured to send to it by submission as alice's scanner."""
    tenant.reset()
    board.request("config.set", changes={
        "username": "scanner@contoso.com", "sender": "scanner@contoso.com",
        "address_book": {"alice": "alice@contoso.com"}, "default_destination": "alice",
        "ca_path": "/ca.der", "timeout_s": 30})
    board.request("secret.set", name="password", value=PASSWORD)


def test_a_test_message_and_a_scan_reach_the_tenant(board, tenant):
    ready_to_send(board, tenant)
    assert board.request("send-test")["reply"].startswith("250")
    job = board.request("scan")
    assert job["pages"] >= 1 and job["to"] == ["alice@contoso.com"]
    for _ in range(300):                  # each request is a round trip to the board: an event
        jobs = board.request("outbox.list")
        if jobs and jobs[-1]["state"] != "queued" and jobs[-1]["state"] != "sending":
            break
    assert jobs[-1]["state"] == "sent" and jobs[-1]["reply"].startswith("250"), jobs
    inbox = tenant.messages("alice@contoso.com", "Inbox")
    assert len(inbox) == 2
    (part,) = list(inbox[-1].iter_attachments())
    assert part.get_content_type() == "application/pdf" and \
        part.get_payload(decode=True).startswith(b"%PDF-")
    everything = json.dumps(board.request("logs", count=200)) + "\n".join(board.console.log_lines)
    assert PASSWORD not in everything and any("sent: 250" in line for line in
                                              board.request("logs", count=200))


def test_an_improv_request_during_a_send_is_answered_after_it_and_stops_nothing(board, tenant):
    # A web installer may ask a board for its state at any moment, and every RPC packet it sends
    # has a 3, the Ctrl-C byte, as its type. While the outbox sends on its own, that byte is packet
    # data, not an interrupt: the send goes on, the packet is answered after it, the application
    # keeps running.
    import time

    from tests.app.test_improv import rpc

    ready_to_send(board, tenant)
    tenant.add_fault(stage="mail", action="delay", delay_s=3, endpoint="submission", nth=1)
    job = board.request("scan")["job"]
    for _ in range(600):                  # the server holds its reply to MAIL: the board waits
        if tenant.faults()[0]["fired"]:
            break
        time.sleep(0.05)
    assert tenant.faults()[0]["fired"] == 1, "the board never reached MAIL FROM"
    board.console.serial.write(rpc(2))                 # Improv: the current state, please
    for _ in range(300):
        jobs = dict((j["id"], j) for j in board.request("outbox.list"))
        if jobs[job]["state"] not in ("queued", "sending"):
            break
    assert jobs[job]["state"] == "sent" and jobs[job]["attempts"] == 1, jobs[job]
    assert any(line.startswith("IMPROV\x01\x01") for line in board.console.log_lines), \
        board.console.log_lines[-10:]
    assert board.request("info")["name"]
    tenant.clear_faults()


def test_ctrl_c_stops_the_application_and_leaves_the_repl_with_its_heap(board):
    info = board.request("info")
    printed = board.interrupt()
    assert "scanmail: stopped (Ctrl-C); REPL" in printed and "Traceback" not in printed
    # the application let go of its modules: what mpremote and the person at the REPL do next
    # has the heap the application held (the names it interned stay; MicroPython keeps those)
    out = board.at_the_repl("import sys; print([m for m in sys.modules if m.startswith('scanmail.firmware.')])")
    assert out.strip() == "[]", out
    if info["runtime"] == "micropython":  # its heap (CPython reports no such figure)
        free = board.at_the_repl("import gc; _ = gc.collect(); print(gc.mem_free())")
        assert int(free.strip()) > info["heap_free"] + 8 * 1024, (free, info["heap_free"])
