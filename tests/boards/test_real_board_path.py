# The real-board path (`pytest --port DEVICE`, tests/boards/targets.py) proven without an ESP32: to
# the tests a virtual board's pty is what a real board's serial port is (a device path that speaks
# MicroPython's REPL), so pytest pointed at one with --port must run the board-facing checks there,
# under the id esp32@DEVICE, through the same code a real board goes through. Rule: with --port the
# same tests run against the given board, and without it against virtual boards: parametrised,
# never skipped.
import re
import subprocess
import sys

from tests.runtimes import REPO_ROOT

CONFORMANCE = "tests/boards/test_tool_conformance.py"
# the conformance checks that need nothing but the board's serial port
ON_ANY_BOARD = ["test_mpremote_file_commands", "test_mpremote_exec_eval_and_run_answer_as_an_esp32",
                "test_mpremote_mount_carries_every_byte_value_both_ways",
                "test_mpremote_repl_driven_through_a_terminal", "test_rshell_ls_cp_cat_rm_and_repl",
                "test_mpytool_ls_cp_mkdir_mv_rm_info_and_reset"]


def pytest_run(*args, timeout=900):
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider"] + list(args),
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=timeout)


def ids(output):
    """test name -> the ids it was collected with, from `pytest --co -q`."""
    found = {}
    for line in output.splitlines():
        match = re.match(r"^\S+::(\w+)\[(.+)\]$", line.strip())
        if match:
            found.setdefault(match.group(1), []).append(match.group(2))
    return found


def test_with_port_the_conformance_checks_target_that_board_and_without_it_virtual_boards():
    without = ids(pytest_run("--co", "-q", CONFORMANCE).stdout)
    with_port = ids(pytest_run("--co", "-q", "--port", "/dev/ttyUSB7", CONFORMANCE).stdout)
    assert set(without) == set(with_port) and set(ON_ANY_BOARD) < set(without)
    for name in without:
        assert sorted(without[name]) == sorted(
            ["virtual-micropython", "virtual-cpython"] if name != "test_mip_fails_as_on_an_esp32_without_a_route"
            else ["virtual-micropython"]), (name, without[name])
        # the checks that need only a serial port move to the board; the others stay virtual
        assert with_port[name] == (["esp32@/dev/ttyUSB7"] if name in ON_ANY_BOARD else without[name])


def test_the_conformance_checks_pass_on_a_board_given_by_its_serial_port(start_board):
    board = start_board("micropython", ip="127.0.0.70", fast=True)
    proc = pytest_run("-q", "-rA", "--port", board.port, "-k", "esp32", CONFORMANCE)
    passed = re.findall(r"^PASSED \S+::(\w+)\[esp32@(\S+)\]$", proc.stdout, re.M)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert sorted(passed) == sorted((name, board.port) for name in ON_ANY_BOARD), proc.stdout[-3000:]


# What a lab network's DNS does for a real board (README.md, "Tests on a real board"): answer the
# Microsoft host names with the address of the machine running the tests, where the tests' fake
# tenant listens on ports 587 and 25. A virtual board's network reads the same answer from here.
LAB_DNS = {"endpoints": {
    "submission": {"hostname": "smtp.office365.com", "host": "127.0.0.1", "port": 587},
    "mx": {"hostname": "contoso-com.mail.protection.outlook.com", "host": "127.0.0.1", "port": 25}}}


def test_the_console_suite_passes_on_a_board_given_by_its_serial_port(start_board, tmp_path):
    import json

    lab = tmp_path / "lab-dns"
    lab.mkdir()
    (lab / "endpoints.json").write_text(json.dumps(LAB_DNS))
    board = start_board("micropython", ip="127.0.0.71", tenant_state=str(lab), fast=True)
    proc = pytest_run("-q", "-rA", "--port", board.port, "tests/boards/test_console_on_board.py")
    passed = re.findall(r"^PASSED \S+::(\w+)\[esp32@(\S+)\]$", proc.stdout, re.M)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert sorted(passed) == sorted(
        (name, board.port) for name in ("test_frames_commands_and_refusals_as_a_host_tool_sees_them",
                                        "test_a_test_message_and_a_scan_reach_the_tenant",
                                        "test_an_improv_request_during_a_send_is_answered_after_it_and_stops_nothing",
                                        "test_ctrl_c_stops_the_application_and_leaves_the_repl_with_its_heap"))
