# The commands that ask a running scanner something over its serial console: `scanmail status`,
# `info`, `send-test`, `outbox list|retry|purge`, `logs` and `reboot` (configuration and secrets
# have their own modules; `monitor` too). Rule: one request per command through
# host_tools/console_link.py, so every failure is one line saying what to do; the read commands
# take --json and print the board's answer unchanged; nothing here ever shows a secret (the board's
# replies hold none).
import json
import time

from scanmail.host_tools import terminal
from scanmail.host_tools.console_client import ConsoleClient, ConsoleError
from scanmail.host_tools.console_link import ConsoleLink, add_port_arguments, reboot_from_prompt
from scanmail.host_tools.user_error import UserError

SEND_TIMEOUT_S = 90.0


def _when(seconds):
    if seconds is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(seconds))


def _sign_in_text(oauth):
    """The OAuth sign-in as one line of `scanmail status` (what the board's oauth.status says)."""
    state, error = oauth.get("state"), oauth.get("error") or {}
    if state == "signed_in":
        if oauth.get("mode") == "app":
            return "app-only (client credentials)%s" % (" as %s" % oauth["user"] if oauth.get("user") else "")
        return "signed in as %s (device code)" % (oauth.get("user") or "?")
    if state == "signing_in":
        return "waiting for a person: open %s and enter the code %s (%d s left)" % (
            oauth.get("verification_uri"), oauth.get("user_code"), oauth.get("expires_in") or 0)
    words = {"not_configured": "not configured", "signed_out": "signed out",
             "sign_in_needed": "a person must sign in again"}.get(state, str(state))
    if error.get("text"):
        words += ": " + error["text"]
    what_to_do = error.get("what_to_do") or oauth.get("what_to_do")
    return words + ("; " + what_to_do if what_to_do else "")


def _ask(args, cmd, **kwargs):
    with ConsoleLink(args.port, args.timeout) as link:
        return link.request(cmd, **kwargs)


# -- status and info ---------------------------------------------------------------------------------
def do_status(args):
    status = _ask(args, "status")
    if args.json:
        print(json.dumps(status, indent=2))
        return 0
    counts = status.get("outbox") or {}
    last = status.get("last") or {}
    if not last:
        last_text = "nothing yet"
    elif last.get("ok"):
        last_text = "job %s sent: %s" % (last.get("job"), last.get("reply"))
    else:
        last_text = "job %s %s: %s%s" % (last.get("job"), last.get("state"), last.get("text"),
                                         ("; " + last["what_to_do"]) if last.get("what_to_do") else "")
    network, address = str(status.get("network")), status.get("address")
    if address and address not in network:         # a network that is up names its address already
        network += " (%s)" % address
    rows = [["network", network],
            ["clock", _when(status.get("clock")) + " UTC" if status.get("clock_set") else "not set (waiting for NTP)"],
            ["outbox", ", ".join("%d %s" % (n, state) for state, n in counts.items() if n) or "empty"],
            ["last", last_text],
            *([["sign-in", _sign_in_text(status["oauth"])]] if status.get("oauth") else []),
            ["configuration hash", status.get("config_hash")]]
    terminal.print_table(None, rows)
    return 0


def do_info(args):
    info = _ask(args, "info")
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    flash = "-"
    if info.get("flash_free") is not None:
        flash = "%d KB free of %d KB" % (info["flash_free"] // 1024, info.get("flash_size", 0) // 1024)
    rows = [["scanmail", info.get("firmware")], ["name", info.get("name")], ["profile", info.get("profile")],
            ["runtime", "%s %s (.mpy ABI %s)" % (info.get("runtime"), info.get("version"), info.get("mpy_abi"))],
            ["free heap", "%s bytes" % info.get("heap_free")], ["flash", flash]]
    terminal.print_table(None, rows)
    return 0


# -- send-test ---------------------------------------------------------------------------------------
def do_send_test(args):
    kwargs = {"to": args.to} if args.to else {}
    with ConsoleLink(args.port, args.timeout) as link:
        try:
            reply = link.client.request("send-test", **kwargs)["reply"]
        except ConsoleError as exc:
            if exc.code == "send_failed":
                raise UserError("the test message was not sent: %s" % exc)
            raise link.explain(exc)
    print("sent: %s" % reply)
    return 0


# -- outbox ------------------------------------------------------------------------------------------
def do_outbox_list(args):
    jobs = _ask(args, "outbox.list")
    if args.json:
        print(json.dumps(jobs, indent=2))
        return 0
    if not jobs:
        print("the outbox is empty")
        return 0
    rows = []
    for job in jobs:
        outcome = job.get("reply") or job.get("error") or ""
        if job.get("what_to_do") and job.get("state") in ("failed", "expired"):
            outcome += "\n-> " + job["what_to_do"]
        rows.append([job["id"], job["state"], job["attempts"], ", ".join(job.get("to") or []),
                     "%d KB" % ((job.get("size") or 0) // 1024), _when(job.get("created")),
                     _when(job.get("next_at")) if job.get("state") == "queued" else "", outcome])
    terminal.print_table(["job", "state", "tries", "to", "size", "created (UTC)", "next try", "reply / error"], rows)
    return 0


def do_outbox_retry(args):
    result = _ask(args, "outbox.retry", id=args.id)
    print("job %s queued again" % result["id"])
    return 0


def do_outbox_purge(args):
    result = _ask(args, "outbox.purge", **({"id": args.id} if args.id else {}))
    purged = result.get("purged")
    count = len(purged) if isinstance(purged, list) else purged
    print("purged %s job(s)%s" % (count, "" if args.id else " (sent, failed and expired ones)"))
    return 0


# -- logs --------------------------------------------------------------------------------------------
def do_logs(args):
    if not 0 < args.count <= 200:
        raise UserError("--count is 1..200 lines")
    lines = _ask(args, "logs", count=args.count)
    if args.json:
        print(json.dumps(lines, indent=2))
        return 0
    from scanmail.host_tools.log_levels import styled

    out = terminal.console()
    for line in lines:
        out.print(styled(line))
    return 0


# -- reboot ------------------------------------------------------------------------------------------
def do_reboot(args):
    link = ConsoleLink(args.port, args.timeout)
    client = None
    try:
        try:
            link.client.request("reboot")
            via, client = "the application", link.client
        except ConsoleError as exc:
            if exc.code == "repl" or (exc.code == "timeout" and link.prompt_answers()):
                link.close()
                client = reboot_from_prompt(args.port)
                via = "the MicroPython prompt"
            else:
                raise link.explain(exc)
        if args.no_wait:
            print("reset asked of %s" % via)
            return 0
        started = _wait_for_start(client, args.port, args.timeout)
    finally:
        link.close()
        if client is not None:
            client.close()
    print("reset (asked of %s); back: %s" % (via, started))
    return 0


def _wait_for_start(client, port, timeout_s):
    """The application's "started on" line after a reset, read on the port the reset was asked on;
    a port that vanishes meanwhile (a native-USB board re-enumerates) is opened again."""
    from scanmail.host_tools.raw_repl import ReplError, is_pty

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            line = client.wait_for_log("started on", timeout_s=max(0.5, deadline - time.monotonic()))
            return line.split(" ", 1)[-1]          # without the board's clock field
        except (ReplError, ConsoleError) as exc:
            client.close()
            # a native-USB port comes back after the reset; a pty that went is gone for good
            code = getattr(exc, "code", None)
            if time.monotonic() >= deadline or code == "timeout" or (code == "disconnected" and is_pty(port)):
                raise UserError("the board on %s did not start scanmail within %.0f s after the reset (%s); "
                                "`scanmail monitor --port %s` shows what it prints" % (port, timeout_s, exc, port))
            time.sleep(0.2)
            try:
                client = ConsoleClient(port, timeout_s=timeout_s, exclusive=True)
            except ReplError:
                pass                               # not back yet: the next turn tries again


# -- registration ------------------------------------------------------------------------------------
def _command(parser, handler, examples, json_flag=True, timeout_s=None):
    parser.epilog = examples
    add_port_arguments(parser)
    if timeout_s:
        parser.set_defaults(timeout=timeout_s)
    if json_flag:
        parser.add_argument("--json", action="store_true", help="print the board's answer as JSON")
    parser.set_defaults(handler=handler)


def register_status(parser):
    _command(parser, do_status, """examples:
  scanmail status --port /dev/ttyUSB0
  scanmail status --port /dev/pts/5 --json

Network and address, whether the clock is set (TLS waits for it), the outbox by state, the last
send's outcome with what to do, and the configuration's hash.
""")


def register_info(parser):
    _command(parser, do_info, """examples:
  scanmail info --port /dev/ttyUSB0
  scanmail info --port COM3 --json

scanmail's version, the board's name and profile, its MicroPython and .mpy ABI, free heap and flash.
""")


def register_send_test(parser):
    _command(parser, do_send_test, """examples:
  scanmail send-test --port /dev/ttyUSB0                       to the default destination
  scanmail send-test --to alice@contoso.com --port /dev/ttyUSB0

A short message sent now with the board's settings, outside the outbox; a refusal comes back with
the server's reply and what to do about it.
""", json_flag=False, timeout_s=SEND_TIMEOUT_S)
    parser.add_argument("--to", metavar="ADDR", help="the recipient (default: the default destination)")


def register_logs(parser):
    _command(parser, do_logs, """examples:
  scanmail logs --port /dev/ttyUSB0
  scanmail logs --count 200 --port /dev/ttyUSB0 --json

The newest lines the board kept on its flash (they survive a reset); `scanmail monitor` follows them live.
""")
    parser.add_argument("--count", type=int, default=50, metavar="N", help="how many lines, 1..200 (default 50)")


def register_reboot(parser):
    _command(parser, do_reboot, """examples:
  scanmail reboot --port /dev/ttyUSB0
  scanmail reboot --port /dev/ttyUSB0 --no-wait

A hard reset, asked of the application or, when the board sits at the MicroPython prompt, of
MicroPython itself; then waits until scanmail has started again.
""", json_flag=False)
    parser.add_argument("--no-wait", action="store_true", help="do not wait for scanmail to start again")


OUTBOX_EXAMPLES = """examples:
  scanmail outbox list --port /dev/ttyUSB0
  scanmail outbox retry 000007 --port /dev/ttyUSB0          a failed job, queued again
  scanmail outbox purge --port /dev/ttyUSB0                 every finished job (sent, failed, expired)
  scanmail outbox purge 000007 --port /dev/ttyUSB0

Scans wait in the outbox on the board's flash until they are sent; nothing is dropped without purge.
"""


def register_outbox(parser):
    parser.epilog = OUTBOX_EXAMPLES
    sub = parser.add_subparsers(dest="outbox_command", metavar="ACTION")
    listing = sub.add_parser("list", help="the jobs in the outbox, oldest first", epilog=OUTBOX_EXAMPLES,
                             formatter_class=parser.formatter_class)
    _command(listing, do_outbox_list, OUTBOX_EXAMPLES)
    retry = sub.add_parser("retry", help="queue a failed job again", epilog=OUTBOX_EXAMPLES,
                           formatter_class=parser.formatter_class)
    retry.add_argument("id", metavar="JOB")
    _command(retry, do_outbox_retry, OUTBOX_EXAMPLES, json_flag=False)
    purge = sub.add_parser("purge", help="remove finished jobs (or one job by id)", epilog=OUTBOX_EXAMPLES,
                           formatter_class=parser.formatter_class)
    purge.add_argument("id", nargs="?", metavar="JOB")
    _command(purge, do_outbox_purge, OUTBOX_EXAMPLES, json_flag=False)
