# Runs the web installers' Improv Serial client (npm improv-wifi-serial-sdk, fetched into
# .venv/judges by ./dev test) on a serial port's file descriptor: the judge of the board's Improv
# Serial. Rule: the client is used as published, through its public ImprovSerial class; a missing
# client is a failure that says how to get it, never a skip.
import json
import os
import subprocess

from tests import runtimes

SDK = os.path.join(runtimes.REPO_ROOT, ".venv", "judges", "improv-wifi-serial-sdk")
SCRIPT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "improv_serial_client.mjs")


def run_client(fd, steps, timeout_s=90):
    """Each step's outcome (dicts), from the ImprovSerial client talking on `fd`."""
    if not os.path.exists(os.path.join(SDK, "dist", "serial.js")):
        raise AssertionError("the Improv Serial client is not installed: run ./dev test (it fetches "
                             "improv-wifi-serial-sdk into .venv/judges; node and npm are needed)")
    proc = subprocess.run(["node", SCRIPT, SDK, json.dumps(steps), str(fd)], pass_fds=(fd,),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=timeout_s)
    assert proc.returncode == 0, proc.stderr.decode("utf-8", "replace")
    return [json.loads(line) for line in proc.stdout.decode().splitlines() if line.startswith("{")], \
        proc.stderr.decode("utf-8", "replace")
