# `scanmail demo`: the whole story end to end on the built-in tenant. It starts the fake Exchange
# Online tenant, starts virtual ESP32-DevKitC boards running the real firmware on MicroPython, installs
# the firmware and the scanner application over each serial port (raw REPL, as a technician's laptop
# would), resets them, configures each over the application's console (way of sending, secrets),
# presses the scan button for every Microsoft 365 method of sending and shows what happened: method x
# recipient x expected x result x where the multi-page PDF landed x time. One more case cuts the
# power while the board waits on the server and shows the scan delivered exactly once after the
# restart. Then the second act (emulator/demo_oauth.py) on the lobby board's console: Basic
# authentication goes off as after December 2026, and the lobby's application signs in by device
# code and keeps sending. It exits 0 only when every outcome matches what Microsoft's guide says it should be.
import email
import email.policy
import json
import mailbox
import os
import shutil
import signal
import sys
import tempfile
import threading
import time

from scanmail.host_tools import app_install
from scanmail.host_tools.console_client import ConsoleClient, ConsoleError
from scanmail.host_tools.raw_repl import ReplError, RawRepl
from scanmail.host_tools.tables import render

DEMO_TIME_LIMIT_S = 30.0

# The boards of the story: where each one sits on the network decides what the tenant makes of it.
BOARDS = {
    "lobby": {"ip": "127.0.0.20", "role": "lobby scanner, static IP listed in contoso.com's SPF record"},
    "annex": {"ip": "127.0.0.99", "role": "annex scanner, dynamic IP, not in the SPF record"},
    "printroom": {"ip": "127.0.0.30", "role": "print-room scanner, static IP of connector office-printers"},
}

# Microsoft's comparison of the methods as cases (docs/exchange-online.md, "Methods of sending").
CASES = [
    {"method": "submission", "board": "lobby", "sender": "scanner@contoso.com", "to": "alice@contoso.com",
     "expect": {"outcome": "delivered", "where": "alice@contoso.com/Inbox"}},
    {"method": "submission", "board": "lobby", "sender": "scanner@contoso.com", "to": "someone@fabrikam.com",
     "expect": {"outcome": "delivered", "where": "internet"}},
    {"method": "direct_send", "board": "lobby", "sender": "scanner@contoso.com", "to": "alice@contoso.com",
     "expect": {"outcome": "delivered", "where": "alice@contoso.com/Inbox"}},
    {"method": "direct_send", "board": "lobby", "sender": "scanner@contoso.com", "to": "someone@fabrikam.com",
     "expect": {"outcome": "refused", "enhanced": "5.7.64"}},
    {"method": "direct_send", "board": "annex", "sender": "scanner@contoso.com", "to": "alice@contoso.com",
     "expect": {"outcome": "delivered", "where": "alice@contoso.com/Junk Email"}},
    {"method": "relay", "board": "printroom", "sender": "scanner@contoso.com", "to": "someone@fabrikam.com",
     "expect": {"outcome": "delivered", "where": "internet"}},
    {"method": "hve", "board": "lobby", "sender": "hve-scanner@contoso.com", "to": "bob@contoso.com",
     "expect": {"outcome": "delivered", "where": "bob@contoso.com/Inbox"}},
]

METHOD_LABELS = {
    "submission": "SMTP client submission",
    "direct_send": "direct send",
    "relay": "SMTP relay (connector)",
    "hve": "High Volume Email",
}

# Credentials of the built-in tenant's mailboxes used by the demo (documented in the README). They
# travel to the board over its serial link as configuration and are never printed.
_CREDENTIALS = {
    "submission": ("scanner@contoso.com", "Scanner-Pass-1"),
    "hve": ("hve-scanner@contoso.com", "Hve-Pass-1"),
}

BOARD_CA_PATH = app_install.BOARD_CA_PATH
# The last case: a power cut while the board waits on the server for its RCPT reply.
POWER_CUT_CASE = {"method": "submission", "board": "lobby", "sender": "scanner@contoso.com",
                  "to": "alice@contoso.com", "power_cut": True,
                  "expect": {"outcome": "delivered", "where": "alice@contoso.com/Inbox"}}


def register(parser):
    parser.add_argument("--runtime", choices=("micropython", "cpython", "auto"), default="auto",
                        help="board runtime: the MicroPython unix port (default when installed) or CPython")
    parser.add_argument("--profile", default="esp32-devkitc", help="board profile (default: esp32-devkitc)")
    parser.add_argument("--state", metavar="DIR", help="keep tenant and board state here (default: a temporary folder)")
    parser.add_argument("--keep", action="store_true",
                        help="leave the tenant and the boards running afterwards for exploring (Ctrl-C stops them)")
    parser.add_argument("--json", action="store_true", help="print the results as JSON instead of a table")
    parser.epilog = (
        "examples:\n"
        "  scanmail demo                    the whole story on MicroPython boards\n"
        "  scanmail demo --runtime cpython  the same firmware on CPython boards\n"
        "  scanmail demo --keep --state .state   then: scanmail o365 trace --state .state/tenant\n"
    )
    parser.set_defaults(handler=run)


def settings_for(method, endpoints):
    """The connection settings a technician would enter on the device for this method."""
    hosts = endpoints["endpoints"]
    if method == "submission":
        user, password = _CREDENTIALS["submission"]
        return {"method": "submission", "host": hosts["submission"]["hostname"], "port": 587,
                "tls": "starttls", "auth": "login", "username": user, "password": password}
    if method == "direct_send":
        return {"method": "direct_send", "host": hosts["mx"]["hostname"], "port": 25,
                "tls": "opportunistic", "auth": "none"}
    if method == "relay":
        return {"method": "relay", "host": hosts["mx"]["hostname"], "port": 25,
                "tls": "starttls", "auth": "none"}
    if method == "hve":
        user, password = _CREDENTIALS["hve"]
        return {"method": "hve", "host": hosts["hve"]["hostname"], "port": 587,
                "tls": "starttls", "auth": "login", "username": user, "password": password}
    raise ValueError("unknown method %r" % method)


def board_config(method, endpoints, case, token):
    """The configuration a technician sets on the device over its console for this case, and its
    password (None: the method signs in with nothing)."""
    settings = settings_for(method, endpoints)
    password = settings.pop("password", None)
    config = dict(settings, username=settings.get("username") or "", sender=case["sender"],
                  address_book={"to": case["to"]}, default_destination="to",
                  subject="Scan %s from %s" % (token, case["board"]),
                  body="Scanned on the %s board and sent by %s." % (case["board"], METHOD_LABELS[method]),
                  ca_path=BOARD_CA_PATH, timeout_s=10)
    return config, password


def pdf_pages(mail_root, token):
    """Pages of the PDF attached to the message whose subject carries `token` (0: none found)."""
    for folder, _, files in os.walk(mail_root):
        for name in files:
            if os.path.basename(folder) not in ("cur", "new"):
                continue
            with open(os.path.join(folder, name), "rb") as handle:
                message = email.message_from_bytes(handle.read(), policy=email.policy.default)
            if token not in (message.get("Subject") or ""):
                continue
            for part in message.iter_attachments():
                data = part.get_payload(decode=True) or b""
                if data.startswith(b"%PDF"):
                    return data.count(b"/Type/Page/Parent")
    return 0


# The mail core driven directly through the raw REPL, without the application: a sample one-page
# scan, a send on the board, and their installation (the workbench's browser test sends this way).
BOARD_SCAN_PATH = "scans/sample-0001.pdf"


def sample_scan_pdf(label):
    """A small, valid one-page PDF standing in for a scanned document."""
    text = "scanmail sample scan %s" % label
    stream = "BT /F1 18 Tf 72 720 Td (%s) Tj ET" % text
    objects = [
        "<< /Type /Catalog /Pages 2 0 R >>",
        "<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>",
        "<< /Length %d >>\nstream\n%s\nendstream" % (len(stream), stream),
        "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = b"%PDF-1.4\n"
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += ("%d 0 obj\n%s\nendobj\n" % (number, body)).encode("ascii")
    xref = len(out)
    out += ("xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)).encode("ascii")
    for offset in offsets:
        out += ("%010d 00000 n \n" % offset).encode("ascii")
    out += ("trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)).encode("ascii")
    return out


# Runs on the board. Paths are relative to the board's storage root; the result comes back as one
# JSON line. The password is in `settings` and is never echoed back.
_SEND_ON_BOARD = """
import json
from scanmail.firmware.board import open_board
from scanmail.firmware.mail import send_mail, Message, SMTPError
_board = open_board()
_root = _board.storage_root.rstrip('/') + '/'
_f = open(_root + %(ca)r, 'rb'); _ca = _f.read(); _f.close()
_settings = %(settings)r
_settings['ca_der'] = _ca
_msg = Message(sender=%(sender)r, to=[%(to)r], cc=[], subject=%(subject)r,
               body=%(body)r, attachments=[(_root + %(scan)r, 'sample-0001.pdf', 'application/pdf')])
try:
    _r = send_mail(_settings, _msg, _board)
    print(json.dumps({'ok': True, 'reply': _r['reply']}))
except SMTPError as _e:
    _cause, _todo = _e.diagnosis()
    print(json.dumps({'ok': False, 'stage': _e.stage, 'code': _e.code, 'enhanced': _e.enhanced,
                      'text': _e.text, 'transient': _e.transient, 'cause': _cause, 'todo': _todo}))
"""


def _install(repl, ca_der, scan_pdf):
    from scanmail.host_tools import firmware_build

    written, unchanged = firmware_build.install(repl)
    repl.put_file(ca_der, BOARD_CA_PATH)
    repl.put_file(scan_pdf, BOARD_SCAN_PATH)
    return written + unchanged


def find_landing(mail_root, token):
    """Where the message whose subject carries `token` was delivered: 'addr/Folder' or 'internet'.
    The copy client submission files in the sender's Sent Items is not a delivery and is left out."""
    found = []
    if not os.path.isdir(mail_root):
        return found
    for owner in sorted(os.listdir(mail_root)):
        owner_dir = os.path.join(mail_root, owner)
        folders = [("", owner_dir)] if owner == "internet" else [
            (folder, os.path.join(owner_dir, folder)) for folder in sorted(os.listdir(owner_dir))]
        for folder, path in folders:
            if not os.path.isdir(os.path.join(path, "cur")):
                continue
            if folder == "Sent Items":
                continue
            for message in mailbox.Maildir(path, create=False):
                if token in (message.get("Subject") or ""):
                    found.append(owner if owner == "internet" else "%s/%s" % (owner, folder))
    return found


class Progress:
    """One line per step on stderr, so --json output on stdout stays clean."""

    def __init__(self, enabled=True):
        self.enabled = enabled
        self.started = time.monotonic()

    def step(self, text):
        if self.enabled:
            sys.stderr.write("[%5.1fs] %s\n" % (time.monotonic() - self.started, text))
            sys.stderr.flush()


def _until(check, timeout_s):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)         # a technician's pace: each look is a console request on the board
    return None


def scan_on_board(board, console, case, config, password, tenant, timeout_s=60):
    """Configure the board over its console, press its scan button, wait for the job's outcome.
    -> the result as the demo shows it."""
    console.request("config.set", changes=config)
    console.request("secret.set", name="password", value=password or "")
    before = {job["id"] for job in console.request("outbox.list")}
    if case.get("power_cut"):
        tenant.add_fault(stage="rcpt", action="delay", delay_s=3, nth=1, endpoint="submission")
    board.press("scan")
    if case.get("power_cut"):
        if not _until(lambda: any(f["fired"] for f in tenant.faults()), timeout_s):
            return {"ok": False, "stage": "board", "text": "the board never reached RCPT"}
        board.power_cut()
        console.wait_for_log("started on")

    def outcome():
        for job in console.request("outbox.list"):
            if job["id"] not in before and job["state"] in ("sent", "failed", "expired"):
                return job
        return None

    job = _until(outcome, timeout_s)
    if job is None:
        late = [j for j in console.request("outbox.list") if j["id"] not in before]
        return {"ok": False, "stage": "board", "text": "the scan was not sent within %d s" % timeout_s,
                "job": late[-1] if late else None, "logs": console.request("logs", count=12)}
    if job["state"] == "sent":
        return {"ok": True, "reply": job["reply"], "attempts": job["attempts"], "job": job["id"]}
    return {"ok": False, "stage": job["stage"], "code": job["code"], "enhanced": job["enhanced"],
            "text": job["server_text"] or job["error"], "cause": job["cause"], "todo": job["what_to_do"],
            "job": job["id"]}


def judge(case, result, landed, multi_page=True):
    """As expected: delivered where the guide says (as the scanner's multi-page PDF, for the
    application's scans), or refused with the guide's enhanced code and stored nowhere."""
    expect = case["expect"]
    if expect["outcome"] == "delivered":
        return bool(result.get("ok")) and landed == [expect["where"]] and (
            result.get("pages", 0) > 1 or not multi_page)
    return (not result.get("ok")) and result.get("enhanced") == expect["enhanced"] and not landed


def describe_result(result):
    """Delivered: the reply code (the full reply is in --json). Refused: the exact reply and the
    diagnosis the device gives, as a technician would read them off its console."""
    if result.get("ok"):
        words = result["reply"].split()
        return "delivered (%s)" % " ".join(words[:2])
    reply = ("%s %s %s" % (result.get("code") or "", result.get("enhanced") or "", result.get("text") or "")).strip()
    if result.get("enhanced") and result.get("text", "").startswith(result["enhanced"]):
        reply = ("%s %s" % (result.get("code") or "", result.get("text"))).strip()
    return "refused at %s: %s\ndevice says: %s; %s" % (
        result.get("stage"), reply, result.get("cause") or "", result.get("todo") or "")


def _interrupt(signum, frame):
    raise KeyboardInterrupt


def run(args):
    from scanmail.emulator.boards import BoardHandle  # imported late: `scanmail --help` must not need them
    from scanmail.emulator import demo_oauth
    from scanmail.emulator.tenant import FakeTenant
    from scanmail.emulator.tenant.clock import MovedClock
    from scanmail.host_tools.user_error import UserError

    progress = Progress(enabled=True)
    state_root = os.path.abspath(args.state) if args.state else tempfile.mkdtemp(prefix="scanmail-demo-")
    made_temp = not args.state
    try:
        os.makedirs(state_root, exist_ok=True)
    except OSError as exc:
        raise UserError("--state %s: cannot keep the demo's state there (%s); give a folder"
                        % (args.state, exc.strerror or exc))
    # SIGTERM (kill, systemd, `timeout`) stops the demo as Ctrl-C does, through the `finally`
    # blocks below, so no board supervisor is left running without its tenant.
    previous_sigterm = None
    if threading.current_thread() is threading.main_thread():
        previous_sigterm = signal.signal(signal.SIGTERM, _interrupt)
    started = time.monotonic()
    rows, results = [], []
    all_ok = True
    boards = {}
    try:
        progress.step("starting the fake Exchange Online tenant (built-in tenant contoso.com)")
        try:
            tenant = FakeTenant(state_dir=os.path.join(state_root, "tenant"), clock=MovedClock())
        except OSError as exc:
            raise UserError("--state %s: cannot run the demo's tenant in %s (%s)"
                            % (args.state, os.path.join(state_root, "tenant"), exc.strerror or exc))
        tenant.__enter__()
        try:
            endpoints = tenant.endpoints
            with open(endpoints["ca"]["der"], "rb") as handle:
                ca_der = handle.read()
            progress.step("starting %d virtual %s boards (%s runtime)" % (len(BOARDS), args.profile, args.runtime))
            errors = []

            def start(name, spec):
                try:
                    board = BoardHandle(args.profile, runtime=args.runtime,
                                         state_dir=os.path.join(state_root, "boards", name), ip=spec["ip"],
                                         tenant_state=os.path.join(state_root, "tenant"), fast=True, name=name)
                    board.__enter__()
                    boards[name] = board
                except Exception as exc:  # reported below with the board's name
                    errors.append("%s: %s" % (name, exc))

            threads = [threading.Thread(target=start, args=item) for item in BOARDS.items()]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            if errors:
                raise UserError("a virtual board did not start: " + "; ".join(errors))
            runtime = boards["lobby"].runtime
            consoles = {}

            def install(name):
                try:
                    repl = RawRepl(boards[name].port)
                    repl.enter()
                    count = app_install.install(repl, extra=[(ca_der, BOARD_CA_PATH)])
                    repl.close()
                    console = consoles[name] = ConsoleClient(boards[name].port, timeout_s=60)
                    boards[name].reset()
                    console.wait_for_log("started on")
                    progress.step("%s (%s, %s): firmware, scanner application and tenant CA (%d files) copied over %s, "
                                  "verified by SHA-256; application started" % (name, BOARDS[name]["ip"], runtime, count,
                                                                                boards[name].port))
                except Exception as exc:  # reported below with the board's name
                    errors.append("%s: %s" % (name, exc))

            threads = [threading.Thread(target=install, args=(name,)) for name in boards]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            if errors:
                raise UserError("could not put the firmware on a board: " + "; ".join(errors))
            for number, case in enumerate(CASES + [POWER_CUT_CASE], 1):
                token = "demo-%d-%s" % (number, case["method"])
                config, password = board_config(case["method"], endpoints, case, token)
                t0 = time.monotonic()
                try:
                    result = scan_on_board(boards[case["board"]], consoles[case["board"]], case, config,
                                           password, tenant)
                except (ConsoleError, ReplError) as exc:
                    result = {"ok": False, "stage": "board", "code": None, "enhanced": None,
                              "text": str(exc), "cause": "the application failed on the board", "todo": ""}
                elapsed = time.monotonic() - t0
                landed = find_landing(endpoints["mail"], token)
                if result.get("ok") and not landed:     # the 250 came; the mailbox file follows
                    landed = _until(lambda: find_landing(endpoints["mail"], token), 5) or []
                result["pages"] = pdf_pages(endpoints["mail"], token) if landed else 0
                ok = judge(case, result, landed)
                all_ok = all_ok and ok
                expect = case["expect"]
                expected = expect.get("where") if expect["outcome"] == "delivered" else "refused " + expect["enhanced"]
                results.append({"case": number, "method": case["method"], "board": case["board"],
                                "board_ip": BOARDS[case["board"]]["ip"], "sender": case["sender"],
                                "recipient": case["to"], "expected": expected, "result": result,
                                "landed": landed, "pages": result["pages"], "power_cut": bool(case.get("power_cut")),
                                "seconds": round(elapsed, 3), "matches": ok})
                label = METHOD_LABELS[case["method"]] + (", power cut mid-send" if case.get("power_cut") else "")
                rows.append([
                    "%d" % number, "%s\n%s %s" % (label, case["board"], BOARDS[case["board"]]["ip"]),
                    case["to"], expected + (" once" if case.get("power_cut") else ""), describe_result(result),
                    ("%s (%d-page PDF)" % (", ".join(landed), result["pages"])) if landed else "-",
                    "%.2f s" % elapsed, "yes" if ok else "NO",
                ])
                progress.step("case %d/%d %s -> %s: %s" % (number, len(CASES) + 1, label, case["to"],
                                                         "as expected" if ok else "NOT as expected"))
            for name, console in consoles.items():
                if name != "lobby":
                    console.close()

            # The second act, on the lobby board's console: its application signs in and scans.
            lobby = consoles["lobby"]

            def run_case(case, oauth=False):
                number = len(results) + 1
                token = "demo-%d-%s" % (number, case["method"])
                config, password = board_config(case["method"], endpoints, case, token)
                if oauth:
                    config.update(demo_oauth.OAUTH_CONFIG)
                    password = None
                t0 = time.monotonic()
                try:
                    result = scan_on_board(boards["lobby"], lobby, case, config, password, tenant)
                    if oauth:
                        result["refreshes"] = lobby.request("oauth.status").get("refreshes")
                except (ConsoleError, ReplError) as exc:
                    result = {"ok": False, "stage": "board", "code": None, "enhanced": None,
                              "text": str(exc), "cause": "the application failed on the board", "todo": ""}
                elapsed = time.monotonic() - t0
                landed = find_landing(endpoints["mail"], token)
                if result.get("ok") and not landed:
                    landed = _until(lambda: find_landing(endpoints["mail"], token), 5) or []
                result["pages"] = pdf_pages(endpoints["mail"], token) if landed else 0
                ok = judge(case, result, landed)
                expect = case["expect"]
                expected = expect.get("where") if expect["outcome"] == "delivered" else "refused " + expect["enhanced"]
                label = METHOD_LABELS[case["method"]] + " (%s)" % case["auth"]
                results.append({"case": number, "method": case["method"], "auth": case["auth"],
                                "board": case["board"], "board_ip": BOARDS[case["board"]]["ip"],
                                "sender": case["sender"], "recipient": case["to"], "expected": expected,
                                "result": result, "landed": landed, "pages": result["pages"],
                                "power_cut": False, "seconds": round(elapsed, 3), "matches": ok})
                rows.append([
                    "%d" % number, "%s\n%s %s" % (label, case["board"], BOARDS[case["board"]]["ip"]),
                    case["to"], expected, describe_result(result),
                    ("%s (%d-page PDF)" % (", ".join(landed), result["pages"])) if landed else "-",
                    "%.2f s" % elapsed, "yes" if ok else "NO",
                ])
                progress.step("case %d %s -> %s: %s" % (number, label, case["to"],
                                                      "as expected" if ok else "NOT as expected"))

            demo_oauth.run_act(tenant, lobby, progress, run_case)
            lobby.close()
            all_ok = all(r["matches"] for r in results)
            wall = time.monotonic() - started
            within_limit = wall <= DEMO_TIME_LIMIT_S
            if args.json:
                print(json.dumps({"runtime": runtime, "profile": args.profile, "cases": results,
                                  "wall_seconds": round(wall, 2), "all_matched": all_ok,
                                  "within_time_limit": within_limit}, indent=2))
            else:
                print()
                print(render(["#", "method / board", "recipient", "expected", "result and diagnosis", "landed in", "time", "ok"],
                             rows, wrap_columns=["result and diagnosis", "landed in", "expected", "recipient"]))
                print()
                print("%d of %d outcomes as Microsoft's guide says; %s boards on %s; %.1f s in all (limit %.0f s)."
                      % (sum(1 for r in results if r["matches"]), len(results), args.profile, runtime, wall, DEMO_TIME_LIMIT_S))
            if args.keep:
                print("\nStill running (Ctrl-C to stop):")
                print("  tenant state: %s   (scanmail o365 trace --state %s)" % (os.path.join(state_root, "tenant"), os.path.join(state_root, "tenant")))
                for name, board in boards.items():
                    print("  board %-9s %s  %s  (mpremote connect %s)" % (name, BOARDS[name]["ip"], board.port, board.port))
                try:
                    while True:
                        time.sleep(3600)
                except KeyboardInterrupt:
                    pass
            if not within_limit:
                print("scanmail: the demo took %.1f s, over its %.0f s limit" % (wall, DEMO_TIME_LIMIT_S), file=sys.stderr)
            return 0 if (all_ok and within_limit) else 1
        finally:
            for board in boards.values():
                board.__exit__(None, None, None)
            tenant.__exit__(None, None, None)
    finally:
        if made_temp and not args.keep:
            shutil.rmtree(state_root, ignore_errors=True)
        if previous_sigterm is not None:
            signal.signal(signal.SIGTERM, previous_sigterm)
