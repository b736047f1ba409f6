# Attack campaign against the fake Exchange Online tenant: one run against a fresh `scanmail o365
# serve` (its own process, its stderr in serve.log), as a lab LAN or a CI fuzzer would hit it. Rule:
# every figure is measured here, printed beside its target with PASS or MISS; nothing here is a test
# and the script exits 0 either way (tests/tenant/ runs short seeded slices of the same kinds).
#
#   .venv/bin/python bench/hostile.py            # the whole campaign (about 5-10 minutes)
#   .venv/bin/python bench/hostile.py --json     # machine-readable result on stdout
#   .venv/bin/python bench/hostile.py --quick    # a smoke run with every phase cut down
#
# Phases, in this order, against one server unless said otherwise:
#   starttls  1,000 sessions that say STARTTLS and then close, send garbage, stop half-way through
#             a handshake or reject the certificate (a real TLS client with the wrong CA); server
#             RSS growth, measured 5 s after the last one closed, against the RSS after 100 warm-up
#             sessions of the same kinds (OpenSSL's and the allocator's one-time costs).
#   fuzz      10,000 seeded hostile sessions in 10 batches (random bytes, overlong lines, NUL,
#             invalid UTF-8, abrupt closes at every stage, wrong BDAT sizes, floods of refused RCPTs,
#             secrets put in the AUTH user name, failed XOAUTH2), 50 at a time from 50 addresses; a
#             good submission (STARTTLS, AUTH LOGIN, 1 message) after every batch; RSS growth over
#             the phase and tracebacks in serve.log.
#   idle      30,000 connections attempted from 20 addresses (127.0.3.x) and held open without a
#             word; a good submission from 127.0.0.1 while they are held; serve.log growth. The
#             client raises its own file descriptor soft limit to the hard limit (resource.setrlimit).
#   kill      at least 100 runs: a message to 5 mailboxes over the MX, the server killed with
#             SIGKILL at a random instant from 5 ms before to 25 ms after the client sends the final
#             dot; the server restarted on the same state folder; then every mailbox is searched for
#             the run's message: `partial` counts runs that left it in 1-4 of the 5, `lost_acked`
#             runs whose 250 reached the client but that are not in all 5.
#   secrets   every file the tenant wrote in all phases (state folders, serve.log) searched for every
#             password and token the campaign used, plain, in base64, as AUTH PLAIN and XOAUTH2 blobs,
#             in any case.
#   files     60 malformed tenant files, each given to `scanmail o365 serve --tenant F --state NEW`:
#             a traceback, more than one line, exit status other than 2, or anything written to NEW
#             counts against it.
import argparse
import asyncio
import base64
import json
import os
import random
import resource
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time

import psutil

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO_ROOT)
from bench.hostile_kinds import bad_tenant_files, hostile_session, secret_forms  # noqa: E402

SCANMAIL = [sys.executable, "-c", "import sys; from scanmail.host_tools.cli import main; sys.exit(main(sys.argv[1:]))"]
SCANNER = ("scanner@contoso.com", "Scanner-Pass-1")
PASSWORDS = ["Scanner-Pass-1", "Alice-Pass-1", "Bob-Pass-1", "NoSmtp-Pass-1", "Hve-Pass-1"]
KILL_RECIPIENTS = ["alice@contoso.com", "bob@contoso.com", "scanner@contoso.com", "nosmtp@contoso.com",
                   "hve-scanner@contoso.com"]
BENCH_LIMITS = {"messages_per_minute": 1000000, "concurrent_connections": 1000}

TARGETS = {
    "starttls_abort_rss_mb": ("<=", 10),
    "fuzz_rss_growth_mb": ("<=", 20),
    "fuzz_tracebacks": ("<=", 0),
    "good_send_ok": ("==", True),
    "serve_log_growth_mb": ("<=", 1),
    "partial": ("<=", 0),
    "lost_acked": ("<=", 0),
    "secret_hits": ("<=", 0),
    "tracebacks": ("<=", 0),
}


# ------------------------------------------------------------------------------------------ server
class Serve:
    """`scanmail o365 serve` in its own process, stdout and stderr appended to serve.log."""

    def __init__(self, tenant_file, state_dir, log_path):
        self.state_dir = state_dir
        self.log_path = log_path
        self.log = open(log_path, "ab")
        try:
            os.unlink(os.path.join(state_dir, "endpoints.json"))     # left by a killed server
        except FileNotFoundError:
            pass
        self.proc = subprocess.Popen(SCANMAIL + ["o365", "serve", "--tenant", tenant_file, "--state", state_dir],
                                     stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                     cwd=REPO_ROOT)
        self.info = self._wait_ready()
        self.ps = psutil.Process(self.proc.pid)

    def _wait_ready(self):
        path = os.path.join(self.state_dir, "endpoints.json")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("scanmail o365 serve stopped at start; see %s" % self.log_path)
            try:
                with open(path) as f:
                    info = json.load(f)
                if info.get("api"):
                    return info
            except (OSError, ValueError):
                pass
            time.sleep(0.02)
        raise RuntimeError("scanmail o365 serve did not start in 60 s; see %s" % self.log_path)

    def address(self, endpoint):
        e = self.info["endpoints"][endpoint]
        return e["host"], e["port"]

    def rss_mb(self):
        return self.ps.memory_info().rss / 1e6

    def kill(self):
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self.log.close()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


def write_tenant_file(path):
    from scanmail.emulator.tenant.config import BUILTIN_TENANT_PATH

    with open(BUILTIN_TENANT_PATH, encoding="utf-8") as f:
        text = f.read()
    with open(path, "w", encoding="utf-8") as f:
        f.write(text + "\n[limits]\n" + "".join("%s = %d\n" % item for item in BENCH_LIMITS.items()))


def good_send(server, source_ip="127.0.0.1", tag="good"):
    """A good submission: STARTTLS, AUTH LOGIN, one message. True when the 250 came and it is stored."""
    ctx = ssl.create_default_context(cafile=server.info["ca"]["pem"])
    before = count_messages(server.state_dir, "alice@contoso.com")
    try:
        with smtplib.SMTP(timeout=30, source_address=(source_ip, 0)) as client:
            client.connect(*server.address("submission"))
            client._host = server.info["endpoints"]["submission"]["hostname"]    # the certificate's name
            client.ehlo("bench-good")
            client.starttls(context=ctx)
            client.ehlo("bench-good")
            client.login(*SCANNER)
            client.sendmail(SCANNER[0], ["alice@contoso.com"],
                            "From: %s\r\nTo: alice@contoso.com\r\nSubject: %s\r\n\r\nstill here\r\n" % (SCANNER[0], tag))
    except (OSError, smtplib.SMTPException):
        return False
    return count_messages(server.state_dir, "alice@contoso.com") == before + 1


def count_messages(state_dir, address, folder="Inbox"):
    path = os.path.join(state_dir, "mail", address, folder, "new")
    try:
        return len(os.listdir(path))
    except FileNotFoundError:
        return 0


# ------------------------------------------------------------------------------------------ phases
async def run_sessions(server, kinds, count, seed, concurrency, first_ip=(127, 0, 2), tokens=()):
    """Run `count` hostile sessions of the given kinds, `concurrency` at a time, each from one of
    `concurrency` addresses. Returns how many ended in each outcome."""
    rng = random.Random(seed)
    queue = [(i, rng.choice(kinds), rng.randrange(1 << 30)) for i in range(count)]
    outcomes = {}
    contexts = {"wrong": ssl.create_default_context(),   # the system's CAs: the fake's certificate fails
                "right": ssl.create_default_context(cafile=server.info["ca"]["pem"])}
    lock = asyncio.Lock()

    async def worker(slot):
        source = "%d.%d.%d.%d" % (first_ip + (slot % 250 + 1,))
        while queue:
            _i, kind, session_seed = queue.pop()
            try:
                outcome = await asyncio.wait_for(
                    hostile_session(server.address(endpoint_of(kind)), source, kind, random.Random(session_seed),
                                    contexts, tokens), 30)
            except asyncio.TimeoutError:
                outcome = "client timeout"
            except OSError as exc:
                outcome = "client " + type(exc).__name__
            async with lock:
                outcomes[outcome] = outcomes.get(outcome, 0) + 1

    await asyncio.gather(*(worker(s) for s in range(concurrency)))
    return outcomes


def endpoint_of(kind):
    return "mx" if kind.startswith("mx_") else "submission"


STARTTLS_KINDS = ["starttls_close", "starttls_garbage", "starttls_half_handshake", "starttls_wrong_ca"]
FUZZ_KINDS = ["random_bytes", "overlong_line", "nul_bytes", "invalid_utf8", "close_after_greeting",
              "close_after_ehlo", "close_after_mail", "close_after_rcpt", "close_in_data", "close_after_starttls",
              "bdat_short", "bdat_long", "bdat_garbage_size", "bdat_huge_size", "mx_refused_rcpt_flood",
              "auth_login_plain_blob", "auth_password_as_user", "auth_xoauth2_bad_token", "auth_xoauth2_stolen_user",
              "pipelined_junk", "mx_close_in_data", "mx_bdat_then_close", "starttls_garbage", "starttls_wrong_ca",
              "mx_bad_helo", "command_flood"]


def settle_rss(server, seconds=5):
    time.sleep(seconds)
    return server.rss_mb()


def phase_starttls(server, count, seed):
    asyncio.run(run_sessions(server, STARTTLS_KINDS, 100, seed - 1, 50))     # warm-up
    before = settle_rss(server)
    outcomes = asyncio.run(run_sessions(server, STARTTLS_KINDS, count, seed, 50))
    after = settle_rss(server)
    return {"starttls_sessions": count, "starttls_rss_before_mb": round(before, 1),
            "starttls_rss_after_mb": round(after, 1), "starttls_abort_rss_mb": round(after - before, 1),
            "starttls_outcomes": outcomes}


def phase_fuzz(server, count, batches, seed, tokens):
    log_before = log_text(server.log_path).count("Traceback")
    before = settle_rss(server, 1)
    outcomes, good = {}, []
    for batch in range(batches):
        got = asyncio.run(run_sessions(server, FUZZ_KINDS, count // batches, seed + batch, 50, tokens=tokens))
        for key, value in got.items():
            outcomes[key] = outcomes.get(key, 0) + value
        good.append(good_send(server, tag="after fuzz batch %d" % batch))
    after = settle_rss(server)
    return {"fuzz_sessions": count // batches * batches, "fuzz_rss_before_mb": round(before, 1),
            "fuzz_rss_after_mb": round(after, 1), "fuzz_rss_growth_mb": round(after - before, 1),
            "fuzz_tracebacks": log_text(server.log_path).count("Traceback") - log_before,
            "fuzz_good_sends_ok": sum(good), "fuzz_good_sends": len(good), "fuzz_outcomes": outcomes}


def phase_idle(server, attempts, addresses):
    log_before = os.path.getsize(server.log_path)
    held, refused, failed = [], [0], [0]

    async def attempt(source, sem):
        async with sem:
            try:
                reader, writer = await asyncio.wait_for(asyncio.open_connection(
                    *server.address("mx"), local_addr=(source, 0)), 30)
            except (OSError, asyncio.TimeoutError):
                failed[0] += 1
                return
            try:
                line = await asyncio.wait_for(reader.readline(), 30)
            except (OSError, asyncio.TimeoutError):
                line = b""
            if line.startswith(b"220"):
                held.append(writer)
            else:
                refused[0] += 1
                writer.close()

    async def main():
        sem = asyncio.Semaphore(400)
        sources = ["127.0.3.%d" % (i % addresses + 1) for i in range(attempts)]
        await asyncio.gather(*(attempt(s, sem) for s in sources))
        ok = await asyncio.get_running_loop().run_in_executor(None, good_send, server, "127.0.0.1", "while idle held")
        rss = server.rss_mb()
        for writer in held:
            writer.close()
        return ok, rss

    ok, rss = asyncio.run(main())
    time.sleep(1)
    growth = (os.path.getsize(server.log_path) - log_before) / 1e6
    return {"idle_connections": attempts, "idle_held": len(held), "idle_refused": refused[0],
            "idle_failed": failed[0], "idle_rss_mb": round(rss, 1), "good_send_ok": ok,
            "serve_log_growth_mb": round(growth, 3)}


def kill_message(run_id, size):
    rng = random.Random(run_id)
    body = base64.encodebytes(rng.randbytes(size)).replace(b"\n", b"\r\n")
    head = ("From: scanner@contoso.com\r\nTo: %s\r\nSubject: kill run %s\r\nMessage-ID: <kill-%s@bench>\r\n\r\n"
            % (", ".join(KILL_RECIPIENTS), run_id, run_id)).encode()
    return head + body


def one_kill_run(server, run_id, rng, size):
    """Send one message to 5 mailboxes and kill the server around the final dot. Returns acked."""
    sock = socket.create_connection(server.address("mx"), 30, ("127.0.0.20", 0))
    sock.settimeout(30)
    reader = sock.makefile("rb")

    def reply():
        line = reader.readline()
        while line[3:4] == b"-":
            line = reader.readline()
        return line

    acked = [False]
    try:
        reply()
        for command in [b"EHLO kill-bench", b"MAIL FROM:<scanner@contoso.com>"] + \
                [b"RCPT TO:<%s>" % r.encode() for r in KILL_RECIPIENTS] + [b"DATA"]:
            sock.sendall(command + b"\r\n")
            reply()
        sock.sendall(kill_message(run_id, size))
        delay = rng.uniform(-0.005, 0.025)
        if delay < 0:
            time.sleep(-delay)
            server.kill()
            try:
                sock.sendall(b"\r\n.\r\n")
            except OSError:
                pass
        else:
            timer = threading.Timer(delay, server.kill)
            sock.sendall(b"\r\n.\r\n")
            timer.start()
            try:
                acked[0] = reply().startswith(b"250")
            except OSError:
                pass
            timer.join()
    finally:
        reader.close()
        sock.close()
    return acked[0]


def find_copies(state_dir, run_id):
    needle = ("<kill-%s@bench>" % run_id).encode()
    found = 0
    for address in KILL_RECIPIENTS:
        folder = os.path.join(state_dir, "mail", address, "Inbox", "new")
        hit = False
        for name in os.listdir(folder) if os.path.isdir(folder) else []:
            with open(os.path.join(folder, name), "rb") as f:
                if needle in f.read(4096):
                    hit = True
                    break
        found += hit
    return found


def phase_kill(tenant_file, work, runs, seed, size):
    rng = random.Random(seed)
    state = os.path.join(work, "state-kill")
    log_path = os.path.join(work, "serve-kill.log")
    server = Serve(tenant_file, state, log_path)
    partial = lost = acked_runs = delivered_runs = 0
    for run in range(runs):
        acked = one_kill_run(server, run, rng, size)
        server = Serve(tenant_file, state, log_path)        # restart on the same folder: rolls forward
        copies = find_copies(state, run)
        acked_runs += acked
        delivered_runs += copies == len(KILL_RECIPIENTS)
        partial += 0 < copies < len(KILL_RECIPIENTS)
        lost += acked and copies < len(KILL_RECIPIENTS)
    server.stop()
    leftovers = [os.path.join(d, f) for d, _s, files in os.walk(os.path.join(state, "mail"))
                 for f in files if os.path.basename(d) in ("tmp", ".journal")]
    return {"kill_runs": runs, "kill_acked": acked_runs, "kill_delivered_to_all": delivered_runs,
            "partial": partial, "lost_acked": lost, "kill_leftover_files": len(leftovers),
            "kill_tracebacks": log_text(log_path).count("Traceback")}


def phase_files(work):
    tracebacks = not_one_line = wrote = wrong_status = 0
    examples = []
    files = bad_tenant_files()
    for i, (label, data) in enumerate(files):
        path = os.path.join(work, "bad-%02d.toml" % i)
        with open(path, "wb") as f:
            f.write(data)
        state = os.path.join(work, "bad-state-%02d" % i)
        result = subprocess.run(SCANMAIL + ["o365", "serve", "--tenant", path, "--state", state],
                                capture_output=True, text=True, errors="replace", timeout=120, cwd=REPO_ROOT,
                                stdin=subprocess.DEVNULL)
        text = result.stdout + result.stderr
        tracebacks += "Traceback" in text
        not_one_line += len(text.strip().splitlines()) != 1
        wrong_status += result.returncode != 2
        wrote += os.path.exists(state)
        if len(examples) < 3 or "Traceback" in text:
            examples.append("%s -> %s" % (label, text.strip()[:160]))
    return {"bad_tenant_files": len(files), "tracebacks": tracebacks, "bad_files_not_one_line": not_one_line,
            "bad_files_exit_not_2": wrong_status, "bad_files_wrote_state": wrote, "bad_file_examples": examples}


def log_text(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except FileNotFoundError:
        return ""


def phase_secrets(work, tokens):
    """Occurrences of any secret form in what the tenant wrote (state folders and serve logs)."""
    needles = set()
    for secret in PASSWORDS + list(tokens) + list(hostile_secrets()):
        for form in secret_forms(secret):
            needles.add(form.encode())
            needles.add(form.lower().encode())
    needles = sorted(n for n in needles if len(n) >= 6)
    hits, where = 0, []
    for folder, _dirs, files in os.walk(work):
        for name in files:
            path = os.path.join(folder, name)
            if name.endswith(".toml") or "bad-state" in path:
                continue                # the tenant files the bench wrote itself
            if not (name.startswith("serve") or "state-" in path):
                continue
            with open(path, "rb") as f:
                data = f.read()
            lowered = data.lower()
            for needle in needles:
                n = data.count(needle) + (lowered.count(needle) if needle.islower() else 0)
                if n:
                    hits += n
                    where.append("%s: %s" % (os.path.relpath(path, work), needle[:12]))
    return {"secret_hits": hits, "secret_forms_searched": len(needles), "secret_hit_places": where[:10]}


def hostile_secrets():
    from bench.hostile_kinds import HOSTILE_SECRETS
    return HOSTILE_SECRETS


# ------------------------------------------------------------------------------------------ report
def verdict(key, value):
    if key not in TARGETS:
        return ""
    op, target = TARGETS[key]
    ok = {"<=": value <= target, "==": value == target}[op]
    return "%s %s  %s" % (op, target, "PASS" if ok else "MISS")


def print_table(figures):
    print("fake tenant under attack (bench/hostile.py); load average %.2f %.2f %.2f" % os.getloadavg())
    for key in ("starttls_abort_rss_mb", "fuzz_sessions", "fuzz_rss_growth_mb", "fuzz_tracebacks",
                "fuzz_good_sends_ok", "idle_connections", "idle_held", "idle_refused", "good_send_ok",
                "serve_log_growth_mb", "kill_runs", "kill_acked", "kill_delivered_to_all", "partial", "lost_acked",
                "kill_leftover_files", "secret_hits", "bad_tenant_files", "tracebacks", "bad_files_not_one_line",
                "bad_files_wrote_state"):
        if key in figures:
            print("  %-24s %-12s %s" % (key, figures[key], verdict(key, figures[key])))
    for key in ("starttls_outcomes", "fuzz_outcomes", "bad_file_examples", "secret_hit_places"):
        if figures.get(key):
            print("  %s: %s" % (key, figures[key]))


def main(argv=None):
    parser = argparse.ArgumentParser(description="Attack campaign against a fresh `scanmail o365 serve`.")
    parser.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    parser.add_argument("--quick", action="store_true", help="every phase cut down (a smoke run)")
    parser.add_argument("--seed", type=int, default=14, help="seed of every random choice (default 14)")
    parser.add_argument("--work-dir", help="where state folders and logs go (default: a new temporary folder)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args(argv)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))     # the idle phase holds many sockets
    scale = (lambda n: max(2, n // 20)) if args.quick else (lambda n: n)
    work = args.work_dir or tempfile.mkdtemp(prefix="hostile-")
    os.makedirs(work, exist_ok=True)
    tenant_file = os.path.join(work, "bench_tenant.toml")
    write_tenant_file(tenant_file)
    figures = {"seed": args.seed, "client_fd_limit": hard}
    started = time.monotonic()
    server = Serve(tenant_file, os.path.join(work, "state-main"), os.path.join(work, "serve.log"))
    tokens = []
    try:
        from urllib.request import Request, urlopen
        for address in ("scanner@contoso.com", "alice@contoso.com"):
            with urlopen(Request(server.info["api"] + "/api/tokens", data=json.dumps({"address": address}).encode(),
                                 method="POST", headers={"Content-Type": "application/json"}), timeout=10) as r:
                tokens.append(json.load(r)["access_token"])
        figures["server_fd_cap"] = server.ps.rlimit(psutil.RLIMIT_NOFILE)[0]
        figures.update(phase_starttls(server, scale(1000), args.seed))
        figures.update(phase_fuzz(server, scale(10000), 10, args.seed, tokens))
        figures.update(phase_idle(server, scale(30000), 20))
    finally:
        server.stop()
    figures["serve_log_tracebacks"] = log_text(os.path.join(work, "serve.log")).count("Traceback")
    figures.update(phase_kill(tenant_file, work, 100 if not args.quick else 5, args.seed, 200_000))
    figures.update(phase_secrets(work, tokens))
    figures.update(phase_files(work))
    figures["seconds"] = round(time.monotonic() - started, 1)
    if args.json:
        json.dump(figures, sys.stdout, indent=1)
        print()
    else:
        print_table(figures)
        print("  work folder: %s (%.0f s)" % (work, figures["seconds"]))
    if not args.keep and not args.work_dir:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
