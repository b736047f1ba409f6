# Benchmark of the fake Exchange Online tenant (emulator/tenant) against its anchor, bare aiosmtpd,
# measured in the same run on the same machine. Rule: every figure is printed beside the anchor's
# figure, the ratio and the target; nothing here is a test and nothing here fails the build (exit 0
# on PASS and MISS alike). A run where any client failed or a message was not stored yields no
# figure at all: the bench lists what failed and exits 1. Each server runs in its own subprocess so its peak RSS is its own
# (VmHWM reported by the server process itself when it stops).
#
#   .venv/bin/python bench/fake_tenant.py            # full run (10 x 10 MB, 300 TLS sessions)
#   .venv/bin/python bench/fake_tenant.py --quick    # smoke run with small sizes
#   .venv/bin/python bench/fake_tenant.py --json     # machine-readable result on stdout
#
# Scenarios
#   ingest:   10 clients at once, each sends one 10 MB scan-like message (base64 PDF attachment,
#             CRLF lines of 76 characters) in plain SMTP over loopback. The fake is driven as
#             direct send on its MX endpoint (source 127.0.0.20, scanner@contoso.com ->
#             alice@contoso.com, no TLS, no AUTH): the same bytes on the wire as the anchor's plain
#             session, so the comparison is the servers' work and nothing else.
#   sessions: small messages over STARTTLS + AUTH LOGIN, one whole session each (connect, EHLO,
#             STARTTLS, EHLO, AUTH, MAIL, RCPT, DATA, QUIT) on the fake's submission endpoint,
#             against aiosmtpd with STARTTLS (a trustme certificate of the same key type as the
#             fake's) and an authenticator that accepts everyone.
import argparse
import base64
import json
import os
import random
import shutil
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
MB = 1000 * 1000

SOURCE_IP = "127.0.0.20"  # in contoso.com's SPF record: direct send lands in the Inbox
SENDER = "scanner@contoso.com"
INGEST_RECIPIENT = "alice@contoso.com"
SUBMISSION_LOGINS = [  # mailboxes with SMTP AUTH on (Contract 3's built-in tenant)
    ("scanner@contoso.com", "Scanner-Pass-1"),
    ("alice@contoso.com", "Alice-Pass-1"),
    ("bob@contoso.com", "Bob-Pass-1"),
]
SESSION_RECIPIENT = "bob@contoso.com"

TARGETS = {
    "ingest_mb_per_s": (">=", 2.0),
    "ingest_peak_rss_mb": ("<=", 0.3),
    "tls_auth_sessions_per_s": (">=", 0.8),
}


# ----------------------------------------------------------------------------------------------
# Server side: `bench/fake_tenant.py --serve fake|anchor --state DIR` runs one server in this
# process, prints one JSON line when it listens, and on stdin EOF stops and prints its peak RSS.
# ----------------------------------------------------------------------------------------------


def free_port(host):
    """A free TCP port on host (aiosmtpd's Controller(port=0) does not work, upstream #276/#388)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


class AcceptEverything:
    """The anchor's handler: accepts every message and keeps nothing."""

    async def handle_DATA(self, server, session, envelope):
        return "250 2.0.0 OK"


def accept_every_login(server, session, envelope, mechanism, auth_data):
    from aiosmtpd.smtp import AuthResult

    return AuthResult(success=True)


def serve_anchor(state_dir, key_type_name):
    import trustme
    from aiosmtpd.controller import Controller

    ca = trustme.CA(key_type=getattr(trustme.KeyType, key_type_name))
    leaf = ca.issue_cert("smtp.office365.com", key_type=getattr(trustme.KeyType, key_type_name))
    ca_pem = os.path.join(state_dir, "anchor-ca.pem")
    ca.cert_pem.write_to_path(ca_pem)
    tls_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    leaf.configure_cert(tls_context)

    host = "127.0.0.1"
    plain = Controller(AcceptEverything(), hostname=host, port=free_port(host),
                       data_size_limit=160 * MB)
    secure = Controller(AcceptEverything(), hostname=host, port=free_port(host),
                        tls_context=tls_context, require_starttls=True,
                        authenticator=accept_every_login, auth_exclude_mechanism=["PLAIN"])
    plain.start()
    secure.start()
    ready = {
        "plain": [host, plain.port],
        "submission": [host, secure.port],
        "submission_hostname": "smtp.office365.com",
        "ca_pem": ca_pem,
    }
    return ready, lambda: (plain.stop(), secure.stop())


BENCH_LIMITS = {"messages_per_minute": 1000000, "concurrent_connections": 1000,
                "recipients_per_day": 100000000}


def bench_tenant_settings(state_dir):
    """A copy of the built-in tenant whose per-mailbox submission limits (30 messages a minute,
    3 concurrent connections, 10,000 recipients a day) are raised so that throttling does not shape
    the figures. Returns (the tenant file's path for FakeTenant, a note printed with the results)."""
    from scanmail.emulator.tenant.config import BUILTIN_TENANT_PATH

    with open(BUILTIN_TENANT_PATH, encoding="utf-8") as builtin:
        text = builtin.read()
    path = os.path.join(state_dir, "bench_tenant.toml")
    with open(path, "w", encoding="utf-8") as out:
        out.write(text + "\n[limits]\n" + "".join("%s = %d\n" % item for item in BENCH_LIMITS.items()))
    note = "built-in contoso.com with [limits] raised: " + ", ".join(
        "%s = %d" % item for item in BENCH_LIMITS.items())
    return path, note


def serve_fake(state_dir):
    sys.path.insert(0, REPO_ROOT)
    from scanmail.emulator.tenant import FakeTenant

    tenant, note = bench_tenant_settings(state_dir)
    fake = FakeTenant(tenant=tenant, state_dir=os.path.join(state_dir, "tenant"), bind="127.0.0.1")
    fake.start()
    ready = {
        "plain": list(fake.address("mx")),
        "submission": list(fake.address("submission")),
        "submission_hostname": fake.hostname("submission"),
        "ca_pem": str(fake.ca_pem_path),
        "mail_dir": fake.mail_dir,
        "note": note,
    }
    return ready, fake.stop


def peak_rss_kb():
    """This process's peak RSS (VmHWM). Not ru_maxrss: on Linux that keeps the high-water mark of
    the parent's memory image from before exec, which would charge the bench's own buffers here."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status: this bench measures memory on Linux only")


def serve(kind, state_dir, key_type_name):
    if kind == "anchor":
        ready, stop = serve_anchor(state_dir, key_type_name)
    else:
        ready, stop = serve_fake(state_dir)
    ready["idle_rss_kb"] = psutil.Process().memory_info().rss // 1024
    sys.stdout.write(json.dumps(ready) + "\n")
    sys.stdout.flush()
    sys.stdin.read()  # the bench closes our stdin when it is done with us
    stop()
    sys.stdout.write(json.dumps({"peak_rss_kb": peak_rss_kb()}) + "\n")
    sys.stdout.flush()


class ServerProcess:
    """One server (`fake` or `anchor`) in its own subprocess; stop() returns its peak RSS in KiB."""

    def __init__(self, kind, work_dir, key_type_name="ECDSA"):
        self.kind = kind
        self.state_dir = tempfile.mkdtemp(prefix="bench-%s-" % kind, dir=work_dir)
        self.log_path = os.path.join(self.state_dir, "server.log")
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--serve", kind, "--state", self.state_dir,
             "--key-type", key_type_name],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._log, cwd=REPO_ROOT,
        )
        line = self.proc.stdout.readline()
        if not line:
            self.proc.wait()
            self._log.close()
            raise RuntimeError("the %s server did not start (exit %s); its log %s says:\n%s" % (
                kind, self.proc.returncode, self.log_path, self.log_tail()))
        self.info = json.loads(line)
        self.ps = psutil.Process(self.proc.pid)

    def stored_in_inbox(self, address=INGEST_RECIPIENT):
        """How many messages the fake stored in the mailbox's Inbox (proof it did the work)."""
        new = os.path.join(self.info["mail_dir"], address, "Inbox", "new")
        return len(os.listdir(new)) if os.path.isdir(new) else 0

    def cpu_seconds(self):
        times = self.ps.cpu_times()
        return times.user + times.system

    def log_tail(self, lines=30):
        with open(self.log_path, "rb") as handle:
            return b"\n".join(handle.read().splitlines()[-lines:]).decode("utf-8", "replace")

    def stop(self):
        try:
            self.proc.stdin.close()
            line = self.proc.stdout.readline()
            self.proc.wait(timeout=60)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self._log.close()
        if not line:
            raise RuntimeError("the %s server died before reporting its peak RSS; log %s:\n%s" % (
                self.kind, self.log_path, self.log_tail()))
        return json.loads(line)["peak_rss_kb"]


# ----------------------------------------------------------------------------------------------
# Client side
# ----------------------------------------------------------------------------------------------


class SMTPToAddress(smtplib.SMTP):
    """smtplib.SMTP that connects to an address but uses a host name for TLS (SNI and the
    certificate check), as a device does after resolving smtp.office365.com."""

    def __init__(self, address, server_hostname, source_ip=None, timeout=120):
        self._address = tuple(address)
        super().__init__(server_hostname, self._address[1], timeout=timeout,
                         source_address=(source_ip, 0) if source_ip else None)

    def _get_socket(self, host, port, timeout):
        return socket.create_connection(self._address, timeout, self.source_address)


def scan_message(size_bytes, sender, recipient, seed=7):
    """A scan-like message of about size_bytes: headers, a line of text, a base64 PDF attachment."""
    rng = random.Random(seed)
    payload_len = size_bytes * 3 // 4 - 600
    payload = rng.randbytes(payload_len) if hasattr(rng, "randbytes") else os.urandom(payload_len)
    b64 = base64.b64encode(payload)
    lines = [b64[i:i + 76] for i in range(0, len(b64), 76)]
    head = (
        "From: %s\r\nTo: %s\r\nSubject: Scan\r\nDate: Sat, 28 Nov 2026 06:00:00 +0000\r\n"
        "Message-ID: <bench-%d@scanner.contoso.com>\r\nMIME-Version: 1.0\r\n"
        "Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n"
        "--b1\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nSee attached.\r\n"
        "--b1\r\nContent-Type: application/pdf\r\nContent-Transfer-Encoding: base64\r\n"
        "Content-Disposition: attachment; filename=\"scan 0001.pdf\"\r\n\r\n"
        % (sender, recipient, seed)
    ).encode("ascii")
    return head + b"\r\n".join(lines) + b"\r\n--b1--\r\n"


def small_message(sender, recipient, n):
    return (
        "From: %s\r\nTo: %s\r\nSubject: Scan %d\r\nDate: Sat, 28 Nov 2026 06:00:00 +0000\r\n"
        "Message-ID: <bench-small-%d@scanner.contoso.com>\r\n\r\nSee attached.\r\n"
        % (sender, recipient, n, n)
    ).encode("ascii")


def run_threads(count, work):
    """Run work(i) in count threads started together; return (wall seconds, errors)."""
    errors = []
    barrier = threading.Barrier(count + 1)

    def body(i):
        barrier.wait()
        try:
            work(i)
        except Exception as error:  # reported, never hidden
            errors.append("client %d: %r" % (i, error))

    threads = [threading.Thread(target=body, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    return time.perf_counter() - started, errors


def ingest(server, clients, message):
    """clients sessions at once, each one message; returns figures for the table."""
    address = tuple(server.info["plain"])

    def one(i):
        with SMTPToAddress(address, "mx.contoso.test", source_ip=SOURCE_IP) as smtp:
            refused = smtp.sendmail(SENDER, [INGEST_RECIPIENT], message)
            if refused:
                raise RuntimeError("refused: %r" % refused)

    cpu_before = server.cpu_seconds()
    wall, errors = run_threads(clients, one)
    cpu = server.cpu_seconds() - cpu_before
    return {"wall_s": wall, "bytes": clients * len(message), "server_cpu_s": cpu, "errors": errors,
            "mb_per_s": None if errors else clients * len(message) / MB / wall}


def tls_sessions(server, sessions, workers):
    address = tuple(server.info["submission"])
    context = ssl.create_default_context(cafile=server.info["ca_pem"])
    hostname = server.info["submission_hostname"]
    counter = iter(range(sessions))
    lock = threading.Lock()

    def next_session():
        with lock:
            return next(counter, None)

    def worker(i):
        user, password = SUBMISSION_LOGINS[i % len(SUBMISSION_LOGINS)]
        while True:
            n = next_session()
            if n is None:
                return
            with SMTPToAddress(address, hostname) as smtp:
                smtp.starttls(context=context)
                smtp.login(user, password)
                refused = smtp.sendmail(user, [SESSION_RECIPIENT],
                                        small_message(user, SESSION_RECIPIENT, n))
                if refused:
                    raise RuntimeError("refused: %r" % refused)

    cpu_before = server.cpu_seconds()
    wall, errors = run_threads(workers, worker)
    cpu = server.cpu_seconds() - cpu_before
    return {"wall_s": wall, "sessions": sessions, "server_cpu_s": cpu, "errors": errors,
            "sessions_per_s": None if errors else sessions / wall,
            "server_cpu_ms_per_session": 1000 * cpu / sessions}


def fake_key_type(server):
    """RSA or ECDSA: the key type of the fake's submission certificate, so the anchor matches."""
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric import rsa

    context = ssl.create_default_context(cafile=server.info["ca_pem"])
    with SMTPToAddress(tuple(server.info["submission"]), server.info["submission_hostname"]) as smtp:
        smtp.starttls(context=context)
        der = smtp.sock.getpeercert(binary_form=True)
    key = x509.load_der_x509_certificate(der).public_key()
    return "RSA" if isinstance(key, rsa.RSAPublicKey) else "ECDSA"


# ----------------------------------------------------------------------------------------------
# The run and the table
# ----------------------------------------------------------------------------------------------


def verdict(name, ratio):
    op, target = TARGETS[name]
    met = ratio >= target if op == ">=" else ratio <= target
    return "%s %sx" % (op, target), "PASS" if met else "MISS"


def row(name, label, unit, fake, anchor):
    ratio = fake / anchor if anchor else float("inf")
    target, result = verdict(name, ratio)
    return {"name": name, "label": label, "unit": unit, "fake": fake, "anchor": anchor,
            "ratio": ratio, "target": target, "result": result}


def failures(runs, clients):
    """What went wrong in any run: a client that failed, a message the fake did not store. A run
    with any of these yields no figure, and neither does the bench (no best-of among the rest)."""
    found = []
    for name, results in runs.items():
        for number, result in enumerate(results, 1):
            found += ["%s run %d: %s" % (name, number, error) for error in result["errors"]]
            if "stored" in result and result["stored"] != clients:
                found.append("%s run %d: %d of %d messages stored in alice's Inbox" % (
                    name, number, result["stored"], clients))
    return found


def best(runs, key, pick):
    return pick(run[key] for run in runs)


def run(quick, repeat, work_root=None):
    clients = 10
    size = (1 if quick else 10) * MB
    sessions = 40 if quick else 300
    workers = 3
    if work_root:
        os.makedirs(work_root, exist_ok=True)
    work_dir = tempfile.mkdtemp(prefix="bench-fake-tenant-", dir=work_root)
    message = scan_message(size, SENDER, INGEST_RECIPIENT)
    figures = {"settings": {"clients": clients, "message_bytes": len(message), "sessions": sessions,
                            "session_workers": workers, "quick": quick, "repeat": repeat,
                            "work_dir": os.path.dirname(work_dir)},
               "load_average_before": os.getloadavg(), "cpus": os.cpu_count()}
    runs = {"fake_ingest": [], "anchor_ingest": [], "fake_sessions": [], "anchor_sessions": []}
    key_type = None
    try:
        # Fresh server processes for every run; the order alternates so that a change in the
        # machine's load during the bench does not always favour the same side.
        for round_number in range(repeat):
            order = ("fake", "anchor") if round_number % 2 == 0 else ("anchor", "fake")
            for kind in order:
                server = ServerProcess(kind, work_dir)
                result = None
                try:
                    result = ingest(server, clients, message)
                    result["idle_rss_kb"] = server.info["idle_rss_kb"]
                    if kind == "fake":
                        figures["tenant"] = server.info.get("note", "")
                        result["stored"] = server.stored_in_inbox()
                        if key_type is None:
                            key_type = fake_key_type(server)
                finally:
                    peak = server.stop()
                if result is not None:
                    result["peak_rss_kb"] = peak
                    runs[kind + "_ingest"].append(result)
            for kind in order:
                server = ServerProcess(kind, work_dir, key_type or "ECDSA")
                try:
                    runs[kind + "_sessions"].append(tls_sessions(server, sessions, workers))
                finally:
                    server.stop()
        figures["certificate_key_type"] = key_type
        figures["load_average_after"] = os.getloadavg()
        figures["runs"] = runs
        figures["errors"] = failures(runs, clients)
        if figures["errors"]:
            return figures
        figures["rows"] = [
            row("ingest_mb_per_s", "ingest, %d x %.0f MB at once" % (clients, size / MB), "MB/s",
                best(runs["fake_ingest"], "mb_per_s", max), best(runs["anchor_ingest"], "mb_per_s", max)),
            row("ingest_peak_rss_mb", "server peak RSS during ingest", "MB",
                best(runs["fake_ingest"], "peak_rss_kb", min) / 1024,
                best(runs["anchor_ingest"], "peak_rss_kb", min) / 1024),
            row("tls_auth_sessions_per_s", "STARTTLS+AUTH sessions, %d workers" % workers,
                "sessions/s", best(runs["fake_sessions"], "sessions_per_s", max),
                best(runs["anchor_sessions"], "sessions_per_s", max)),
        ]
        return figures
    finally:
        shutil.rmtree(work_dir, ignore_errors=True)


def print_table(figures):
    out = sys.stdout.write
    s = figures["settings"]
    out("fake tenant vs bare aiosmtpd %s (anchor), same run, same machine%s\n" % (
        _aiosmtpd_version(), " [--quick: a smoke run; 1 MB messages are too small for the RSS target "
                             "to mean anything]" if s["quick"] else ""))
    out("  ingest: direct send to the fake's MX (plain SMTP, source %s) vs plain aiosmtpd\n"
        % SOURCE_IP)
    out("  sessions: fake's submission endpoint vs aiosmtpd with STARTTLS + accept-all AUTH LOGIN;"
        " %s certificates on both\n" % figures["certificate_key_type"])
    out("  tenant: %s\n" % figures["tenant"])
    out("  state (spool and Maildirs) under %s\n" % s["work_dir"])
    out("  best of %d alternating runs per side; load average %.1f before, %.1f after, on %d CPUs%s\n\n"
        % (s["repeat"], figures["load_average_before"][0], figures["load_average_after"][0],
           figures["cpus"], "  (BUSY MACHINE: ratios are noisy)"
           if max(figures["load_average_before"][0], figures["load_average_after"][0]) > figures["cpus"]
           else ""))
    out("%-48s %10s %10s %8s %9s %6s\n" % ("figure", "fake", "aiosmtpd", "ratio", "target", ""))
    for r in figures["rows"]:
        out("%-48s %10s %10s %7.2fx %9s %6s\n" % (
            "%s (%s)" % (r["label"], r["unit"]), "%.1f" % r["fake"], "%.1f" % r["anchor"],
            r["ratio"], r["target"], r["result"]))
    runs = figures["runs"]
    out("\ndetails, every run:\n")
    for kind in ("fake", "anchor"):
        for i in runs[kind + "_ingest"]:
            out("  %-6s ingest   %6.1f MB/s, %5.2f s wall, %5.2f s server CPU, idle RSS %3.0f MB, "
                "peak RSS %3.0f MB%s\n" % (
                    kind, i["mb_per_s"], i["wall_s"], i["server_cpu_s"], i["idle_rss_kb"] / 1024,
                    i["peak_rss_kb"] / 1024,
                    ", %d of %d stored in alice's Inbox" % (i["stored"], s["clients"]) if "stored" in i else ""))
        for t in runs[kind + "_sessions"]:
            out("  %-6s sessions %6.1f /s,   %5.2f s wall, %5.2f ms server CPU per session\n" % (
                kind, t["sessions_per_s"], t["wall_s"], t["server_cpu_ms_per_session"]))


def _aiosmtpd_version():
    try:
        from importlib.metadata import version

        return version("aiosmtpd")
    except Exception:
        return ""


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__ or "fake tenant benchmark")
    parser.add_argument("--quick", action="store_true", help="small sizes: a smoke run")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--repeat", type=int, default=0,
                        help="runs per side, alternating, best one counts (default 3; 1 with --quick)")
    parser.add_argument("--work-dir", default=None,
                        help="where the servers keep their state (the fake spools and stores every "
                             "message there); default the system's temporary folder")
    parser.add_argument("--serve", choices=("fake", "anchor"), help=argparse.SUPPRESS)
    parser.add_argument("--state", help=argparse.SUPPRESS)
    parser.add_argument("--key-type", default="ECDSA", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        serve(args.serve, args.state, args.key_type)
        return 0
    figures = run(args.quick, args.repeat or (1 if args.quick else 3), args.work_dir)
    if figures["errors"]:
        sys.stderr.write("fake_tenant: no figures: a run failed, so none of its numbers mean "
                         "anything (fix the failure, then run again):\n")
        for error in figures["errors"]:
            sys.stderr.write("  %s\n" % error)
        return 1
    if args.json:
        sys.stdout.write(json.dumps(figures, indent=2) + "\n")
    else:
        print_table(figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
