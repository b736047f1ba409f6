# Secrets apart from the configuration: in NVS (`esp32.NVS`, passed in), write-only from outside.
# Rule: a secret's value leaves this module only through `get`, which the application calls to
# hand it to the mail core; everything a user sees is `status()`: whether each is set and a short
# fingerprint (a salted SHA-256 of the value, the salt random per board, so a fingerprint says
# whether two boards hold the same secret only to someone who holds both salts).
#
# API (the console's `secret set` and OAuth sign-in use it):
#   store = SecretStore(esp32.NVS("secrets"))
#   store.set(name, value)          value: str or bytes; "" or None clears it
#   store.get(name) -> bytes | None
#   store.is_set(name) -> bool
#   store.fingerprint(name) -> "3f2a9c1d" | None
#   store.status() -> {name: {"set": bool, "fingerprint": str | None}}
import binascii
import hashlib
import os

# name -> NVS key (NVS keys have at most 15 characters; the length is kept under key + "#"). The
# OAuth names are the NVS keys firmware/secret_store.NvsSecrets uses, so a sign-in made either way
# is the same sign-in: oauth_rt_a/oauth_rt_b the refresh token's two slots, oauth_user the mailbox
# signed in as, oauth_secret the app's client secret, oauth_key its certificate's private key (DER).
NAMES = {"password": "pw", "refresh_token": "rt", "client_key": "ck", "wifi_password": "wp",
         "oauth_rt_a": "oauth_rt_a", "oauth_rt_b": "oauth_rt_b", "oauth_user": "oauth_user",
         "oauth_secret": "oauth_secret", "oauth_key": "oauth_key"}
MAX_BYTES = 4000
_SALT = "salt"
_NOT_FOUND = -0x1102


class SecretError(ValueError):
    """A refused secret operation; the text names the secret, never its value."""


def _name_key(name):
    if name not in NAMES:
        raise SecretError("unknown secret %r; the secrets are: %s" % (name, ", ".join(sorted(NAMES))))
    return NAMES[name]


class SecretStore:
    def __init__(self, nvs):
        self._nvs = nvs

    def _blob(self, key):
        try:
            size = self._nvs.get_i32(key + "#")
        except OSError:
            return None
        buf = bytearray(size)
        try:
            n = self._nvs.get_blob(key, buf)
        except OSError:          # the blob is gone or longer than its length says (a cut between them)
            return None
        return bytes(buf) if n == size else None

    def _salt(self):
        salt = self._blob(_SALT)
        if salt is None:
            salt = os.urandom(16)
            self._nvs.set_blob(_SALT, salt)
            self._nvs.set_i32(_SALT + "#", len(salt))
            self._nvs.commit()
        return salt

    def set(self, name, value):
        key = _name_key(name)
        if not value:
            try:
                self._nvs.erase_key(key)
                self._nvs.erase_key(key + "#")
                self._nvs.commit()
            except OSError:
                pass
            return
        if isinstance(value, str):
            value = value.encode()
        if not isinstance(value, (bytes, bytearray)):
            raise SecretError("secret %s must be text or bytes" % name)
        if len(value) > MAX_BYTES:
            raise SecretError("secret %s is longer than %d bytes" % (name, MAX_BYTES))
        self._salt()
        self._nvs.set_blob(key, bytes(value))
        self._nvs.set_i32(key + "#", len(value))
        self._nvs.commit()

    def get(self, name):
        return self._blob(_name_key(name))

    def is_set(self, name):
        return self.get(name) is not None

    def fingerprint(self, name):
        value = self.get(name)
        if value is None:
            return None
        return binascii.hexlify(hashlib.sha256(self._salt() + value).digest()[:4]).decode()

    def status(self):
        out = {}
        for name in NAMES:
            fp = self.fingerprint(name)
            out[name] = {"set": fp is not None, "fingerprint": fp}
        return out
