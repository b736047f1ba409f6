# `scanmail ports`: the serial ports boards hang on, with their USB IDs, bridge and a guess of the
# board, plus running virtual boards. Rule: only lists (host_tools/serial_ports.py); never opens a
# port.
import json

from scanmail.emulator.boards.lifecycle import DEFAULT_ROOT
from scanmail.host_tools import serial_ports, terminal

EXAMPLES = """examples:
  scanmail ports
  scanmail ports --json
  scanmail ports --boards-dir .state/boards --boards-dir /tmp/lab/boards
"""


def do_ports(args):
    rows = serial_ports.all_ports(args.boards_dir or [DEFAULT_ROOT])
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    if not rows:
        print("no serial port found: plug the board in (a data cable, not a charge-only one), or start a "
              "virtual board with `scanmail board start`")
        return 1
    terminal.print_table(["port", "USB ID", "bridge", "board (guess)"],
                         [[r["port"], r["usb"] or "-", r["bridge"] or "-", r["board"] or r["description"] or "-"]
                          for r in rows])
    return 0


def register(parser):
    parser.epilog = EXAMPLES
    parser.add_argument("--json", action="store_true", help="print a JSON list")
    parser.add_argument("--boards-dir", action="append", metavar="DIR",
                        help="where virtual boards keep their state (default .state/boards; repeatable)")
    parser.set_defaults(handler=do_ports)
