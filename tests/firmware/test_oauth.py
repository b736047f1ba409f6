# The board's OAuth sign-in (firmware/oauth.py, token_request.py, json_fields.py, oauth_send.py) on
# MicroPython and CPython against the fake Entra ID: a device-code sign-in that honours the
# interval and slow_down, approved through the sign-in API, then XOAUTH2 sends; a refused token
# refreshed once; the refresh token rotating over a hundred simulated days; declined, expired and
# revoked sign-ins as clear states; app-only sending with a client secret; power cuts during
# refreshes never losing the sign-in. The board process is driven line by line
# (tests/firmware/on_runtime/oauth_case.py), so the fake clock moves only when the test moves it.
import json
import os

import pytest

from scanmail.emulator.tenant import FakeClock, FakeTenant
from tests.firmware.oauth_board import SCANNER, SENDER_APP, Board, power_cuts, signed_in_board


@pytest.fixture(scope="module")
def tenant(tmp_path_factory):
    with FakeTenant(state_dir=tmp_path_factory.mktemp("o365"), clock=FakeClock()) as t:
        yield t


@pytest.fixture
def o365(tenant):
    tenant.reset()
    yield tenant


def delivered(t, subject):
    return [m for m in t.messages("alice@contoso.com") if m["Subject"] == subject]


def test_device_sign_in_honours_interval_and_slow_down_then_sends(runtime, o365, tmp_path):
    with Board(runtime, o365, tmp_path / "secrets") as board:
        code = board.do("start")
        assert code["interval"] == 5 and code["expires_in"] == 900 and len(code["user_code"]) == 9
        assert code["verification_uri"] == o365.login_url + "/devicelogin"
        board.send_line({"do": "wait"})
        asked = board.read()
        assert asked == {"sleep": 5}                         # the interval the server gave
        o365.clock.advance(5)
        board.send_line({"now": int(o365.clock.now())})      # poll 1: authorization_pending
        assert board.read() == {"sleep": 5}
        o365.clock.advance(1)                                # the board polls too soon (its clock says so)
        board.send_line({"now": int(o365.clock.now())})      # poll 2: slow_down
        assert board.read() == {"sleep": 10}                 # it waits 5 s longer from now on
        o365.approve_device_code(code["user_code"], SCANNER)
        o365.clock.advance(10)
        board.send_line({"now": int(o365.clock.now())})
        done = board.read()
        assert done == {"user": SCANNER, "polls": 3, "state": "signed_in"}
        sent = board.do("send", to="alice@contoso.com", subject="Signed in by device code")
        assert sent["reply"].startswith("250 2.0.0 OK"), sent
    assert len(delivered(o365, "Signed in by device code")) == 1
    stored = b"".join((tmp_path / "secrets" / name).read_bytes() for name in os.listdir(tmp_path / "secrets"))
    assert b"1.AXoA" in stored                               # the refresh token is in the secret store...
    assert "1.AXoA" not in "".join(board.output)             # ...and nowhere in what the board said


def test_declined_and_expired_sign_ins_are_clear_states(runtime, o365, tmp_path):
    with Board(runtime, o365, tmp_path / "secrets") as board:
        code = board.do("start")
        o365.decline_device_code(code["user_code"])
        o365.clock.advance(5)
        declined = board.do("poll")
        assert declined["error"]["kind"] == "declined" and declined["state"] == "signed_out"
        assert "start it again" in declined["error"]["text"]
        board.do("start")
        o365.clock.advance(901)
        expired = board.do("poll")
        assert expired["error"]["kind"] == "expired"
        not_signed_in = board.do("send", to="alice@contoso.com")
        assert not_signed_in["error"]["kind"] == "sign_in_needed" and not_signed_in["error"]["stage"] == "sign_in"


def test_a_declined_new_sign_in_leaves_the_earlier_one_working(runtime, o365, tmp_path):
    with signed_in_board(runtime, o365, tmp_path / "secrets") as board:
        code = board.do("start")
        o365.decline_device_code(code["user_code"])
        o365.clock.advance(5)
        declined = board.do("poll")
        assert declined["error"]["kind"] == "declined" and declined["state"] == "signed_in"
        assert board.do("send", to="alice@contoso.com", subject="still signed in")["reply"].startswith("250 ")


def test_the_access_token_is_cached_refreshed_before_expiry_and_a_refused_one_retried_once(runtime, o365, tmp_path):
    with signed_in_board(runtime, o365, tmp_path / "secrets") as board:
        assert board.do("send", to="alice@contoso.com", subject="one")["refreshes"] == 0
        o365.clock.advance(3600 - 301)           # tokens live 60 to 90 minutes: this one still has 5 left
        assert board.do("send", to="alice@contoso.com", subject="two")["refreshes"] == 0     # cached in RAM
        o365.clock.advance(5400 - 3600)          # now within five minutes of its end, whatever its lifetime
        assert board.do("send", to="alice@contoso.com", subject="three")["refreshes"] == 1
        # The board's clock lags (no NTP for a while): it thinks its token is still good, the server
        # refuses it as expired; the board refreshes once and sends.
        o365.clock.advance(5400)
        late = board.do("send", lag_s=5400, to="alice@contoso.com", subject="four")
        assert late["reply"].startswith("250 2.0.0 OK") and late["refreshes"] == 2, late
        # Sign-ins revoked: the token is refused, then the refresh: a person must sign in again.
        o365.revoke_sign_ins(SCANNER)
        refused = board.do("send", lag_s=5400, to="alice@contoso.com", subject="five")
        assert refused["error"]["kind"] == "sign_in_needed" and refused["state"] == "sign_in_needed"
        assert "sign in again" in refused["error"]["text"]
    assert [len(delivered(o365, s)) for s in ("one", "two", "three", "four", "five")] == [1, 1, 1, 1, 0]
    auth = [r for r in o365.trace() if r.get("stage") == "auth"]
    assert [r["why"] for r in auth] == ["token expired", "sign-in sessions revoked"]   # each refused once


def test_a_hundred_days_on_one_sign_in_with_the_refresh_token_rotating(runtime, o365, tmp_path):
    with signed_in_board(runtime, o365, tmp_path / "secrets") as board:
        for day in range(20, 101, 20):           # a send every twenty days: each one refreshes and rotates
            o365.clock.advance(20 * 86400)
            sent = board.do("send", to="alice@contoso.com", subject="day %d" % day)
            assert sent["reply"].startswith("250 2.0.0 OK"), sent
        assert sent["refreshes"] == 5
    assert len([m for m in o365.messages("alice@contoso.com") if m["Subject"].startswith("day ")]) == 5


def test_app_only_sending_with_a_client_secret(runtime, o365, tmp_path):
    oauth = {"mode": "app", "tenant": o365.tenant_id, "client_id": SENDER_APP, "username": SCANNER}
    with Board(runtime, o365, tmp_path / "secrets", oauth, {"oauth_secret": "Scanner-App-Secret-1"}) as board:
        sent = board.do("send", to="alice@contoso.com", subject="app-only")
        assert sent["reply"].startswith("250 2.0.0 OK"), sent
    with Board(runtime, o365, tmp_path / "wrong", oauth, {"oauth_secret": "wrong"}) as board:
        refused = board.do("send", to="alice@contoso.com", subject="never")
        assert refused["error"]["kind"] == "refused" and "invalid_client" in refused["error"]["text"]
        assert "wrong" not in json.dumps(refused)
    assert len(delivered(o365, "app-only")) == 1 and not delivered(o365, "never")


@pytest.mark.parametrize("runtime", ["micropython"])
def test_power_cuts_during_refreshes_never_lose_the_sign_in(runtime, o365, tmp_path):
    assert power_cuts(runtime, o365, tmp_path / "secrets", cuts=5, seed=13) == 5
    with Board(runtime, o365, tmp_path / "secrets") as board:
        assert board.do("send", to="alice@contoso.com", subject="after the cuts")["reply"].startswith("250 ")
