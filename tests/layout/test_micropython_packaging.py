# The firmware the way the MicroPython ecosystem takes packages: package.json for mip (installed
# here by mpremote's own `mip install` onto a virtual board, which then imports and uses it) and
# manifest.py for freezing into a custom build (read with the API MicroPython's manifestfile gives
# a manifest: package() and metadata()). Both must carry exactly the files a flashed board gets.
import json
import os
import subprocess
import sys

from scanmail.host_tools import firmware_build

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MPREMOTE = os.path.join(os.path.dirname(sys.executable), "mpremote")


def board_sources():
    """Paths under the package, as a flashed CPython-runtime board gets them, less CPython's side."""
    return sorted(path[len("lib/scanmail/firmware/"):] for _, path in firmware_build.firmware_image(compiled=False)
                  if not path.endswith("compat_cpython.py"))


def distribution_version():
    with open(os.path.join(REPO_ROOT, "pyproject.toml")) as f:
        return [line.split('"')[1] for line in f if line.startswith("version = ")][0]


def test_package_json_lists_every_board_file_at_its_place_under_scanmail_firmware():
    with open(os.path.join(REPO_ROOT, "package.json")) as f:
        package = json.load(f)
    expected = [["scanmail/firmware/" + p, "firmware/" + p] for p in board_sources()]
    assert package["urls"] == expected, "package.json is out of date; its urls should be:\n" + json.dumps(expected)
    assert package["version"] == distribution_version()


def test_mpremote_mip_installs_the_firmware_from_package_json_and_the_board_uses_it(start_board):
    board = start_board("micropython", fast=True)
    proc = subprocess.run([MPREMOTE, "connect", board.port, "mip", "install", "--target", "/lib",
                           os.path.join(REPO_ROOT, "package.json")], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    check = ("from scanmail.firmware.mail import Message\n"
             "import scanmail.firmware.tls_setup as t\n"
             "print(Message('scanner@contoso.com', ['alice@contoso.com']).to, len(t.bundled_roots()))")
    proc = subprocess.run([MPREMOTE, "connect", board.port, "exec", check], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    der = os.path.join(REPO_ROOT, "firmware", "roots", "digicert_global_root_g2.der")
    assert proc.stdout.split() == ["['alice@contoso.com']", str(os.path.getsize(der))]


def test_manifest_freezes_every_board_module_as_scanmail_firmware():
    frozen, meta = [], {}

    def package(package_path, files=None, base_path=".", opt=None):
        for name in files:
            source = os.path.join(base_path, package_path, name)
            assert os.path.isfile(source), source          # the build would stat it
            frozen.append(package_path + "/" + name)

    with open(os.path.join(REPO_ROOT, "manifest.py")) as f:
        code = f.read()
    cwd = os.getcwd()
    os.chdir(REPO_ROOT)   # manifestfile runs a manifest from its own folder
    try:
        exec(compile(code, "manifest.py", "exec"), {"package": package, "metadata": meta.update})
    finally:
        os.chdir(cwd)
    assert sorted(frozen) == ["scanmail/firmware/" + p for p in board_sources() if p.endswith(".py")]
    assert meta["version"] == distribution_version()
