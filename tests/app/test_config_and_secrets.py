# The configuration store and the secret store, on both runtimes: defaults, refusals that name the
# key, what is allowed and the value kept (nothing written), the hash after each change, migration
# of a version-1 file, a power cut between the temporary file and the rename, and secrets that only
# ever show as "set" plus a fingerprint.
import json
import os

from tests.runtimes import REPO_ROOT

ROM = os.path.join(REPO_ROOT, "emulator", "board_rom")

CONFIG_CASES = r"""
import json
from scanmail.firmware.app.config_store import ConfigStore
from scanmail.firmware.app.config_schema import ConfigError
out = {}
s = ConfigStore(PATH)
out["default_method"] = s.get("method")
out["h0"] = s.hash()
out["h1"] = s.set("sender", "scanner@contoso.com")
out["h2"] = s.update({"address_book": {"alice": "alice@contoso.com"}, "default_destination": "alice"})
refusals = []
for key, value in (("port", 70000), ("method", "smoke"), ("sender", "a\r\nb@c.d"), ("colour", 1),
                   ("default_destination", "bob"), ("method", "relay")):
    try:
        s.set(key, value)
        refusals.append(None)
    except ConfigError as e:
        refusals.append([e.key, str(e)])
out["refusals"] = refusals
out["after"] = [s.get("port"), s.get("method"), s.hash()]
out["reloaded"] = ConfigStore(PATH).hash()
print(json.dumps(out))
"""


def test_config_defaults_changes_refusals_and_hash(run_firmware, tmp_path):
    path = str(tmp_path / "config.json")
    out = json.loads(run_firmware("PATH = %r\n" % path + CONFIG_CASES).strip().splitlines()[-1])
    assert out["default_method"] == "submission"
    assert len({out["h0"], out["h1"], out["h2"]}) == 3
    assert out["refusals"] == [
        ["port", "port refused; allowed: an integer 0..65535; kept: 0"],
        ["method", "method refused; allowed: submission | direct_send | relay | hve | custom; "
                   "kept: \"submission\""],
        ["sender", "sender refused; allowed: an e-mail address such as scanner@contoso.com; "
                   "kept: \"scanner@contoso.com\""],
        ["colour", out["refusals"][3][1]],
        ["default_destination", "default_destination refused; allowed: not a name in address_book "
                                "(names: alice); kept: \"alice\""],
        ["host", "host refused; allowed: the relay method needs host: your MX endpoint, e.g. "
                 "contoso-com.mail.protection.outlook.com; kept: \"\""],
    ]
    assert out["refusals"][3][1].startswith("colour refused; allowed: one of the keys address_book, auth,")
    # refused changes kept memory and flash as they were
    assert out["after"] == [0, "submission", out["h2"]]
    assert out["reloaded"] == out["h2"]
    stored = json.loads(open(path, "rb").read().decode().rsplit("\n#end", 1)[0])
    assert stored["version"] == 2 and stored["settings"]["sender"] == "scanner@contoso.com"


def test_a_version_1_file_is_migrated_and_rewritten(run_firmware, tmp_path):
    path = tmp_path / "config.json"
    path.write_bytes(json.dumps({"version": 1, "settings": {
        "profile": "hve", "to": "bob@contoso.com", "keep_documents": 1, "fax_number": "123",
        "quality": 500}}).encode() + b"\n#end\n")
    out = json.loads(run_firmware(
        "import json\nfrom scanmail.firmware.app.config_store import ConfigStore\n"
        "s = ConfigStore(%r)\n"
        "print(json.dumps([s.migrated_from, sorted(s.dropped), s.get('method'), s.get('address_book'),"
        " s.get('default_destination'), s.get('keep_sent'), s.get('quality')]))\n" % str(path)
    ).strip().splitlines()[-1])
    assert out == [1, ["fax_number", "quality"], "hve", {"default": "bob@contoso.com"}, "default", True, 80]
    assert json.loads(path.read_bytes().decode().rsplit("\n#end", 1)[0])["version"] == 2


def test_a_power_cut_before_the_rename_keeps_a_complete_file(run_firmware, tmp_path):
    path = tmp_path / "config.json"
    good = json.dumps({"version": 2, "settings": {"sender": "scanner@contoso.com"}}).encode()
    # cut while the temporary file was written: the old file stands
    path.write_bytes(good + b"\n#end\n")
    (tmp_path / "config.json.tmp").write_bytes(b'{"version": 2, "sett')
    # cut after a FAT-style remove and before the rename: the complete temporary file stands in
    other = tmp_path / "other.json"
    (tmp_path / "other.json.tmp").write_bytes(good + b"\n#end\n")
    out = json.loads(run_firmware(
        "import json\nfrom scanmail.firmware.app.config_store import ConfigStore\n"
        "print(json.dumps([ConfigStore(%r).get('sender'), ConfigStore(%r).get('sender')]))\n"
        % (str(path), str(other))).strip().splitlines()[-1])
    assert out == ["scanner@contoso.com", "scanner@contoso.com"]
    assert other.exists()


SECRET_CASES = r"""
import json, _vboard_host
_vboard_host._config = {"nvs": NVS_PATH}
import esp32
from scanmail.firmware.app.secret_store import SecretStore, SecretError
store = SecretStore(esp32.NVS("secrets"))
before = store.status()
store.set("password", "Scanner-Pass-1")
store.set("client_key", bytes(range(256)) * 5)
again = SecretStore(esp32.NVS("secrets"))
after = again.status()
key_len = len(again.get("client_key"))
errors = []
for name, value in (("pin", "1234"), ("password", "x" * 5000)):
    try:
        store.set(name, value)
    except SecretError as e:
        errors.append(str(e))
store.set("client_key", "")
print(json.dumps({"before": before, "after": after, "get": again.get("password").decode(),
                  "key_len": key_len, "cleared": store.is_set("client_key"),
                  "errors": errors}))
"""


def test_secrets_are_write_only_and_show_as_set_with_a_fingerprint(run_firmware, tmp_path):
    nvs = str(tmp_path / "nvs.json")
    out = json.loads(run_firmware("NVS_PATH = %r\n" % nvs + SECRET_CASES, extra_paths=(ROM,))
                     .strip().splitlines()[-1])
    assert all(not v["set"] for v in out["before"].values())
    assert out["after"]["password"]["set"] and len(out["after"]["password"]["fingerprint"]) == 8
    assert out["after"]["client_key"]["set"] and not out["after"]["refresh_token"]["set"]
    assert out["get"] == "Scanner-Pass-1" and out["key_len"] == 1280 and out["cleared"] is False
    assert out["errors"] == [
        "unknown secret 'pin'; the secrets are: client_key, oauth_key, oauth_rt_a, oauth_rt_b, oauth_secret, "
        "oauth_user, password, refresh_token, wifi_password",
        "secret password is longer than 4000 bytes"]
    status_text = json.dumps(out["after"]) + json.dumps(out["errors"])
    assert "Scanner-Pass-1" not in status_text
    # the secret lives in NVS, not on the flash beside the configuration
    assert "password" not in open(nvs).read()


START_CASES = r"""
import json, sys
from scanmail.firmware.app import app_loop
from scanmail.firmware.app.config_store import stored_value
auth = stored_value(PATH, "auth")
app_loop.preload(auth == "xoauth2")
print(json.dumps([auth, stored_value(PATH + ".absent", "auth"), stored_value(BROKEN, "auth"),
                  "scanmail.firmware.oauth" in sys.modules, "scanmail.firmware.app.oauth_sign_in" in sys.modules,
                  [stored_value(path, "auth") for path in ODD]]))
"""


def test_a_board_signed_in_by_oauth_loads_the_sign_in_at_start(run_firmware, tmp_path):
    # app_loop.main reads the stored auth before building the application: with xoauth2 the
    # sign-in's modules are loaded at start with the application's own; an absent or broken file
    # is no reason to stop (the configuration store says what is wrong with it later).
    broken = tmp_path / "broken.json"
    broken.write_bytes(b'{"version": 2, "sett')
    # whole files that are still no configuration: not JSON, no settings, a list, settings a list
    odd = []
    for i, content in enumerate((b"not json", b'{"version": 2}', b"[1, 2]", b'{"settings": [1]}')):
        odd.append(str(tmp_path / ("odd-%d.json" % i)))
        open(odd[-1], "wb").write(content + b"\n#end\n")
    got = []
    for auth in ("xoauth2", "login"):
        path = tmp_path / ("config-%s.json" % auth)
        path.write_bytes(json.dumps({"version": 2, "settings": {"auth": auth}}).encode() + b"\n#end\n")
        got.append(json.loads(run_firmware("PATH = %r\nBROKEN = %r\nODD = %r\n" % (str(path), str(broken), odd)
                                           + START_CASES).strip().splitlines()[-1]))
    none = [None] * 4
    assert got == [["xoauth2", None, None, True, True, none], ["login", None, None, False, False, none]]


SAFE_BOOT = r"""
import builtins, json, sys
real_import = builtins.__import__
starts = []


def counting(name, *rest):
    if name.endswith(".app_start"):
        starts.append(name)
    return real_import(name, *rest)


builtins.__import__ = counting
from scanmail.firmware.app import app_loop


class Button:
    def held(self):
        return True


class Board:
    storage_root = ROOT
    scan_button = Button()


result = app_loop.main(Board())
builtins.__import__ = real_import
print(json.dumps([result, len(starts), sorted(n for n in sys.modules if n.startswith("scanmail.firmware."))]))
"""


def test_safe_mode_loads_the_start_once_and_leaves_the_repl_every_byte_of_the_heap(run_firmware, tmp_path):
    # the scan button held at boot, on a board signed in by OAuth (the start loads the sign-in's
    # modules before it looks at the button): main() says so and returns to the REPL with no
    # firmware module left loaded, and its start module (app_start) was loaded once for the whole
    # start, not once per step
    (tmp_path / "config.json").write_bytes(
        json.dumps({"version": 2, "settings": {"auth": "xoauth2"}}).encode() + b"\n#end\n")
    out = run_firmware("ROOT = %r\n" % str(tmp_path) + SAFE_BOOT).strip().splitlines()
    assert out[0] == "scanmail: safe mode (scan button held at boot): the application is off"
    assert json.loads(out[-1]) == [None, 1, []]
