# The application's OAuth sign-in (auth "xoauth2"): the firmware's OAuthSession
# (firmware/oauth.py) made from the configuration and the secret store, the device-code sign-in
# the console starts and the loop polls, and what the status shows. Rules: the board polls at the
# server's interval by its own clock and waits longer on slow_down (the session adds it); a
# declined or expired code, a refused or revoked sign-in are states with a line saying what to
# do, never a crash; "sign-in needed" holds the outbox (jobs wait, nothing is lost); nothing
# here returns or logs a token, a secret or a device code.
from scanmail.firmware.app.outbox_worker import read_ca
from scanmail.firmware.errors import SMTPError
from scanmail.firmware.oauth import SIGN_IN_NEEDED, SIGNED_OUT, SIGNING_IN, OAuthSession

_KEYS = ("auth", "method", "oauth_mode", "oauth_tenant", "oauth_client_id", "oauth_credential",
         "oauth_thumbprint", "username", "ca_path", "timeout_s")
WHAT_TO_DO = "sign in again: `scanmail oauth login --port PORT`, or the console command oauth.login"


class SignIn:
    """One per application. `session()` is None unless the configuration says auth "xoauth2"."""

    def __init__(self, app):
        self.app = app
        self._session = None
        self._made_from = None
        self.next_poll = None        # board clock time of the next device-code poll
        self.expires_at = None
        self.code = None             # {"user_code", "verification_uri", "message"} while signing in
        self.error = None            # the last sign-in failure: {"kind", "text", "what_to_do"}

    def _settings(self, values):
        settings = {"mode": values["oauth_mode"], "tenant": values["oauth_tenant"],
                    "client_id": values["oauth_client_id"], "credential": values["oauth_credential"],
                    "thumbprint": values["oauth_thumbprint"], "username": values["username"] or None,
                    "timeout_s": values["timeout_s"]}
        if values["ca_path"]:
            settings["ca_der"] = read_ca(self.app.board.storage_root, values["ca_path"])
        return settings

    def session(self):
        """The OAuthSession for the current configuration (made again when it changed), or None."""
        values = self.app.config.values
        if values["auth"] != "xoauth2" or self.app.secrets is None:
            self._session = self._made_from = None
            return None
        made_from = [values[key] for key in _KEYS]
        if self._session is None or made_from != self._made_from:
            self._session = OAuthSession(self._settings(values), self.app.board, self.app.secrets)
            self._made_from = made_from
            self.code = self.next_poll = None
        return self._session

    def waiting_for_person(self):
        """True while sends cannot go until a person signs in."""
        return self._session is not None and not self._session.usable()

    def start(self, now):
        """Ask for a device code; -> what the person needs (code, URL, message, interval, expiry)."""
        session = self.session()
        if session is None:
            raise SMTPError("sign_in", "OAuth is not configured: set auth to xoauth2 with oauth_tenant and "
                                       "oauth_client_id first", kind="settings")
        code = session.start_sign_in()
        self.next_poll = now + code["interval"]
        self.expires_at = now + code["expires_in"]
        self.code = {"user_code": code["user_code"], "verification_uri": code["verification_uri"],
                     "message": code["message"]}
        self.error = None
        self.app.log("oauth: sign-in started: open %s and enter the code shown on the console"
                     % code["verification_uri"])
        return {"user_code": code["user_code"], "verification_uri": code["verification_uri"],
                "message": code["message"], "interval": code["interval"], "expires_in": code["expires_in"]}

    def poll_due(self, now):
        """One poll when a sign-in is under way and its time has come; -> True when it ended now."""
        session = self._session
        if session is None or session.state != SIGNING_IN or self.next_poll is None or now < self.next_poll:
            return False
        try:
            done = session.poll_sign_in()
        except SMTPError as err:
            if err.transient and err.kind not in ("declined", "expired"):
                self.next_poll = now + session.interval          # the network: poll again later
                self.app.log("oauth: poll failed (%s); polling again" % err)
                return False
            self.failed(err)
            self.code = self.next_poll = None
            return True
        if not done:
            self.next_poll = now + session.interval              # slow_down made it longer
            return False
        self.code = self.next_poll = None
        self.error = None
        self.app.log("oauth: signed in as %s" % session.user)
        self.app.outbox.restart_ages(now)
        return True

    def failed(self, err):
        """Keep a sign-in failure for the status (and log it once per kind)."""
        what_to_do = "start the sign-in again" if err.kind in ("declined", "expired") else WHAT_TO_DO
        if err.kind not in ("sign_in_needed", "declined", "expired"):
            cause, what_to_do = err.diagnosis()
        if self.error is None or self.error["kind"] != err.kind:
            self.app.log("oauth: %s" % err)
        self.error = {"kind": err.kind, "text": str(err), "what_to_do": what_to_do}

    def status(self, now):
        session = self._session if self._session is not None else self.session()
        if session is None:
            return {"state": "not_configured",
                    "what_to_do": "set auth to xoauth2, oauth_tenant and oauth_client_id to send with OAuth"}
        out = {"state": session.state, "mode": session.mode, "user": session.user, "error": self.error,
               "polls": session.polls, "refreshes": session.refreshes}
        if session.state == SIGNING_IN and self.code is not None:
            out.update(self.code)
            out["interval"] = session.interval
            out["expires_in"] = max(0, self.expires_at - (now or 0))
        if session.state == SIGN_IN_NEEDED or (session.state == SIGNED_OUT and session.mode == "device"):
            out["what_to_do"] = WHAT_TO_DO
        return out

    def sign_out(self):
        session = self.session()
        if session is not None:
            session.sign_out()
            self.code = self.next_poll = None
            self.app.log("oauth: signed out")

