# Power cuts during OAuth refreshes on a virtual MicroPython board running the scanner
# application, its secrets in the board's NVS: the board is signed in by device code through its
# console, then, again and again, asked to refresh in a loop (console `oauth.refresh`, every refresh
# rotating the refresh token) and its power cut at a random instant (`scanmail board power-cut`:
# the process is gone at once, then the board boots again); after each cut the application must
# come back signed in and get a new token from what survived in NVS. Used by the tests (a short
# seeded slice) and by bench/oauth.py (the whole). No pytest here: the bench imports it too.
import random
import time

from scanmail.host_tools import app_install
from scanmail.host_tools.console_client import ConsoleClient, ConsoleError, request_frames
from scanmail.host_tools.raw_repl import RawRepl

SCANNER_APP = "5ca9a11e-0000-4000-8000-000000000001"
SCANNER = "scanner@contoso.com"


def install_app(board, tenant):
    """The firmware, the application and the tenant's CA on a started board, then a reset."""
    repl = RawRepl(board.port, read_timeout_s=60)
    repl.enter()
    with open(tenant.ca_der_path, "rb") as f:
        app_install.install(repl, extra=[(f.read(), "/ca.der")])
    repl.close()
    with ConsoleClient(board.port, timeout_s=30) as console:
        board.reset()
        console.wait_for_log("started on")
        console.request("config.set", changes={
            "username": SCANNER, "sender": SCANNER, "address_book": {"bob": "bob@contoso.com"},
            "default_destination": "bob", "timeout_s": 10, "ca_path": "/ca.der"})


def sign_in(board, tenant):
    """Device-code sign-in through the console, approved as the scanner mailbox."""
    with ConsoleClient(board.port, timeout_s=30) as console:
        console.request("config.set", changes={"auth": "xoauth2", "oauth_tenant": "contoso.com",
                                               "oauth_client_id": SCANNER_APP})
        code = console.request("oauth.login")
        tenant.approve_device_code(code["user_code"], SCANNER)
        tenant.clock.advance(code["interval"])
        # the board's clock is real time: it polls once the server's 5 s have passed on it
        for _ in range(200):
            status = console.request("oauth.status")
            if status["state"] != "signing_in":
                break
            time.sleep(0.1)
        if status["state"] != "signed_in":
            raise AssertionError("the board did not sign in: %r" % status)


def power_cuts(board, tenant, cuts, seed, window_s=0.6):
    """`cuts` times: refreshes in a loop, the power cut at a random instant of `window_s` after
    the first refresh began, then the board must be signed in and refresh. -> cuts survived."""
    rng = random.Random(seed)
    survived = 0
    for _ in range(cuts):
        console = ConsoleClient(board.port, timeout_s=30)
        try:
            console.request("oauth.refresh")                # the board answers: it runs
            (frame,) = request_frames(99, "oauth.refresh", {"count": 100})
            console.serial.write(frame)                     # no answer awaited: the power goes first
            console.wait_for_log("oauth: refresh 1 of 100")
            time.sleep(rng.uniform(0, window_s))
            board.power_cut()
        finally:
            console.close()
        with ConsoleClient(board.port, timeout_s=30) as console:
            console.wait_for_log("started on")
            try:
                ok = console.request("oauth.status")["state"] == "signed_in" and \
                    console.request("oauth.refresh")["state"] == "signed_in"
            except ConsoleError:
                ok = False
        survived += ok
        tenant.clock.advance(rng.uniform(0, 600))
    return survived

