# A board runs the real firmware (copied onto its flash over its serial port) and sends through
# the fake tenant: a virtual board on both runtimes, or with `pytest --port /dev/ttyUSB0` a real
# ESP32 (tests/boards/targets.py). Names resolve to the tenant's listeners, the board connects
# from its own address, and the network switches of a virtual board (blocked port 25, a dropping
# link, latency and a bandwidth cap) show up in the mail core's errors as they would on a real
# network.
import json
import os

import pytest

from tests.boards.conftest import install_firmware
from tests.boards.targets import RealTarget, VirtualTarget, open_target, target_ids

# The built-in tenant's SPF record lists 127.0.0.20, so direct send from it lands in the Inbox.
BOARD_IP = "127.0.0.20"

SEND = """
import json
from scanmail.firmware.board import open_board
from scanmail.firmware.mail import send_mail, Message, SMTPError
_board = %(board)s
_f = open(_board.storage_root.rstrip('/') + '/ca.der', 'rb'); _ca = _f.read(); _f.close()
_settings = %(settings)r
_settings['ca_der'] = _ca
_attachments = []
if %(attachment_bytes)d:
    _f = open(_board.storage_root.rstrip('/') + '/scan.pdf', 'wb')
    for _i in range(%(attachment_bytes)d // 1000):
        _f.write(b'%%PDF-1.4 ' * 100)
    _f.close()
    _attachments = [(_board.storage_root.rstrip('/') + '/scan.pdf', 'scan.pdf', 'application/pdf')]
_msg = Message(sender=%(sender)r, to=[%(to)r], cc=[], subject=%(subject)r, body='See attached.',
               attachments=_attachments)
try:
    print(json.dumps({'ok': True, 'reply': send_mail(_settings, _msg, _board)['reply']}))
except SMTPError as _e:
    _cause, _todo = _e.diagnosis()
    print(json.dumps({'ok': False, 'stage': _e.stage, 'transient': _e.transient, 'code': _e.code,
                      'text': str(_e), 'cause': _cause, 'todo': _todo}))
"""


def pytest_generate_tests(metafunc):
    # Tests that take `rig` run on the real board given by --port, else on a virtual board per
    # runtime; tests that take `virtual_rig` switch the network, which only a virtual board can.
    for name, virtual_only in (("target_id", False), ("virtual_target_id", True)):
        if name in metafunc.fixturenames:
            metafunc.parametrize(name, target_ids(metafunc.config, virtual_only), scope="module")


@pytest.fixture(scope="module")
def rigs(request, tmp_path_factory):
    """target id -> (tenant, target), each opened once for the module: a fake tenant and a board
    with the firmware and the tenant's CA on its flash."""
    from scanmail.emulator.tenant import FakeTenant

    opened, stack = {}, []

    def open_rig(target_id):
        if target_id not in opened:
            root = tmp_path_factory.mktemp("send-" + target_id.replace("/", "_"))
            if target_id.startswith("esp32@"):
                # A real board reaches this machine over the LAN, on the ports it dials.
                tenant = FakeTenant(state_dir=str(root / "tenant"), bind="0.0.0.0",
                                    ports={"submission": 587, "mx": 25})
            else:
                tenant = FakeTenant(state_dir=str(root / "tenant"))
            tenant.__enter__()
            stack.append(tenant)
            target = open_target(request, target_id, str(root / "board"), BOARD_IP,
                                 str(root / "tenant"))
            stack.append(target)
            install_firmware(target.repl)
            with open(tenant.ca_der_path, "rb") as f:
                target.repl.put_file(f.read(), "/ca.der")
            target.installed()
            opened[target_id] = (tenant, target)
        return opened[target_id]

    try:
        yield open_rig
    finally:
        for item in reversed(stack):
            if isinstance(item, (VirtualTarget, RealTarget)):
                item.close()
            else:
                item.__exit__(None, None, None)


@pytest.fixture
def rig(rigs, target_id):
    return rigs(target_id)


@pytest.fixture
def virtual_rig(rigs, virtual_target_id):
    return rigs(virtual_target_id)


def sender(rig):
    tenant, target = rig
    target.set_network(block_ports=None, block_mode=None, latency_ms=None, bandwidth_kbps=None,
                       drop_after_bytes=None)

    def send(settings, to, subject, sender="scanner@contoso.com", attachment_bytes=0):
        out = target.repl.exec(SEND % {"settings": settings, "to": to, "subject": subject,
                                       "sender": sender, "attachment_bytes": attachment_bytes,
                                       "board": target.board_code}, timeout_s=90)
        return json.loads(out.strip().splitlines()[-1])

    return send


@pytest.fixture
def send(rig):
    return sender(rig)


@pytest.fixture
def virtual_send(virtual_rig):
    return sender(virtual_rig)


def _submission():
    return {"method": "submission", "username": "scanner@contoso.com", "password": "Scanner-Pass-1"}


def _direct_send(tenant):
    return {"method": "direct_send", "host": tenant.hostname("mx"), "port": 25, "timeout_s": 2}


def _subjects(tenant, mailbox):
    return [m["Subject"] for m in tenant.messages(mailbox, "Inbox")]


def test_a_board_sends_a_scan_by_client_submission_and_the_tenant_sees_the_board_address(rig, send):
    tenant, board = rig
    result = send(_submission(), "alice@contoso.com", "scan over submission from " + board.runtime)
    assert result["ok"], result
    assert result["reply"].startswith("250 2.0.0 OK")
    assert "scan over submission from " + board.runtime in _subjects(tenant, "alice@contoso.com")
    assert tenant.trace()[-1]["client_ip"] == board.info["ip"]


def test_direct_send_to_the_mx_on_port_25_delivers_inside_the_tenant(rig, send):
    tenant, board = rig
    result = send(_direct_send(tenant), "bob@contoso.com", "direct send from " + board.runtime)
    assert result["ok"], result
    assert "direct send from " + board.runtime in _subjects(tenant, "bob@contoso.com")


# How the blocked port shows: a firewall that rejects (connection refused) or one that drops
# packets (the connect times out); the words the mail core should find in its diagnosis.
BLOCK_MODES = [
    ("refuse", "outbound port 25 is blocked"),
    ("timeout", "did not answer in time"),
]


@pytest.mark.parametrize("mode, words", BLOCK_MODES)
def test_blocked_port_25_makes_direct_send_fail_at_connect_as_a_transient_network_error(
        virtual_rig, virtual_send, mode, words):
    tenant, board = virtual_rig
    board.set_network(block_ports=[25], block_mode=mode)
    before = len(tenant.trace())
    result = virtual_send(_direct_send(tenant), "bob@contoso.com", "never arrives (%s)" % mode)
    assert not result["ok"]
    assert (result["stage"], result["transient"], result["code"]) == ("connect", True, None)
    diagnosis = result["cause"] + " " + result["todo"]
    assert words in diagnosis and "25" in diagnosis
    assert len(tenant.trace()) == before  # nothing reached the tenant


def test_client_submission_on_587_still_works_when_port_25_is_blocked(virtual_rig, virtual_send):
    tenant, board = virtual_rig
    board.set_network(block_ports=[25])
    result = virtual_send(_submission(), "alice@contoso.com", "587 is open")
    assert result["ok"], result


def test_an_unknown_host_name_fails_like_a_failed_dns_lookup(rig, send):
    settings = dict(_submission(), host="smtp.office365.example")
    result = send(settings, "alice@contoso.com", "no such host")
    assert not result["ok"]
    assert result["stage"] == "connect"
    assert "resolve" in result["cause"] + result["text"]


def test_a_link_that_drops_mid_send_fails_with_a_network_error_and_delivers_nothing(virtual_rig,
                                                                                  virtual_send):
    tenant, board = virtual_rig
    board.set_network(drop_after_bytes=6000)
    result = virtual_send(_submission(), "alice@contoso.com", "dropped on the way", attachment_bytes=20000)
    assert not result["ok"]
    assert result["transient"] and result["code"] is None, result
    assert "dropped on the way" not in _subjects(tenant, "alice@contoso.com")


def test_latency_and_a_bandwidth_cap_slow_the_link_but_the_scan_arrives_from_the_board_address(
        virtual_rig, virtual_send):
    tenant, board = virtual_rig
    board.set_network(latency_ms=40, bandwidth_kbps=2000)
    result = virtual_send(_submission(), "alice@contoso.com", "over a slow link", attachment_bytes=20000)
    assert result["ok"], result
    assert "over a slow link" in _subjects(tenant, "alice@contoso.com")
    assert tenant.trace()[-1]["client_ip"] == board.info["ip"]
    with open(os.path.join(board.state_dir, "supervisor.log")) as f:
        assert "relay: link to" in f.read()  # the bytes went through the shaping relay
