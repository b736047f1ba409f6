# A board with an OAuth sign-in in a runtime process (tests/firmware/on_runtime/oauth_case.py),
# driven one JSON command and answer per line, so the fake clock moves, codes are approved and the
# power is cut only when the caller says; and the power-cut campaign run by the tests (a short
# seeded slice) and by bench/oauth.py (the whole). No pytest here: the bench imports it too.
import json
import os
import random
import signal
import subprocess
import time

from tests import runtimes

ON_RUNTIME = os.path.join(os.path.dirname(os.path.abspath(__file__)), "on_runtime")
SCANNER_APP = "5ca9a11e-0000-4000-8000-000000000001"
SENDER_APP = "5ca9a11e-0000-4000-8000-000000000002"
SCANNER = "scanner@contoso.com"


def routes_for(t):
    login = t.login_url.rsplit(":", 1)
    return {"smtp.office365.com:587": list(t.address("submission")),
            "login.microsoftonline.com:443": [login[0].split("//")[1], int(login[1])]}


class Board:
    """The firmware's OAuth session in a runtime process, one JSON command and answer per line."""

    def __init__(self, runtime, t, secrets_dir, oauth=None, store=None, heap_bytes=None):
        self.tenant = t
        spec = {"routes": routes_for(t), "now": int(t.clock.now()), "ca_der_path": t.ca_der_path,
                "secrets": str(secrets_dir), "store": store or {},
                "oauth": oauth or {"mode": "device", "tenant": "contoso.com", "client_id": SCANNER_APP}}
        code = "import json, oauth_case\noauth_case.run(json.loads(%r))\n" % json.dumps(spec)
        self.proc = subprocess.Popen(runtimes.command_for(runtime, heap_bytes) + ["-c", code],
                                     env=runtimes.environment_for(runtime, (ON_RUNTIME,)), cwd=runtimes.REPO_ROOT,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.output = []

    def send_line(self, data):
        self.proc.stdin.write((json.dumps(data) + "\n").encode())
        self.proc.stdin.flush()

    def read(self):
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait(30)
            raise AssertionError("the board process ended: %s" % self.proc.stderr.read().decode("utf-8", "replace"))
        self.output.append(line.decode())
        return json.loads(line)

    def do(self, what, lag_s=0, **fields):
        """Run a command; the board's clock reads the tenant's, or `lag_s` seconds behind it."""
        self.send_line(dict(fields, do=what, now=int(self.tenant.clock.now()) - lag_s))
        return self.read()

    def close(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            self.proc.wait(30)
        self.proc.stdout.close()
        self.proc.stderr.close()

    def stop(self):
        """Pull the plug (if it still runs) and let go of the process."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        """The end of a case: the process is told so (its input ends) and exits as a program does,
        so what it ran is saved (bench/mutation.py measures it); one that does not is cut."""
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                pass
        self.stop()


def signed_in_board(runtime, t, secrets_dir):
    """A board whose device-code sign-in the test approved; returns the running Board."""
    board = Board(runtime, t, secrets_dir)
    code = board.do("start")
    t.approve_device_code(code["user_code"], SCANNER)
    t.clock.advance(code["interval"])
    assert board.do("poll")["signed_in"] is True
    return board


def power_cuts(runtime, t, secrets_dir, cuts, seed):
    """Cut the power (SIGKILL) at `cuts` random instants while the board refreshes in a loop; after
    each cut a new board process must get a token from what survived in the secret store."""
    rng = random.Random(seed)
    signed_in_board(runtime, t, secrets_dir).stop()
    survived = 0
    for _ in range(cuts):
        with Board(runtime, t, secrets_dir) as board:
            board.send_line({"do": "refresh_loop", "now": int(t.clock.now())})
            board.read()                                       # it is running: now cut at a random instant
            time.sleep(rng.uniform(0, 0.15))
            board.proc.send_signal(signal.SIGKILL)
            board.proc.wait(30)
        with Board(runtime, t, secrets_dir) as board:
            got = board.do("token")
            if got.get("state") == "signed_in" and got.get("length", 0) > 1024:
                survived += 1
        t.clock.advance(rng.uniform(0, 600))
    return survived
