# OAuth 2.0 sign-in for sending (XOAUTH2): the device-code sign-in a person approves once, the
# access token kept in RAM until shortly before it expires, the refresh token rotated on every
# refresh, and app-only tokens (client credentials with a client secret, or with a certificate:
# an RS256 client assertion made by firmware/client_assertion.py) as the other choice.
# Rules: the refresh token lives only in the secret store, in two slots that each carry a
# generation and a checksum; a new token goes into the slot not holding the current one, so the
# old one stays until the new one is stored whole, and a power cut at any instant leaves a usable
# token (the server still takes a replaced one for a grace period). A refused refresh tries the
# older slot before it says a person must sign in again. Every failure is an SMTPError at stage
# "sign_in" (kind: sign_in_needed, declined, expired, pending, network kinds, protocol) and no
# token or secret reaches an error, a return value other than access_token(), or a print.
# The HTTPS requests are made by firmware/token_request.py, loaded for each and let go after it.
from scanmail.firmware import call_once
from scanmail.firmware.errors import SMTPError

DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
DELEGATED_SCOPE = "https://outlook.office.com/SMTP.Send offline_access"
APP_SCOPE = "https://outlook.office365.com/.default"
SLOTS = ("oauth_rt_a", "oauth_rt_b")
USER = "oauth_user"
CLIENT_SECRET = "oauth_secret"
CLIENT_KEY = "oauth_key"        # app mode with a certificate: the private key's DER
EARLY_S = 300           # an access token is renewed this long before it expires

SIGNED_OUT = "signed_out"
SIGNING_IN = "signing_in"
SIGNED_IN = "signed_in"
SIGN_IN_NEEDED = "sign_in_needed"


def _check(token):
    import hashlib
    import binascii

    return binascii.hexlify(hashlib.sha256(token).digest()[:6])


def _slot_value(generation, token):
    return str(generation).encode() + b" " + _check(token) + b" " + token


def _parse_slot(raw):
    """(generation, token bytes) of a slot written whole, else None."""
    if not raw:
        return None
    parts = raw.split(b" ", 2)
    if len(parts) != 3 or not parts[0].isdigit() or _check(parts[2]) != parts[1]:
        return None
    return int(parts[0]), parts[2]


def _failure(kind, text, transient=False):
    return SMTPError("sign_in", text, transient=transient, kind=kind)


class OAuthSession:
    """The board's sign-in. `settings`: mode ("device" or "app"), tenant (domain or id), client_id,
    optional authority_host (login.microsoftonline.com), port, scope, username (app mode: the
    mailbox to send as), credential (app mode: "secret", or "certificate" with thumbprint, the
    certificate's SHA-1 in hex), ca_der, timeout_s. `secrets`: an object with get(name)/set(name,
    value) (firmware/secret_store.py); app mode reads the client secret from it (name
    "oauth_secret") or the certificate's private key (name "oauth_key", DER)."""

    def __init__(self, settings, board, secrets):
        self.mode = settings.get("mode") or "device"
        if self.mode not in ("device", "app"):
            raise _failure("settings", "oauth mode %r: choose device (a person signs in once) or app "
                                       "(client credentials)" % (self.mode,))
        for key in ("tenant", "client_id"):
            if not settings.get(key):
                raise _failure("settings", "oauth setting %r is missing: give the tenant (e.g. contoso.com) "
                                           "and the app's client id" % key)
        self.cfg = {"host": settings.get("authority_host") or "login.microsoftonline.com",
                    "port": settings.get("port") or 443, "ca_der": settings.get("ca_der"),
                    "timeout_s": settings.get("timeout_s") or 30}
        self.base = "/" + settings["tenant"] + "/oauth2/v2.0/"
        self.credential = settings.get("credential") or "secret"
        self.thumbprint = settings.get("thumbprint") or ""
        if self.credential not in ("secret", "certificate"):
            raise _failure("settings", "oauth credential %r: choose secret or certificate" % (self.credential,))
        self.client_id = settings["client_id"]
        self.scope = settings.get("scope") or (APP_SCOPE if self.mode == "app" else DELEGATED_SCOPE)
        self.board = board
        self.secrets = secrets
        self._token = None
        self._expires_at = 0
        self._device_code = None
        self._deadline = 0
        self.interval = 5
        self.polls = 0
        self.refreshes = 0
        self.user_code = None
        if self.mode == "app":
            self.user = settings.get("username")
            if not self.user:
                raise _failure("settings", "oauth setting 'username' is missing: the mailbox the app sends as")
            self.state = SIGNED_IN
        else:
            user = secrets.get(USER)
            self.user = user.decode() if user else None
            self.state = SIGNED_IN if self._slots() else SIGNED_OUT
        self._before = self.state

    # -- the refresh token's two slots ------------------------------------------------------------
    def _slots(self):
        """[(generation, token, slot name)], newest first, of the slots written whole."""
        found = []
        for name in SLOTS:
            parsed = _parse_slot(self.secrets.get(name))
            if parsed:
                found.append((parsed[0], parsed[1], name))
        found.sort(key=lambda entry: -entry[0])
        return found

    def _store(self, token, fresh_sign_in=False):
        if isinstance(token, str):
            token = token.encode()
        slots = self._slots()
        generation = slots[0][0] + 1 if slots else 1
        target = SLOTS[1] if slots and slots[0][2] == SLOTS[0] else SLOTS[0]
        self.secrets.set(target, _slot_value(generation, token))
        if fresh_sign_in:     # the other slot may hold an earlier sign-in's token: not a fallback
            self.secrets.set(SLOTS[1] if target == SLOTS[0] else SLOTS[0], None)

    # -- requests -----------------------------------------------------------------------------------
    def _post(self, endpoint, fields):
        """(status, answer): string fields are bytes until taken with _text (after the request's
        connection and buffers are gone, so a 2 KB token is decoded into a heap with room)."""
        return call_once("token_request", "post", self.cfg, self.board, self.base + endpoint, fields)

    def _refused(self, status, answer, doing):
        error = _text(answer, "error") or "HTTP %d" % status
        if status >= 500 or status == 429:
            return _failure("server", "%s: the sign-in service answered %s; retrying later" % (doing, error), True)
        return _failure("refused", "%s: the sign-in service refused it (%s)" % (doing, error))

    # -- device-code sign-in --------------------------------------------------------------------
    def start_sign_in(self):
        """Ask for a device code. -> {"user_code", "verification_uri", "expires_in", "interval",
        "message"}: show the code and the URL to the person who signs in."""
        if self.mode != "device":
            raise _failure("settings", "app mode signs in with its client secret: no device code needed")
        status, answer = self._post("devicecode", [("client_id", self.client_id), ("scope", self.scope)])
        if status != 200 or "device_code" not in answer:
            raise self._refused(status, answer, "starting the sign-in")
        now = self.board.clock.now() or 0
        self._device_code = b"".join(answer.pop("device_code"))
        self._deadline = now + answer.get("expires_in", 900)
        self.interval = answer.get("interval", 5)
        self.user_code = _text(answer, "user_code")
        if self.state != SIGNING_IN:
            self._before = self.state
        self.state = SIGNING_IN
        return {"user_code": self.user_code, "verification_uri": _text(answer, "verification_uri"),
                "expires_in": answer.get("expires_in", 900), "interval": self.interval,
                "message": _text(answer, "message")}

    def poll_sign_in(self):
        """One poll: True once signed in, False while the person has not finished. Raises
        SMTPError kind "declined" or "expired" (start again), or others."""
        if self._device_code is None:
            raise _failure("sign_in_needed", "no sign-in is under way: start one first")
        self.polls += 1
        status, answer = self._post("token", [("grant_type", DEVICE_GRANT), ("client_id", self.client_id),
                                              ("device_code", self._device_code)])
        if status == 200 and "access_token" in answer:
            self._device_code = None
            self._signed_in(answer, True)
            return True
        error = _text(answer, "error")
        if error == "authorization_pending":
            return False
        if error == "slow_down":
            self.interval += 5              # RFC 8628 3.5
            return False
        self._device_code = None
        self.state = self._before          # a failed new sign-in leaves the earlier one as it was
        if error == "authorization_declined":
            raise _failure("declined", "the sign-in was declined at the sign-in page: start it again")
        if error == "expired_token" or (self.board.clock.now() or 0) >= self._deadline:
            raise _failure("expired", "the code expired before anyone signed in: start the sign-in again")
        raise self._refused(status, answer, "signing in")

    def wait_for_sign_in(self, sleep):
        """Poll every `interval` seconds (sleep(seconds) waits) until signed in; raises as poll_sign_in."""
        while True:
            sleep(self.interval)
            if self.poll_sign_in():
                return self.user

    # -- tokens -------------------------------------------------------------------------------------
    def _signed_in(self, answer, fresh):
        refresh = answer.pop("refresh_token", None)
        token = _text(answer, "access_token")
        answer.pop("access_token")
        if refresh:
            self._store(b"".join(refresh), fresh)
            refresh = None
        if fresh and self.mode == "device":
            user = _token_user(token)
            if user:
                self.user = user
                self.secrets.set(USER, user.encode())
        self._token = token
        self._expires_at = (self.board.clock.now() or 0) + answer.get("expires_in", 3600)
        self.state = SIGNED_IN

    def access_token(self):
        """The access token for XOAUTH2: the one in RAM until EARLY_S before it expires, else a
        new one (refresh, or client credentials in app mode)."""
        now = self.board.clock.now() or 0
        if self._token is not None and now < self._expires_at - EARLY_S:
            return self._token
        self._token = None
        if self.mode == "app":
            self._client_credentials()
        else:
            self._refresh()
        return self._token

    def usable(self):
        """True when a send can get a token without a person: signed in, app mode, or a new
        sign-in under way while the earlier one is still kept."""
        return self.state == SIGNED_IN or (self.state == SIGNING_IN and self._before == SIGNED_IN)

    def token_refused(self):
        """The mail server refused the token: forget it, so the next access_token() gets a new one."""
        self._token = None

    def _client_credentials(self):
        fields = [("grant_type", "client_credentials"), ("client_id", self.client_id), ("scope", self.scope)]
        if self.credential == "certificate":
            fields.append(("client_assertion_type", ASSERTION_TYPE))
            fields.append(("client_assertion", self._assertion()))
        else:
            secret = self.secrets.get(CLIENT_SECRET)
            if not secret:
                raise _failure("settings", "no client secret stored (secret %r): store the app's secret first"
                               % CLIENT_SECRET)
            fields.append(("client_secret", secret))
            secret = None
        status, answer = self._post("token", fields)
        fields = None
        if status != 200 or "access_token" not in answer:
            raise self._refused(status, answer, "getting an app token")
        self._signed_in(answer, False)

    def _assertion(self):
        """A client assertion signed with the stored key (firmware/client_assertion.py, let go after)."""
        import binascii
        import os

        key = self.secrets.get(CLIENT_KEY)
        if not key:
            raise _failure("settings", "no certificate key stored (secret %r): store the app certificate's "
                                       "private key first" % CLIENT_KEY)
        audience = "https://%s%stoken" % (self.cfg["host"], self.base)
        try:
            return call_once("client_assertion", "make", self.client_id, audience, key, self.thumbprint,
                             self.board.clock.now() or 0, binascii.hexlify(os.urandom(16)).decode())
        except ValueError as exc:      # the text names what is wrong with the key, never its bytes
            raise _failure("settings", "oauth certificate: %s" % exc)

    def _refresh(self):
        slots = self._slots()
        if not slots:
            self.state = SIGNED_OUT
            raise _failure("sign_in_needed", "not signed in: start the sign-in (device code) from the console")
        refused = None
        for generation, token, name in slots:
            status, answer = self._post("token", [("grant_type", "refresh_token"), ("client_id", self.client_id),
                                                  ("refresh_token", token), ("scope", self.scope)])
            token = None
            if status == 200 and "access_token" in answer:
                self.refreshes += 1
                self._signed_in(answer, False)
                return
            refused = _text(answer, "error")
            if refused != "invalid_grant":
                raise self._refused(status, answer, "refreshing the sign-in")
        self.state = SIGN_IN_NEEDED
        raise _failure("sign_in_needed", "the sign-in has ended (%s): a person must sign in again "
                                         "(device code)" % refused)

    def sign_out(self):
        for name in SLOTS:
            self.secrets.set(name, None)
        self.secrets.set(USER, None)
        self._token = None
        self.state = SIGNED_OUT


def _text(answer, name):
    """A string field of an answer (its pieces, firmware/json_fields.py) as text."""
    value = answer.get(name)
    return b"".join(value).decode() if isinstance(value, list) else value


def _token_user(token):
    """The upn an access token names (its payload read, not checked: the server checks it),
    decoded a few hundred bytes at a time so a 2 KB token is never copied whole."""
    import binascii

    from scanmail.firmware.json_fields import JsonFields

    start = token.find(".") + 1
    end = token.find(".", start)
    if start <= 0 or end < 0:
        return None
    reader = JsonFields(("upn", "unique_name", "preferred_username"))
    try:
        while start < end:
            piece = token[start:min(start + 256, end)].replace("-", "+").replace("_", "/")
            start += 256
            reader.feed(binascii.a2b_base64(piece + "=" * (-len(piece) % 4)))
        values = reader.finish()
    except ValueError:
        return None
    return _text(values, "upn") or _text(values, "unique_name") or _text(values, "preferred_username")
