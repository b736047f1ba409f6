# The application's loop on both runtimes, on a board whose clock raises for a while (as an RTC on
# I2C does when the bus fails): no background task stays dead. The network task, which reads the
# clock without expecting an error, is logged and started again until the clock answers; the
# outbox worker logs its own failure once per try, not five times a second; then the network is
# up, the clock set and the console answers as usual.
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
