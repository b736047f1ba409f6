# The fake Microsoft Entra ID's decisions, without HTTP: device codes and their approval, the token
# endpoint's grants (device code, refresh token, client credentials with a secret or a certificate
# assertion), refresh token rotation and revocation, and the check of an access token presented
# over XOAUTH2. Rules: every time is the tenant's clock; every refusal is an entry of
# entra_errors.py; one lock guards the state (HTTP threads and the SMTP loop share it); no secret
# or token is logged or put into an exception.
import hashlib
import hmac
import json
import random
import secrets
import threading
import time
import uuid

from scanmail.emulator.tenant import entra_errors as errors
from scanmail.emulator.tenant import tokens as jwt

DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
OIDC_SCOPES = ("openid", "profile", "offline_access", "email")
DEVICE_CODE_LIFETIME_S = 900
POLL_INTERVAL_S = 5
REFRESH_TOKEN_LIFETIME_S = 90 * 86400       # since its issue (each use issues a new one)
REFRESH_TOKEN_GRACE_S = 3600                # a replaced refresh token still works this long
ACCESS_TOKEN_LIFETIME_S = (3600, 5400)      # Entra picks 60 to 90 minutes
USER_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
DELEGATED_RESOURCES = (jwt.AUDIENCE, jwt.APP_AUDIENCE)
SEND_PERMISSION = "SMTP.Send"
APP_PERMISSION = "SMTP.SendAsApp"


def _digest(value):
    return hashlib.sha256(value.encode("utf-8", "surrogateescape")).hexdigest()


def _object_id(kind, value):
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "%s:%s" % (kind, value)))


class DeviceCode:
    def __init__(self, client_id, scopes, user_code, now):
        self.client_id = client_id
        self.scopes = scopes
        self.user_code = user_code
        self.expires_at = now + DEVICE_CODE_LIFETIME_S
        self.interval = POLL_INTERVAL_S
        self.last_poll = None
        self.state = "pending"          # pending | approved | declined | redeemed
        self.user = None


class RefreshToken:
    def __init__(self, user, client_id, scopes, now):
        self.user = user
        self.client_id = client_id
        self.scopes = scopes
        self.issued_at = now
        self.replaced_at = None
        self.revoked = False


class Entra:
    def __init__(self, tenant, clock, grace_s=REFRESH_TOKEN_GRACE_S):
        self.tenant = tenant
        self.clock = clock
        self.grace_s = grace_s
        self.key = jwt.SigningKey()
        self._lock = threading.RLock()
        self._device_codes = {}         # sha256(device_code) -> DeviceCode
        self._user_codes = {}           # user code -> sha256(device_code)
        self._refresh_tokens = {}       # sha256(refresh token) -> RefreshToken
        self._issued = {}               # user address -> uti of every access token issued to them
        self._revoked = set()           # uti of access tokens whose sign-in sessions were revoked
        self._random = random.Random(secrets.randbits(64))
        # "grace_redeemed": refresh tokens used again after they were replaced (a client lost the new one).
        self.counts = {"device_codes": 0, "tokens": 0, "refreshes": 0, "refused": 0, "grace_redeemed": 0}

    # ------------------------------------------------------------------ names
    @property
    def issuer_v1(self):
        return "https://sts.windows.net/%s/" % self.tenant.id

    def knows_tenant(self, segment):
        segment = (segment or "").lower()
        return segment in ("common", "organizations", self.tenant.id) or segment in self.tenant.accepted_domains

    def now(self):
        return int(self.clock.now())

    def user_object_id(self, address):
        return _object_id("user", address)

    # ------------------------------------------------------------------ device authorization
    def device_authorization(self, form, verification_uri):
        client_id, scope = form.get("client_id"), form.get("scope")
        if not client_id:
            return self._refuse(errors.MISSING_PARAMETER, name="client_id")
        app = self.tenant.app(client_id)
        if app is None:
            return self._refuse(errors.UNKNOWN_APP, client_id=client_id, tenant=self.tenant.id)
        if not app.public_client:
            return self._refuse(errors.NEED_CLIENT_SECRET)
        scopes, refusal = self._delegated_scopes(app, scope)
        if refusal:
            return refusal
        with self._lock:
            while True:
                user_code = "".join(self._random.choice(USER_CODE_ALPHABET) for _ in range(9))
                if user_code not in self._user_codes:
                    break
            if len(self._device_codes) % 256 == 255:
                self._forget_dead_grants(self.now())
            device_code = "DAQABAAEAAA" + secrets.token_urlsafe(150)
            record = DeviceCode(app.client_id, scopes, user_code, self.now())
            self._device_codes[_digest(device_code)] = record
            self._user_codes[user_code] = _digest(device_code)
            self.counts["device_codes"] += 1
        return 200, {
            "user_code": user_code, "device_code": device_code, "verification_uri": verification_uri,
            "expires_in": DEVICE_CODE_LIFETIME_S, "interval": POLL_INTERVAL_S,
            "message": "To sign in, use a web browser to open the page %s and enter the code %s to "
                       "authenticate." % (verification_uri, user_code)}

    def pending(self, user_code):
        """The DeviceCode a person may still approve, or None (unknown, expired or finished)."""
        with self._lock:
            digest = self._user_codes.get((user_code or "").strip().upper().replace("-", ""))
            record = self._device_codes.get(digest) if digest else None
            if record is None or record.state != "pending" or self.now() >= record.expires_at:
                return None
            return record

    def pending_codes(self):
        """The user codes a person could still approve now."""
        with self._lock:
            return [code for code in self._user_codes if self.pending(code) is not None]

    def approve(self, user_code, address):
        """A person signed in as `address` and consented. -> None, or why not (one line)."""
        mailbox = self.tenant.mailbox(address)
        if mailbox is None or mailbox.kind == "shared" or mailbox.password is None:
            return "no mailbox %s can sign in (give a user mailbox of %s)" % (address, self.tenant.name)
        with self._lock:
            record = self.pending(user_code)
            if record is None:
                return "no pending sign-in has the code %s (it may have expired or been used)" % user_code
            record.state, record.user = "approved", mailbox.address
        return None

    def decline(self, user_code):
        with self._lock:
            record = self.pending(user_code)
            if record is None:
                return "no pending sign-in has the code %s (it may have expired or been used)" % user_code
            record.state = "declined"
        return None

    def check_password(self, address, password):
        mailbox = self.tenant.mailbox(address)
        return (mailbox is not None and mailbox.kind != "shared" and mailbox.password is not None
                and hmac.compare_digest(mailbox.password.encode(), (password or "").encode()))

    # ------------------------------------------------------------------ the token endpoint
    def token(self, form, token_endpoint, base="https://login.microsoftonline.com"):
        """The token endpoint's answer (status, JSON) to `form`; `base` is the login URL (issuer)."""
        grant = form.get("grant_type")
        if not grant:
            return self._refuse(errors.MISSING_PARAMETER, name="grant_type")
        client_id = form.get("client_id")
        if not client_id and grant != "client_credentials":
            return self._refuse(errors.MISSING_PARAMETER, name="client_id")
        if grant == DEVICE_CODE_GRANT:
            return self._device_code_grant(form, base)
        if grant == "refresh_token":
            return self._refresh_grant(form, token_endpoint, base)
        if grant == "client_credentials":
            return self._client_credentials_grant(form, token_endpoint)
        return self._refuse(errors.UNSUPPORTED_GRANT, grant_type=grant)

    def _device_code_grant(self, form, base):
        app = self.tenant.app(form.get("client_id"))
        if app is None:
            return self._refuse(errors.UNKNOWN_APP, client_id=form.get("client_id"), tenant=self.tenant.id)
        if not app.public_client:
            return self._refuse(errors.NEED_CLIENT_SECRET)
        code = form.get("device_code")
        if not code:
            return self._refuse(errors.MISSING_PARAMETER, name="device_code")
        now = self.now()
        with self._lock:
            record = self._device_codes.get(_digest(code))
            if record is None or record.client_id != app.client_id:
                return self._refuse(errors.BAD_DEVICE_CODE)
            if record.state == "redeemed":
                return self._refuse(errors.DEVICE_CODE_REDEEMED)
            if now >= record.expires_at:
                return self._refuse(errors.EXPIRED_TOKEN)
            if record.state == "declined":
                return self._refuse(errors.AUTHORIZATION_DECLINED)
            too_soon = record.last_poll is not None and now - record.last_poll < record.interval
            record.last_poll = now
            if record.state == "pending":
                if too_soon:
                    record.interval += 5                # RFC 8628 3.5: the client adds 5 seconds
                    return self._refuse(errors.SLOW_DOWN, interval=record.interval)
                return self._refuse(errors.AUTHORIZATION_PENDING)
            record.state = "redeemed"
            user, scopes = record.user, record.scopes
        return 200, self._delegated_answer(app, user, scopes, form, base)

    def _refresh_grant(self, form, token_endpoint, base):
        app = self.tenant.app(form.get("client_id"))
        if app is None:
            return self._refuse(errors.UNKNOWN_APP, client_id=form.get("client_id"), tenant=self.tenant.id)
        if app.confidential:
            refusal = self._authenticate_client(app, form, token_endpoint)
            if refusal:
                return refusal
        elif form.get("client_secret") or form.get("client_assertion"):
            return self._refuse(errors.PUBLIC_CLIENT_SECRET)
        presented = form.get("refresh_token")
        if not presented:
            return self._refuse(errors.MISSING_PARAMETER, name="refresh_token")
        now = self.now()
        with self._lock:
            record = self._refresh_tokens.get(_digest(presented))
            if record is None:
                return self._refuse(errors.BAD_REFRESH_TOKEN)
            if record.client_id != app.client_id:
                return self._refuse(errors.REFRESH_TOKEN_OTHER_CLIENT)
            if record.revoked:
                return self._refuse(errors.GRANT_REVOKED)
            if now >= record.issued_at + REFRESH_TOKEN_LIFETIME_S:
                return self._refuse(errors.REFRESH_TOKEN_EXPIRED, issued=time.strftime(
                    "%Y-%m-%dT%H:%M:%SZ", time.gmtime(record.issued_at)))
            if record.replaced_at is not None and now >= record.replaced_at + self.grace_s:
                return self._refuse(errors.REFRESH_TOKEN_REPLACED)
            if form.get("scope"):
                scopes, refusal = self._delegated_scopes(app, form.get("scope"))
                if refusal:
                    return refusal
                if not set(s for s in scopes if s not in OIDC_SCOPES) <= set(record.scopes):
                    return self._refuse(errors.BAD_SCOPE, scope=form.get("scope"))
                scopes = [s for s in record.scopes if s not in OIDC_SCOPES or s in scopes]
            else:
                scopes = record.scopes
            if record.replaced_at is None:
                record.replaced_at = now
            else:
                self.counts["grace_redeemed"] += 1
            self.counts["refreshes"] += 1
            user = record.user
        return 200, self._delegated_answer(app, user, scopes, form, base)

    def _client_credentials_grant(self, form, token_endpoint):
        client_id = form.get("client_id")
        assertion_app = None
        if not client_id and form.get("client_assertion"):
            try:   # the client id may come only in the assertion (iss/sub)
                assertion_app = jwt.split(form["client_assertion"])[1].get("sub")
            except ValueError:
                pass
        app = self.tenant.app(client_id or assertion_app)
        if app is None:
            if not (client_id or assertion_app):
                return self._refuse(errors.MISSING_PARAMETER, name="client_id")
            return self._refuse(errors.UNKNOWN_APP, client_id=client_id or assertion_app, tenant=self.tenant.id)
        if not app.confidential:
            return self._refuse(errors.NEED_CLIENT_SECRET)
        refusal = self._authenticate_client(app, form, token_endpoint)
        if refusal:
            return refusal
        scope = (form.get("scope") or "").strip()
        if scope.rstrip("/") not in (r + "/.default" for r in DELEGATED_RESOURCES):
            return self._refuse(errors.BAD_SCOPE, scope=scope or "(none)")
        now = self.now()
        lifetime = self._lifetime()
        claims = {"aud": jwt.APP_AUDIENCE, "iss": self.issuer_v1, "iat": now, "nbf": now, "exp": now + lifetime,
                  "aio": secrets.token_urlsafe(40), "app_displayname": app.name, "appid": app.client_id,
                  "appidacr": "1" if form.get("client_secret") else "2", "idp": self.issuer_v1, "idtyp": "app",
                  "oid": app.object_id, "rh": "0.AXoA" + secrets.token_urlsafe(30) + ".", "sub": app.object_id,
                  "tid": self.tenant.id, "uti": secrets.token_urlsafe(16), "ver": "1.0",
                  "wids": ["0997a1d0-0d1d-4acb-b408-d5ca73121e90"]}
        if app.application:
            claims["roles"] = list(app.application)
        with self._lock:
            self.counts["tokens"] += 1
        return 200, {"token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime,
                     "access_token": self.key.sign(claims)}

    def _authenticate_client(self, app, form, token_endpoint):
        secret, assertion = form.get("client_secret"), form.get("client_assertion")
        if secret:
            if any(hmac.compare_digest(secret.encode(), s.encode()) for s in app.secrets):
                return None
            return self._refuse(errors.BAD_CLIENT_SECRET, client_id=app.client_id)
        if assertion and form.get("client_assertion_type") == ASSERTION_TYPE:
            return self._check_assertion(app, assertion, token_endpoint)
        return self._refuse(errors.NEED_CLIENT_SECRET)

    def _check_assertion(self, app, assertion, token_endpoint):
        try:
            header, claims, signing_input, signature = jwt.split(assertion)
        except ValueError:
            return self._refuse(errors.BAD_ASSERTION_SIGNATURE)
        # MSAL keeps the base64url padding of the thumbprint; RFC 7515 does not: take both.
        key = app.certificates.get(str(header.get("x5t#S256") or "").rstrip("=")) or \
            app.certificates.get(str(header.get("x5t") or "").rstrip("="))
        if key is None:
            return self._refuse(errors.UNKNOWN_CERTIFICATE)
        if header.get("alg") == "PS256":
            from cryptography.exceptions import InvalidSignature
            from cryptography.hazmat.primitives import hashes
            from cryptography.hazmat.primitives.asymmetric import padding
            try:
                key.verify(signature, signing_input, padding.PSS(padding.MGF1(hashes.SHA256()),
                                                                 padding.PSS.DIGEST_LENGTH), hashes.SHA256())
                good = True
            except (InvalidSignature, ValueError):
                good = False
        else:
            good = header.get("alg") == "RS256" and jwt.verify_rs256(key, signing_input, signature)
        if not good:
            return self._refuse(errors.BAD_ASSERTION_SIGNATURE)
        if claims.get("iss") != app.client_id or claims.get("sub") != app.client_id or \
                str(claims.get("aud", "")).rstrip("/").rsplit("/oauth2/", 1)[-1] != "v2.0/token":
            return self._refuse(errors.ASSERTION_AUDIENCE)
        now, skew = self.now(), 300
        exp, nbf = claims.get("exp"), claims.get("nbf", claims.get("iat", 0))
        if not isinstance(exp, (int, float)) or now >= exp + skew or (isinstance(nbf, (int, float)) and nbf > now + skew):
            return self._refuse(errors.ASSERTION_TIME)
        return None

    def add_certificate(self, client_id, certificate):
        """Register a certificate (cryptography x509 object) on an app; returns its x5t thumbprint."""
        from cryptography.hazmat.primitives import hashes, serialization
        app = self.tenant.app(client_id)
        if app is None:
            raise KeyError(client_id)
        der = certificate.public_bytes(serialization.Encoding.DER)
        key = certificate.public_key()
        with self._lock:
            app.certificates[jwt.b64url(hashlib.sha1(der).digest())] = key
            app.certificates[jwt.b64url(certificate.fingerprint(hashes.SHA256()))] = key
        return hashlib.sha1(der).hexdigest()

    def _forget_dead_grants(self, now):
        """Drop what can never be redeemed again (a long-running fake must not grow without bound):
        refresh tokens replaced longer ago than the grace period or past their lifetime, and device
        codes an hour past their expiry. Call with the lock held."""
        for key, record in list(self._refresh_tokens.items()):
            if (record.replaced_at is not None and now >= record.replaced_at + self.grace_s) or \
                    now >= record.issued_at + REFRESH_TOKEN_LIFETIME_S:
                del self._refresh_tokens[key]
        for key, record in list(self._device_codes.items()):
            if now >= record.expires_at + 3600:
                del self._device_codes[key]
                self._user_codes.pop(record.user_code, None)

    def revoke(self, address):
        """Revoke-MgUserSignInSession: every refresh token and access token of the user issued so far."""
        mailbox = self.tenant.mailbox(address)
        if mailbox is None:
            return "no mailbox %s in %s" % (address, self.tenant.name)
        with self._lock:
            for record in self._refresh_tokens.values():
                if record.user == mailbox.address:
                    record.revoked = True
            self._revoked.update(self._issued.pop(mailbox.address, ()))
        return None

    # ------------------------------------------------------------------ what a token carries
    def _delegated_scopes(self, app, scope):
        """(scopes, None) for a delegated request, or (None, refusal)."""
        asked = (scope or "").split()
        resource = [s for s in asked if s not in OIDC_SCOPES]
        if not resource:
            return None, self._refuse(errors.BAD_SCOPE, scope=scope or "(none)")
        for s in resource:
            base, _, permission = s.rpartition("/")
            if base.rstrip("/") not in DELEGATED_RESOURCES or permission not in (SEND_PERMISSION, ".default"):
                return None, self._refuse(errors.BAD_SCOPE, scope=s)
        if SEND_PERMISSION not in app.delegated:
            return None, self._refuse(errors.NOT_CONSENTED, client_id=app.client_id, name=app.name)
        return [jwt.SCOPE] + [s for s in OIDC_SCOPES if s in asked], None

    def _lifetime(self):
        with self._lock:
            return self._random.randint(*ACCESS_TOKEN_LIFETIME_S)

    def access_token_claims(self, app, address, now, lifetime, padding=0):
        oid = self.user_object_id(address)
        local = address.split("@")[0]
        claims = {
            "aud": jwt.AUDIENCE, "iss": self.issuer_v1, "iat": now, "nbf": now, "exp": now + lifetime,
            "acct": 0, "acr": "1", "aio": secrets.token_urlsafe(60), "amr": ["pwd"],
            "app_displayname": app.name, "appid": app.client_id, "appidacr": "0",
            "family_name": local.capitalize(), "given_name": local.capitalize(), "idtyp": "user",
            "ipaddr": "127.0.0.1", "name": local.capitalize(), "oid": oid,
            "puid": "10032" + secrets.token_hex(6).upper(), "rh": "1.AXoA" + secrets.token_urlsafe(40) + ".",
            "scp": SEND_PERMISSION, "sid": str(uuid.uuid4()), "sub": secrets.token_urlsafe(32),
            "tid": self.tenant.id, "unique_name": address, "upn": address, "uti": secrets.token_urlsafe(16),
            "ver": "1.0", "wids": ["b79fbf4d-3ef9-4689-8143-76b194e85509"], "xms_ftd": secrets.token_urlsafe(40),
            "xms_idrel": "1 20", "xms_st": {"sub": secrets.token_urlsafe(32)}, "xms_tcdt": 1700000000}
        if padding:
            claims["xms_pad"] = "x" * padding
        with self._lock:
            self._issued.setdefault(address, set()).add(claims["uti"])
        return claims

    def _delegated_answer(self, app, address, scopes, form, base):
        now = self.now()
        lifetime = self._lifetime()
        answer = {"token_type": "Bearer", "scope": " ".join(s for s in scopes if s not in ("openid", "email")),
                  "expires_in": lifetime, "ext_expires_in": lifetime,
                  "access_token": self.key.sign(self.access_token_claims(app, address, now, lifetime))}
        oid = self.user_object_id(address)
        if "offline_access" in scopes:
            refresh = "1.AXoA" + secrets.token_urlsafe(700)
            with self._lock:
                self._refresh_tokens[_digest(refresh)] = RefreshToken(address, app.client_id, list(scopes), now)
                if len(self._refresh_tokens) % 256 == 0:
                    self._forget_dead_grants(now)
            answer["refresh_token"] = refresh
        if "openid" in scopes:
            issuer = "%s/%s/v2.0" % (base, self.tenant.id)
            mailbox = self.tenant.mailbox(address)
            answer["id_token"] = self.key.sign({
                "aud": app.client_id, "iss": issuer, "iat": now, "nbf": now, "exp": now + 3600,
                "name": address.split("@")[0].capitalize(), "oid": oid,
                "preferred_username": mailbox.address if mailbox else address,
                "sub": jwt.b64url(hashlib.sha256((oid + app.client_id).encode()).digest()),
                "tid": self.tenant.id, "uti": secrets.token_urlsafe(16), "ver": "2.0"})
        if form.get("client_info") == "1":
            answer["client_info"] = jwt.b64url(json.dumps({"uid": oid, "utid": self.tenant.id}).encode())
        with self._lock:
            self.counts["tokens"] += 1
        return answer

    def mint_access_token(self, address, lifetime_s=3600, padding=0):
        """Test helper: a delegated SMTP.Send access token for `address` from the first public client,
        as if its device-code sign-in had been approved."""
        app = next((a for a in self.tenant.apps.values() if SEND_PERMISSION in a.delegated), None)
        if app is None:
            from scanmail.emulator.tenant.config import App
            app = App("test-client", str(uuid.uuid4()), True, [], [SEND_PERMISSION], [], [], str(uuid.uuid4()))
        now = self.now()
        return self.key.sign(self.access_token_claims(app, address.lower(), now, int(lifetime_s), padding))

    # ------------------------------------------------------------------ XOAUTH2
    def check_xoauth2(self, token, address):
        """None if `token` lets `address` sign in over SMTP, else why not (for the trace; no secret)."""
        claims = self.key.check(token or "")
        if claims is None:
            return "not a token this tenant signed"
        now = self.clock.now()
        exp, nbf = claims.get("exp"), claims.get("nbf", 0)
        if not isinstance(exp, int) or now >= exp:
            return "token expired"
        if isinstance(nbf, int) and now < nbf - 300:
            return "token not yet valid"
        if claims.get("aud") not in jwt.AUDIENCES:
            return "token audience is not Exchange Online"
        if claims.get("tid") != self.tenant.id:
            return "token of another tenant"
        address = (address or "").strip().lower()
        roles = claims.get("roles") or []
        if APP_PERMISSION in roles:
            app = self.tenant.app(claims.get("appid"))
            if app is None or claims.get("oid") != app.object_id:
                return "token of an unknown app"
            if address not in app.mailboxes:
                return "the app has no permission on the mailbox %s" % address
            return None
        if SEND_PERMISSION not in str(claims.get("scp", "")).split() and \
                jwt.SCOPE not in str(claims.get("scp", "")).split():
            return "token without SMTP.Send or SMTP.SendAsApp"
        if str(claims.get("upn", "")).lower() != address:
            return "token issued to another user"
        with self._lock:
            if claims.get("uti") in self._revoked:
                return "sign-in sessions revoked"
        return None

    # ------------------------------------------------------------------
    def _refuse(self, entry, **values):
        with self._lock:
            self.counts["refused"] += 1
        return errors.body(entry, self.clock.now(), **values)

