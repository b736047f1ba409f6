# `scanmail advise`: asks the site's IT person the questions of host_tools/advice.py (or takes them
# as flags) and prints which method to use, why, the settings to enter and the admin steps. Rule:
# questions are asked only on a terminal; in a script every missing answer is one error line
# naming its flag. With --port the advised settings go to the board through its console
# (config_cli.send_changes: checked on the host by the board's schema, only what differs is sent);
# secrets are never among them: the answer names the command that sets each.
import json

from scanmail.host_tools import advice
from scanmail.host_tools.user_error import UserError
from scanmail.host_tools.terminal import is_terminal

EXAMPLES = """examples:
  scanmail advise                                   answer the questions one by one
  scanmail advise --tls12 --oauth --no-outside --static-ip --per-day 200 --licensed-mailbox \\
                  --domain contoso.com --ip 203.0.113.7
  scanmail advise --no-tls12 --outside --static-ip --per-day 50 --no-licensed-mailbox --no-oauth --json
  scanmail advise --tls12 --no-oauth --outside --no-static-ip --per-day 100 --licensed-mailbox \
                  --domain contoso.com --port /dev/ttyUSB0        and write the settings to that board
"""


def _ask_yes_no(question):
    while True:
        answer = input("%s [y/n] " % question).strip().lower()
        if answer in ("y", "yes"):
            return True
        if answer in ("n", "no"):
            return False
        print("  answer y or n")


def _ask_number(question):
    while True:
        answer = input("%s " % question).strip().replace(",", "")
        if answer.isdigit():
            return int(answer)
        print("  answer a whole number, e.g. 200")


def gather(args, interactive):
    answers = {}
    for key, question, flag in advice.QUESTIONS:
        value = getattr(args, key)
        if value is None:
            if not interactive:
                raise UserError("say --%s or --no-%s (%s), or run `scanmail advise` on a terminal to be asked"
                                % (flag, flag, question.lower().rstrip("?")))
            value = _ask_yes_no(question)
        answers[key] = value
    if args.per_day is None:
        if not interactive:
            raise UserError("say --per-day N (about how many messages the device sends a day)")
        args.per_day = _ask_number("About how many messages does the device send a day?")
    if args.per_day < 0:
        raise UserError("--per-day must be 0 or more, e.g. --per-day 200")
    answers["per_day"] = args.per_day
    return answers


def render(result):
    lines = []
    if result["method"] is None:
        lines.append("method: none of the four fits this site")
    else:
        lines.append("method: %s" % result["method"])
    lines.append("")
    lines.append("why:")
    lines += ["  - " + r for r in result["reasons"]]
    if result["settings"]:
        lines.append("")
        lines.append("settings to enter on the device (scanmail config set KEY=VALUE):")
        lines += ["  %s = %s" % (k, v) for k, v in result["settings"].items()]
    if result["admin_steps"]:
        lines.append("")
        lines.append("admin steps:")
        lines += ["  %d. %s" % (i + 1, s) for i, s in enumerate(result["admin_steps"])]
    if result["ruled_out"]:
        lines.append("")
        lines.append("ruled out:")
        for method, why in result["ruled_out"].items():
            lines.append("  %s: %s" % (method, "; ".join(why)))
    return "\n".join(lines)


def board_settings(result):
    """The advised settings a board takes (its schema's keys), and the secrets left to set."""
    from scanmail.firmware.app import config_schema

    settings, secrets = {}, []
    for key, value in result["settings"].items():
        if key in config_schema.SCHEMA:
            if isinstance(value, str) and value.startswith("<"):
                raise UserError("the advice has no %s for this site yet: say --domain (and --mailbox)" % key)
            settings[key] = value
        else:
            secrets.append(key)
    return settings, secrets


def write_to_board(args, result, out):
    from scanmail.host_tools import config_cli, config_files
    from scanmail.host_tools.console_link import ConsoleLink

    settings, secrets = board_settings(result)
    config_files.check_keys(settings)
    with ConsoleLink(args.port, args.timeout) as link:
        _, config_hash, line = config_cli.send_changes(link, settings)
    then = []
    if "password" in secrets:
        then.append("scanmail secret set password --port %s" % args.port)
    if "token" in secrets:
        then.append("scanmail oauth login --port %s --tenant %s" % (args.port, args.domain))
    out({"port": args.port, "result": line, "hash": config_hash, "then": then})


def do_advise(args):
    if args.port and not args.domain:
        raise UserError("with --port say --domain (your accepted domain, e.g. contoso.com): the settings "
                        "written to the board are made from it")
    answers = gather(args, interactive=is_terminal() and not args.json)
    result = advice.recommend(answers, args.domain, args.ip, args.mailbox)
    written = []
    if args.port and result["method"]:
        write_to_board(args, result, written.append)
    if args.json:
        extra = {"written": written[0]} if written else {}
        print(json.dumps(dict(result, answers=answers, **extra), indent=2))
    else:
        print(render(result))
        if written:
            print("")
            print("written to the board on %s: %s" % (args.port, written[0]["result"]))
            for command in written[0]["then"]:
                print("then: %s" % command)
    return 0 if result["method"] else 1


def register(parser):
    parser.epilog = EXAMPLES
    for key, question, flag in advice.QUESTIONS:
        group = parser.add_mutually_exclusive_group()
        group.add_argument("--" + flag, dest=key, action="store_true", default=None, help=question)
        group.add_argument("--no-" + flag, dest=key, action="store_false", default=None, help="the opposite")
    parser.add_argument("--per-day", type=int, metavar="N", help="about how many messages the device sends a day")
    parser.add_argument("--domain", help="your accepted domain, e.g. contoso.com (fills host names and steps)")
    parser.add_argument("--ip", help="the site's static public IP (for the connector and SPF steps)")
    parser.add_argument("--mailbox", help="the mailbox or HVE account the device signs in as")
    parser.add_argument("--json", action="store_true", help="print the answer as JSON")
    parser.add_argument("--port", metavar="P", help="write the advised settings to the board on this port")
    parser.add_argument("--timeout", type=float, default=20.0, metavar="S", help="seconds to wait for the board")
    parser.set_defaults(handler=do_advise)
