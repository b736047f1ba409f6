# The `scanmail` command line. A table maps each command group to the `register(parser)` function
# of the module that owns it (as mpremote keeps its commands); handlers take the parsed arguments.
# Errors end as one line `scanmail: message` and a non-zero exit. Rule: this is the front door;
# command groups are imported downward from here and never import it back (their error type is
# host_tools/user_error.py).
import argparse
import sys

from scanmail.emulator import demo
from scanmail.emulator.boards import cli as board_cli
from scanmail.emulator.tenant import cli as tenant_cli
from scanmail.host_tools import (advise_cli, config_cli, device_cli, diagnose_cli, flash_cli, monitor_cli,
                                 oauth_login, ports_cli, secret_cli, spf_cli)
from scanmail.host_tools.user_error import UserError

# group name -> (register function, one-line help)
COMMAND_GROUPS = {
    "o365": (tenant_cli.register, "run the fake Exchange Online tenant and read its message trace"),
    "board": (board_cli.register, "start, stop and list virtual boards"),
    "demo": (demo.register, "the whole story end to end on the built-in tenant"),
    "ports": (ports_cli.register, "list serial ports with their USB bridge and a guess of the board"),
    "flash": (flash_cli.register, "put scanmail onto boards: only what changed, verified, switched atomically"),
    "config": (config_cli.register, "a board's settings: show, get, set, import and export files, validate"),
    "secret": (secret_cli.register, "set a board's password or key (never echoed), or see which are set"),
    "status": (device_cli.register_status, "a running board's network, clock, outbox and last send"),
    "info": (device_cli.register_info, "a board's scanmail version, name, MicroPython, heap and flash"),
    "monitor": (monitor_cli.register, "a board's log, live, coloured by level (Ctrl-] leaves)"),
    "send-test": (device_cli.register_send_test, "send a test message from a board now"),
    "outbox": (device_cli.register_outbox, "a board's queued scans: list, retry a failed one, purge"),
    "logs": (device_cli.register_logs, "the log lines a board kept on its flash"),
    "reboot": (device_cli.register_reboot, "hard-reset a board and wait for scanmail to start"),
    "diagnose": (diagnose_cli.register, "the cause of an Exchange Online reply and what to do"),
    "advise": (advise_cli.register, "which method of sending a site should use, and how to set it up"),
    "spf": (spf_cli.register, "the SPF record with the device's IP merged in, checked for 10 lookups"),
    "oauth": (oauth_login.register, "sign a board in to Microsoft 365 (OAuth device code)"),
}

EPILOG = """examples:
  scanmail demo                         send a sample scan through every Microsoft 365 option
  scanmail o365 serve --state .state    run the fake tenant until Ctrl-C
  scanmail o365 trace --state .state    show its message trace
  scanmail board start --profile esp32-devkitc
  scanmail ports                        serial ports and the boards on them
  scanmail flash --port /dev/ttyUSB0    put scanmail onto a board
  scanmail config set method=submission username=scanner@contoso.com --port /dev/ttyUSB0
  scanmail secret set password --port /dev/ttyUSB0
  scanmail status --port /dev/ttyUSB0   network, clock, outbox, last send
  scanmail monitor --port /dev/ttyUSB0  the board's log, live
  scanmail diagnose "550 5.7.64 TenantAttribution; Relay Access Denied"
  scanmail advise                       which method of sending fits a site
  scanmail oauth login --port /dev/ttyUSB0 --tenant contoso.com
  scanmail --version
"""


def version():
    """The installed distribution's version (importlib.metadata), the one pip shows."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as distribution_version

    try:
        return distribution_version("scanmail")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown (not installed)"


class _VersionAction(argparse.Action):
    """--version, looked up only when asked (importlib.metadata costs every other command time)."""

    def __init__(self, option_strings, dest=argparse.SUPPRESS, default=argparse.SUPPRESS, help=None):
        super().__init__(option_strings, dest, nargs=0, default=default, help=help)

    def __call__(self, parser, namespace, values, option_string=None):
        print("scanmail " + version())
        parser.exit()


def build_parser():
    parser = argparse.ArgumentParser(
        prog="scanmail",
        description="Scan-to-email for Microsoft 365: firmware, emulator and serial tools.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action=_VersionAction, help="show the installed version and exit")
    sub = parser.add_subparsers(dest="group", metavar="COMMAND")
    for name, (register, help_text) in COMMAND_GROUPS.items():
        register(sub.add_parser(name, help=help_text, description=help_text,
                                formatter_class=argparse.RawDescriptionHelpFormatter))
    return parser


def deepest_parser(parser, args):
    """Follow the subcommands present in `args` down to the last parser that was chosen."""
    while True:
        choices = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not choices:
            return parser
        chosen = getattr(args, choices[0].dest, None)
        if chosen not in choices[0].choices:
            return parser
        parser = choices[0].choices[chosen]


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    handler = getattr(args, "handler", None)
    if handler is None:
        # `scanmail board` or `scanmail o365 fault` alone: the help of the deepest command given
        # (its actions and examples), not the top level's.
        deepest_parser(parser, args).print_help()
        return 2
    try:
        return handler(args) or 0
    except UserError as exc:
        print("scanmail: %s" % exc, file=sys.stderr)
        return 2
    except BrokenPipeError:  # `scanmail ports --json | head`: the reader left; nothing to say
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        print("scanmail: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
