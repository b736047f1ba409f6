# The board's RS256 client assertion (firmware/client_assertion.py) on MicroPython and CPython,
# judged by the `cryptography` package: the signature of a PKCS#1 and of a PKCS#8 key is byte for
# byte the one cryptography makes (PKCS#1 v1.5 is deterministic), the assertion verifies with the
# certificate's public key and carries the claims Entra ID checks; a key that cannot be used is
# one line that names what is wrong and shows no byte of the key.
import base64
import binascii
import hashlib
import json

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

APP = "5ca9a11e-0000-4000-8000-000000000002"
AUDIENCE = "https://login.microsoftonline.com/contoso.com/oauth2/v2.0/token"

CASE = """
import binascii, json
from scanmail.firmware import client_assertion as c
key = binascii.unhexlify(%(key)r)
out = {"signature": binascii.hexlify(c.sign_rs256(c.rsa_key(key), b"the signing input")).decode(),
       "assertion": c.make(%(app)r, %(aud)r, key, %(thumb)r, 1800000000, "abc").decode()}
print(json.dumps(out))
"""

REFUSED = """
import binascii, json
from scanmail.firmware import client_assertion as c
out = []
for key, thumb in %(cases)r:
    try:
        c.make("app", "aud", binascii.unhexlify(key), thumb, 0, "n")
        out.append("accepted")
    except ValueError as e:
        out.append(str(e))
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def b64url_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@pytest.mark.parametrize("layout", [serialization.PrivateFormat.TraditionalOpenSSL, serialization.PrivateFormat.PKCS8],
                         ids=["pkcs1", "pkcs8"])
def test_the_signature_is_cryptographys_and_the_assertion_verifies(run_firmware, key, layout):
    der = key.private_bytes(serialization.Encoding.DER, layout, serialization.NoEncryption())
    thumbprint = hashlib.sha1(b"the certificate").hexdigest()
    out = json.loads(run_firmware(CASE % {"key": der.hex(), "app": APP, "aud": AUDIENCE, "thumb": thumbprint})
                     .strip().splitlines()[-1])
    assert out["signature"] == key.sign(b"the signing input", padding.PKCS1v15(), hashes.SHA256()).hex()
    header, claims, signature = out["assertion"].split(".")
    key.public_key().verify(b64url_decode(signature), ("%s.%s" % (header, claims)).encode(),
                            padding.PKCS1v15(), hashes.SHA256())          # raises if it does not verify
    header, claims = json.loads(b64url_decode(header)), json.loads(b64url_decode(claims))
    assert header == {"alg": "RS256", "typ": "JWT",
                      "x5t": base64.urlsafe_b64encode(binascii.unhexlify(thumbprint)).decode().rstrip("=")}
    assert claims == {"aud": AUDIENCE, "iss": APP, "sub": APP, "jti": "abc", "nbf": 1800000000,
                      "iat": 1800000000, "exp": 1800000600}


def test_keys_that_cannot_be_used_are_one_line_without_the_key(run_firmware, key):
    good = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())
    encrypted = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                  serialization.BestAvailableEncryption(b"pass"))
    ec_key = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    numbers = key.private_numbers()
    damaged = rsa.RSAPrivateNumbers(numbers.p, numbers.q, numbers.d, numbers.dmp1, numbers.dmq1,
                                    numbers.iqmp ^ 2, numbers.public_numbers)
    damaged_der = _pkcs1(damaged)
    thumb = "ab" * 20
    cases = [(good.hex(), thumb), (good[:300].hex(), thumb), (encrypted.hex(), thumb), (ec_key.hex(), thumb),
             (damaged_der.hex(), thumb), (good.hex(), "12ab"), ("3003020100", thumb)]
    out = json.loads(run_firmware(REFUSED % {"cases": cases}).strip().splitlines()[-1])
    assert out[0] == "accepted"
    assert out[1] == "the key is cut short"
    assert out[2] == "the key is encrypted or not a private key: export it unencrypted"
    assert out[3] == "the key is not an RSA key (Entra ID app certificates are RSA)"
    assert out[4] == "the key's numbers do not agree (a damaged key)"
    assert out[5].startswith("the certificate thumbprint is the SHA-1")
    assert out[6] == "the key is not an RSA private key"
    everything = json.dumps(out)
    for number in (numbers.p, numbers.q, numbers.d):
        assert ("%x" % number)[:16] not in everything


def _pkcs1(numbers):
    """DER of RSAPrivateKey from its numbers (cryptography refuses to build an inconsistent key)."""
    def integer(value):
        body = value.to_bytes(value.bit_length() // 8 + 1, "big")
        return b"\x02" + _length(len(body)) + body

    body = b"".join(integer(v) for v in (0, numbers.public_numbers.n, numbers.public_numbers.e, numbers.d,
                                         numbers.p, numbers.q, numbers.dmp1, numbers.dmq1, numbers.iqmp))
    return b"\x30" + _length(len(body)) + body


def _length(n):
    if n < 128:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def test_a_key_cut_anywhere_or_with_a_bad_length_is_refused_in_one_line(run_firmware, key):
    # a key file copied short, or damaged in its DER lengths, is a clear refusal at every byte:
    # never accepted, never an error other than the one line (an IndexError would be a traceback)
    good = key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())
    thumb = "ab" * 20
    cases = [(good[:n].hex(), thumb) for n in list(range(0, 40)) + list(range(40, len(good), 97))]
    header = bytearray(good)
    header[1] = 0x80                        # a long length with no length bytes
    five = bytearray(good)
    five[1] = 0x85                          # five length bytes: more than a key needs
    cases += [(bytes(header).hex(), thumb), (bytes(five).hex(), thumb), ("3082", thumb), ("30", thumb),
              (good[:4].hex(), thumb), (good.hex(), thumb)]
    out = json.loads(run_firmware(REFUSED.replace("except ValueError as e:", "except Exception as e:\n"
                                                  "        e = e if isinstance(e, ValueError) else repr(e)")
                                  % {"cases": cases}).strip().splitlines()[-1])
    texts = {"the key is cut short", "the key is not DER", "the key is not an RSA private key",
             "the key is encrypted or not a private key: export it unencrypted",
             "the key is not an RSA key (Entra ID app certificates are RSA)"}
    assert all(text in texts for text in out[:-1]), [t for t in out[:-1] if t not in texts]
    assert out[-3:-1] == ["the key is cut short", "the key is cut short"] and out[-1] == "accepted"


def _prime(bits, rng):
    """A probable prime of `bits` bits with its top two bits set (Miller-Rabin, 40 rounds)."""
    while True:
        n = rng.getrandbits(bits) | (3 << (bits - 2)) | 1
        d, r = n - 1, 0
        while d % 2 == 0:
            d, r = d // 2, r + 1
        for _ in range(40):
            x = pow(rng.randrange(2, n - 1), d, n)
            if x in (1, n - 1):
                continue
            for _ in range(r - 1):
                x = pow(x, 2, n)
                if x == n - 1:
                    break
            else:
                break
        else:
            return n


def _small_key(modulus_bytes, rng):
    """PKCS#1 DER of an RSA key whose modulus is `modulus_bytes` long (too short for real use)."""
    while True:
        p, q = _prime(modulus_bytes * 4, rng), _prime(modulus_bytes * 4, rng)
        phi = (p - 1) * (q - 1)
        if p != q and phi % 65537:
            break
    d = pow(65537, -1, phi)
    numbers = rsa.RSAPrivateNumbers(p, q, d, d % (p - 1), d % (q - 1), pow(q, -1, p),
                                    rsa.RSAPublicNumbers(65537, p * q))
    assert (p * q).bit_length() == modulus_bytes * 8
    return _pkcs1(numbers)


def test_the_shortest_key_rs256_can_sign_with_and_der_lengths_read_exactly(run_firmware):
    # PKCS#1 v1.5 with SHA-256 needs 62 bytes of modulus (51 of DigestInfo, 11 of padding)
    import random

    rng = random.Random(5)
    thumb = "ab" * 20
    eight = b"\x30\x18" + b"\x02\x01\x00" + b"\x02\x01\x05" * 7           # 8 integers, not 9
    cases = [(_small_key(61, rng).hex(), thumb), (_small_key(62, rng).hex(), thumb), ("30020200", thumb),
             ("3082", thumb), ("3080", thumb), ("30840000000a", thumb), (eight.hex(), thumb),
             (_small_key(62, rng).hex(), "zz" * 20)]
    out = json.loads(run_firmware(REFUSED % {"cases": cases}).strip().splitlines()[-1])
    assert out == ["the key is too short for RS256", "accepted", "the key is not an RSA private key",
                   "the key is not DER", "the key is not DER", "the key is not DER",
                   "the key is not an RSA private key",
                   "the certificate thumbprint is the SHA-1 of 40 hex digits the app registration shows"]
