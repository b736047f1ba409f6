# Boards as a user starts and stops them from the command line: twenty started at the same moment
# each get their own address and name; a stopped board keeps its profile, restarts from its state
# folder alone and refuses another profile; `board list --all` shows it; stopping twice is calm. A
# board a program started (BoardHandle: tests, the demo) stops when that program is killed, while
# one from `scanmail board start` outlives the command.
import json
import os
import subprocess
import sys

from scanmail.emulator.boards import lifecycle

SCANMAIL = os.path.join(os.path.dirname(sys.executable), "scanmail")


def scanmail(*args):
    return subprocess.run([SCANMAIL] + list(args), capture_output=True, text=True, timeout=120)


def test_twenty_boards_started_at_the_same_moment_get_twenty_addresses_and_names(tmp_path):
    root = str(tmp_path / "boards")
    starts = [subprocess.Popen([SCANMAIL, "board", "start", "--profile", "esp32-devkitc", "--root", root, "--fast",
                                "--runtime", "micropython"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
              for _ in range(20)]
    try:
        results = [(proc.wait(120), proc.stderr.read()) for proc in starts]
        assert [code for code, _ in results] == [0] * 20, [err for _, err in results if err]
        boards = lifecycle.list_boards(root)
        assert len(boards) == 20 and all(board["alive"] for board in boards)
        assert len({board["ip"] for board in boards}) == 20
        assert len({board["name"] for board in boards}) == 20
        assert len({board["port"] for board in boards}) == 20
    finally:
        for state in sorted(os.listdir(root)) if os.path.isdir(root) else []:
            if os.path.exists(os.path.join(root, state, "board.json")):
                lifecycle.stop_board(os.path.join(root, state))


def test_a_stopped_board_restarts_from_its_state_folder_alone_and_keeps_its_profile(tmp_path):
    root = str(tmp_path / "boards")
    state = str(tmp_path / "lobby")
    started = scanmail("board", "start", "--profile", "esp32-s3-devkitc-1", "--runtime", "cpython", "--state", state,
                       "--root", root, "--ip", "127.0.0.45", "--fast")
    assert started.returncode == 0, started.stderr
    first = json.load(open(os.path.join(state, "board.json")))
    with open(os.path.join(first["flash"], "kept.txt"), "w") as f:
        f.write("kept")
    try:
        stopped = scanmail("board", "stop", "--state", state)
        assert stopped.returncode == 0, stopped.stderr
        again = scanmail("board", "stop", "--state", state)
        assert again.returncode == 0 and "already stopped" in again.stdout and again.stderr == ""

        refused = scanmail("board", "start", "--state", state, "--profile", "esp32-devkitc")
        assert refused.returncode != 0 and "Traceback" not in refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1
        assert "esp32-s3-devkitc-1" in refused.stderr and "leave out --profile" in refused.stderr
        assert not os.path.exists(os.path.join(state, "board.json"))

        restarted = scanmail("board", "start", "--state", state)
        assert restarted.returncode == 0, restarted.stderr
        second = json.load(open(os.path.join(state, "board.json")))
        assert {k: second[k] for k in ("name", "profile", "runtime", "ip", "flash")} == {
            k: first[k] for k in ("name", "profile", "runtime", "ip", "flash")}
        assert os.path.exists(os.path.join(second["flash"], "kept.txt"))
    finally:
        scanmail("board", "stop", "--state", state)


def test_board_list_all_shows_stopped_boards_beside_running_ones(tmp_path):
    root = str(tmp_path / "boards")
    for name, ip in (("kept", "127.0.0.46"), ("running", "127.0.0.47")):
        started = scanmail("board", "start", "--profile", "esp32-devkitc", "--runtime", "cpython", "--root", root,
                           "--name", name, "--ip", ip, "--fast")
        assert started.returncode == 0, started.stderr
    try:
        assert scanmail("board", "stop", "kept", "--root", root).returncode == 0
        plain = scanmail("board", "list", "--root", root).stdout
        assert "running" in plain and "kept" not in plain
        rows = {line.split()[0]: line for line in scanmail("board", "list", "--all", "--root", root).stdout.splitlines()
                if line.split() and line.split()[0] in ("kept", "running")}
        assert "stopped" in rows["kept"] and "127.0.0.46" in rows["kept"] and "esp32-devkitc" in rows["kept"]
        assert rows["running"].rstrip().endswith("yes")
    finally:
        scanmail("board", "stop", "running", "--root", root)


OWNER = """
import sys, time
from scanmail.emulator.boards import BoardHandle
board = BoardHandle("esp32-devkitc", "micropython", sys.argv[1], "127.0.0.119", fast=True).start()
print(board.pid, flush=True)
time.sleep(600)
"""


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_a_board_made_by_a_program_stops_when_the_program_is_killed_and_a_cli_board_lives_on(tmp_path):
    import time

    state = str(tmp_path / "owned")
    owner = subprocess.Popen([sys.executable, "-c", OWNER, state], stdout=subprocess.PIPE, text=True)
    cli_state = str(tmp_path / "cli")
    try:
        supervisor = int(owner.stdout.readline())   # the board is up; its supervisor's pid
        assert alive(supervisor)
        started = scanmail("board", "start", "--profile", "esp32-devkitc", "--runtime", "micropython",
                           "--state", cli_state, "--ip", "127.0.0.118", "--fast")
        assert started.returncode == 0, started.stderr
        owner.kill()                           # as a CI timeout kills a test run: no clean-up
        owner.wait()
        for _ in range(200):                   # it looks once a second whether its owner runs
            if not alive(supervisor):
                break
            time.sleep(0.05)
        assert not alive(supervisor)
        assert not os.path.exists(os.path.join(state, "board.json"))
        assert "its owner (pid %d) is gone: stopping" % owner.pid in open(os.path.join(state, "supervisor.log")).read()
        cli = lifecycle.board_status(cli_state)      # the command that started it ended long ago
        assert cli is not None and cli["alive"]
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait()
        lifecycle.stop_board(cli_state)
        if os.path.exists(os.path.join(state, "board.json")):
            lifecycle.stop_board(state)
