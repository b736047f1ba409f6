# `scanmail oauth login --port P`: sign a board in to Microsoft 365 by device code from the host.
# The host asks the board's running scanner application over its serial console (`oauth.login`):
# the board itself asks Entra ID for a code (its firmware, firmware/oauth.py, over its own network
# and TLS), the host shows the code, the URL and a QR code of the URL in the terminal, and the
# board polls at the server's interval until a person has signed in at that page while the host
# reads `oauth.status`; the refresh token goes into the board's secret store (NVS), never through
# the host. Rules: user mistakes and refusals end as one line saying what to do (UserError);
# nothing secret is printed.
import time

DEFAULT_CLIENT_ID = "5ca9a11e-0000-4000-8000-000000000001"
STATUS_EVERY_S = 1.0


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
    login.add_argument("--tenant", help="your Microsoft 365 domain or tenant id, e.g. contoso.com (sets the "
                                        "board to send with OAuth; without it the board's configuration says)")
    login.add_argument("--client-id", default=None,
                       help="the app registration's client id (default with --tenant: scanmail-scanner)")
    login.add_argument("--ca-on-board", metavar="PATH",
                       help="a DER CA file already on the board to trust instead of the bundled roots")
    login.set_defaults(handler=do_login)


def do_login(args, out=None, sleep=time.sleep):
    import sys

    from scanmail.host_tools.console_client import ConsoleClient, ConsoleError

    out = out or sys.stdout
    try:
        board = ConsoleClient(args.port, timeout_s=30)
    except Exception as exc:             # the serial layer's own text says what to check
        raise _user_error(str(exc))
    try:
        changes = {}
        if args.tenant:
            changes = {"auth": "xoauth2", "oauth_mode": "device", "oauth_tenant": args.tenant,
                       "oauth_client_id": args.client_id or DEFAULT_CLIENT_ID}
        elif args.client_id:
            changes = {"oauth_client_id": args.client_id}
        if args.ca_on_board:
            changes["ca_path"] = args.ca_on_board
        if changes:
            board.request("config.set", changes=changes)
        started = board.request("oauth.login")
        show_code(started, out)
        deadline = time.monotonic() + started["expires_in"] + 60
        status = board.request("oauth.status")
        while status["state"] == "signing_in" and time.monotonic() < deadline:
            sleep(STATUS_EVERY_S)
            status = board.request("oauth.status")
    except ConsoleError as exc:
        if exc.code == "timeout":
            raise _user_error("the scanner application does not answer on %s: install it (scanmail flash), "
                              "reset the board and try again" % args.port)
        if exc.code == "not_configured":
            raise _user_error("the board is not set to send with OAuth: give --tenant (your domain, e.g. "
                              "contoso.com)")
        raise _user_error("the sign-in could not start: %s" % exc)
    finally:
        board.close()
    if status["state"] != "signed_in":
        error = status.get("error") or {}
        raise _user_error("not signed in: %s; %s" % (error.get("text", status["state"]),
                                                     error.get("what_to_do", "start the sign-in again")))
    out.write("Signed in as %s. The board keeps this sign-in; sends use OAuth (XOAUTH2).\n" % status["user"])
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
