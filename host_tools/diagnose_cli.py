# `scanmail diagnose "550 5.7.64 ..."`: the cause of an Exchange Online reply and what to do about
# it, from the firmware's own diagnosis table (firmware/diagnosis.py), so the board and the host
# always say the same thing. Rule: this file only turns the pasted reply into the firmware's
# SMTPError and prints the answer; the table itself lives in the firmware and nowhere else.
import json
import re

from scanmail.firmware.errors import SMTPError
from scanmail.firmware.diagnosis import diagnose
from scanmail.host_tools.user_error import UserError

EXAMPLES = """examples:
  scanmail diagnose "550 5.7.64 TenantAttribution; Relay Access Denied" --method direct_send
  scanmail diagnose "535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the Mailbox."
  scanmail diagnose "451 4.7.500 Server busy. Please try again later from [203.0.113.7]. (AS843)" --json
"""

STAGES = ("connect", "greeting", "ehlo", "starttls", "tls", "auth", "mail", "rcpt", "data",
          "end_of_data", "quit")
METHODS = ("submission", "direct_send", "relay", "hve", "custom")
# The stage a reply code points to when none is given (the catalogue in docs/exchange-online.md).
_STAGE_OF_CODE = {535: "auth", 504: "auth", 334: "auth", 530: "mail"}
_REPLY = re.compile(r"^\s*(\d{3})[ -]?((?:[245])\.\d{1,3}\.\d{1,3})?\s*(.*)$", re.S)


def parse_reply(text, stage=None, method=None):
    """An SMTPError for a pasted server reply ("550 5.7.64 text", several lines allowed: the last
    one with a code counts)."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    match = None
    for line in reversed(lines):
        match = _REPLY.match(line)
        if match:
            break
    if not match:
        raise UserError("%r is not an SMTP reply; paste the server's reply as it is, e.g. "
                        "scanmail diagnose \"550 5.7.64 TenantAttribution; Relay Access Denied\"" % text.strip()[:60])
    code = int(match.group(1))
    enhanced = match.group(2)
    rest = match.group(3).strip()
    if stage is None:
        stage = _STAGE_OF_CODE.get(code, "rcpt" if enhanced == "5.7.64" else "reply")
    return SMTPError(stage, rest, code=code, enhanced=enhanced, method=method)


def do_diagnose(args):
    err = parse_reply(" ".join(args.reply), args.stage, args.method)
    cause, todo = diagnose(err)
    if args.json:
        print(json.dumps({"code": err.code, "enhanced": err.enhanced, "stage": err.stage,
                          "method": err.method, "cause": cause, "what_to_do": todo}))
        return 0
    head = "%d %s" % (err.code, err.enhanced) if err.enhanced else "%d" % err.code
    print("reply:      %s%s" % (head, " (retry later: temporary)" if err.transient else ""))
    print("cause:      %s" % cause)
    print("what to do: %s" % todo)
    return 0


def register(parser):
    parser.epilog = EXAMPLES
    parser.add_argument("reply", nargs="+", help="the server's reply, e.g. \"550 5.7.64 ...\" (quote it)")
    parser.add_argument("--method", choices=METHODS,
                        help="the method the device used (some codes mean different things per method)")
    parser.add_argument("--stage", choices=STAGES, help="where in the session the reply came (guessed from the code)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(handler=do_diagnose)
