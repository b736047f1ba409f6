# The demo's second act, after December 2026: an admin's tenant has Basic authentication for SMTP
# AUTH turned off (as Exchange Online does by default from the end of December 2026). The lobby
# scanner's password is refused; the lobby's application signs in by device code (its console's
# oauth.login, as `scanmail oauth login` asks it), which a person approves through the fake Entra
# ID's sign-in page (its HTML forms, posted as a browser posts them), while the board polls at the
# server's interval; its scans then go over XOAUTH2; the tenant's clock moves two hours ahead, so
# the board's access token has expired by the server's clock while the board's own clock says it
# is still good: the server refuses it, the board refreshes once and the scan still goes out.
# Rule: every case is judged like the first act's (expected outcome and where it landed); the
# password and the tokens stay on the board and in the tenant, never in the demo's output.
import html.parser
import ssl
import time
import urllib.parse
import urllib.request

SCANNER_PASSWORD = "Scanner-Pass-1"     # the built-in tenant's, typed at the sign-in page (never printed)
OAUTH_CONFIG = {"auth": "xoauth2", "oauth_mode": "device", "oauth_tenant": "contoso.com",
                "oauth_client_id": "5ca9a11e-0000-4000-8000-000000000001"}
SIGN_IN_WAIT_S = 60


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


def run_act(tenant, console, progress, run_case):
    """The second act on the lobby board's console. run_case(case, oauth) configures the lobby
    (its password, or OAuth), presses scan and judges the outcome as the first act's cases."""
    progress.step("after December 2026: the tenant turns Basic authentication for SMTP AUTH off")
    tenant.world.tenant.basic_auth = "disabled"
    run_case({"method": "submission", "auth": "password", "board": "lobby", "sender": "scanner@contoso.com",
              "to": "bob@contoso.com", "expect": {"outcome": "refused", "enhanced": "5.7.139"}})
    console.request("config.set", changes=OAUTH_CONFIG)
    started = console.request("oauth.login")
    progress.step("lobby asks to sign in: %s" % started["message"])
    page = approve_through_sign_in_page(started["verification_uri"], tenant.ca_pem_path, started["user_code"],
                                        "scanner@contoso.com", SCANNER_PASSWORD)
    progress.step("a person signed in at the sign-in page as scanner@contoso.com and accepted (%s)"
                  % ("the page says signed in" if "You have signed in" in page else "the page says NOT signed in"))
    deadline = time.monotonic() + SIGN_IN_WAIT_S
    status = console.request("oauth.status")
    while status["state"] == "signing_in" and time.monotonic() < deadline:
        time.sleep(0.2)
        status = console.request("oauth.status")
    progress.step("lobby polled at the server's interval (%d s): %s as %s"
                  % (started["interval"], status["state"], status.get("user")))
    run_case({"method": "submission", "auth": "OAuth", "board": "lobby", "sender": "scanner@contoso.com",
              "to": "bob@contoso.com", "expect": {"outcome": "delivered", "where": "bob@contoso.com/Inbox"}}, True)
    tenant.clock.advance(2 * 3600)
    progress.step("the tenant's clock moves two hours ahead: the lobby's access token has expired")
    run_case({"method": "submission", "auth": "OAuth, 2 h later", "board": "lobby", "sender": "scanner@contoso.com",
              "to": "bob@contoso.com", "expect": {"outcome": "delivered", "where": "bob@contoso.com/Inbox"}}, True)
