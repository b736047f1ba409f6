# Fixtures for the virtual-board tests: boards that are always stopped, and the firmware installed
# onto a board's flash over its serial port (as a user would).
import pytest

from scanmail.emulator.boards import BoardHandle
from scanmail.host_tools.raw_repl import RawRepl


@pytest.fixture
def start_board(tmp_path):
    """start_board(runtime, ip, **options) -> a started BoardHandle, stopped after the test."""
    started = []

    def start(runtime, ip="127.0.0.20", profile="esp32-devkitc", **options):
        board = BoardHandle(profile, runtime, str(tmp_path / ("board-" + ip)), ip, **options)
        board.start()
        started.append(board)
        return board

    try:
        yield start
    finally:
        for board in started:
            board.stop()


def install_firmware(repl):
    """The firmware image as a user installs it (host_tools.firmware_build): .mpy on MicroPython
    (a board's heap cannot compile the sources), sources on the CPython runtime."""
    from scanmail.host_tools import firmware_build

    firmware_build.install(repl)


def open_repl(board):
    repl = RawRepl(board.port, read_timeout_s=30)
    repl.enter()
    return repl
