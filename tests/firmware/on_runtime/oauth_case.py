# Runs on BOTH runtimes: a board with an OAuth sign-in (firmware/oauth.py), driven line by line.
# The test writes one JSON command per line on stdin and reads one JSON answer per line on stdout,
# so it can move the fake tenant's clock, approve a code or cut the power between any two steps.
# Commands ({"do": ..., "now": T} sets the board's clock first): start, poll, wait (its sleeps are
# asked of the test: {"sleep": n}, answered {"now": T}), token, refresh_loop (refreshes until
# killed), send, state. The board's secrets are FileSecrets in the given folder. Answers never
# carry a token or a secret.
import json
import sys

from scanmail.firmware.errors import SMTPError
from scanmail.firmware.oauth import OAuthSession
from scanmail.firmware.secret_store import FileSecrets
from loopback_board import TestBoard


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def answer(data):
    sys.stdout.write(json.dumps(data) + "\n")
    if hasattr(sys.stdout, "flush"):
        sys.stdout.flush()


def command():
    line = sys.stdin.readline()
    if not line:
        raise SystemExit(0)
    return json.loads(line)


def error_fields(err):
    return {"stage": err.stage, "kind": err.kind, "code": err.code, "enhanced": err.enhanced,
            "transient": err.transient, "text": err.text, "str": str(err)}


def run(spec):
    board = TestBoard("scanner-3f2a", spec.get("ip", "127.0.0.20"), spec["routes"], spec["now"])
    ca = _read(spec["ca_der_path"])
    oauth = dict(spec["oauth"], ca_der=ca)
    secrets = FileSecrets(spec["secrets"])
    for name, value in spec.get("store", {}).items():
        secrets.set(name, value)
    session = OAuthSession(oauth, board, secrets)
    mail_settings = {"method": "submission", "ca_der": ca, "timeout_s": 10}

    def sleep(seconds):
        answer({"sleep": seconds})
        board.clock._now = command()["now"]

    while True:
        cmd = command()
        if "now" in cmd:
            board.clock._now = cmd["now"]
        what = cmd["do"]
        try:
            if what == "start":
                got = session.start_sign_in()
                answer({"user_code": got["user_code"], "verification_uri": got["verification_uri"],
                        "interval": got["interval"], "expires_in": got["expires_in"], "message": got["message"]})
            elif what == "poll":
                answer({"signed_in": session.poll_sign_in(), "interval": session.interval, "state": session.state})
            elif what == "wait":
                answer({"user": session.wait_for_sign_in(sleep), "polls": session.polls, "state": session.state})
            elif what == "token":
                token = session.access_token()
                answer({"length": len(token), "refreshes": session.refreshes, "state": session.state})
            elif what == "refresh_loop":
                n = 0
                while True:
                    session.token_refused()
                    session.access_token()
                    n += 1
                    answer({"refreshed": n})
            elif what == "send":
                from scanmail.firmware.mail import Message
                from scanmail.firmware.oauth_send import send_signed_in
                msg = Message(cmd.get("sender") or session.user or "scanner@contoso.com", [cmd["to"]], [], cmd.get("subject", "Scan"),
                              "See attached.", [])
                result = send_signed_in(mail_settings, msg, board, session)
                answer({"reply": result["reply"], "refreshes": session.refreshes, "state": session.state})
            elif what == "state":
                answer({"state": session.state, "user": session.user})
            else:
                answer({"unknown": what})
        except SMTPError as err:
            answer({"error": error_fields(err), "state": session.state})


if __name__ == "__main__":
    run(json.loads(sys.argv[1]))
