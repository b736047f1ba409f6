# The certificate credential of app-only sign-in: a client assertion (RFC 7523), a JWT signed
# RS256 with the app's private key, which Entra ID takes instead of a client secret. RS256 is
# SHA-256 (hashlib) and RSA PKCS#1 v1.5 (RFC 8017 8.2.1), and RSA is pow() on the runtime's
# arbitrary-precision integers: MicroPython has both, so no RSA library is needed. Rules: the key
# is the DER of an unencrypted RSA private key (PKCS#1 "RSA PRIVATE KEY" or PKCS#8 "PRIVATE KEY"),
# parsed here and signed with the Chinese remainder theorem (p, q, dp, dq, qinv: about a quarter
# of the work of one pow with d); a key that cannot be used is a ValueError whose
# text names what is wrong and never a byte of the key. Loaded for one sign-in through
# firmware.call_once and let go after it.
import binascii
import hashlib

LIFETIME_S = 600
# DER of DigestInfo { sha256, NULL } ahead of the 32-byte hash (RFC 8017 9.2, note 1)
_SHA256_INFO = b"\x30\x31\x30\x0d\x06\x09\x60\x86\x48\x01\x65\x03\x04\x02\x01\x05\x00\x04\x20"
_RSA_OID = b"\x2a\x86\x48\x86\xf7\x0d\x01\x01\x01"


def _tlv(der, at):
    """(tag, start of value, end of value) of the DER element at `at`."""
    if at + 2 > len(der):
        raise ValueError("the key is cut short")
    tag = der[at]
    length = der[at + 1]
    at += 2
    if length & 0x80:
        count = length & 0x7F
        if count < 1 or count > 3 or at + count > len(der):
            raise ValueError("the key is not DER")
        length = int.from_bytes(der[at:at + count], "big")
        at += count
    if at + length > len(der):
        raise ValueError("the key is cut short")
    return tag, at, at + length


def _integers(der, at, end):
    out = []
    while at < end:
        tag, start, stop = _tlv(der, at)
        if tag != 0x02:
            raise ValueError("the key is not an RSA private key")
        out.append(int.from_bytes(der[start:stop], "big"))
        at = stop
    return out


def rsa_key(der):
    """(n, e, p, q, dp, dq, qinv) of a PKCS#1 or PKCS#8 RSA private key in DER."""
    tag, start, end = _tlv(der, 0)
    if tag != 0x30:
        raise ValueError("the key is not DER (a PEM key's base64 body is its DER)")
    tag, first, after = _tlv(der, start)
    if tag == 0x02 and after < end and der[after] == 0x30:      # PKCS#8: version, algorithm, key
        tag, alg_start, alg_end = _tlv(der, after)
        tag, oid_start, oid_end = _tlv(der, alg_start)
        if der[oid_start:oid_end] != _RSA_OID:
            raise ValueError("the key is not an RSA key (Entra ID app certificates are RSA)")
        tag, octets, octets_end = _tlv(der, alg_end)
        if tag != 0x04:
            raise ValueError("the key is not an RSA private key")
        tag, start, end = _tlv(der, octets)
    elif tag == 0x30:
        raise ValueError("the key is encrypted or not a private key: export it unencrypted")
    numbers = _integers(der, start, end)
    if len(numbers) < 9 or numbers[0] != 0:
        raise ValueError("the key is not an RSA private key")
    n, e, d, p, q, dp, dq, qinv = numbers[1:9]
    return n, e, p, q, dp, dq, qinv


def _byte_length(n):
    length = 0
    while n:
        n >>= 8
        length += 1
    return length


def sign_rs256(key, data):
    """The RS256 signature of `data` (bytes) with `key` (rsa_key's tuple)."""
    n, e, p, q, dp, dq, qinv = key
    k = _byte_length(n)
    info = _SHA256_INFO + hashlib.sha256(data).digest()
    if k < len(info) + 11:
        raise ValueError("the key is too short for RS256")
    message = int.from_bytes(b"\x00\x01" + b"\xff" * (k - len(info) - 3) + b"\x00" + info, "big")
    m1 = pow(message % p, dp, p)
    m2 = pow(message % q, dq, q)
    signature = m2 + ((qinv * (m1 - m2)) % p) * q
    if pow(signature, e, n) != message:       # a key whose parts do not agree: never send it
        raise ValueError("the key's numbers do not agree (a damaged key)")
    return signature.to_bytes(k, "big")


def b64url(data):
    text = binascii.b2a_base64(data).rstrip(b"\n").rstrip(b"=")
    return text.replace(b"+", b"-").replace(b"/", b"_")


def make(client_id, audience, key_der, thumbprint_hex, now, nonce):
    """The client_assertion (bytes) for `client_id` at the token endpoint `audience`: header with
    the certificate's x5t (its SHA-1 thumbprint, as the app registration shows it), claims aud,
    iss, sub, jti (`nonce` hex), nbf, iat and exp."""
    import json

    try:
        thumbprint = binascii.unhexlify(thumbprint_hex.replace(":", ""))
    except ValueError:
        thumbprint = b""
    if len(thumbprint) != 20:
        raise ValueError("the certificate thumbprint is the SHA-1 of 40 hex digits the app registration shows")
    key = rsa_key(key_der)
    header = b64url(json.dumps({"alg": "RS256", "typ": "JWT", "x5t": b64url(thumbprint).decode()}).encode())
    claims = b64url(json.dumps({"aud": audience, "iss": client_id, "sub": client_id, "jti": nonce,
                                "nbf": now, "iat": now, "exp": now + LIFETIME_S}).encode())
    signing_input = header + b"." + claims
    return signing_input + b"." + b64url(sign_rs256(key, signing_input))
