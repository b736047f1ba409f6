# `scanmail secret set NAME --port P` and `scanmail secret status --port P`: a board's secrets
# (password, Wi-Fi password, a relay's client key...), which live in its NVS and are write-only from
# outside. Rule: a value is read without echo (getpass on a terminal, one line of stdin otherwise,
# or a file for a key), goes to the board once and is never printed, logged or put in an error; what
# comes back is only "set" and a fingerprint.
import base64
import binascii
import getpass
import json
import sys

from scanmail.host_tools import terminal
from scanmail.host_tools.console_link import ConsoleLink, add_port_arguments
from scanmail.host_tools.user_error import UserError, read_user_file

EXAMPLES = """examples:
  scanmail secret set password --port /dev/ttyUSB0                asks for it, without echo
  printf '%s\\n' "$SCANNER_PASSWORD" | scanmail secret set password --port COM3
  scanmail secret set client_key --file scanner-key.pem --port /dev/ttyUSB0
  scanmail secret set oauth_key --file app-certificate-key.pem --port /dev/ttyUSB0     (app-only OAuth)
  scanmail secret set password --clear --port /dev/ttyUSB0
  scanmail secret status --port /dev/ttyUSB0

A secret never leaves the board again: `status` shows whether it is set and a fingerprint (a
salted hash, different on every board) to tell two values apart.
"""


def _key_file(path):
    """A key file (PEM or DER) as the base64 DER the board takes."""
    data = read_user_file(path)
    if data.lstrip().startswith(b"-----BEGIN"):
        body = b"".join(line for line in data.splitlines() if line and not line.startswith(b"-----"))
        try:
            data = base64.b64decode(body, validate=True)
        except binascii.Error:
            raise UserError("%s looks like PEM but its body is not base64" % path)
    return base64.b64encode(data).decode()


def read_value(name, stdin=None):
    """The secret from the person (getpass, no echo) or, when stdin is not a terminal, its first line."""
    stdin = stdin or sys.stdin
    if terminal.is_terminal(stdin):
        value = getpass.getpass("%s (not shown): " % name)
    else:
        value = stdin.readline()
        if value.endswith("\n"):
            value = value[:-1]
        if value.endswith("\r"):
            value = value[:-1]
    if not value:
        raise UserError("no value given for %s (to clear it say --clear)" % name)
    return value


def do_set(args):
    if args.clear and args.file:
        raise UserError("give --file or --clear, not both")
    if args.clear:
        value = ""
    elif args.file:
        value = _key_file(args.file) if args.name in ("client_key", "oauth_key") else _text_file(args.file)
    else:
        value = read_value(args.name)
    with ConsoleLink(args.port, args.timeout) as link:
        status = link.request("secret.set", name=args.name, value=value)
    if status.get("set"):
        print("%s set on the board (fingerprint %s)" % (args.name, status.get("fingerprint")))
    else:
        print("%s cleared on the board" % args.name)
    return 0


def _text_file(path):
    try:
        with open(path, "r", encoding="utf-8") as f:
            value = f.read().rstrip("\r\n")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError("cannot read %s: %s" % (path, getattr(exc, "strerror", None) or exc))
    if not value:
        raise UserError("%s is empty (to clear the secret say --clear)" % path)
    return value


def do_status(args):
    with ConsoleLink(args.port, args.timeout) as link:
        status = link.request("secret.status")
    if args.json:
        print(json.dumps(status, indent=2))
        return 0
    rows = [[name, "set" if s.get("set") else "not set", s.get("fingerprint") or ""]
            for name, s in sorted(status.items())]
    terminal.print_table(["secret", "state", "fingerprint"], rows)
    return 0


def register(parser):
    parser.epilog = EXAMPLES
    sub = parser.add_subparsers(dest="secret_command", metavar="ACTION")
    set_ = sub.add_parser("set", help="set a secret on the board (read without echo)", epilog=EXAMPLES,
                          description="Set a secret on the board: typed without echo on a terminal, "
                                      "else the first line of stdin, or a file with --file.",
                          formatter_class=parser.formatter_class)
    set_.add_argument("name", metavar="NAME", help="password, wifi_password, client_key, refresh_token...")
    add_port_arguments(set_)
    set_.add_argument("--file", metavar="PATH", help="read the value from a file (client_key, oauth_key: PEM or DER)")
    set_.add_argument("--clear", action="store_true", help="remove the secret from the board")
    set_.set_defaults(handler=do_set)
    status = sub.add_parser("status", help="which secrets are set, with their fingerprints", epilog=EXAMPLES,
                            description="Which secrets the board holds: set or not, and a fingerprint.",
                            formatter_class=parser.formatter_class)
    add_port_arguments(status)
    status.add_argument("--json", action="store_true", help="print the board's answer as JSON")
    status.set_defaults(handler=do_status)
