# Shared fixtures. `runtime` parametrizes a test over CPython and the MicroPython unix port, so
# that every firmware behaviour is proven on both.
import os

import pytest
from hypothesis import settings

from tests import runtimes

# Property tests: on a developer's machine each run explores new examples (and finds new bugs);
# in CI (CI=true) the examples are fixed, so a red run is always reproducible and never a dice roll.
settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
settings.register_profile("dev", print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


def pytest_addoption(parser):
    group = parser.getgroup("scanmail", "scanmail's board-facing tests")
    group.addoption("--port", default=None, metavar="DEVICE",
                    help="run the board-facing tests against the real ESP32 running scanmail on "
                         "this serial port (e.g. /dev/ttyUSB0) instead of a virtual board; tests "
                         "that switch the network still use virtual boards. Needs --board-config.")
    group.addoption("--board-config", default=None, metavar="FILE",
                    help="with --port: the real board's Esp32Board config as JSON (its profile's "
                         "board_config plus \"wifi\": {\"ssid\": ..., \"password\": ...})")


@pytest.fixture(params=runtimes.RUNTIMES)
def runtime(request):
    return request.param


@pytest.fixture
def run_firmware(runtime):
    """Run a snippet of firmware code on the parametrized runtime; fail with its stderr if it fails."""

    def run(code, heap_bytes=None, timeout=60, extra_paths=(), cwd=None):
        proc = runtimes.run_code(runtime, code, heap_bytes, timeout, extra_paths, cwd)
        out = proc.stdout.decode("utf-8", "replace")
        err = proc.stderr.decode("utf-8", "replace")
        if proc.returncode != 0:
            raise AssertionError("%s exited %d:\n%s%s" % (runtime, proc.returncode, out, err))
        return out

    return run
