# The demo's second act, after December 2026: an admin's tenant has Basic authentication for SMTP
# AUTH turned off (as Exchange Online does by default from the end of December 2026). The lobby
# scanner's password is refused; the scanner signs in by device code (firmware/oauth.py on the
# board), which a person approves through the fake Entra ID's sign-in page (its HTML forms, posted
# as a browser posts them); it sends over XOAUTH2; the tenant's clock moves two hours ahead, so
# the board's access token has expired by the server's clock while the board's own clock says it
# is still good: the server refuses it, the board refreshes once and the scan still goes out.
# Rule: every case is judged like the first act's (expected outcome and where it landed); the
# password and the tokens stay on the board and in the tenant, never in the demo's output.
import html.parser
import json
import ssl
import urllib.parse
import urllib.request

SCANNER_PASSWORD = "Scanner-Pass-1"     # the built-in tenant's, typed at the sign-in page (never printed)

SIGN_IN = """
import json
from scanmail.firmware.board import open_board
from scanmail.firmware.errors import SMTPError
from scanmail.firmware.oauth import OAuthSession
from scanmail.firmware.oauth_send import send_signed_in
from scanmail.firmware.secret_store import NvsSecrets
from scanmail.firmware.mail import Message
_board = open_board()
_root = _board.storage_root.rstrip('/') + '/'
_f = open(_root + %(ca)r, 'rb'); _ca = _f.read(); _f.close()
_oauth = OAuthSession({'tenant': 'contoso.com', 'client_id': '5ca9a11e-0000-4000-8000-000000000001',
                       'ca_der': _ca}, _board, NvsSecrets('scanmail'))
_oauth.sign_out()
print(json.dumps(_oauth.start_sign_in()))
"""

WAIT = """
import time
print(json.dumps({'user': _oauth.wait_for_sign_in(time.sleep), 'state': _oauth.state}))
"""

SEND = """
_msg = Message(sender=%(sender)r, to=[%(to)r], cc=[], subject=%(subject)r, body=%(body)r,
               attachments=[(_root + %(scan)r, 'sample-0001.pdf', 'application/pdf')])
try:
    _r = send_signed_in({'method': 'submission', 'ca_der': _ca}, _msg, _board, _oauth)
    print(json.dumps({'ok': True, 'reply': _r['reply'], 'refreshes': _oauth.refreshes}))
except SMTPError as _e:
    _cause, _todo = _e.diagnosis()
    print(json.dumps({'ok': False, 'stage': _e.stage, 'code': _e.code, 'enhanced': _e.enhanced,
                      'text': _e.text, 'transient': _e.transient, 'cause': _cause, 'todo': _todo}))
"""


class _FormFields(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.fields = {}

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "input" and attrs.get("type") == "hidden":
            self.fields[attrs.get("name")] = attrs.get("value", "")


def approve_through_sign_in_page(verification_uri, ca_pem, user_code, address, password):
    """What a person does in a browser: the code, the mailbox and its password, Accept.
    -> the last page's text."""
    context = ssl.create_default_context(cafile=ca_pem)

    def post(path, form):
        data = urllib.parse.urlencode(form).encode()
        with urllib.request.urlopen(verification_uri + path, data=data, context=context, timeout=30) as page:
            text = page.read().decode("utf-8")
        fields = _FormFields()
        fields.feed(text)
        return text, fields.fields

    _, hidden = post("", {"otc": user_code})
    _, hidden = post("/signin", {"flow": hidden.get("flow", ""), "login": address, "passwd": password})
    text, _ = post("/consent", {"flow": hidden.get("flow", ""), "accept": "Accept"})
    return text


def run_act(tenant, repl, progress, ca_path, run_case):
    """The second act on the lobby board (`repl`). run_case(case, code) sends on the board with the
    given code (None: the first act's password send) and judges it as the first act's cases."""
    progress.step("after December 2026: the tenant turns Basic authentication for SMTP AUTH off")
    tenant.world.tenant.basic_auth = "disabled"
    run_case({"method": "submission", "auth": "password", "board": "lobby", "sender": "scanner@contoso.com",
              "to": "bob@contoso.com", "expect": {"outcome": "refused", "enhanced": "5.7.139"}}, None)
    started = json.loads(repl.exec(SIGN_IN % {"ca": ca_path}, timeout_s=60).strip().splitlines()[-1])
    progress.step("lobby asks to sign in: %s" % started["message"])
    page = approve_through_sign_in_page(started["verification_uri"], tenant.ca_pem_path, started["user_code"],
                                        "scanner@contoso.com", SCANNER_PASSWORD)
    progress.step("a person signed in at the sign-in page as scanner@contoso.com and accepted (%s)"
                  % ("the page says signed in" if "You have signed in" in page else "the page says NOT signed in"))
    waited = json.loads(repl.exec(WAIT, timeout_s=60).strip().splitlines()[-1])
    progress.step("lobby polled at the server's interval: %s as %s" % (waited["state"], waited["user"]))
    run_case({"method": "submission", "auth": "OAuth", "board": "lobby", "sender": "scanner@contoso.com",
              "to": "bob@contoso.com", "expect": {"outcome": "delivered", "where": "bob@contoso.com/Inbox"}}, SEND)
    tenant.clock.advance(2 * 3600)
    progress.step("the tenant's clock moves two hours ahead: the lobby's access token has expired")
    run_case({"method": "submission", "auth": "OAuth, 2 h later", "board": "lobby", "sender": "scanner@contoso.com",
              "to": "bob@contoso.com", "expect": {"outcome": "delivered", "where": "bob@contoso.com/Inbox"}}, SEND)
