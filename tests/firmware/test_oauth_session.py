# The board's sign-in state (firmware/oauth.py) on both runtimes, without a server: the two
# refresh-token slots in the real secret store (a new token always goes beside the current one,
# with the next generation, so a torn write leaves the previous token; a new sign-in drops the
# other slot), the slot format a firmware update must still read, the access token kept until
# five minutes before it expires, the mailbox read from the access token, which failures are worth
# retrying, and settings refused in one clear error. The sign-in against the fake Entra ID is in
# test_oauth.py; the HTTPS request in test_token_request.py.
import base64
import hashlib
import json
import os


ON_RUNTIME = os.path.join(os.path.dirname(os.path.abspath(__file__)), "on_runtime")
DEVICE = {"mode": "device", "tenant": "contoso.com", "client_id": "5ca9a11e-0000-4000-8000-000000000001"}

PRELUDE = """
import json
from scanmail.firmware import oauth
from scanmail.firmware.errors import SMTPError
from scanmail.firmware.secret_store import FileSecrets
from loopback_board import TestClock


class Board:
    def __init__(self, now):
        self.clock = TestClock(now)


def error(run):
    try:
        run()
    except SMTPError as err:
        return [err.stage, err.kind, err.transient, str(err)]
    return None


out = {}
"""


def run(run_firmware, code, tmp_path):
    script = PRELUDE + code + "\nprint(json.dumps(out))\n"
    return json.loads(run_firmware(script, extra_paths=(ON_RUNTIME,), cwd=str(tmp_path)).strip().splitlines()[-1])


def test_each_new_refresh_token_goes_beside_the_current_one_and_a_torn_one_is_passed_over(run_firmware, tmp_path):
    got = run(run_firmware, """
secrets = FileSecrets("secrets")
session = oauth.OAuthSession(%r, Board(1800000000), secrets)
out["before"] = session.state
session._store("first token", True)
for token in ("second token", "third token", "fourth token"):
    session._store(token)
out["slots"] = [[g, t.decode(), name] for g, t, name in session._slots()]
out["after_restart"] = oauth.OAuthSession(%r, Board(1800000000), secrets).state
secrets.set("oauth_rt_b", secrets.get("oauth_rt_b")[:-3])      # the newest, torn by a power cut
out["torn"] = [[g, t.decode(), name] for g, t, name in session._slots()]
session._store("fifth token")                                   # goes over the torn one
out["fifth"] = [[g, t.decode(), name] for g, t, name in session._slots()]
session._store("a new sign-in's token", True)                   # an earlier sign-in is no fallback
out["new_sign_in"] = [[g, t.decode(), name] for g, t, name in session._slots()]
session._store("and another sign-in", True)                    # written to b this time: a goes
out["another"] = [[g, t.decode(), name] for g, t, name in session._slots()]
session.sign_out()
out["signed_out"] = [session.state, session._slots(), secrets.get("oauth_user")]
""" % (DEVICE, DEVICE), tmp_path)
    assert got["before"] == "signed_out"
    assert got["slots"] == [[4, "fourth token", "oauth_rt_b"], [3, "third token", "oauth_rt_a"]]
    assert got["after_restart"] == "signed_in"
    assert got["torn"] == [[3, "third token", "oauth_rt_a"]]
    assert got["fifth"] == [[4, "fifth token", "oauth_rt_b"], [3, "third token", "oauth_rt_a"]]
    assert got["new_sign_in"] == [[5, "a new sign-in's token", "oauth_rt_a"]]
    assert got["another"] == [[6, "and another sign-in", "oauth_rt_b"]]
    assert got["signed_out"] == ["signed_out", [], None]


def previous_firmware_slot(generation, token):
    """A slot as the firmware released before wrote it: generation, 12 hex digits of the token's
    SHA-256, the token (which may hold spaces)."""
    return b"%d %s %s" % (generation, hashlib.sha256(token).hexdigest()[:12].encode(), token)


def test_a_slot_written_by_the_released_firmware_is_read_after_an_update(run_firmware, tmp_path):
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "oauth_rt_a").write_bytes(previous_firmware_slot(41, b"0.AR token with spaces"))
    (tmp_path / "secrets" / "oauth_rt_b").write_bytes(previous_firmware_slot(42, b"0.AR newer token"))
    got = run(run_firmware, """
secrets = FileSecrets("secrets")
session = oauth.OAuthSession(%r, Board(1800000000), secrets)
out["state"] = session.state
out["slots"] = [[g, t.decode()] for g, t, name in session._slots()]
session._store("0.AR after the update")
out["written"] = secrets.get("oauth_rt_a").decode()
""" % (DEVICE,), tmp_path)
    assert got["state"] == "signed_in"
    assert got["slots"] == [[42, "0.AR newer token"], [41, "0.AR token with spaces"]]
    assert got["written"].encode() == previous_firmware_slot(43, b"0.AR after the update")


def test_a_damaged_slot_is_never_taken_for_a_token(run_firmware, tmp_path):
    good = previous_firmware_slot(7, b"0.AR good")
    damaged = {
        "oauth_rt_a": good[:-1] + b"X",                     # a byte changed: its check differs
        "oauth_rt_b": b"x7 " + good.split(b" ", 1)[1],     # a generation that is not a number
    }
    for name, value in damaged.items():
        (tmp_path / name).write_bytes(value)
    got = run(run_firmware, """
class Store:
    def __init__(self, values):
        self.values = values
    def get(self, name):
        return self.values.get(name)
    def set(self, name, value):
        self.values[name] = value

out["cases"] = []
for a in (open("oauth_rt_a", "rb").read(), open("oauth_rt_b", "rb").read(), b"7 0123456789ab", b""):
    session = oauth.OAuthSession(%r, Board(1800000000), Store({"oauth_rt_a": a}))
    out["cases"].append([session.state, session._slots()])
""" % (DEVICE,), tmp_path)
    assert got["cases"] == [["signed_out", []]] * 4


def token_with(claims):
    """An access token (a JWT; only its payload is read) naming the mailbox in `claims`."""
    def part(data):
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()
    return part({"typ": "JWT", "alg": "RS256"}) + "." + part(claims) + ".c2lnbmF0dXJl"


def test_the_mailbox_is_read_from_the_access_token(run_firmware, tmp_path):
    # the token is decoded 192 bytes at a time: the mailbox straddles the first boundary, and the
    # name's characters give '-' and '_' in base64url
    long_claims = {"aud": "a" * 170, "upn": "scanner@contoso.com", "name": "Scanner ?>?>?>" * 40,
                   "scp": "SMTP.Send"}
    tokens = [token_with(long_claims), token_with({"unique_name": "lobby@contoso.com"}),
              token_with({"preferred_username": "annex@contoso.com"}), "no dots at all",
              "." + token_with({"upn": "x@contoso.com"}).split(".")[1] + ".",
              "header." + base64.urlsafe_b64encode(b"not json").decode() + ".sig", token_with({"sub": "1"})]
    assert "-" in tokens[0] and "_" in tokens[0] and len(tokens[0].split(".")[1]) > 600
    got = run(run_firmware, "out['users'] = [oauth._token_user(t) for t in %r]\n" % (tokens,), tmp_path)
    assert got["users"] == ["scanner@contoso.com", "lobby@contoso.com", "annex@contoso.com", None,
                            "x@contoso.com", None, None]


def test_the_access_token_is_used_until_five_minutes_before_it_expires(run_firmware, tmp_path):
    got = run(run_firmware, """
board = Board(1800000000)
session = oauth.OAuthSession(%r, board, FileSecrets("secrets"))
session._signed_in({"access_token": [b"eyJ0.kept"], "expires_in": 3600}, False)
out["at"] = []
for now in (1800000000, 1800003299, 1800003300, 1800003599):
    board.clock._now = now
    session._token = "eyJ0.kept"
    got = error(session.access_token)
    out["at"].append(got[1] if got else "kept")
board.clock._now = 1800000000
session._signed_in({"access_token": [b"eyJ0.default"]}, False)      # no expires_in: an hour
board.clock._now = 1800003299
out["default"] = [session.access_token()]
board.clock._now = 1800003300
out["default"].append(error(session.access_token)[1])
""" % (DEVICE,), tmp_path)
    # an hour's token: kept to 5 min before its end, then a refresh (no refresh token stored here)
    assert got["at"] == ["kept", "kept", "sign_in_needed", "sign_in_needed"]
    assert got["default"] == ["eyJ0.default", "sign_in_needed"]


def test_busy_or_failing_sign_in_servers_are_retried_and_refusals_are_not(run_firmware, tmp_path):
    got = run(run_firmware, """
session = oauth.OAuthSession(%r, Board(1800000000), FileSecrets("secrets"))
out["answers"] = []
for status in (500, 503, 429, 499, 428, 430, 400, 401):
    err = session._refused(status, {"error": [b"temporarily_unavailable"]} if status == 503 else {}, "refreshing")
    out["answers"].append([status, err.kind, err.transient, str(err)])
""" % (DEVICE,), tmp_path)
    answers = {status: (kind, transient, text) for status, kind, transient, text in got["answers"]}
    for status in (500, 503, 429):
        assert answers[status][:2] == ("server", True), answers[status]
    for status in (499, 428, 430, 400, 401):
        assert answers[status][:2] == ("refused", False), answers[status]
    assert "answered temporarily_unavailable; retrying later" in answers[503][2]
    assert "refused it (HTTP 401)" in answers[401][2]


def test_settings_that_cannot_sign_in_are_one_clear_error(run_firmware, tmp_path):
    got = run(run_firmware, """
cases = [{"mode": "password", "tenant": "contoso.com", "client_id": "x"}, {"mode": "device", "client_id": "x"},
         {"mode": "device", "tenant": "contoso.com"}, {"mode": "app", "tenant": "contoso.com", "client_id": "x"},
         {"mode": "app", "tenant": "contoso.com", "client_id": "x", "username": "s@contoso.com", "credential": "pin"}]
out["errors"] = [error(lambda: oauth.OAuthSession(c, Board(1800000000), FileSecrets("secrets"))) for c in cases]
session = oauth.OAuthSession({"mode": "app", "tenant": "contoso.com", "client_id": "x", "username": "s@contoso.com",
                              "credential": "certificate"}, Board(1800000000), FileSecrets("secrets"))
out["no_key"] = error(session._assertion)
out["no_secret"] = error(oauth.OAuthSession({"mode": "app", "tenant": "contoso.com", "client_id": "x",
                                             "username": "s@contoso.com"}, Board(1800000000),
                                            FileSecrets("secrets"))._client_credentials)
out["cfg"] = oauth.OAuthSession(%r, Board(1800000000), FileSecrets("secrets")).cfg
out["usable"] = []
for state, before in (("signed_in", "signed_out"), ("signing_in", "signed_in"), ("signing_in", "signed_out"),
                      ("sign_in_needed", "signed_in"), ("signed_out", "signed_in")):
    session.state, session._before = state, before
    out["usable"].append(session.usable())
""" % (DEVICE,), tmp_path)
    words = ["oauth mode 'password': choose device", "oauth setting 'tenant' is missing",
             "oauth setting 'client_id' is missing", "oauth setting 'username' is missing",
             "oauth credential 'pin': choose secret or certificate"]
    for err, said in zip(got["errors"], words):
        assert err[:3] == ["sign_in", "settings", False] and said in err[3], err
    assert got["no_key"][1] == "settings" and "store the app certificate's private key first" in got["no_key"][3]
    assert got["no_secret"][1] == "settings" and "secret 'oauth_secret'" in got["no_secret"][3]
    assert got["cfg"] == {"host": "login.microsoftonline.com", "port": 443, "ca_der": None, "timeout_s": 30}
    assert got["usable"] == [True, True, False, False, False]


# -- against a sign-in server that answers what the test scripts -----------------------------------
SCRIPTED = PRELUDE + """
import time
from loopback_board import TestBoard
spec = json.loads(%r)
board = TestBoard("scanner-3f2a", "127.0.0.1", spec["routes"], spec["now"])
settings = dict(spec["settings"], ca_der=bytes(spec["ca"]), timeout_s=5)
secrets = FileSecrets("secrets")
for name, value in spec.get("store", {}).items():
    if name.endswith("_hex"):                  # bytes, given as hex
        import binascii
        name, value = name[:-4], binascii.unhexlify(value)
    secrets.set(name, value)
session = oauth.OAuthSession(settings, board, secrets)
steps = []
for what, at in spec["steps"]:
    board.clock._now = spec["now"] + at
    try:
        got = getattr(session, what)()
        if what == "access_token":
            got = "a token"
        elif what == "start_sign_in":
            got = [got["expires_in"], got["interval"]]
    except SMTPError as err:
        got = [err.kind, err.transient, str(err)]
    steps.append([what, got, session.state])
out["steps"] = steps
out["slots"] = [[g, t.decode()] for g, t, name in session._slots()]
out["user"] = [session.user, (secrets.get("oauth_user") or b"").decode()]
print(json.dumps(out))
"""


def scripted(run_firmware, tmp_path, answers, steps, settings=DEVICE, store=None, now=None):
    """The session's `steps` ([method, seconds after now]) against a server giving `answers` (one a
    request, as [status line, JSON]). -> (the steps' results, the refresh-token slots, requests,
    [the session's mailbox, the stored one])."""
    import time

    from tests.firmware.test_token_request import HOST, AnswerServer, answer

    pieces = [answer(status, json.dumps(body).encode()) for status, body in answers]
    with AnswerServer(pieces[0], pieces[1:]) as server:
        spec = {"routes": {"%s:443" % HOST: list(server.address)}, "now": now or int(time.time()),
                "ca": list(server.ca_der),
                "settings": settings, "steps": steps, "store": store or {}}
        got = json.loads(run_firmware(SCRIPTED % json.dumps(spec), extra_paths=(ON_RUNTIME,),
                                      cwd=str(tmp_path)).strip().splitlines()[-1])
    return got["steps"], got["slots"], [body.decode() for _, body, _ in server.requests], got["user"]


OK = "HTTP/1.1 200 OK"
BAD = "HTTP/1.1 400 Bad Request"


def test_a_device_code_without_its_times_gets_the_standard_ones_and_expires_by_the_boards_clock(run_firmware, tmp_path):
    # RFC 8628: expires_in is required, interval defaults to 5 s; a server that leaves them out
    # gets 900 s and 5 s, and a poll after the code's end is "expired" whatever the server says
    steps, _, _, _ = scripted(run_firmware, tmp_path, [
        (OK, {"device_code": "DC-1", "user_code": "ABCD-EFGH", "verification_uri": "https://x/devicelogin"}),
        (BAD, {"error": "invalid_request"}),
        (OK, {"device_code": "DC-2", "user_code": "ABCD-EFGH", "verification_uri": "https://x/devicelogin"}),
        (BAD, {"error": "invalid_request"})],
        [["start_sign_in", 0], ["poll_sign_in", 899], ["start_sign_in", 900], ["poll_sign_in", 1800]])
    assert steps[0][1:] == [[900, 5], "signing_in"]
    assert steps[1][1][:2] == ["refused", False] and steps[1][2] == "signed_out"    # before the end: refused
    assert steps[3][1][:2] == ["expired", False] and steps[3][2] == "signed_out"    # at the end: expired


def test_a_200_without_the_token_it_should_carry_is_a_refusal_not_a_sign_in(run_firmware, tmp_path):
    steps, slots, _, _ = scripted(run_firmware, tmp_path, [
        (OK, {"user_code": "ABCD-EFGH"}),                                  # no device_code
        (OK, {"device_code": "DC-1", "user_code": "ABCD-EFGH", "expires_in": 900, "interval": 5}),
        (OK, {"token_type": "Bearer"})],                                   # no access_token
        [["start_sign_in", 0], ["start_sign_in", 1], ["poll_sign_in", 6]])
    assert steps[0][1][:2] == ["refused", False] and steps[0][2] == "signed_out"
    assert steps[2][1][:2] == ["refused", False] and steps[2][2] == "signed_out" and slots == []


def test_a_refresh_keeps_the_token_before_it_and_a_refused_one_falls_back_to_it(run_firmware, tmp_path):
    token = token_with({"upn": "renamed@contoso.com"})      # the mailbox is the one that signed in
    store = {"oauth_rt_a": previous_firmware_slot(1, b"0.AR one").decode(), "oauth_user": "scanner@contoso.com"}
    steps, slots, requests, user = scripted(run_firmware, tmp_path, [
        (OK, {"access_token": token, "refresh_token": "0.AR two", "expires_in": 3600}),
        (BAD, {"error": "invalid_grant"}),                                 # "two" refused ...
        (OK, {"access_token": token, "refresh_token": "0.AR three", "expires_in": 3600}),   # ... "one" taken
        (OK, {"token_type": "Bearer"})],                                   # a 200 without a token
        [["access_token", 0], ["access_token", 3400], ["access_token", 6800]], store=store)
    assert [s[1] for s in steps[:2]] == ["a token", "a token"] and steps[1][2] == "signed_in"
    assert "refresh_token=0.AR%20two" in requests[1] and "refresh_token=0.AR%20one" in requests[2]
    assert slots == [[3, "0.AR three"], [2, "0.AR two"]]
    assert steps[2][1][:2] == ["refused", False]
    assert user == ["scanner@contoso.com"] * 2                    # a refresh writes no mailbox


def test_an_app_token_comes_with_the_client_secret_and_a_200_without_one_is_refused(run_firmware, tmp_path):
    app = {"mode": "app", "tenant": "contoso.com", "client_id": "x", "username": "s@contoso.com"}
    store = {"oauth_secret": "Scanner-App-Secret-1"}
    steps, _, requests, _ = scripted(run_firmware, tmp_path, [
        (OK, {"access_token": "eyJ0.app", "expires_in": 3600}),
        (OK, {"token_type": "Bearer"})],
        [["access_token", 0], ["access_token", 3400]], settings=app, store=store)
    assert steps[0][1] == "a token" and steps[1][1][:2] == ["refused", False]
    assert "grant_type=client_credentials" in requests[0] and "client_secret=Scanner-App-Secret-1" in requests[0]


def test_an_app_token_by_certificate_sends_an_assertion_for_this_endpoint_and_a_bad_key_is_one_error(run_firmware, tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    app = {"mode": "app", "tenant": "contoso.com", "client_id": "5ca9a11e-0000-4000-8000-000000000002",
           "username": "s@contoso.com", "credential": "certificate", "thumbprint": "AB:" * 19 + "AB"}
    now = 1800000000                        # the board's clock (the server's certificate is valid then)
    steps, _, requests, _ = scripted(run_firmware, tmp_path, [(OK, {"access_token": "eyJ0.app", "expires_in": 3600})],
                                  [["access_token", 0]], settings=app, store={"oauth_key_hex": key.hex()}, now=now)
    assert steps[0][1] == "a token", steps
    import urllib.parse

    form = dict(urllib.parse.parse_qsl(requests[0]))
    assert form["client_assertion_type"] == "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    header, claims, _ = form["client_assertion"].split(".")
    claims = json.loads(base64.urlsafe_b64decode(claims + "=" * (-len(claims) % 4)))
    header = json.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
    assert claims["aud"] == "https://login.microsoftonline.com/contoso.com/oauth2/v2.0/token"
    assert claims["iss"] == claims["sub"] == app["client_id"] and claims["exp"] - claims["nbf"] == 600
    assert claims["nbf"] == claims["iat"] == now and len(claims["jti"]) == 32
    assert base64.urlsafe_b64decode(header["x5t"] + "=") == bytes([0xAB] * 20)
    (tmp_path / "bad").mkdir()
    steps, _, requests, _ = scripted(run_firmware, tmp_path / "bad", [(OK, {"access_token": "eyJ0.app"})],
                                  [["access_token", 0]], settings=app, store={"oauth_key_hex": key[:300].hex()})
    assert steps[0][1][:2] == ["settings", False] and "oauth certificate: the key is cut short" in steps[0][1][2]
    assert requests == [] and key[:300].hex()[:40] not in steps[0][1][2]
