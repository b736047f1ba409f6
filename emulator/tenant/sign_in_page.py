# The pages a person sees at the fake Entra ID's verification URI (`<login>/devicelogin`): enter the
# code, sign in as a mailbox with its password, consent to the app's permission, done. Rules: plain
# HTML forms that work without JavaScript; every value shown is escaped; a password is never put
# back into a page; a step carries the code and who signed in in a server-side flow, not in the form.
import html
import secrets
import threading

PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:sans-serif;max-width:26em;margin:4em auto}} input{{display:block;margin:.5em 0;
width:100%}} .error{{color:#a80000}}</style></head>
<body><h1>{title}</h1>{body}</body></html>
"""


def page(title, body):
    return PAGE.format(title=html.escape(title), body=body).encode("utf-8")


def _error(text):
    return '<p class="error" id="error">%s</p>' % html.escape(text) if text else ""


def enter_code(error=""):
    return page("Enter code", _error(error) + """
<p>Enter the code displayed on your device.</p>
<form method="post" action="/devicelogin"><input name="otc" id="otc" autocomplete="off" placeholder="Code">
<input type="submit" id="next" value="Next"></form>""")


def sign_in(flow, app_name, error=""):
    return page("Sign in", _error(error) + """
<p>Sign in to continue to <b id="app">%s</b>.</p>
<form method="post" action="/devicelogin/signin"><input type="hidden" name="flow" value="%s">
<input name="login" id="login" type="email" placeholder="Email">
<input name="passwd" id="passwd" type="password" placeholder="Password">
<input type="submit" id="signin" value="Sign in"></form>""" % (html.escape(app_name), html.escape(flow)))


def consent(flow, app_name, address):
    return page("Permissions requested", """
<p>Are you trying to sign in to <b id="app">%s</b> as <b id="user">%s</b>? Only continue if you
downloaded the app or set up the device yourself.</p>
<p>This app would like to: <b>Send email as you (SMTP.Send)</b>; maintain access to data you have
given it access to.</p>
<form method="post" action="/devicelogin/consent"><input type="hidden" name="flow" value="%s">
<input type="submit" name="accept" id="accept" value="Accept">
<input type="submit" name="cancel" id="cancel" value="Cancel"></form>""" % (
        html.escape(app_name), html.escape(address), html.escape(flow)))


def finished(app_name, approved):
    if approved:
        return page("Signed in", '<p id="done">You have signed in to the %s application on your device. '
                                 'You may now close this window.</p>' % html.escape(app_name))
    return page("Sign-in cancelled", '<p id="done">You have declined to sign in to %s on your device. '
                                     'You may now close this window.</p>' % html.escape(app_name))


class Flows:
    """Server-side state of half-finished sign-ins: flow id -> {"code", "user"}."""

    def __init__(self):
        self._flows = {}
        self._lock = threading.Lock()

    def start(self, user_code):
        flow = secrets.token_urlsafe(24)
        with self._lock:
            if len(self._flows) > 1000:     # abandoned flows never grow the fake without bound
                self._flows.clear()
            self._flows[flow] = {"code": user_code, "user": None}
        return flow

    def get(self, flow):
        with self._lock:
            return self._flows.get(flow or "")

    def end(self, flow):
        with self._lock:
            self._flows.pop(flow or "", None)
