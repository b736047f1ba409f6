# The firmware only uses what a stock MicroPython ESP32 build has: `python -m hardware.firmware_check`
# (mypy against the MicroPython stdlib + ESP32 port stubs, plus the import/syntax rules of
# docs/architecture.md) passes over firmware/, and rejects CPython-only code with a line naming the
# file, the line and what is wrong. Run as a subprocess, exactly as a developer or CI would.
import os
import subprocess
import sys

import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_checker(*paths):
    proc = subprocess.run(
        [sys.executable, "-m", "scanmail.hardware.firmware_check"] + list(paths),
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return proc.returncode, proc.stdout + proc.stderr


def test_the_firmware_package_uses_only_what_an_esp32_micropython_build_has():
    code, output = run_checker()
    assert code == 0, "firmware/ fails the MicroPython ESP32 check:\n" + output
    assert "firmware_check: ok" in output


# Each snippet is one thing a CPython habit would put in firmware; the checker must name it.
CPYTHON_ONLY_SNIPPETS = [
    ("imports_typing", "import typing\n", "import of typing"),
    ("imports_from_typing", "from typing import Optional\n", "import of typing"),
    ("imports_dataclasses", "from dataclasses import dataclass\n", "dataclasses"),
    ("imports_enum", "import enum\n", "import of enum"),
    ("imports_abc", "from abc import ABC\n", "import of abc"),
    ("imports_pathlib", "import pathlib\n", 'module named "pathlib"'),
    ("uses_removeprefix", "def f(s):\n    return 'scan-1'.removeprefix('scan-')\n", '"str" has no attribute "removeprefix"'),
    ("uses_os_path", "import os\n\ndef f():\n    return os.path.join('a', 'b')\n", 'has no attribute "path"'),
    ("uses_monotonic", "import time\n\ndef f():\n    return time.monotonic()\n", 'has no attribute "monotonic"'),
    ("uses_create_connection", "import socket\n\ndef f():\n    return socket.create_connection(('a', 25))\n", 'has no attribute "create_connection"'),
    ("uses_bit_count", "def f(n):\n    return (7).bit_count() + n\n", '"int" has no attribute "bit_count"'),
    ("package/imports_relatively", "from . import sibling\n", "relative import"),
    ("uses_walrus", "def f(xs):\n    if (n := len(xs)) > 1:\n        return n\n", "walrus operator"),
    ("uses_fstring_equals", "def f(x):\n    return f'{x=}'\n", "f-string '=' specifier"),
    # the mail core stays blocking; asyncio belongs to the application (firmware/app/)
    ("imports_asyncio_in_the_mail_core", "import asyncio\n", "asyncio belongs to the application"),
]

# What a real board offers must pass: proves the ESP32 stubs are in use, not just "everything fails".
ESP32_CODE_THAT_IS_FINE = """\
import socket
import time

import machine
import network
import ntptime


def connect(host, port, timeout_s):
    address = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)[0][-1]
    sock = socket.socket()
    sock.settimeout(timeout_s)
    sock.connect(address)
    return sock


def blink():
    led = machine.Pin(2, machine.Pin.OUT)
    led.value(1)
    started = time.ticks_ms()
    time.sleep_ms(10)
    return time.ticks_diff(time.ticks_ms(), started)


def wifi(ssid, password):
    wlan = network.WLAN(network.STA_IF)
    wlan.active(True)
    wlan.connect(ssid, password)
    ntptime.settime()
    return wlan.status() == network.STAT_GOT_IP
"""


@pytest.fixture(scope="module")
def checker_run_over_snippets(tmp_path_factory):
    folder = tmp_path_factory.mktemp("snippets")
    (folder / "package").mkdir()
    (folder / "package" / "__init__.py").write_text("")
    (folder / "package" / "sibling.py").write_text("")
    for name, source, _ in CPYTHON_ONLY_SNIPPETS:
        (folder / (name + ".py")).write_text(source)
    (folder / "esp32_code_that_is_fine.py").write_text(ESP32_CODE_THAT_IS_FINE)
    (folder / "app").mkdir()
    (folder / "app" / "__init__.py").write_text("")
    (folder / "app" / "loop.py").write_text(
        "import asyncio\n\n\nasync def tick():\n    await asyncio.sleep(0)\n")
    return folder, run_checker(str(folder))


@pytest.mark.parametrize(
    "name, expected", [(name, expected) for name, _, expected in CPYTHON_ONLY_SNIPPETS]
)
def test_cpython_only_code_is_rejected_naming_the_file_line_and_problem(checker_run_over_snippets, name, expected):
    folder, (code, output) = checker_run_over_snippets
    assert code == 1, output
    lines = [line for line in output.splitlines() if line.startswith(str(folder / (name + ".py")) + ":")]
    assert any(": error:" in line and expected in line for line in lines), (
        "%s: expected an error containing %r, got:\n%s" % (name, expected, "\n".join(lines) or output)
    )


def test_code_using_only_esp32_apis_passes_the_same_check(checker_run_over_snippets):
    folder, (_, output) = checker_run_over_snippets
    fine = str(folder / "esp32_code_that_is_fine.py")
    assert fine + ":" not in output, output


def test_the_application_may_use_asyncio(checker_run_over_snippets):
    folder, (_, output) = checker_run_over_snippets
    assert str(folder / "app" / "loop.py") + ":" not in output, output
