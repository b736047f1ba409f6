# The `scanmail` command line. A table maps each command group to the module that owns it; each
# module exposes `register(subparsers)` and its handlers take the parsed arguments. Errors end as
# one line `scanmail: message` and a non-zero exit.
import argparse
import importlib
import sys

# group name -> (module, one-line help). Modules are imported only when their group is used, so a
# broken or missing part never stops the others from working.
COMMAND_GROUPS = {
    "o365": ("emulator.tenant.cli", "run the fake Exchange Online tenant and read its message trace"),
    "board": ("emulator.boards.cli", "start, stop and list virtual boards"),
    "demo": ("emulator.demo", "the whole story end to end on the built-in tenant"),
}

EPILOG = """examples:
  scanmail demo                         send a sample scan through every Microsoft 365 option
  scanmail o365 serve --state .state    run the fake tenant until Ctrl-C
  scanmail o365 trace --state .state    show its message trace
  scanmail board start --profile esp32-devkitc
"""


class UserError(Exception):
    """An error the user can fix; printed as one line, exit status 2."""


def build_parser():
    parser = argparse.ArgumentParser(
        prog="scanmail",
        description="Scan-to-email for Microsoft 365: firmware, emulator and serial tools.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="group", metavar="COMMAND")
    for name, (module_name, help_text) in COMMAND_GROUPS.items():
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            if exc.name and module_name.startswith(exc.name):
                continue  # that part is not built yet
            raise
        module.register(sub.add_parser(name, help=help_text, description=help_text))
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
    except KeyboardInterrupt:
        print("scanmail: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    # Run through the package's own module so that `UserError` raised by a command group is the
    # class main() catches (under `python -m`, this file is a second module named __main__).
    from host_tools.cli import main as package_main

    sys.exit(package_main())
