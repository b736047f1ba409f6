# The foundation every part stands on: the firmware's runtime shim imports and behaves the same on
# MicroPython and CPython, and the `scanmail` command line answers.
import subprocess
import sys


def test_compat_shim_runs_on_both_runtimes(run_firmware, runtime):
    # The clock shims by their arithmetic, not by timing a sleep (tests never assert on time).
    out = run_firmware(
        "import scanmail.firmware.compat as c\n"
        "print(c.IS_MICROPYTHON, c.const(7), c.ticks_diff(1020, 1000), c.ticks_diff(1000, 1020),\n"
        "      type(c.ticks_ms()).__name__, c.sleep_ms(1))\n"
    )
    assert out.split() == [str(runtime == "micropython"), "7", "20", "-20", "int", "None"]


def test_scanmail_help_lists_the_command_groups():
    proc = subprocess.run(
        [sys.executable, "-m", "scanmail.host_tools.cli", "--help"], capture_output=True, text=True
    )
    assert proc.returncode == 0
    assert "examples:" in proc.stdout


def test_a_user_mistake_is_one_line_and_exit_status_2_also_under_python_dash_m():
    proc = subprocess.run(
        [sys.executable, "-m", "scanmail.host_tools.cli", "board", "stop", "no-such-board-anywhere"],
        capture_output=True, text=True,
    )
    assert proc.returncode == 2
    assert proc.stderr.startswith("scanmail: ")
    assert "Traceback" not in proc.stderr


def test_a_command_group_given_alone_shows_that_groups_help():
    for words, usage in ((["board"], "usage: scanmail board"), (["o365", "fault"], "usage: scanmail o365 fault")):
        proc = subprocess.run([sys.executable, "-m", "scanmail.host_tools.cli"] + words, capture_output=True, text=True)
        assert proc.returncode == 2
        assert proc.stdout.startswith(usage), proc.stdout[:200]
