# `scanmail config show|get|set|import|export|validate --port P`: a running scanner's configuration
# over its serial console (host_tools/console_link.py), as key=value pairs and TOML or JSON files
# (host_tools/config_files.py). Rule: every value is checked on the host by the board's own schema
# before anything is sent, each key on its own before the port is even opened; `import` sends only
# what differs from the board; every change prints the configuration hash the board returns; an
# export holds no secret (secrets are never configuration).
import json

from scanmail.firmware.app import config_schema
from scanmail.host_tools import config_files, terminal
from scanmail.host_tools.console_link import ConsoleLink, add_port_arguments
from scanmail.host_tools.user_error import UserError

EXAMPLES = """examples:
  scanmail config show --port /dev/ttyUSB0
  scanmail config get method --port /dev/ttyUSB0
  scanmail config set method=submission username=scanner@contoso.com --port /dev/ttyUSB0
  scanmail config set address_book=alice:alice@contoso.com,bob:bob@contoso.com \\
                      default_destination=alice --port COM3
  scanmail config export lobby.toml --port /dev/ttyUSB0      settings only, never a secret
  scanmail config import lobby.toml --port /dev/ttyUSB1      sends only what differs
  scanmail config set quality=70 --port COM3 --json          {"changed": [...], "hash": ...}
  scanmail config validate lobby.toml                        checked against the defaults
  scanmail config validate lobby.toml --port /dev/ttyUSB0    checked against that board's settings

Values are checked on this computer with the board's own schema before anything is sent; the
board checks them again. Each change prints the configuration's hash, which `scanmail status`
shows too. Passwords and keys are secrets, not settings: `scanmail secret set NAME --port P`.
"""


def _shown(value):
    return value if isinstance(value, str) else json.dumps(value)


def _board_settings(link):
    return link.request("config.get")


def do_show(args):
    with ConsoleLink(args.port, args.timeout) as link:
        got = _board_settings(link)
    settings, config_hash = got["value"], got["hash"]
    if args.json:
        print(json.dumps({"settings": settings, "hash": config_hash}, indent=2))
        return 0
    defaults = config_schema.defaults()
    order = [key for key in config_schema.SCHEMA if key in settings] + sorted(set(settings) - set(config_schema.SCHEMA))
    rows = [[key, _shown(settings[key]), "" if settings[key] == defaults.get(key) else "changed"]
            for key in order]
    terminal.print_table(["setting", "value", "from default"], rows, title="configuration hash %s" % config_hash)
    return 0


def do_get(args):
    if args.key not in config_schema.SCHEMA:
        config_files.check_keys({args.key: None})          # the unknown-key or secret line
    with ConsoleLink(args.port, args.timeout) as link:
        got = link.request("config.get", key=args.key)
    if args.json:
        print(json.dumps({"key": args.key, "value": got["value"], "hash": got["hash"]}))
    else:
        print(_shown(got["value"]))
    return 0


def send_changes(link, wanted):
    """Check `wanted` against the board's settings and send what differs; -> (the keys changed,
    the new hash, a line saying so)."""
    got = _board_settings(link)
    config_files.check_against(got["value"], wanted)
    changes = config_files.changed(got["value"], wanted)
    if not changes:
        return [], got["hash"], "nothing to change: the board already has these settings (hash %s)" % got["hash"]
    result = link.request("config.set", changes=changes)
    return sorted(changes), result["hash"], "changed %s; configuration hash %s" % (", ".join(sorted(changes)),
                                                                                 result["hash"])


def _send(args, wanted):
    with ConsoleLink(args.port, args.timeout) as link:
        changed, config_hash, line = send_changes(link, wanted)
    print(json.dumps({"changed": changed, "hash": config_hash}) if args.json else line)
    return 0


def do_set(args):
    wanted = config_files.check_keys(config_files.parse_pairs(args.pairs))   # before the port opens
    return _send(args, wanted)


def do_import(args):
    wanted = config_files.check_keys(config_files.read_file(args.file, args.format))
    return _send(args, wanted)


def do_export(args):
    fmt = config_files.format_of(args.file, args.format) if args.file != "-" else (args.format or "toml")
    with ConsoleLink(args.port, args.timeout) as link:
        got = _board_settings(link)
        name = link.request("info").get("name")
    comment = ("scanmail configuration of %s (hash %s)\nsecrets are not here: scanmail secret set NAME --port P"
               % (name, got["hash"]))
    if args.file == "-":
        print(config_files.render(got["value"], fmt, comment), end="")
    else:
        config_files.write_file(args.file, got["value"], fmt, comment)
        print("wrote %s (%d settings, hash %s)" % (args.file, len(got["value"]), got["hash"]))
    return 0


def do_validate(args):
    if not args.file:
        raise UserError("give a FILE (TOML or JSON) or KEY=VALUE pairs to validate")
    if "=" not in args.file and args.pairs:
        raise UserError("give a FILE or KEY=VALUE pairs to validate, not both")
    if args.file and "=" not in args.file:
        wanted = config_files.read_file(args.file, args.format)
    else:
        wanted = config_files.parse_pairs(([args.file] if args.file else []) + args.pairs)
    wanted = config_files.check_keys(wanted)
    if not args.port:
        config_files.check_against(config_schema.defaults(), wanted)
        print("valid (against the defaults; add --port P to check against a board's settings)")
        return 0
    with ConsoleLink(args.port, args.timeout) as link:
        got = _board_settings(link)
        config_files.check_against(got["value"], wanted)
        verdict = link.request("config.validate", changes=wanted)     # the board has the last word
    if not verdict.get("valid"):
        raise UserError("the board refuses it: %s" % verdict.get("text"))
    changes = config_files.changed(got["value"], wanted)
    print("valid; importing it would change %s" % (", ".join(sorted(changes)) or "nothing"))
    return 0


def register(parser):
    parser.epilog = EXAMPLES
    sub = parser.add_subparsers(dest="config_command", metavar="ACTION")

    def action(name, handler, help_text, port=True):
        p = sub.add_parser(name, help=help_text, description=help_text, epilog=EXAMPLES,
                           formatter_class=parser.formatter_class)
        if port:
            add_port_arguments(p)
        p.set_defaults(handler=handler)
        return p

    show = action("show", do_show, "every setting of the board, and the configuration's hash")
    show.add_argument("--json", action="store_true", help="print {\"settings\": ..., \"hash\": ...}")
    get = action("get", do_get, "one setting of the board")
    get.add_argument("key", metavar="KEY", help="a setting's name, e.g. method")
    get.add_argument("--json", action="store_true", help="print {\"key\", \"value\", \"hash\"}")
    set_ = action("set", do_set, "change settings: KEY=VALUE ..., checked here, then on the board")
    set_.add_argument("pairs", nargs="+", metavar="KEY=VALUE")
    set_.add_argument("--json", action="store_true", help="print {\"changed\": [...], \"hash\": ...}")
    imp = action("import", do_import, "send a TOML or JSON file's settings (only what differs)")
    imp.add_argument("file", metavar="FILE")
    imp.add_argument("--format", choices=config_files.FORMATS, help="when the file's name does not say")
    imp.add_argument("--json", action="store_true", help="print {\"changed\": [...], \"hash\": ...}")
    exp = action("export", do_export, "write the board's settings to a TOML or JSON file (no secrets)")
    exp.add_argument("file", metavar="FILE", help="the file to write, or - for the screen")
    exp.add_argument("--format", choices=config_files.FORMATS, help="when the file's name does not say")
    val = action("validate", do_validate, "check a file or KEY=VALUE pairs without changing anything",
                 port=False)
    val.add_argument("file", nargs="?", metavar="FILE", help="a TOML or JSON file (or the first KEY=VALUE)")
    val.add_argument("pairs", nargs="*", metavar="KEY=VALUE")
    val.add_argument("--format", choices=config_files.FORMATS, help="when the file's name does not say")
    val.add_argument("--port", metavar="P", help="also check against this board's settings, and by the board")
    val.add_argument("--timeout", type=float, default=20.0, metavar="S", help="seconds to wait for the board")
