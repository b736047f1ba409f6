# The scanner application on a virtual board, as a person uses it, on both runtimes: installed over
# the serial port, configured over the console, the scan button pressed, a multi-page PDF in the
# mailbox; a power cut while the board waits on the server, and the scan delivered exactly once
# after power comes back; the button held at boot gives the REPL (safe mode).
import io
import time

import pypdf
import pytest

from scanmail.emulator.tenant import FakeTenant
from scanmail.host_tools import app_install
from scanmail.host_tools.console_client import ConsoleClient
from scanmail.host_tools.raw_repl import RawRepl
from tests import runtimes


@pytest.fixture(scope="module")
def tenant(tmp_path_factory):
    with FakeTenant(state_dir=tmp_path_factory.mktemp("o365")) as t:
        yield t


def started_app(start_board, runtime, tenant):
    board = start_board(runtime, tenant_state=str(tenant.state_dir), fast=True)
    repl = RawRepl(board.port, read_timeout_s=60)
    repl.enter()
    with open(tenant.ca_der_path, "rb") as f:
        app_install.install(repl, extra=[(f.read(), "/ca.der")])
    repl.close()
    console = ConsoleClient(board.port, timeout_s=30)
    board.reset()
    console.wait_for_log("started on")
    console.request("config.set", changes={
        "username": "scanner@contoso.com", "sender": "scanner@contoso.com",
        "address_book": {"alice": "alice@contoso.com"}, "default_destination": "alice",
        "ca_path": "/ca.der", "timeout_s": 10})
    console.request("secret.set", name="password", value="Scanner-Pass-1")
    return board, console


def until(check, what, tries=600):
    for _ in range(tries):
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("never happened: " + what)


def test_press_scan_then_a_power_cut_mid_send_delivers_once(runtime, start_board, tenant):
    tenant.reset()
    tenant.clear_faults()
    board, console = started_app(start_board, runtime, tenant)
    try:
        board.press("scan")
        inbox = until(lambda: tenant.messages("alice@contoso.com", "Inbox"), "the scan arrives")
        (part,) = list(inbox[0].iter_attachments())
        pdf = pypdf.PdfReader(io.BytesIO(part.get_payload(decode=True)))
        assert len(pdf.pages) == 3 and part.get_content_type() == "application/pdf"

        # the server holds the next scan at RCPT; the power goes while the board waits
        fault = tenant.add_fault(stage="rcpt", action="delay", delay_s=5, nth=1)
        board.press("scan")
        until(lambda: any(f["fired"] for f in tenant.faults()), "the board reaches RCPT")
        board.power_cut()
        console.wait_for_log("started on")
        until(lambda: len(tenant.messages("alice@contoso.com", "Inbox")) == 2, "the second scan arrives")
        jobs = console.request("outbox.list")
        assert [j["state"] for j in jobs] == ["sent", "sent"] and jobs[1]["attempts"] == 2
        time.sleep(0.5)       # nothing else is on its way: exactly once
        assert len(tenant.messages("alice@contoso.com", "Inbox")) == 2
        logs = console.request("logs", count=200)
        assert any("power went while sending" in line for line in logs)
        assert not any("Scanner-Pass-1" in line for line in logs + console.log_lines)
    finally:
        console.close()


def test_the_scan_button_held_at_boot_leaves_the_repl(runtime, start_board, tenant):
    board, console = started_app(start_board, runtime, tenant)
    try:
        board.press("scan", hold=True)
        board.reset()
        console.wait_for_log("safe mode")
    finally:
        console.close()
    repl = RawRepl(board.port, read_timeout_s=30)
    repl.enter()                                   # mpremote and host tools work as usual
    assert repl.exec("print(1 + 1)").strip() == "2"
    repl.close()
    board.press("scan", hold=False)
