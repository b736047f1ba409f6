# XOAUTH2 access tokens the fake tenant accepts. Test helper, not a security boundary: a token is a
# JWT-shaped string `header.payload.signature` (base64url, HMAC-SHA256 with the tenant's random
# secret) whose payload carries `aud`, `scp` (https://outlook.office.com/SMTP.Send), `upn` and
# `exp`. Rule: expiry is checked against the tenant's clock; a token never appears in a log line.
import base64
import hashlib
import hmac
import json
import secrets

AUDIENCE = "https://outlook.office.com"
SCOPE = "https://outlook.office.com/SMTP.Send"


def _b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64url(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenIssuer:
    def __init__(self, tenant_name, clock, secret=None):
        self.tenant_name = tenant_name
        self.clock = clock
        self._secret = secret or secrets.token_bytes(32)

    def mint(self, address, lifetime_s=3600, scope=SCOPE, audience=AUDIENCE, padding=0):
        """Mint an access token for `address`. `padding` adds claim bytes so tests can reach the
        length of real Entra ID tokens (often over 1 KB)."""
        now = int(self.clock.now())
        header = {"typ": "JWT", "alg": "HS256"}
        payload = {"aud": audience, "scp": scope, "upn": address.lower(), "tid": self.tenant_name,
                   "iat": now, "nbf": now, "exp": now + int(lifetime_s)}
        if padding:
            payload["xms_pad"] = "x" * padding
        signing_input = _b64url(json.dumps(header).encode()) + "." + _b64url(json.dumps(payload).encode())
        signature = hmac.new(self._secret, signing_input.encode("ascii"), hashlib.sha256).digest()
        return signing_input + "." + _b64url(signature)

    def verify(self, token, address):
        """True if `token` is ours, unexpired, for SMTP.Send, and issued to `address`."""
        try:
            head, body, signature = token.split(".")
            expected = hmac.new(self._secret, (head + "." + body).encode("ascii"), hashlib.sha256).digest()
            if not hmac.compare_digest(_unb64url(signature), expected):
                return False
            payload = json.loads(_unb64url(body))
        except (ValueError, UnicodeError, TypeError):
            return False
        if not isinstance(payload, dict):
            return False
        if payload.get("aud") not in (AUDIENCE, SCOPE) or "SMTP.Send" not in str(payload.get("scp", "")):
            return False
        if str(payload.get("upn", "")).lower() != (address or "").lower():
            return False
        exp = payload.get("exp")
        return isinstance(exp, int) and self.clock.now() < exp
