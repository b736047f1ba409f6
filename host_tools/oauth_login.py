# `scanmail oauth login --port P`: sign a board in to Microsoft 365 by device code from the host.
# The board itself asks Entra ID for a code (its firmware, firmware/oauth.py, over its own network
# and TLS), the host shows the code, the URL and a QR code of the URL in the terminal, and the
# board polls until a person has signed in at that page; the refresh token goes into the board's
# secret store (NVS namespace "scanmail"), never through the host. Rules: user mistakes and
# refusals end as one line saying what to do (UserError); nothing secret is printed.
import json

DEFAULT_CLIENT_ID = "5ca9a11e-0000-4000-8000-000000000001"

START = """
import json
from scanmail.firmware.board import open_board
from scanmail.firmware.errors import SMTPError
from scanmail.firmware.oauth import OAuthSession
from scanmail.firmware.secret_store import NvsSecrets
_oauth_ca = None
if %(ca)r:
    _f = open(%(ca)r, 'rb'); _oauth_ca = _f.read(); _f.close()
_oauth = OAuthSession({'tenant': %(tenant)r, 'client_id': %(client_id)r, 'ca_der': _oauth_ca},
                      open_board(), NvsSecrets(%(namespace)r))
try:
    print(json.dumps(_oauth.start_sign_in()))
except SMTPError as _e:
    print(json.dumps({'error': str(_e), 'kind': _e.kind}))
"""

WAIT = """
import time
try:
    print(json.dumps({'user': _oauth.wait_for_sign_in(time.sleep), 'state': _oauth.state}))
except SMTPError as _e:
    print(json.dumps({'error': str(_e), 'kind': _e.kind, 'state': _oauth.state}))
"""


def _user_error(message):
    from scanmail.host_tools.user_error import UserError
    return UserError(message)


def register(parser):
    sub = parser.add_subparsers(dest="oauth_command", metavar="COMMAND")
    login = sub.add_parser(
        "login", help="sign a board in by device code (shows the code, the URL and a QR code)",
        description="Sign a board in to Microsoft 365 (OAuth 2.0 device code): the board asks for a "
                    "code, you open the page on a phone or computer, type the code and sign in as the "
                    "scanner's mailbox; the board keeps the sign-in for months.",
        epilog="examples:\n"
               "  scanmail oauth login --port /dev/ttyUSB0 --tenant contoso.com\n"
               "  scanmail oauth login --port /dev/pts/5 --tenant contoso.com --ca-on-board /ca.der",
        formatter_class=__import__("argparse").RawDescriptionHelpFormatter)
    login.add_argument("--port", required=True, help="the board's serial port, e.g. /dev/ttyUSB0 or COM3")
    login.add_argument("--tenant", required=True, help="your Microsoft 365 domain or tenant id, e.g. contoso.com")
    login.add_argument("--client-id", default=DEFAULT_CLIENT_ID,
                       help="the app registration's client id (default: scanmail-scanner)")
    login.add_argument("--ca-on-board", metavar="PATH",
                       help="a DER CA file already on the board to trust instead of the bundled roots")
    login.add_argument("--namespace", default="scanmail", help="the board's NVS namespace for secrets")
    login.set_defaults(handler=do_login)


def do_login(args, out=None):
    import sys

    from scanmail.host_tools.raw_repl import DeviceError, ReplError, RawRepl

    out = out or sys.stdout
    try:
        repl = RawRepl(args.port, read_timeout_s=60)
    except Exception as exc:             # the serial layer's own text says what to check
        raise _user_error(str(exc))
    try:
        try:
            repl.enter()
            started = _last_json(repl.exec(START % {"tenant": args.tenant, "client_id": args.client_id,
                                                    "ca": args.ca_on_board, "namespace": args.namespace},
                                           timeout_s=60))
        except DeviceError as exc:
            raise _user_error("the board could not start the sign-in (%s): install the firmware first "
                              "(it needs firmware/oauth.py)" % exc)
        if "error" in started:
            raise _user_error("the sign-in could not start: %s" % started["error"])
        show_code(started, out)
        waited = _last_json(repl.exec(WAIT, timeout_s=started.get("expires_in", 900) + 60))
    except ReplError as exc:
        raise _user_error("the board stopped answering on %s (%s): reset it and try again" % (args.port, exc))
    finally:
        repl.close()
    if "error" in waited:
        raise _user_error("not signed in: %s" % waited["error"])
    out.write("Signed in as %s. The board keeps this sign-in; sends use OAuth (XOAUTH2).\n" % waited["user"])
    return 0


def show_code(started, out):
    out.write("To sign the board in, open %s on a phone or computer and enter the code\n\n    %s\n\n"
              % (started["verification_uri"], started["user_code"]))
    try:
        import segno
    except ImportError:
        segno = None
    if segno is not None:
        segno.make(started["verification_uri"]).terminal(out=out, compact=True)
    out.write("\nWaiting for the sign-in (the code expires in %d minutes)...\n" % (started["expires_in"] // 60))
    out.flush()


def _last_json(text):
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            return json.loads(line)
    raise _user_error("the board's answer was not understood: %r" % text[-200:])
