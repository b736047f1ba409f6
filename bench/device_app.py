#!/usr/bin/env python3
# Benchmark: the scanner application (firmware/app) on MicroPython, all in one run.
#   (1) heap_kb: the smallest MicroPython heap (`micropython -X heapsize=...`, bisected to 1 KB,
#       then every 512 bytes up to 6 KB above it tried too, as bench/firmware_send.py does: a
#       figure counts only when every size above it works) in which the product build (firmware,
#       application and this bench's board script in one ROMFS image, run in place) boots the
#       application as app_loop.main builds it (app_loop.start: the modules it keeps loaded,
#       configuration on flash, the password in its secret store), answers a console request
#       (a framed `info`), scans a 10-page document into a PDF of about 10 MB (the pages are JPEGs
#       drawn by emulator/boards/sample_document.py at 360 dpi) and delivers it by client
#       submission over STARTTLS + AUTH to the fake tenant. Target: at most 64 KB.
#       oauth_heap_kb: the same with the application signed in by OAuth (auth xoauth2): a
#       device-code sign-in made on the board once before the runs (a thread approves it as the
#       person would), its secrets put back before each run; the run refreshes the access token at
#       the fake Entra ID when the worker asks for it and sends over XOAUTH2. Target: at most 64 KB
#       (the whole application with OAuth within its heap target).
#   (2) overhead_ratio: in the same build and a 256 KB heap, the time from the scan command to the
#       server's 250 (scan, PDF, outbox job, send) over the time the mail core alone needs to send
#       the same PDF (anchor: send_mail with the PDF already on flash), medians of 7 runs of each,
#       the two alternating. Target: at most 1.3.
#   (3) power_cuts, lost, corrupt, duplicates: a virtual board (MicroPython runtime, the stock
#       build installed over its serial port as a user does) runs the application; the fake tenant
#       answers a share of RCPTs with a transient 451 (its fault API, seeded); the bench presses
#       scan `--scans` times and cuts the power at random instants (seeded) until at least
#       `--cuts` cuts happened, then lets the outbox drain. lost: a job the outbox accepted that
#       never arrived; corrupt: an arrived PDF that differs from the one the pages make (the
#       writer is deterministic, so the host computes the expected bytes); duplicates: a job that
#       arrived more than once, each checked against the cut log (explained when a cut fell
#       between its first delivery and the next). Targets: lost 0, corrupt 0, every duplicate
#       explained.
# Run:  .venv/bin/python bench/device_app.py [--json] [--scans 50] [--cuts 200] [--seed 1]
#       [--skip-heap] [--skip-cuts]
import argparse
import email
import email.policy
import json
import os
import random
import shutil
import sys
import tempfile
import time

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO_ROOT)
sys.path.insert(0, os.path.join(REPO_ROOT, "bench"))

import firmware_send as fs  # noqa: E402

from scanmail.emulator.boards.sample_document import write_pages  # noqa: E402
from scanmail.emulator.tenant import FakeTenant  # noqa: E402
from tests.firmware.oauth_board import SCANNER_APP  # noqa: E402  (the built-in public client)

HEAP_TARGET_KB = 64
OVERHEAD_TARGET = 1.3

# The board script (compiled and put in the ROMFS image with the firmware and the application):
# a minimal board (network to the fake tenant, a clock, a sheet feeder over the page files as the
# scanner contract has it, NVS in RAM, the flash in a work folder), the application as
# app_loop.main builds it (app_loop.start), one console request, one scan and its delivery.
APP_SCRIPT = """
import socket, gc, time, os
from scanmail.firmware.app import app_loop
app_loop.preload(%(oauth)s)
class Board:
    name = "scanner-bench"
    storage_root = %(root)r
    def now(self):
        return %(now)d
    def address(self):
        return %(ip)r
    def open_tcp(self, host, port, timeout_s, local_ip=None):
        target = %(routes)r[host]
        s = socket.socket()
        s.settimeout(timeout_s)
        s.bind(socket.getaddrinfo(%(ip)r, 0)[0][-1])
        s.connect(socket.getaddrinfo(target[0], target[1])[0][-1])
        return s
    def set(self, state):
        pass
    def next_page(self):
        pages = %(pages)r
        if self.next >= len(pages):
            self.next = 0
            return None
        self.next += 1
        return open(pages[self.next - 1], "rb")
    next = 0
class Nvs:
    # NVS lives in flash on a board: its entries are files here, not objects in the heap
    folder = %(root)r + "-nvs/"
    def __init__(self):
        try:
            os.mkdir(self.folder)
        except OSError:
            pass
    def _read(self, key, buf=None):
        try:
            f = open(self.folder + key, "rb")
        except OSError:
            raise OSError(-0x1102)
        try:
            return f.readinto(buf) if buf is not None else int(f.read())
        finally:
            f.close()
    def _write(self, key, data):
        f = open(self.folder + key, "wb")
        f.write(data)
        f.close()
    def get_i32(self, key):
        return self._read(key)
    def set_i32(self, key, value):
        self._write(key, str(value))
    def get_blob(self, key, buf):
        return self._read(key, buf)
    def set_blob(self, key, value):
        self._write(key, value)
    def commit(self):
        pass
    def erase_key(self, key):
        try:
            os.remove(self.folder + key)
        except OSError:
            pass
board = Board()
board.net = board.clock = board.scanner = board.status_light = board
app, session = app_loop.start(board, Nvs())
from scanmail.firmware.app.improv import ImprovReader
improv = ImprovReader()      # the loop keeps one beside the session (Improv Serial)
app.config.update({"username": %(user)r, "sender": %(user)r, "ca_path": %(ca)r,
                   "address_book": {"alice": "alice@contoso.com"}, "default_destination": "alice"})
%(sign_in)s
reply = session.feed(b'#SM1 7 . 14 %(info_crc)s {"cmd":"info"}\\n')
assert reply and b'"ok": true' in b"".join(reply)
del reply                    # written to the port: the console keeps no reply
gc.collect()
start = time.ticks_ms()
job = app.scan()
result = app.work()
elapsed = time.ticks_diff(time.ticks_ms(), start)
sent = app.outbox.load(job["job"])
print("RESULT", job["size"], sent["state"], (sent["reply"] or "000")[:3], elapsed)
"""


def info_crc():
    import binascii

    return "%08x" % (binascii.crc32(b'{"cmd":"info"}') & 0xFFFFFFFF)


def prepare_pages(cache, count=10, dpi=360):
    folder = os.path.join(cache, "pages-%d-%d" % (count, dpi))
    if not os.path.isdir(folder):
        write_pages(folder + ".tmp", count=count, dpi=dpi, quality=97)
        os.replace(folder + ".tmp", folder)
    return sorted(os.path.join(folder, n) for n in os.listdir(folder))


# How the application signs in: a password in its secret store, or OAuth (auth xoauth2): the
# refresh token of a device-code sign-in made before the run (oauth_sign_in) put into the
# application's own secret store (the names its sign-in reads), and the configuration's OAuth keys;
# the application's sign-in (firmware/app/oauth_sign_in.py) refreshes it at the fake Entra ID when
# the worker sends.
PASSWORD_SIGN_IN = 'app.secrets.set("password", %(password)r)'
# With OAuth the sign-in's modules are part of what stays loaded: app_loop.preload(True) loads them
# at start with the application's own, as app_loop.main does when the configuration says xoauth2.
# The sign-in's secrets are copied from the files the sign-in below left, read as plain files (the
# application itself never loads the file-backed secret store).
OAUTH_SIGN_IN = """for name in ("oauth_rt_a", "oauth_rt_b", "oauth_user"):
    try:
        with open(%(secrets)r + "/" + name, "rb") as f:
            value = f.read()
    except OSError:
        value = None
    if value:
        app.secrets.set(name, value)
del value
app.config.update({"auth": "xoauth2", "oauth_tenant": "contoso.com", "oauth_client_id": %(client_id)r})"""
# The device-code sign-in itself, once before the runs (a person approves it: Approver), in a
# roomy heap: its refresh token is what every run then starts from (the fake accepts a replaced
# refresh token for an hour, as Entra ID's grace period does).
SIGN_IN_SCRIPT = """
import time, socket
from scanmail.firmware.oauth import OAuthSession
from scanmail.firmware.secret_store import FileSecrets
class Board:
    name = "scanner-bench"
    def now(self):
        return int(time.time())
    def open_tcp(self, host, port, timeout_s, local_ip=None):
        target = %(routes)r[host]
        s = socket.socket()
        s.settimeout(timeout_s)
        s.connect(socket.getaddrinfo(target[0], target[1])[0][-1])
        return s
board = Board()
board.net = board.clock = board
with open(%(ca)r, "rb") as f:
    ca = f.read()
session = OAuthSession({"tenant": "contoso.com", "client_id": %(client_id)r, "ca_der": ca}, board,
                       FileSecrets(%(secrets)r))
session.start_sign_in()
session.wait_for_sign_in(lambda seconds: time.sleep(0.2))
print("RESULT 0 0 250 0")
"""


def routes(tenant):
    login = tenant.login_url.split("//")[1].rsplit(":", 1)
    return {"smtp.office365.com": list(tenant.address("submission")),
            "login.microsoftonline.com": [login[0], int(login[1])]}


def app_script(tenant, root, pages, oauth_secrets=None):
    fields = {"root": root, "now": int(time.time()), "ip": fs.BOARD_IP, "routes": routes(tenant),
              "pages": pages, "password": fs.PASSWORD, "user": fs.USER, "ca": "/ca.der",
              "info_crc": info_crc(), "client_id": SCANNER_APP, "secrets": oauth_secrets}
    fields["sign_in"] = (OAUTH_SIGN_IN if oauth_secrets else PASSWORD_SIGN_IN) % fields
    fields["oauth"] = bool(oauth_secrets)
    return APP_SCRIPT % fields


def oauth_sign_in(work, tenant, mpy_dir):
    """A device-code sign-in on the board (approved by the Approver); -> the secrets folder it left."""
    from oauth import Approver

    folder = os.path.join(work, "oauth-signed-in")
    shutil.rmtree(folder, ignore_errors=True)
    source = SIGN_IN_SCRIPT % {"routes": routes(tenant), "ca": tenant.ca_der_path,
                               "client_id": SCANNER_APP, "secrets": folder}
    script, image = fs.add_script(work, mpy_dir, source, "oauth_sign_in")
    with Approver(tenant):
        ok, _, out = fs.run_board(mpy_dir, 256 * 1024, script, romfs=image)
    if not ok:
        raise SystemExit("device_app: the device-code sign-in failed:\n" + out[-1500:])
    return folder


def app_run(work, tenant, pages, name, oauth=False):
    """(board script that runs the app once, its ROMFS image, a fresh flash folder maker)."""
    root = os.path.join(work, name + "-flash")
    mpy_dir = fs.build_mpy(os.path.join(work, "stock"))
    signed_in = oauth_sign_in(work, tenant, mpy_dir) if oauth else None
    secrets = os.path.join(work, name + "-secrets")

    def fresh_flash():
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(root + "-nvs", ignore_errors=True)
        os.makedirs(root)
        shutil.copy(tenant.ca_der_path, os.path.join(root, "ca.der"))
        if signed_in:
            tenant.reset()
            shutil.rmtree(secrets, ignore_errors=True)
            shutil.copytree(signed_in, secrets)
        else:
            tenant.reset()

    script, image = fs.add_script(work, mpy_dir, app_script(tenant, root, pages, secrets if oauth else None),
                                  name)
    return mpy_dir, script, image, fresh_flash, root


def run_app(mpy_dir, heap, script, image):
    """(ok, seconds from scan to 250, PDF size) of one run of the app script."""
    cmd, env = fs.board_command(mpy_dir, heap, script, image)
    import subprocess

    proc = subprocess.run(cmd, env=env, cwd=mpy_dir, capture_output=True, text=True, timeout=600)
    words = proc.stdout.split()
    ok = proc.returncode == 0 and "RESULT" in words and "sent" in words and "250" in words
    if not ok:
        return False, None, proc.stdout[-400:] + proc.stderr[-800:]
    at = words.index("RESULT")
    return True, int(words[at + 4]) / 1000, int(words[at + 1])


def heap_figure(work, tenant, pages, oauth=False):
    mpy_dir, script, image, fresh, _ = app_run(work, tenant, pages, "app_oauth" if oauth else "app_heap",
                                               oauth)
    fresh()
    ok, _, detail = run_app(mpy_dir, 512 * 1024, script, image)
    if not ok:
        raise SystemExit("device_app: the application fails even with 512 KB of heap:\n%s" % detail)
    low, high = 16, 512
    while high - low > 1:
        mid = (low + high) // 2
        fresh()
        if run_app(mpy_dir, mid * 1024, script, image)[0]:
            high = mid
        else:
            low = mid
    failing = []
    for heap in range(high * 1024, (high + fs.SWEEP_KB) * 1024 + 1, 512):
        fresh()
        if not run_app(mpy_dir, heap, script, image)[0]:
            failing.append(heap)
    return fs.steady_heap(high, failing), high, failing


def overhead(work, tenant, pages, repeat=7):
    """Median seconds scan->250 (the app) and send alone (the mail core) for the same PDF, the two
    run alternately (app, core, app, core, ...) so that a change in the machine's load falls on
    both sides alike."""
    mpy_dir, script, image, fresh, root = app_run(work, tenant, pages, "app_time")
    # the same PDF, written by the firmware's writer on the host (deterministic), sent by the core
    from scanmail.firmware.app.pdf_writer import write_pdf

    pdf_copy = os.path.join(work, "scan.pdf")
    write_pdf(pdf_copy, pages, bytearray(512))
    core_script = fs.board_script(tenant, tenant.address("submission"),
                                  [(pdf_copy, "scan-000001.pdf", "application/pdf")])
    script2, image2 = fs.add_script(work, mpy_dir, core_script, "core_time")
    app_times, core_times, size = [], [], 0
    for _ in range(repeat):
        fresh()
        ok, seconds, size = run_app(mpy_dir, 256 * 1024, script, image)
        if not ok:
            raise SystemExit("device_app: the application run failed:\n%s" % size)
        app_times.append(seconds)
        tenant.reset()
        ok, seconds, out = fs.run_board(mpy_dir, 256 * 1024, script2, romfs=image2)
        if not ok:
            raise SystemExit("device_app: the mail core anchor failed:\n%s" % out)
        core_times.append(seconds)
    import statistics

    if os.environ.get("DEVICE_APP_TIMES"):
        sys.stderr.write("app %s core %s\n" % (app_times, core_times))
    return statistics.median(app_times), statistics.median(core_times), size, os.path.getsize(pdf_copy)


def _deliveries(mail_root):
    """{job id: [(delivery time, attachment bytes)]} from every mailbox of the tenant."""
    out = {}
    for folder, _, files in os.walk(mail_root):
        if os.path.basename(folder) not in ("cur", "new") or "Sent Items" in folder:
            continue
        for name in files:
            path = os.path.join(folder, name)
            with open(path, "rb") as f:
                msg = email.message_from_bytes(f.read(), policy=email.policy.default)
            words = (msg.get("Subject") or "").split()
            if len(words) < 2 or words[0] != "Scan":
                continue
            data = b"".join(p.get_payload(decode=True) or b"" for p in msg.iter_attachments())
            out.setdefault(words[1], []).append((os.path.getmtime(path), data))
    return out


def _job_records(flash):
    """(parsed job records, records that are not whole) from the board's flash as it is."""
    folder = os.path.join(flash, "outbox", "jobs")
    good, broken = [], 0
    for name in sorted(os.listdir(folder)):
        if not name.endswith(".json"):
            continue
        data = open(os.path.join(folder, name), "rb").read()
        if not data.endswith(b"\n#end\n"):
            broken += 1
            continue
        try:
            good.append(json.loads(data[:-6]))
        except ValueError:
            broken += 1
    return good, broken


def power_cut_campaign(work, scans, cuts, seed, runtime, say):
    from scanmail.emulator.boards import BoardHandle
    from scanmail.firmware.app.pdf_writer import write_pdf
    from scanmail.host_tools import app_install
    from scanmail.host_tools.console_client import ConsoleClient, ConsoleError
    from scanmail.host_tools.raw_repl import RawRepl

    rng = random.Random(seed)
    started = time.monotonic()
    with FakeTenant(state_dir=os.path.join(work, "tenant")) as tenant:
        tenant.add_fault(stage="rcpt", reply="451 4.7.500 Server busy. Please try again later from "
                         "[127.0.0.20]. (AS843)", probability=0.2, seed=seed, endpoint="submission")
        board = BoardHandle("esp32-devkitc", runtime, os.path.join(work, "board"), fs.BOARD_IP,
                            tenant_state=str(tenant.state_dir), fast=True).start()
        try:
            repl = RawRepl(board.port, read_timeout_s=60)
            repl.enter()
            with open(tenant.ca_der_path, "rb") as f:
                app_install.install(repl, extra=[(f.read(), "/ca.der")])
            repl.close()
            console = ConsoleClient(board.port, timeout_s=90)
            board.reset()
            console.wait_for_log("started on")
            console.request("config.set", changes={
                "username": fs.USER, "sender": fs.USER, "ca_path": "/ca.der", "timeout_s": 10,
                "address_book": {"alice": "alice@contoso.com"}, "default_destination": "alice",
                "subject": "Scan {job} from {device}", "retry_base_s": 1})
            console.request("secret.set", name="password", value=fs.PASSWORD)
            cut_times = []
            presses = 0
            jobs_dir = os.path.join(board.flash_dir, "outbox", "jobs")

            def accepted():
                return sum(1 for n in os.listdir(jobs_dir) if n.endswith(".json"))

            while accepted() < scans or len(cut_times) < cuts:
                if accepted() < scans:
                    board.press("scan")         # the application is up: the press counts
                    presses += 1
                # one cut at a random instant of the scan, queueing or sending; then, sometimes,
                # cuts at random instants of the restart
                count = 1 + (rng.random() < 0.5) * rng.randint(1, 4)
                for _ in range(count):
                    time.sleep(rng.uniform(0.0, 1.2))
                    cut_times.append(time.time())
                    board.power_cut()
                    console.wait_for_log("POWERON_RESET")    # powered on again: the next cut
                try:
                    console.wait_for_log("started on")       # falls during its restart or later
                except ConsoleError:
                    say("device_app: the board did not restart; its last lines:\n  "
                        + "\n  ".join(console.log_lines[-30:]))
                    raise
                if len(cut_times) // 40 != (len(cut_times) - 1) // 40:
                    say("  %d presses, %d accepted, %d cuts" % (presses, accepted(), len(cut_times)))
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                try:
                    counts = console.request("status")["outbox"]
                except ConsoleError:
                    continue
                if counts["queued"] == 0 and counts["sending"] == 0:
                    break
                time.sleep(0.5)
            time.sleep(1.0)
            records, broken = _job_records(board.flash_dir)
        finally:
            board.stop()
        deliveries = _deliveries(os.path.join(tenant.state_dir, "mail"))
    pages = sorted(os.path.join(work, "board", "scanner", n)
                   for n in os.listdir(os.path.join(work, "board", "scanner")))
    expected_pdf = os.path.join(work, "expected.pdf")
    write_pdf(expected_pdf, pages, bytearray(512))
    expected = open(expected_pdf, "rb").read()
    lost = [r["id"] for r in records if not deliveries.get(r["id"])]
    corrupt = sum(1 for arrived in deliveries.values() for _, data in arrived if data != expected)
    if corrupt and os.environ.get("DEVICE_APP_KEEP"):
        bad = [data for arrived in deliveries.values() for _, data in arrived if data != expected][0]
        open(os.environ["DEVICE_APP_KEEP"], "wb").write(bad)
        shutil.copy(expected_pdf, os.environ["DEVICE_APP_KEEP"] + ".expected")
    duplicates, unexplained = 0, 0
    for job_id, arrived in deliveries.items():
        times = sorted(t for t, _ in arrived)
        for first, again in zip(times, times[1:]):
            duplicates += 1
            if not any(first - 0.5 <= cut <= again for cut in cut_times):
                unexplained += 1
    return {"power_cuts": len(cut_times), "presses": presses, "scans_accepted": len(records),
            "lost": len(lost), "lost_jobs": lost, "corrupt": corrupt + broken,
            "records_not_whole": broken, "duplicates": duplicates,
            "duplicates_unexplained": unexplained,
            "states": {s: sum(1 for r in records if r["state"] == s) for s in
                       ("queued", "sending", "sent", "failed", "expired")},
            "campaign_s": round(time.monotonic() - started, 1)}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--scans", type=int, default=50)
    parser.add_argument("--cuts", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--runtime", default="micropython", choices=("micropython", "cpython"))
    parser.add_argument("--skip-heap", action="store_true")
    parser.add_argument("--skip-cuts", action="store_true")
    args = parser.parse_args(argv)

    def say(text):
        sys.stderr.write(text + "\n")
        sys.stderr.flush()

    out = {}
    work = tempfile.mkdtemp(prefix="scanmail-bench-app-")
    cache = os.path.join(REPO_ROOT, "build", "bench-pages")
    os.makedirs(cache, exist_ok=True)
    try:
        if not args.skip_heap:
            pages = prepare_pages(cache)
            with FakeTenant(state_dir=os.path.join(work, "o365")) as tenant:
                say("device_app: overhead (10-page scan, 256 KB heap, product build)")
                app_s, core_s, size, pdf_size = overhead(work, tenant, pages)
                out.update({"overhead_ratio": round(app_s / core_s, 3), "scan_to_250_s": round(app_s, 3),
                            "mail_core_send_s": round(core_s, 3), "pdf_bytes": size})
                say("device_app: smallest heap (bisect, then a 512-byte sweep)")
                steady, bisected, failing = heap_figure(work, tenant, pages)
                out.update({"heap_kb": steady, "heap_bisected_kb": bisected,
                            "heap_failing_sizes": failing})
                say("device_app: smallest heap with OAuth (refresh at the fake Entra ID, XOAUTH2)")
                steady, bisected, failing = heap_figure(work, tenant, pages, oauth=True)
                out.update({"oauth_heap_kb": steady, "oauth_heap_bisected_kb": bisected,
                            "oauth_heap_failing_sizes": failing})
        if not args.skip_cuts:
            say("device_app: power cuts (%d scans, >= %d cuts, seed %d, %s board)"
                % (args.scans, args.cuts, args.seed, args.runtime))
            out.update(power_cut_campaign(os.path.join(work, "cuts"), args.scans, args.cuts,
                                          args.seed, args.runtime, say))
    finally:
        if not os.environ.get("DEVICE_APP_KEEP_WORK"):
            shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps(out))
    else:
        for key, value in out.items():
            print("%-24s %s" % (key, value))
        if "heap_kb" in out:
            print("heap_kb %s (target <= %d): %s" % (out["heap_kb"], HEAP_TARGET_KB,
                                                      "PASS" if out["heap_kb"] <= HEAP_TARGET_KB else "MISS"))
            print("overhead_ratio %s (target <= %.1f): %s" % (
                out["overhead_ratio"], OVERHEAD_TARGET, "PASS" if out["overhead_ratio"] <= OVERHEAD_TARGET else "MISS"))
        if "lost" in out:
            print("lost %d, corrupt %d, unexplained duplicates %d (targets 0): %s" % (
                out["lost"], out["corrupt"], out["duplicates_unexplained"],
                "PASS" if not (out["lost"] or out["corrupt"] or out["duplicates_unexplained"]) else "MISS"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
