# The application's loop on both runtimes, on a board whose clock raises for a while (as an RTC on
# I2C does when the bus fails): no background task stays dead. The network task, which reads the
# clock without expecting an error, is logged and started again until the clock answers; the
# outbox worker logs its own failure once per try, not five times a second; then the network is
# up, the clock set and the console answers as usual. A task that fails again and again waits
# longer each time; one that ran well for longer than the longest pause starts from the shortest.
import json
import os
import pty
import subprocess
import time
import tty

from scanmail.host_tools.console_client import ConsoleClient
from tests import runtimes
from tests.app.test_console import FIRMWARE_ON_RUNTIME, HERE, ROM, PtyPort


def test_a_clock_that_raises_for_a_while_leaves_no_task_dead(runtime, tmp_path):
    root = tmp_path / "flash"
    root.mkdir()
    clock = tmp_path / "clock"
    clock.write_text("the bus is down")            # int() of it raises ValueError
    spec = {"root": str(root), "nvs": str(tmp_path / "nvs.json"), "pages": str(tmp_path), "routes": {},
            "now": 0, "clock_path": str(clock)}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    master, slave = pty.openpty()
    tty.setraw(slave)
    proc = subprocess.Popen(runtimes.command_for(runtime) + [os.path.join(HERE, "console_app.py"),
                                                             str(tmp_path / "spec.json")],
                            stdin=slave, stdout=slave, stderr=subprocess.PIPE,
                            env=runtimes.environment_for(runtime, (HERE, FIRMWARE_ON_RUNTIME, ROM)),
                            cwd=runtimes.REPO_ROOT)
    os.close(slave)
    try:
        board = ConsoleClient(None, timeout_s=20, serial_port=PtyPort(master))
        board.wait_for_log("network: stopped by ValueError")
        time.sleep(2.5)                             # the worker's tries meanwhile
        clock.with_name("clock.new").write_text("1800000000")
        os.replace(clock.with_name("clock.new"), clock)
        board.wait_for_log("clock set")
        assert board.request("status")["clock_set"] is True
        lines = board.request("logs", count=200)
        worker_failures = [line for line in lines if line.startswith("- outbox: ValueError")]
        assert 1 <= len(worker_failures) <= 3, lines
        assert any("starting it again in 1 s" in line for line in lines), lines
        assert "Task exception" not in "\n".join(board.log_lines)
    finally:
        proc.kill()
        proc.wait()
        os.close(master)


KEPT = """
import asyncio
from scanmail.firmware.app import app_loop

app_loop.NETWORK_BACKOFF_S = (0, 1, 2)       # the pauses, shortened; the longest is 2 s
RUNS = [0, 0, 2.5, 0]                        # how long each start runs before its error


class App:
    def log(self, line):
        print(line)


async def task(app):
    run_s = RUNS.pop(0)
    await asyncio.sleep(run_s)
    if not RUNS:
        return
    raise OSError(5)


asyncio.run(app_loop._kept(App(), "button", task))
print("done")
"""


def test_a_task_that_ran_well_for_long_starts_again_after_the_shortest_pause(runtime):
    proc = runtimes.run_code(runtime, KEPT, timeout=60, extra_paths=(HERE, FIRMWARE_ON_RUNTIME, ROM))
    lines = proc.stdout.decode().splitlines()
    assert proc.returncode == 0, proc.stderr.decode()
    assert [line.rsplit(" in ", 1)[1] for line in lines[:-1]] == ["0 s", "1 s", "0 s"], lines
    assert all(line.startswith("button: stopped by OSError") for line in lines[:-1]) and lines[-1] == "done"
