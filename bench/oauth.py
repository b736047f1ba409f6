#!/usr/bin/env python3
# Benchmark: the board's OAuth sign-in (firmware/oauth.py) against the fake Entra ID, in one run.
#   (1) heap: the smallest MicroPython heap (`-X heapsize`, bisected to 1 KB, then every 512 bytes
#       to 6 KB above tried too, as bench/firmware_send.py does) in which the product build (the
#       firmware in a ROMFS partition) signs in by device code (approved by a person: here a thread
#       that approves every pending code), refreshes, and sends a 100 KB scan over XOAUTH2
#       (`oauth_heap_kb`); the anchor, in the same build and run, is the same send with a password
#       (`heap_kb`). Target: oauth_heap_kb <= 32 KB, the board's heap target.
#   (2) power cuts: a virtual ESP32-DevKitC board on MicroPython running the scanner application
#       (its secrets in the board's NVS), signed in by device code through its console, refreshes
#       in a loop (console `oauth.refresh`) and its power is cut (`scanmail board power-cut`) at a
#       random instant of the 0.6 s after the loop began, `--cuts` times (default 100, seeded);
#       after each cut the board boots and must be signed in and refresh. Figures: cuts survived
#       of cuts made (target: all), how many refreshes ran, how many times the server saw a
#       replaced refresh token used again (the cut fell after the server rotated and before the
#       board stored the new one: the old one, kept, got the board back in).
#   (3) a hundred days: one device-code sign-in, then a send every 12 hours of the fake clock for
#       100 days (each one finds its access token expired, refreshes and rotates the refresh
#       token). Anchor: MSAL for Python (CPython) doing the same refreshes, each followed by an
#       smtplib XOAUTH2 send of the same message; seconds per refresh+send on each side and ratio.
#       Targets: every send delivered with one sign-in (no time target).
#   (4) app-only with a certificate, MicroPython unix port: the board signs an RS256 client
#       assertion itself (firmware/client_assertion.py: SHA-256 and RSA with pow() on CRT parts of
#       a 2048-bit key); milliseconds per app token with the certificate against the anchor, the
#       same token request with a client secret, in the same process; and the signing alone.
#       (No target; the unix port on this machine, not an ESP32.)
# Run:  .venv/bin/python bench/oauth.py [--cuts 100] [--days 100] [--tokens 20] [--json] [--skip-heap]
import argparse
import json
import os
import shutil
import smtplib
import socket
import ssl
import sys
import tempfile
import threading
import time

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO_ROOT)
sys.path.insert(0, os.path.join(REPO_ROOT, "bench"))

import firmware_send as fs  # noqa: E402
from scanmail.emulator.tenant import FakeClock, FakeTenant  # noqa: E402
from tests.boards import oauth_cuts  # noqa: E402
from tests.firmware.oauth_board import SCANNER, SCANNER_APP, signed_in_board  # noqa: E402

SEND_SCRIPT = """
import socket, gc, time
from scanmail.firmware.mail import send_mail, Message
ROUTES = %(routes)r
class Board:
    name = "scanner-bench"
    def now(self):
        return int(time.time())
    def address(self):
        return %(ip)r
    def open_tcp(self, host, port, timeout_s, local_ip=None):
        target = ROUTES[host]
        s = socket.socket()
        s.settimeout(timeout_s)
        s.bind(socket.getaddrinfo(%(ip)r, 0)[0][-1])
        s.connect(socket.getaddrinfo(target[0], target[1])[0][-1])
        return s
board = Board()
board.net = board.clock = board
with open(%(ca)r, "rb") as f:
    ca = f.read()
msg = Message(%(user)r, ["alice@contoso.com"], [], "bench", "scan attached", %(attachments)r)
%(body)s
print("RESULT", r["round_trips"], r["bytes_sent"], r["reply"][:3], 0)
"""

PASSWORD_BODY = """gc.collect()
r = send_mail({"method": "submission", "username": %(user)r, "password": "Scanner-Pass-1", "ca_der": ca}, msg, board)"""

OAUTH_BODY = """from scanmail.firmware.oauth import OAuthSession
from scanmail.firmware.secret_store import FileSecrets
from scanmail.firmware.oauth_send import send_signed_in
session = OAuthSession({"tenant": "contoso.com", "client_id": %(client_id)r, "ca_der": ca}, board,
                       FileSecrets(%(secrets)r))
gc.collect()
session.start_sign_in()
session.wait_for_sign_in(lambda seconds: time.sleep(0.3))
session.token_refused()
session.access_token()
r = send_signed_in({"method": "submission", "ca_der": ca}, msg, board, session)"""


def routes(tenant):
    login = tenant.login_url.split("//")[1].rsplit(":", 1)
    return {"smtp.office365.com": list(tenant.address("submission")),
            "login.microsoftonline.com": [login[0], int(login[1])]}


class Approver:
    """The person at the sign-in page: approves every pending device code as the scanner mailbox."""

    def __init__(self, tenant):
        self.tenant = tenant
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)

    def run(self):
        while not self.stop.is_set():
            for code in self.tenant.pending_device_codes():
                try:
                    self.tenant.approve_device_code(code, SCANNER)
                except ValueError:
                    pass
            self.stop.wait(0.005)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(5)


def heap_figures(work):
    mpy_dir = fs.build_mpy(os.path.join(work, "board"))
    scan = os.path.join(work, "scan.pdf")
    with open(scan, "wb") as f:
        f.write(os.urandom(100 * 1024))
    secrets = os.path.join(work, "secrets")
    out = {}
    with FakeTenant(state_dir=os.path.join(work, "o365-heap")) as tenant, Approver(tenant):
        common = {"routes": routes(tenant), "ip": fs.BOARD_IP, "ca": tenant.ca_der_path, "user": SCANNER,
                  "attachments": [(scan, "scan.pdf", "application/pdf")]}
        scripts = {
            "heap_kb": SEND_SCRIPT % dict(common, body=PASSWORD_BODY % common),
            "oauth_heap_kb": SEND_SCRIPT % dict(common, body=OAUTH_BODY % dict(common, client_id=SCANNER_APP,
                                                                                 secrets=secrets)),
        }

        def before_each():
            tenant.reset()
            shutil.rmtree(secrets, ignore_errors=True)

        for key, source in scripts.items():
            run, image = fs.add_script(work, mpy_dir, source, "bench_" + key)
            bisected = fs.smallest_heap(mpy_dir, run, romfs=image, before_each=before_each)
            failing = fs.failing_heaps(mpy_dir, run, bisected, bisected + fs.SWEEP_KB, romfs=image,
                                       before_each=before_each)
            out[key] = fs.steady_heap(bisected, failing)
            print("    %-14s %s" % (key, fs.sweep_text(bisected, failing, bisected + fs.SWEEP_KB)))
    return out


def cut_figures(work, cuts, seed):
    from scanmail.emulator.boards import BoardHandle

    with FakeTenant(tenant="after-december-2026", state_dir=os.path.join(work, "o365-cuts"),
                    clock=FakeClock()) as tenant:
        with BoardHandle("esp32-devkitc", "micropython", os.path.join(work, "cut-board"), "127.0.0.21",
                         tenant_state=str(tenant.state_dir), fast=True) as board:
            oauth_cuts.install_app(board, tenant)
            oauth_cuts.sign_in(board, tenant)
            before = dict(tenant.world.entra.counts)
            started = time.perf_counter()
            survived = oauth_cuts.power_cuts(board, tenant, cuts, seed)
            elapsed = time.perf_counter() - started
        counts = tenant.world.entra.counts
        return {"power_cuts": cuts, "power_cuts_signed_in": survived,
                "refreshes_during_cuts": counts["refreshes"] - before["refreshes"],
                "replaced_token_reused": counts["grace_redeemed"] - before["grace_redeemed"], "cuts_s": elapsed}


class RoutedSMTP(smtplib.SMTP):
    target = None

    def _get_socket(self, host, port, timeout):
        return socket.create_connection(self.target, timeout)


def msal_days(tenant, days, message):
    """The anchor: MSAL's device flow once, then a forced refresh and an smtplib XOAUTH2 send per
    12 hours of the fake clock. -> (sends delivered, seconds per refresh+send)."""
    import base64

    import msal

    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):   # requests would prefer them to `verify`
        os.environ.pop(name, None)
    app = msal.PublicClientApplication(SCANNER_APP, authority=tenant.authority(), instance_discovery=False,
                                       verify=tenant.ca_pem_path)
    flow = app.initiate_device_flow(scopes=["https://outlook.office.com/SMTP.Send"])
    tenant.approve_device_code(flow["user_code"], SCANNER)
    app.acquire_token_by_device_flow(flow)
    account = app.get_accounts()[0]
    context = ssl.create_default_context(cafile=tenant.ca_pem_path)
    RoutedSMTP.target = tenant.address("submission")
    delivered, started = 0, time.perf_counter()
    for _ in range(days * 2):
        tenant.clock.advance(12 * 3600)
        token = app.acquire_token_silent(["https://outlook.office.com/SMTP.Send"], account=account,
                                         force_refresh=True)["access_token"]
        with RoutedSMTP("smtp.office365.com", 587, timeout=30) as smtp:
            smtp.starttls(context=context)
            smtp.ehlo()
            blob = base64.b64encode(("user=%s\x01auth=Bearer %s\x01\x01" % (SCANNER, token)).encode()).decode()
            code, _ = smtp.docmd("AUTH", "XOAUTH2 " + blob)
            if code == 235 and not smtp.sendmail(SCANNER, ["alice@contoso.com"], message):
                delivered += 1
    return delivered, (time.perf_counter() - started) / (days * 2)


def day_figures(work, days):
    message = b"From: scanner@contoso.com\r\nTo: alice@contoso.com\r\nSubject: day\r\n\r\nSee attached.\r\n"
    with FakeTenant(state_dir=os.path.join(work, "o365-days"), clock=FakeClock()) as tenant:
        board = signed_in_board("micropython", tenant, os.path.join(work, "day-secrets"))
        delivered, started = 0, time.perf_counter()
        try:
            for half_day in range(days * 2):
                tenant.clock.advance(12 * 3600)
                sent = board.do("send", to="alice@contoso.com", subject="day %g" % ((half_day + 1) / 2))
                delivered += "reply" in sent and sent["reply"].startswith("250 ")
            refreshes = sent.get("refreshes")
        finally:
            board.stop()
        board_s = (time.perf_counter() - started) / (days * 2)
        sign_ins = tenant.world.entra.counts["device_codes"]
        tenant.reset()
        anchor_delivered, anchor_s = msal_days(tenant, days, message)
    return {"days": days, "sends": days * 2, "sends_delivered": delivered, "sign_ins": sign_ins,
            "board_refreshes": refreshes, "board_s_per_send": board_s, "msal_delivered": anchor_delivered,
            "msal_s_per_send": anchor_s, "ratio_board_to_msal": board_s / anchor_s}


CERT_SCRIPT = """
import json, time
from loopback_board import TestBoard
from scanmail.firmware.oauth import OAuthSession
from scanmail.firmware.secret_store import FileSecrets
from scanmail.firmware import client_assertion
spec = json.loads(%(spec)r)
board = TestBoard("scanner-bench", "127.0.0.20", spec["routes"], spec["now"])
with open(spec["ca"], "rb") as f:
    ca = f.read()
with open(spec["key"], "rb") as f:
    key = f.read()
secrets = FileSecrets(spec["secrets"])
secrets.set("oauth_secret", "Scanner-App-Secret-1")
secrets.set("oauth_key", key)
out = {}
for credential in ("secret", "certificate"):
    session = OAuthSession({"mode": "app", "tenant": "contoso.com", "client_id": spec["app"], "username": spec["user"],
                            "credential": credential, "thumbprint": spec["thumbprint"], "ca_der": ca}, board, secrets)
    session.access_token()                  # the first one warms up (imports, TLS context)
    started = time.ticks_ms()
    for _ in range(spec["tokens"]):
        session.token_refused()
        session.access_token()
    out[credential] = time.ticks_diff(time.ticks_ms(), started) / spec["tokens"]
audience = "https://login.microsoftonline.com/contoso.com/oauth2/v2.0/token"
started = time.ticks_ms()
for _ in range(spec["tokens"]):
    client_assertion.make(spec["app"], audience, key, spec["thumbprint"], spec["now"], "00")
out["sign"] = time.ticks_diff(time.ticks_ms(), started) / spec["tokens"]
print("RESULT " + json.dumps(out))
"""


def certificate_figures(work, tokens):
    import subprocess

    from cryptography.hazmat.primitives import serialization

    from tests import runtimes
    from tests.firmware.oauth_board import ON_RUNTIME, SENDER_APP, routes_for

    with FakeTenant(state_dir=os.path.join(work, "o365-cert")) as tenant:
        cert = tenant.add_app_certificate(SENDER_APP)
        with open(cert["key_pem"], "rb") as f:
            key = serialization.load_pem_private_key(f.read(), password=None)
        key_path = os.path.join(work, "app-key.der")
        with open(key_path, "wb") as f:
            f.write(key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
        spec = {"routes": routes_for(tenant), "now": int(time.time()), "ca": tenant.ca_der_path, "key": key_path,
                "secrets": os.path.join(work, "cert-secrets"), "app": SENDER_APP, "user": SCANNER,
                "thumbprint": cert["thumbprint"], "tokens": tokens}
        done = subprocess.run(runtimes.command_for("micropython") + ["-c", CERT_SCRIPT % {"spec": json.dumps(spec)}],
                              env=runtimes.environment_for("micropython", (ON_RUNTIME,)), cwd=runtimes.REPO_ROOT,
                              capture_output=True, text=True, timeout=600)
    line = [x for x in done.stdout.splitlines() if x.startswith("RESULT ")]
    if not line:
        raise SystemExit("the certificate bench failed: %s" % (done.stderr or done.stdout)[-2000:])
    got = json.loads(line[-1][7:])
    return {"cert_key_bits": key.key_size, "app_token_ms_secret": got["secret"],
            "app_token_ms_certificate": got["certificate"], "assertion_sign_ms": got["sign"],
            "ratio_certificate_to_secret": got["certificate"] / got["secret"]}


def main(argv=None):
    parser = argparse.ArgumentParser(description="The board's OAuth sign-in: heap, power cuts, 100 days.")
    parser.add_argument("--cuts", type=int, default=100)
    parser.add_argument("--days", type=int, default=100)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--tokens", type=int, default=20)
    parser.add_argument("--skip-heap", action="store_true")
    parser.add_argument("--json", action="store_true", help="print one JSON object at the end")
    args = parser.parse_args(argv)
    work = tempfile.mkdtemp(prefix="bench-oauth-")
    figures = {}
    try:
        if not args.skip_heap:
            print("(1) smallest heap, product build: device-code sign-in + refresh + XOAUTH2 send of 100 KB, "
                  "against the same send with a password (target oauth_heap_kb <= 32 KB)")
            figures.update(heap_figures(work))
            print("    oauth_heap_kb %g KB beside heap_kb %g KB: %+g KB for the sign-in (%s)" % (
                figures["oauth_heap_kb"], figures["heap_kb"], figures["oauth_heap_kb"] - figures["heap_kb"],
                "target met" if figures["oauth_heap_kb"] <= 32 else "target NOT met"))
        print("(2) %d power cuts at random instants during refreshes, virtual ESP32-DevKitC board running the "
              "application on MicroPython, secrets in its NVS (seed %d)" % (args.cuts, args.seed))
        figures.update(cut_figures(work, args.cuts, args.seed))
        print("    signed in after %(power_cuts_signed_in)d of %(power_cuts)d cuts (%(refreshes_during_cuts)d "
              "refreshes; a replaced refresh token got the board back in %(replaced_token_reused)d times; "
              "%(cuts_s).0f s)" % figures)
        print("(3) %d days on one sign-in, a send every 12 hours of the fake clock (MicroPython), against "
              "MSAL + smtplib on CPython" % args.days)
        figures.update(day_figures(work, args.days))
        print("    board: %(sends_delivered)d of %(sends)d sends delivered, %(sign_ins)d sign-in, "
              "%(board_refreshes)s refreshes, %(board_s_per_send).3f s per refresh+send" % figures)
        print("    MSAL : %(msal_delivered)d of %(sends)d delivered, %(msal_s_per_send).3f s per refresh+send; "
              "ratio board/MSAL %(ratio_board_to_msal).2fx (no target)" % figures)
        print("(4) app-only tokens on MicroPython: a certificate (the board signs an RS256 assertion) against a "
              "client secret, %d each" % args.tokens)
        figures.update(certificate_figures(work, args.tokens))
        print("    certificate %(app_token_ms_certificate).1f ms per token, secret %(app_token_ms_secret).1f ms: "
              "%(ratio_certificate_to_secret).2fx; signing alone %(assertion_sign_ms).1f ms (RSA %(cert_key_bits)d)"
              % figures)
        if args.json:
            print(json.dumps(figures))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
