# Virtual boards: a supervisor process per board owns a pty that host tools open like a USB serial
# port, and runs the very same firmware on the MicroPython unix port (or CPython) behind it.
# `BoardHandle` is the Python API (Contract 4 in docs/architecture.md); `scanmail board` the CLI.
from scanmail.emulator.boards.lifecycle import VirtualBoardError, BoardHandle, list_boards, reset_board, start_board, stop_board

__all__ = ["VirtualBoardError", "BoardHandle", "list_boards", "reset_board", "start_board", "stop_board"]
