# Fixtures for the virtual-board tests: a running fake tenant, boards that are always stopped,
# and the firmware installed onto a board's flash over its serial port (as a user would).
import os

import pytest

from emulator.boards import VirtualBoard
from host_tools.raw_repl import RawRepl

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FIRMWARE_DIR = os.path.join(REPO_ROOT, "firmware")


@pytest.fixture
def tenant(tmp_path):
    from emulator.tenant import FakeTenant

    with FakeTenant(state_dir=str(tmp_path / "tenant")) as fake:
        yield fake


@pytest.fixture
def start_board(tmp_path):
    """start_board(runtime, ip, **options) -> a started VirtualBoard, stopped after the test."""
    started = []

    def start(runtime, ip="127.0.0.20", profile="esp32-devkitc", **options):
        board = VirtualBoard(profile, runtime, str(tmp_path / ("board-" + ip)), ip, **options)
        board.start()
        started.append(board)
        return board

    try:
        yield start
    finally:
        for board in started:
            board.stop()


def firmware_files():
    """(local path, device path) of every firmware file, laid out as on a board (/lib/firmware)."""
    for folder, _dirs, files in os.walk(FIRMWARE_DIR):
        for name in sorted(files):
            if name.endswith(".pyc") or "__pycache__" in folder:
                continue
            local = os.path.join(folder, name)
            yield local, "/lib/firmware/" + os.path.relpath(local, FIRMWARE_DIR).replace(os.sep, "/")


def install_firmware(repl):
    for local, device in firmware_files():
        with open(local, "rb") as f:
            repl.put_file(f.read(), device)


def open_repl(board):
    repl = RawRepl(board.port, read_timeout_s=30)
    repl.enter()
    return repl
