# Runs on BOTH runtimes (MicroPython unix port and CPython), imported by test snippets: drives the
# sans-I/O SmtpClient against a scripted server that answers each command with a canned reply and
# feeds every reply ONE BYTE AT A TIME (or, with "delivery": "whole", each reply in one read, as
# a server that writes several lines at once is read). Prints nothing itself; run() returns a JSON string with
# the commands the server saw and the outcome, which the pytest side compares.
import json

from scanmail.firmware import smtp_protocol as sp
from scanmail.firmware.errors import SMTPError

EHLO_BEFORE_TLS = ("250-smtp.example Hello [127.0.0.20]\r\n250-SIZE 157286400\r\n250-PIPELINING\r\n"
                   "250-ENHANCEDSTATUSCODES\r\n250-STARTTLS\r\n250 8BITMIME\r\n")
EHLO_AFTER_TLS = ("250-smtp.example Hello [127.0.0.20]\r\n250-SIZE 157286400\r\n250-PIPELINING\r\n"
                  "250-ENHANCEDSTATUSCODES\r\n250-AUTH LOGIN XOAUTH2\r\n250 8BITMIME\r\n")
DEFAULT_REPLIES = {
    "greeting": "220 smtp.example Microsoft ESMTP MAIL Service ready\r\n",
    "ehlo": EHLO_BEFORE_TLS,
    "ehlo_tls": EHLO_AFTER_TLS,
    "starttls": "220 2.0.0 SMTP server ready\r\n",
    "auth": ["334 UGFzc3dvcmQ6\r\n", "235 2.7.0 Authentication successful\r\n"],
    "mail": "250 2.1.0 Sender OK\r\n",
    "rcpt": ["250 2.1.5 Recipient OK\r\n"],
    "data": "354 Start mail input; end with <CRLF>.<CRLF>\r\n",
    "dot": "250 2.0.0 OK <id@example> [Hostname=EXAMPLE]\r\n",
    "bdat": "250 2.0.0 OK <id@example> [Hostname=EXAMPLE]\r\n",
    "quit": "221 2.0.0 Service closing transmission channel\r\n",
}


def _reply_for(state, line, replies):
    verb = line.split(" ")[0].upper()
    if state["auth_pending"]:
        return replies["auth"].pop(0)
    if verb == "EHLO":
        return replies["ehlo_tls"] if state["tls"] else replies["ehlo"]
    if verb == "STARTTLS":
        return replies["starttls"]
    if verb == "AUTH":
        return replies["auth"].pop(0)
    if verb == "MAIL":
        return replies["mail"]
    if verb == "RCPT":
        rcpt = replies["rcpt"]
        return rcpt.pop(0) if len(rcpt) > 1 else rcpt[0]
    if verb == "DATA":
        return replies["data"]
    if line == ".":
        return replies["dot"]
    if verb == "QUIT":
        return replies["quit"]
    return "500 5.3.3 Unrecognized command\r\n"


def run(spec):
    replies = dict(DEFAULT_REPLIES)
    for key in spec.get("replies", {}):
        replies[key] = spec["replies"][key]
    replies["auth"] = list(replies["auth"])
    replies["rcpt"] = list(replies["rcpt"])
    args = spec.get("client", {})
    client = sp.SmtpClient({"ehlo_name": args.get("ehlo_name", "scanner-3f2a"),
                            "tls": args.get("tls", "starttls"), "auth": args.get("auth", "login"),
                            "username": args.get("username", "scanner@contoso.com"),
                            "password": args.get("password", "Scanner-Pass-1"),
                            "token": args.get("token"),
                            "secrets": args.get("secrets", ["Scanner-Pass-1"]),
                            "method": args.get("method", "submission"), "port": 587})
    client.set_transaction("scanner@contoso.com", spec.get("rcpts", ["alice@contoso.com"]),
                           spec.get("size", 1000), spec.get("binary_size"))
    state = {"tls": False, "auth_pending": False}
    commands = []
    writes = []
    pieces = []                   # bytes of an unfinished line after each write that left one
    due = [replies["greeting"]]
    pending = b""                 # a long line (XOAUTH2) arrives in pieces: its start, until CRLF
    outcome = None
    error = None
    try:
        while outcome is None:
            event = client.next_event()
            if event == sp.SEND:
                out = pending + bytes(client.take_output())
                writes.append(len(out.split(b"\r\n")) - 1)
                pending = out.split(b"\r\n")[-1]
                if pending:
                    pieces.append(len(pending))
                for raw in out.split(b"\r\n")[:-1]:
                    line = raw.decode()
                    commands.append(line)
                    if state["auth_pending"] or line.upper().startswith("AUTH"):
                        reply = _reply_for(state, line, replies)
                        state["auth_pending"] = reply.startswith("334")
                    else:
                        reply = _reply_for(state, line, replies)
                    if reply is not None:
                        due.append(reply)
            elif event == sp.NEED_DATA:
                if not due:
                    client.connection_closed()
                    continue
                chunk = due.pop(0).encode()
                if spec.get("delivery") == "whole":   # one read: as a server writes it at once
                    client.receive_data(chunk)
                    continue
                for i in range(len(chunk)):
                    client.receive_data(chunk[i:i + 1])
            elif event == sp.START_TLS:
                state["tls"] = True
                commands.append("<tls>")
                client.tls_started()
            elif event == sp.SEND_MESSAGE:
                if client.body_command:           # BDAT: the command rides just before the data
                    commands.append(client.body_command.decode().strip())
                    due.append(replies["bdat"])
                commands.append("<binary message>" if client.binary else "<message>")
                client.message_sent()
            else:
                outcome = {sp.DONE: "done", sp.ABORT: "abort", sp.FAILED: "failed"}[event]
                if event != sp.DONE:
                    raise client.failure
    except SMTPError as err:
        outcome = outcome or "raised"
        error = {"stage": err.stage, "code": err.code, "enhanced": err.enhanced,
                 "transient": err.transient, "kind": err.kind, "text": err.text,
                 "str": str(err), "cls": type(err).__name__}
    return json.dumps({"commands": commands, "writes": writes, "pieces": pieces, "outcome": outcome,
                       "error": error, "result": client.result()})
