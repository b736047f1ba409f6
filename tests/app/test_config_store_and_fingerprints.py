# The configuration store's promises and the secret store's fingerprints, on both runtimes, each
# checked against a value computed another way: the configuration hash is the SHA-256 of the
# stored settings as sorted, compact JSON (Python's own json module, here), whatever order the
# keys were set in; a change is all or nothing; a file this firmware did not write is refused with
# what to do; a value the firmware no longer allows falls back to its default. A fingerprint is the
# salted SHA-256 of the secret (the salt read from the board's NVS here), differs from board to
# board for the same secret, and is gone with the secret; a secret at the size limit is kept.
import binascii
import hashlib
import json
import os

from tests.runtimes import REPO_ROOT

ROM = os.path.join(REPO_ROOT, "emulator", "board_rom")

STORE = r"""
import json
from scanmail.firmware.app.config_store import ConfigStore
from scanmail.firmware.app.config_schema import ConfigError
out = {}
a = ConfigStore(A)
a.set("sender", "scanner@contoso.com")
a.set("address_book", {"zoe": "z@contoso.com", "alice": "a@contoso.com"})
b = ConfigStore(B)
b.set("address_book", {"alice": "a@contoso.com", "zoe": "z@contoso.com"})
b.set("sender", "scanner@contoso.com")
out["hashes"] = [a.hash(), b.hash()]
refused = []
for changes in ({}, [["port", 25]], {"port": 25, "quality": 500}, {"method": "custom"}):
    try:
        a.validate(changes)
        refused.append(None)
    except ConfigError as e:
        refused.append([e.key, str(e)])
out["refused"] = refused
out["after_refusals"] = [a.get("port"), a.get("quality"), a.get("method"), a.hash()]
out["validated"] = a.validate({"port": 25})["port"]
out["not_stored"] = a.get("port")
try:
    a.get("colour")
    out["unknown"] = None
except ConfigError as e:
    out["unknown"] = e.key
whole = a.get()
whole["port"] = 1
out["copy"] = a.get("port")
try:
    ConfigStore(BAD)
    out["bad_file"] = None
except ValueError as e:
    out["bad_file"] = str(e)
old = ConfigStore(OLD)
out["old"] = [old.get("quality"), old.get("sender"), sorted(old.dropped), old.migrated_from]
print(json.dumps(out))
"""

FINGERPRINTS = r"""
import json, binascii, _vboard_host
from scanmail.firmware.app.secret_store import SecretStore, SecretError, MAX_BYTES
out = {}
def nvs(path):
    _vboard_host._config = {"nvs": path}
    import esp32
    return esp32.NVS("secrets")
one = SecretStore(nvs(NVS_ONE))
one.set("password", "Scanner-Pass-1")
buf = bytearray(16)
nvs(NVS_ONE).get_blob("salt", buf)
out["salt"] = binascii.hexlify(buf).decode()
out["one"] = one.fingerprint("password")
out["status"] = one.status()
one.set("refresh_token", b"x" * MAX_BYTES)
out["longest"] = [one.is_set("refresh_token"), len(one.get("refresh_token"))]
errors = []
for value in (b"x" * (MAX_BYTES + 1), 12345):
    try:
        one.set("client_key", value)
        errors.append(None)
    except SecretError as e:
        errors.append(str(e))
out["errors"] = errors
one.set("password", "Scanner-Pass-2")
out["changed"] = one.fingerprint("password")
one.set("password", None)
out["cleared"] = [one.fingerprint("password"), one.is_set("password"), one.get("password"),
                  one.status()["password"]]
one.set("password", "")                       # clearing what is not set is no error
two = SecretStore(nvs(NVS_TWO))
two.set("password", "Scanner-Pass-1")
out["two"] = two.fingerprint("password")
print(json.dumps(out))
"""


def config_hash(settings):
    canonical = json.dumps(settings, sort_keys=True, separators=(",", ":"))
    return binascii.hexlify(hashlib.sha256(canonical.encode()).digest()[:6]).decode()


def stored_settings(path):
    return json.loads(open(path, "rb").read().decode().rsplit("\n#end", 1)[0])["settings"]


def test_the_configuration_hash_changes_and_refusals_as_promised(run_firmware, tmp_path):
    paths = dict((name, str(tmp_path / (name + ".json"))) for name in ("A", "B", "BAD", "OLD"))
    open(paths["BAD"], "w").write("not json\n#end\n")
    open(paths["OLD"], "w").write(json.dumps({"version": 2, "settings": {
        "quality": 500, "sender": "scanner@contoso.com"}}) + "\n#end\n")
    code = "".join("%s = %r\n" % item for item in paths.items()) + STORE
    out = json.loads(run_firmware(code).strip().splitlines()[-1])
    # the same settings, set in another order, give the same hash: that of the stored settings
    assert out["hashes"][0] == out["hashes"][1] == config_hash(stored_settings(paths["A"]))
    assert out["refused"] == [
        ["changes", "changes refused; allowed: an object of one or more keys to values; kept: null"],
        ["changes", "changes refused; allowed: an object of one or more keys to values; kept: null"],
        ["quality", "quality refused; allowed: an integer 10..95; kept: 80"],
        ["host", "host refused; allowed: the custom method needs host: the mail server's name; "
                 "kept: \"\""]]
    assert out["after_refusals"] == [0, 80, "submission", out["hashes"][0]]
    assert (out["validated"], out["not_stored"], out["unknown"], out["copy"]) == (25, 0, "colour", 0)
    assert out["bad_file"] == ("%s is not a configuration file this firmware wrote: fix or remove it "
                               "(the defaults apply without it)" % paths["BAD"])
    assert out["old"] == [80, "scanner@contoso.com", ["quality"], None]


def test_a_fingerprint_is_the_salted_hash_of_the_secret_and_goes_with_it(run_firmware, tmp_path):
    code = "NVS_ONE = %r\nNVS_TWO = %r\n" % (str(tmp_path / "one.json"), str(tmp_path / "two.json"))
    out = json.loads(run_firmware(code + FINGERPRINTS, extra_paths=(ROM,)).strip().splitlines()[-1])
    salt = binascii.unhexlify(out["salt"])
    assert out["one"] == hashlib.sha256(salt + b"Scanner-Pass-1").hexdigest()[:8]
    assert out["status"]["password"] == {"set": True, "fingerprint": out["one"]}
    assert {"refresh_token", "client_key", "wifi_password"} < set(out["status"])
    assert all(v == {"set": False, "fingerprint": None}
               for name, v in out["status"].items() if name != "password")
    assert out["longest"] == [True, 4000]
    assert out["errors"] == ["secret client_key is longer than 4000 bytes",
                             "secret client_key must be text or bytes"]
    assert out["changed"] == hashlib.sha256(salt + b"Scanner-Pass-2").hexdigest()[:8]
    assert out["cleared"] == [None, False, None, {"set": False, "fingerprint": None}]
    # another board, the same password: another salt, another fingerprint
    assert len(out["two"]) == 8 and out["two"] != out["one"]
