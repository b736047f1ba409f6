# The firmware image a board receives: every firmware module compiled by mpy-cross for MicroPython
# (a board's heap cannot compile sources), the sources for a board running CPython, the bundled CA
# roots in both, and nothing that only the build uses.
import os
import subprocess

from scanmail.host_tools import firmware_build
from tests import runtimes


def paths(image):
    return sorted(path for _, path in image)


def test_the_micropython_image_has_every_module_compiled_and_the_roots():
    image = firmware_build.firmware_image(compiled=True)
    sources = sorted(n[:-3] for n in os.listdir(firmware_build.FIRMWARE_DIR) if n.endswith(".py") and n not in firmware_build.HOST_ONLY)
    compiled = sorted(p.rsplit("/", 1)[1][:-4] for p in paths(image) if p.startswith("lib/scanmail/firmware/") and p.count("/") == 3 and p.endswith(".mpy"))
    # Everything but CPython's side of compat.py, which a MicroPython board never imports.
    assert compiled == [name for name in sources if name != "compat_cpython"]
    assert "compat_cpython" in sources
    assert "lib/scanmail/firmware/roots/digicert_global_root_g2.der" in paths(image)
    assert not any(p.endswith(".py") for p in paths(image))
    assert not any("build_roots" in p for p in paths(image))
    for content, path in image:
        if path.endswith(".mpy"):
            assert content[:1] == b"M" and content[1] == firmware_build.MPY_MAJOR, path


def test_the_cpython_image_carries_the_sources_unchanged():
    image = dict((path, content) for content, path in firmware_build.firmware_image(compiled=False))
    with open(os.path.join(firmware_build.FIRMWARE_DIR, "compat.py"), "rb") as handle:
        assert image["lib/scanmail/firmware/compat.py"] == handle.read()
    assert "lib/scanmail/firmware/compat_cpython.py" in image       # a CPython board needs its side


def test_the_compiled_image_imports_on_the_micropython_unix_port(tmp_path):
    for content, path in firmware_build.firmware_image(compiled=True):
        target = tmp_path / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    env = dict(os.environ, MICROPYPATH=str(tmp_path / "lib"))  # the image only, not the sources
    proc = subprocess.run([runtimes.micropython_executable(), "-c", "import scanmail.firmware.mail, scanmail.firmware.board; print(scanmail.firmware.mail.__file__)"],
                          env=env, cwd=str(tmp_path), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == str(tmp_path / "lib" / "scanmail" / "firmware" / "mail.mpy")


def test_parallel_builds_into_an_empty_cache_all_succeed_with_identical_images(tmp_path, monkeypatch):
    import threading

    monkeypatch.setenv("SCANMAIL_CACHE_DIR", str(tmp_path / "cache"))
    images, errors = [], []

    def build():
        try:
            images.append(firmware_build.firmware_image(compiled=True))
        except Exception as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=build) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert all(image == images[0] for image in images)
    assert not [n for n in os.listdir(tmp_path / "cache") if n.endswith(".tmp")]
