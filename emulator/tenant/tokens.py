# JSON Web Tokens of the fake Microsoft Entra ID: RS256 signing with one RSA key per run, published
# in the JWKS (its `kid` in every token header), and the signature check the mail endpoints and
# the token endpoint (client assertions) use. Rule: this file only signs and checks signatures and
# times; who may have which token is decided in entra.py, what XOAUTH2 accepts in sign_in.py. A
# token never appears in a log line or an exception text.
import base64
import hashlib
import json

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

# What a delegated token for SMTP carries (aud) and what a client asks for (scope), as Entra issues them.
AUDIENCE = "https://outlook.office.com"
APP_AUDIENCE = "https://outlook.office365.com"
EXCHANGE_APP_ID = "00000002-0000-0ff1-ce00-000000000000"
AUDIENCES = (AUDIENCE, AUDIENCE + "/", APP_AUDIENCE, APP_AUDIENCE + "/", EXCHANGE_APP_ID)
SCOPE = "https://outlook.office.com/SMTP.Send"


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def unb64url(text):
    if isinstance(text, str):
        text = text.encode("ascii")
    return base64.urlsafe_b64decode(text + b"=" * (-len(text) % 4))


def _uint(number):
    return b64url(number.to_bytes((number.bit_length() + 7) // 8, "big"))


def split(token):
    """(header dict, payload dict, signing input bytes, signature bytes); ValueError if malformed."""
    try:
        head, body, signature = token.split(".")
        header = json.loads(unb64url(head))
        payload = json.loads(unb64url(body))
        raw_signature = unb64url(signature)
    except (ValueError, TypeError, UnicodeError, AttributeError):
        raise ValueError("not a JWT")
    if not isinstance(header, dict) or not isinstance(payload, dict):
        raise ValueError("not a JWT")
    return header, payload, (head + "." + body).encode("ascii"), raw_signature


def verify_rs256(public_key, signing_input, signature):
    try:
        public_key.verify(signature, signing_input, padding.PKCS1v15(), hashes.SHA256())
        return True
    except (InvalidSignature, ValueError, TypeError):
        return False


class SigningKey:
    """The run's token signing key: sign(payload) -> JWT, jwks(), check(token) -> payload or None."""

    def __init__(self):
        self._key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        numbers = self._key.public_key().public_numbers()
        self.kid = b64url(hashlib.sha1(_uint(numbers.n).encode()).digest())
        self._jwk = {"kty": "RSA", "use": "sig", "kid": self.kid, "x5t": self.kid,
                     "n": _uint(numbers.n), "e": _uint(numbers.e)}

    def sign(self, payload):
        header = {"typ": "JWT", "alg": "RS256", "x5t": self.kid, "kid": self.kid}
        signing_input = b64url(json.dumps(header, separators=(",", ":")).encode()) + "." + b64url(
            json.dumps(payload, separators=(",", ":")).encode())
        signature = self._key.sign(signing_input.encode("ascii"), padding.PKCS1v15(), hashes.SHA256())
        return signing_input + "." + b64url(signature)

    def jwks(self):
        return {"keys": [dict(self._jwk)]}

    def check(self, token):
        """The payload of a token this key signed (RS256, our kid), else None. Times are not checked."""
        try:
            header, payload, signing_input, signature = split(token)
        except ValueError:
            return None
        if header.get("alg") != "RS256" or header.get("kid") != self.kid:
            return None
        if not verify_rs256(self._key.public_key(), signing_input, signature):
            return None
        return payload
