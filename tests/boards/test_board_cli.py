# `scanmail board start/list/net/stop` as a user runs them: a board in the background whose port
# answers, a table that shows it, switches that are checked, and errors that say what to do.
import json
import os
import subprocess
import sys

import pytest

from tests.boards.serial_port import Port


# The console script ./dev installs (`python -m host_tools.cli` would run a second copy of the
# module as __main__, whose UserError is another class).
SCANMAIL = os.path.join(os.path.dirname(sys.executable), "scanmail")


def scanmail(*args, cwd=None):
    return subprocess.run([SCANMAIL] + list(args), capture_output=True, text=True, timeout=60, cwd=cwd)


def test_board_start_list_net_and_stop_from_the_command_line(tmp_path):
    root = str(tmp_path / "boards")
    started = scanmail("board", "start", "--profile", "esp32-devkitc", "--root", root, "--name", "lobby",
                       "--ip", "127.0.0.40", "--fast")
    state = os.path.join(root, "lobby")
    try:
        assert started.returncode == 0, started.stderr
        info = json.load(open(os.path.join(state, "board.json")))
        assert {k: info[k] for k in ("profile", "runtime", "ip")} == {
            "profile": "esp32-devkitc", "runtime": "micropython", "ip": "127.0.0.40"}
        assert info["port"] in started.stdout and info["flash"] == os.path.join(state, "flash")
        with Port(info["port"]) as port:
            port.enter_raw_repl()
            assert port.run_raw("print('answering')") == ("answering\r\n", "")  # an ESP32 console's line end

        listed = scanmail("board", "list", "--root", root)
        row = [line for line in listed.stdout.splitlines() if line.startswith("lobby")][0].split()
        assert row == ["lobby", "esp32-devkitc", "micropython", "127.0.0.40", info["port"], str(info["pid"]), "yes"]

        net = scanmail("board", "net", "lobby", "--root", root, "--block-port", "25", "--latency-ms", "80")
        assert net.returncode == 0, net.stderr
        assert "port 25 blocked" in net.stdout and "+80 ms" in net.stdout
        assert json.load(open(os.path.join(state, "net.json"))) == {"block_ports": [25], "latency_ms": 80}
    finally:
        stopped = scanmail("board", "stop", "lobby", "--root", root)
    assert stopped.returncode == 0, stopped.stderr
    assert not os.path.exists(os.path.join(state, "board.json"))
    assert "no virtual boards" in scanmail("board", "list", "--root", root).stdout


def test_a_board_given_a_tenant_folder_where_no_tenant_runs_starts_with_a_one_line_warning(tmp_path):
    root = str(tmp_path / "boards")
    wrong = tmp_path / "state"          # the tenant runs in state/tenant, not here
    wrong.mkdir()
    started = scanmail("board", "start", "--profile", "esp32-devkitc", "--root", root, "--name", "lobby",
                       "--ip", "127.0.0.41", "--fast", "--tenant-state", str(wrong))
    try:
        assert started.returncode == 0, started.stderr
        warning, = [line for line in started.stderr.splitlines() if "warning" in line]
        assert warning.startswith("scanmail: warning: no fake tenant runs in %s" % wrong)
        assert "scanmail o365 serve --state %s" % wrong in warning
    finally:
        stopped = scanmail("board", "stop", "lobby", "--root", root)
    assert stopped.returncode == 0, stopped.stderr


def test_a_stray_file_in_the_boards_folder_is_not_taken_for_a_board(tmp_path):
    (tmp_path / "notes.txt").write_text("lobby scanner moved to the annex")
    listed = scanmail("board", "list", "--root", str(tmp_path))
    assert listed.returncode == 0, listed.stderr
    assert "no virtual boards" in listed.stdout and listed.stderr == ""


# (what the user did, arguments, words the one-line error must contain)
MISTAKES = [
    ("unknown profile", ["board", "start", "--profile", "esp32-nope"], ["esp32-nope", "esp32-devkitc"]),
    ("ip off loopback", ["board", "start", "--profile", "esp32-devkitc", "--ip", "10.0.0.5"], ["10.0.0.5", "127.0.0.0/8"]),
    ("ip malformed", ["board", "start", "--profile", "esp32-devkitc", "--ip", "127.0.0"], ["127.0.0", "IPv4"]),
    ("name leaving the boards folder", ["board", "start", "--profile", "esp32-devkitc", "--name", "../elsewhere"],
     ["../elsewhere", "letters, digits"]),
    ("name with a space", ["board", "start", "--profile", "esp32-devkitc", "--name", "front desk"],
     ["front desk", "letters, digits"]),
    ("state folder is a file", ["board", "start", "--profile", "esp32-devkitc", "--state", "a-file"],
     ["a-file", "Not a directory", "--state DIR"]),
    ("stop nothing", ["board", "stop", "--state", "nowhere"], ["no board was ever started", "board list --all"]),
    ("negative latency", ["board", "net", "--state", ".", "--latency-ms", "-5"], ["latency_ms", "0 or more"]),
    ("port out of range", ["board", "net", "--state", ".", "--block-port", "70000"], ["blocked port", "1-65535"]),
    ("reset nothing", ["board", "reset", "--state", "nowhere"], ["no running board", "board start"]),
]


@pytest.mark.parametrize("args, words", [m[1:] for m in MISTAKES], ids=[m[0] for m in MISTAKES])
def test_a_user_mistake_ends_with_one_line_that_says_what_was_wrong(tmp_path, args, words):
    (tmp_path / "a-file").write_text("not a folder")
    proc = scanmail(*args, "--root", str(tmp_path), cwd=str(tmp_path))
    assert proc.returncode == 2
    assert proc.stderr.startswith("scanmail: ")
    for word in words:
        assert word in proc.stderr
    assert not os.path.exists(os.path.join(str(tmp_path), "net.json"))  # nothing half-applied
