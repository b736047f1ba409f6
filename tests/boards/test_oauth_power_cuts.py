# A short seeded slice of bench/oauth.py's power-cut campaign: a virtual MicroPython board running
# the scanner application, signed in by device code, its power cut at random instants while it
# refreshes in a loop (each refresh rotating the refresh token in NVS); after every cut it boots
# signed in and refreshes, and then sends a scan over XOAUTH2 on a tenant with Basic auth off.
from scanmail.emulator.tenant import FakeClock, FakeTenant
from scanmail.host_tools.console_client import ConsoleClient
from tests.boards.oauth_cuts import install_app, power_cuts, sign_in


def test_power_cuts_during_refreshes_on_a_virtual_board_never_lose_the_sign_in(start_board, tmp_path):
    with FakeTenant(tenant="after-december-2026", state_dir=str(tmp_path / "tenant"), clock=FakeClock()) as tenant:
        board = start_board("micropython", tenant_state=str(tenant.state_dir), fast=True)
        install_app(board, tenant)
        sign_in(board, tenant)
        assert power_cuts(board, tenant, cuts=4, seed=13) == 4
        assert tenant.world.entra.counts["refreshes"] >= 8          # every cycle refreshed on both sides of the cut
        with ConsoleClient(board.port, timeout_s=30) as console:
            job = console.request("scan")
            for _ in range(600):
                (sent,) = console.request("outbox.list")
                if sent["state"] not in ("queued", "sending"):
                    break
            assert sent["id"] == job["job"] and sent["state"] == "sent", sent
        assert len(tenant.messages("bob@contoso.com", "Inbox")) == 1
