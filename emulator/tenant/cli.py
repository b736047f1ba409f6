# `scanmail o365 ...`: run the fake tenant (serve), read its message trace (trace) and script faults
# on a running one (fault add|list|clear, through its HTTP API); `serve` prints one line per session
# outcome and the workbench's address. Rule: user mistakes raise
# host_tools.cli.UserError with what was wrong and what to do; handlers return an exit status.
import argparse
import asyncio
import errno
import ipaddress
import json
import os
import signal
import sys
import urllib.error
import urllib.request

from scanmail.emulator.tenant.config import TenantFileError, load_tenant
from scanmail.emulator.tenant.faults import ACTIONS, ENDPOINTS, STAGES
from scanmail.emulator.tenant.trace_log import format_table, read_trace_files


def _user_error(message):
    from scanmail.host_tools.user_error import UserError
    return UserError(message)


def register(parser):
    sub = parser.add_subparsers(dest="o365_command", metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the fake tenant until Ctrl-C",
                           description="Run the fake Exchange Online tenant: submission, MX and HVE "
                                       "listeners plus an HTTP API; writes <state>/endpoints.json once up.")
    serve.add_argument("--tenant", metavar="FILE", help="tenant file (TOML), or after-december-2026 (the built-in "
                       "tenant with Basic auth for SMTP disabled); default: the built-in contoso.com")
    serve.add_argument("--state", metavar="DIR", default=".state", help="state folder (default .state)")
    serve.add_argument("--bind", metavar="ADDR", default="127.0.0.1",
                       help="address to listen on (default 127.0.0.1); 0.0.0.0 with --allow-lan lets a real "
                            "dev board on your LAN reach the fake (pin --port submission=587 --port mx=25)")
    serve.add_argument("--allow-lan", action="store_true",
                       help="allow --bind outside 127.0.0.0/8; the built-in mailboxes' passwords are public, "
                            "so use it on a lab network only")
    serve.add_argument("--port", metavar="NAME=PORT", action="extend", nargs="+", default=[],
                       help="pin a port, e.g. submission=587 (names: submission, mx, hve, api); default free ports")
    serve.set_defaults(handler=do_serve)

    trace = sub.add_parser("trace", help="print the message trace",
                           description="Print the fake tenant's message trace (running or stopped).")
    trace.add_argument("--state", metavar="DIR", default=".state", help="state folder (default .state)")
    trace.add_argument("--json", action="store_true", help="JSON instead of a table")
    trace.set_defaults(handler=do_trace)

    fault = sub.add_parser("fault", help="script faults on a running fake tenant",
                           description="Add, list or clear faults on a running fake tenant (via its HTTP API).",
                           epilog="examples:\n"
                                  "  scanmail o365 fault add --stage rcpt --reply \"451 4.7.500 Server busy\" --nth 1\n"
                                  "  scanmail o365 fault add --stage end_of_data --action drop --endpoint mx\n"
                                  "  scanmail o365 fault add --stage data --action delay --delay 5 --probability 0.5 "
                                  "--seed 7\n"
                                  "  scanmail o365 fault list\n"
                                  "  scanmail o365 fault clear",
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    fault_sub = fault.add_subparsers(dest="fault_command", metavar="ACTION")
    state_help = "state folder of the running tenant (default .state), as given to serve --state"
    add = fault_sub.add_parser("add", help="add a fault",
                               description="Make the running fake tenant misbehave at one stage of an SMTP session.",
                               epilog="example: scanmail o365 fault add --stage auth --reply "
                                      "\"535 5.7.139 Authentication unsuccessful, account locked.\" --nth 2")
    add.add_argument("--state", metavar="DIR", default=".state", help=state_help)
    add.add_argument("--stage", required=True, choices=STAGES, metavar="STAGE",
                     help="where in the session it fires: %s" % ", ".join(STAGES))
    add.add_argument("--action", default=None, choices=ACTIONS,
                     help="reply (default when --reply is given), drop (close the connection), delay (wait "
                          "--delay seconds, then carry on), tls_fail (only with --stage starttls)")
    add.add_argument("--reply", metavar="LINE",
                     help="the reply line to send instead, e.g. \"451 4.7.500 Server busy\" (a 421 also closes)")
    add.add_argument("--nth", type=int, metavar="N", help="fire on the N-th matching occurrence only, e.g. --nth 1")
    add.add_argument("--probability", type=float, metavar="P",
                     help="fire on each occurrence with this probability (0-1), e.g. --probability 0.25")
    add.add_argument("--seed", type=int, help="seed for --probability, so a run repeats exactly, e.g. --seed 7")
    add.add_argument("--endpoint", default="all", choices=ENDPOINTS,
                     help="which listener: submission, mx, hve or all (default all)")
    add.add_argument("--delay", type=float, dest="delay_s", metavar="SECONDS",
                     help="seconds to wait, with --action delay, e.g. --delay 5")
    add.set_defaults(handler=do_fault_add)
    for name, handler, text in (("list", do_fault_list, "list faults and how often each fired"),
                                ("clear", do_fault_clear, "remove all faults")):
        p = fault_sub.add_parser(name, help=text, description=text[0].upper() + text[1:] + ".")
        p.add_argument("--state", metavar="DIR", default=".state", help=state_help)
        p.set_defaults(handler=handler)


def do_serve(args):
    from scanmail.emulator.tenant.server import PortSpecError, parse_port_specs
    try:
        tenant = load_tenant(args.tenant)
        ports = parse_port_specs(args.port)
    except (TenantFileError, PortSpecError) as exc:
        raise _user_error(str(exc))
    try:
        bind = ipaddress.ip_address(args.bind)
    except ValueError:
        bind = None
    if bind is None or bind.version != 4:
        raise _user_error("--bind %s: not an IPv4 address; give one like 127.0.0.1 (or 0.0.0.0 with --allow-lan)"
                          % args.bind)
    if not args.bind.startswith("127."):
        if not args.allow_lan:
            raise _user_error("--bind %s: outside loopback (127.0.0.0/8) the fake is reachable from your network; "
                              "add --allow-lan if that is what you want (a real board on a lab LAN)" % args.bind)
        print("scanmail: warning: listening on %s: anything on your network can reach the fake tenant, whose "
              "mailbox passwords are public (the HTTP API stays on 127.0.0.1)" % args.bind, file=sys.stderr)
    return asyncio.run(_serve(tenant, args))


async def _serve(tenant, args):
    from scanmail.emulator.tenant.server import TenantServer, parse_port_specs
    try:
        server = TenantServer(tenant=tenant, state_dir=args.state, bind=args.bind, ports=parse_port_specs(args.port))
    except OSError as exc:
        raise _user_error("--state %s: cannot use it as the state folder (%s%s); give a folder you can write to"
                          % (args.state, exc.strerror or exc, ": " + str(exc.filename) if exc.filename else ""))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        info = await server.start()
    except OSError as exc:
        endpoint = getattr(exc, "endpoint", None)
        if endpoint is None:            # not a listener: a file in the state folder
            raise _user_error("--state %s: cannot use it as the state folder (%s%s); give a folder you can write to"
                              % (args.state, exc.strerror or exc, ": " + str(exc.filename) if exc.filename else ""))
        if exc.errno == errno.EADDRNOTAVAIL:
            raise _user_error("%s (--bind %s: no interface of this machine has that address; give one it has, "
                              "like 127.0.0.1)" % (exc.strerror, args.bind))
        hint = "pick another with --port %s=PORT, or leave it out for a free one" % endpoint
        if exc.errno == errno.EADDRINUSE:
            hint = "another program, or another scanmail o365 serve, has it: stop that, or " + hint
        elif exc.errno == errno.EACCES:
            hint = "ports below 1024 need root; " + hint
        raise _user_error("%s (%s)" % (exc.strerror or exc, hint))
    for name, e in info["endpoints"].items():
        if args.bind.startswith("127."):
            print("%-10s %s:%d  (%s)" % (name, e["host"], e["port"], e["hostname"]))
        else:  # every interface: a board on the LAN uses this machine's address and the port
            print("%-10s %s:%d, here %s:%d  (%s)" % (name, args.bind, e["port"], e["host"], e["port"], e["hostname"]))
    print("api        %s" % info["api"])
    print("workbench  %s/  (open it in a browser: mail, trace, switches)" % info["api"])
    print("endpoints  %s" % os.path.join(server.state_dir, "endpoints.json"))
    print("ready; Ctrl-C stops", flush=True)
    server.world.trace.listeners.append(lambda record: print(outcome_line(record), flush=True))
    try:
        await stop.wait()
    finally:
        await server.stop()
    print("stopped", flush=True)
    return 0


def outcome_line(record):
    """One line per session outcome as `serve` prints it: time, method, client, sender, recipients,
    status and the reply."""
    recipients = record.get("recipients") or []
    shown = ",".join(recipients[:3]) + (" +%d" % (len(recipients) - 3) if len(recipients) > 3 else "")
    return "%s  %-11s %-15s %s -> %s  %s  %s" % (
        record.get("time", ""), record.get("method", ""), record.get("client_ip", ""),
        record.get("sender") or "<>", shown or "-", record.get("status", ""), record.get("reply", ""))


def do_trace(args):
    path = os.path.join(args.state, "trace.jsonl")
    if not os.path.isdir(args.state):
        raise _user_error("--state %s: no such folder (start one with: scanmail o365 serve --state %s)"
                          % (args.state, args.state))
    skipped = []
    records = read_trace_files(path, skipped)
    if skipped:
        print("scanmail: warning: skipped %d line(s) of %s that are not trace records (line %s): "
              "a server stopped mid-write, or the file was edited" % (
                  len(skipped), path, ", ".join(str(n) for n in skipped[:5])
                  + (", ..." if len(skipped) > 5 else "")), file=sys.stderr)
    if args.json:
        json.dump(records, sys.stdout, indent=1)
        print()
    elif records:
        print(format_table(records))
    else:
        print("no messages in the trace yet")
    return 0


def _api(state, method, path, body=None):
    endpoints = os.path.join(state, "endpoints.json")
    try:
        with open(endpoints) as f:
            api = json.load(f)["api"]
    except (OSError, ValueError, KeyError):
        raise _user_error("--state %s: no running fake tenant found there (start one with: scanmail o365 serve "
                          "--state %s)" % (state, state))
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(api + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)
    except urllib.error.HTTPError as exc:
        try:
            message = json.load(exc)["error"]
        except Exception:
            message = "HTTP %d" % exc.code
        raise _user_error(message)
    except (urllib.error.URLError, OSError) as exc:
        raise _user_error("the fake tenant at %s does not answer (%s); is it still running?" % (api, exc))


def do_fault_add(args):
    action = args.action or ("reply" if args.reply else None)
    if action is None:
        raise _user_error("give --reply \"CODE text\" or --action drop|delay|tls_fail")
    body = {"stage": args.stage, "action": action, "endpoint": args.endpoint}
    for key in ("reply", "nth", "probability", "seed", "delay_s"):
        value = getattr(args, key)
        if value is not None:
            body[key] = value
    fault = _api(args.state, "POST", "/api/faults", body)
    print("fault %d added: %s at %s on %s" % (fault["id"], fault["action"], fault["stage"], fault["endpoint"]))
    return 0


def do_fault_list(args):
    faults = _api(args.state, "GET", "/api/faults")
    if not faults:
        print("no faults")
    for f in faults:
        when = "nth=%s" % f["nth"] if f["nth"] else ("p=%s seed=%s" % (f["probability"], f["seed"])
                                                     if f["probability"] is not None else "always")
        print("%d  %-11s %-8s %-10s %-14s fired %d/%d  %s" % (
            f["id"], f["stage"], f["action"], f["endpoint"], when, f["fired"], f["seen"],
            f["reply"] or (f["delay_s"] if f["delay_s"] is not None else "")))
    return 0


def do_fault_clear(args):
    _api(args.state, "DELETE", "/api/faults")
    print("faults cleared")
    return 0
