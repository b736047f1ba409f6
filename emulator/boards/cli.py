# `scanmail board ...`: start, stop, reset and list virtual boards, and flip their network
# switches. Rule: handlers take the parsed arguments and return an exit status; a user mistake
# raises host_tools.cli.UserError with what was wrong and what to do.
import os

from scanmail.emulator.boards import lifecycle, netswitches

EXAMPLES = """examples:
  scanmail board start --profile esp32-devkitc --tenant-state .state/tenant
  scanmail board start --profile esp32-devkitc --runtime cpython --ip 127.0.0.21 --name annex
  mpremote connect $(scanmail board list --ports | head -1) fs ls :
  scanmail board net esp32-devkitc-20 --block-port 25
  scanmail board net --state .state/boards/annex --latency-ms 80 --bandwidth-kbps 256
  scanmail board press esp32-devkitc-20 scan                 # one press of the scan button
  scanmail board press esp32-devkitc-20 scan --hold; scanmail board reset esp32-devkitc-20   # safe mode
  scanmail board power-cut esp32-devkitc-20                  # power gone at once, back on
  scanmail board reset esp32-devkitc-20 --download           # ROM download mode, then:
  esptool --port /dev/pts/N --before no-reset --no-stub --after soft-reset write-flash 0x1000 FW.bin
  scanmail board stop esp32-devkitc-20
  scanmail board start --state .state/boards/esp32-devkitc-20     (restart a stopped board)
  scanmail board list --all
"""


def _user_error(text):
    from scanmail.host_tools.user_error import UserError

    return UserError(text)


def _state_dir(args):
    """The state folder named by --state, or by a board NAME under --root."""
    if getattr(args, "state", None):
        return os.path.abspath(args.state)
    if getattr(args, "name", None):
        return os.path.abspath(os.path.join(args.root, args.name))
    running = [b for b in lifecycle.list_boards(args.root) if b["alive"]]
    if len(running) == 1:
        return running[0]["state"]
    if not running:
        raise _user_error("no virtual board is running under %s; start one with `scanmail board start`" % args.root)
    raise _user_error("%d boards are running (%s): name one, or give --state DIR"
                      % (len(running), ", ".join(b["name"] for b in running)))


def do_start(args):
    try:
        info, _proc = lifecycle.start_board(
            args.profile, args.runtime, args.state, args.ip, args.name, args.tenant_state, args.fast,
            root=args.root, clock_set=not args.clock_unset,
            romfs_bytes=args.romfs_kb * 1024 if args.romfs_kb is not None else None,
        )
    except lifecycle.VirtualBoardError as exc:
        raise _user_error(str(exc))
    except OSError as exc:   # --state or --root names a file, or a folder we may not write
        raise _user_error("cannot keep the board's state in %s (%s); give a folder with --state DIR or --root DIR"
                          % (exc.filename or args.state or args.root, exc.strerror or exc))
    print("board %s (%s, %s runtime) on %s, ip %s, flash %s" % (
        info["name"], info["profile"], info["runtime"], info["port"], info["ip"], info["flash"]))
    print("state: %s   stop: scanmail board stop --state %s" % (info["state"], info["state"]))
    return 0


def do_stop(args):
    state_dir = _state_dir(args)
    try:
        info = lifecycle.stop_board(state_dir)
    except lifecycle.VirtualBoardError as exc:
        raise _user_error(str(exc))
    if info.get("stopped"):
        print("board %s was already stopped; its flash and NVS are in %s (start it again with "
              "`scanmail board start --state %s`)" % (info["name"], state_dir, state_dir))
        return 0
    print("stopped board %s (was on %s); its flash and NVS stay in %s" % (info["name"], info["port"], state_dir))
    return 0


def do_reset(args):
    try:
        info = lifecycle.reset_board(_state_dir(args), download=args.download)
    except lifecycle.VirtualBoardError as exc:
        raise _user_error(str(exc))
    if args.download:
        print("board %s on %s is in the ROM's download mode (BOOT held through the reset): run esptool with "
              "--before no-reset --no-stub; `scanmail board reset %s` boots it again" % (info["name"], info["port"],
                                                                                        info["name"]))
        return 0
    print("hard reset sent to board %s on %s" % (info["name"], info["port"]))
    return 0


def do_press(args):
    from scanmail.emulator.boards import buttons

    hold = True if args.hold else (False if args.release else None)
    try:
        entry = buttons.press(_state_dir(args), args.button, hold)
    except buttons.ButtonError as exc:
        raise _user_error(str(exc))
    print("%s button %s" % (args.button, "held down" if hold else ("released" if hold is False else
                                                                 "pressed (%d presses so far)" % entry["presses"])))
    return 0


def do_power_cut(args):
    try:
        info = lifecycle.power_cut_board(_state_dir(args))
    except lifecycle.VirtualBoardError as exc:
        raise _user_error(str(exc))
    print("power cut on board %s (%s): it powers on again; flash and NVS keep what was written"
          % (info["name"], info["port"]))
    return 0


def do_list(args):
    boards = lifecycle.list_boards(args.root, include_stopped=args.all and not args.ports)
    if args.ports:
        for board in boards:
            if board["alive"]:
                print(board["port"])
        return 0
    if not boards:
        print("no virtual boards under %s" % args.root)
        return 0
    from scanmail.host_tools.tables import render

    def alive(b):
        if b["alive"]:
            return "yes"
        if b.get("stopped"):
            return "stopped (start: scanmail board start --state %s)" % b["state"]
        return "no (stale: scanmail board stop %s)" % b["name"]

    rows = [[b["name"], b.get("profile"), b.get("runtime"), b.get("ip"), b.get("port") or "-",
             b.get("pid") or "-", alive(b)] for b in boards]
    print(render(["name", "profile", "runtime", "ip", "port", "pid", "alive"], rows))
    return 0


def do_net(args):
    changes = {}
    if args.block_port or args.unblock_port:
        current = set(netswitches.board_state.read_net_switches(_state_dir(args)).get("block_ports", []))
        current |= set(args.block_port or [])
        current -= set(args.unblock_port or [])
        changes["block_ports"] = sorted(current)
    for key in ("block_mode", "latency_ms", "bandwidth_kbps", "drop_after_bytes"):
        value = getattr(args, key)
        if value is not None:
            changes[key] = value
    state_dir = _state_dir(args)
    if not os.path.isdir(state_dir):
        raise _user_error("%s is not a board state folder; `scanmail board list` shows the boards" % state_dir)
    try:
        switches = netswitches.update(state_dir, changes, clear=args.clear)
    except netswitches.SwitchError as exc:
        raise _user_error(str(exc))
    print("%s: %s" % (os.path.basename(state_dir), netswitches.describe(switches)))
    return 0


def register(parser):
    parser.epilog = EXAMPLES
    import argparse

    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    sub = parser.add_subparsers(dest="board_command", metavar="ACTION")

    def add(name, handler, help_text, named=True):
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.add_argument("--root", default=lifecycle.DEFAULT_ROOT,
                       help="folder holding one state folder per board (default: %(default)s)")
        if named:
            p.add_argument("name", nargs="?", help="board name (a folder under --root)")
            p.add_argument("--state", metavar="DIR", help="the board's state folder")
        p.set_defaults(handler=handler)
        return p

    start = sub.add_parser("start", help="start a virtual board in the background",
                           description="Start a virtual board; prints its serial port (a /dev/pts/N).")
    start.add_argument("--profile", help="board profile id (hardware/boards/<id>.toml); required for a new "
                                         "board, left out to restart a stopped one with --state DIR")
    start.add_argument("--runtime", choices=("micropython", "cpython", "auto"), default="auto",
                       help="micropython: the unix port (default when installed); cpython: fallback")
    start.add_argument("--state", metavar="DIR", help="state folder (default: <root>/<name>)")
    start.add_argument("--root", default=lifecycle.DEFAULT_ROOT, help="default: %(default)s")
    start.add_argument("--ip", help="the board's address in 127.0.0.0/8 (default: first free from 127.0.0.20)")
    start.add_argument("--name", help="board name (default: <profile>-<last octet of ip>)")
    start.add_argument("--tenant-state", metavar="DIR", help="state folder of the fake tenant (its endpoints.json)")
    start.add_argument("--fast", action="store_true",
                       help="no baud-rate pacing and no input-buffer drops (CI speed)")
    start.add_argument("--clock-unset", action="store_true",
                       help="power on with the RTC unset until the firmware runs NTP (default: set)")
    start.add_argument("--romfs-kb", type=int, metavar="KB",
                       help="give the board a ROMFS partition of KB kilobytes (as MicroPython >= 1.25 with a "
                            "romfs partition; default: none)")
    start.set_defaults(handler=do_start)

    add("stop", do_stop, "stop a virtual board (its flash and NVS stay)")
    reset = add("reset", do_reset, "hard-reset a virtual board (as the EN button: boot.py, then main.py)")
    reset.add_argument("--download", "--bootloader", action="store_true",
                       help="hold BOOT (GPIO0) through the reset: the ROM's serial download mode, for esptool")
    press = add("press", do_press, "press a board's button (scan), or hold it down at boot for safe mode")
    press.add_argument("button", choices=("scan",), help="which button")
    held = press.add_mutually_exclusive_group()
    held.add_argument("--hold", action="store_true", help="hold it down (until --release)")
    held.add_argument("--release", action="store_true", help="let go of a held button")
    add("power-cut", do_power_cut, "cut a board's power at once (the runtime is killed), then power it on")
    lst = add("list", do_list, "list virtual boards", named=False)
    lst.add_argument("--ports", action="store_true", help="print only the ports of running boards")
    lst.add_argument("--all", action="store_true", help="also the stopped boards (they keep their state)")

    net = add("net", do_net, "set a board's network switches (they apply to its next connection)")
    net.add_argument("--block-port", type=int, action="append", metavar="PORT",
                     help="block outbound connections to PORT (repeatable), e.g. 25")
    net.add_argument("--unblock-port", type=int, action="append", metavar="PORT")
    net.add_argument("--block-mode", choices=netswitches.BLOCK_MODES,
                     help="refuse (default) or timeout, as a firewall that drops packets")
    net.add_argument("--latency-ms", type=int, metavar="MS", help="added round-trip time (0: none)")
    net.add_argument("--bandwidth-kbps", type=int, metavar="KBPS", help="bandwidth cap each way (0: none)")
    net.add_argument("--drop-after-bytes", type=int, metavar="N", help="links die after N bytes (0: never)")
    net.add_argument("--clear", action="store_true", help="start from a clean network")
    return parser
