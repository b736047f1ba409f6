# Runs on BOTH runtimes, with stdin/stdout on a pty: the scanner application's loop (app_loop.main)
# on a loopback TestBoard (network to the fake tenant, a clock), the virtual board's own scanner
# and NVS from the ROM, and its flash in a folder. What the host test sends on the pty is what a
# host tool sends on a board's serial port. With "clock_path" the board's clock reads that file
# (the test moves it with the fake tenant's clock); with "light_path" the status light writes its
# state there.
import json
import sys

import _vboard_host


class FileClock:
    def __init__(self, path):
        self.path = path

    def now(self):
        with open(self.path) as f:
            return int(f.read())


class FileLight:
    def __init__(self, path):
        self.path = path

    def set(self, state):
        with open(self.path, "w") as f:
            f.write(state)


def run(spec):
    _vboard_host._config = {"nvs": spec["nvs"]}
    from loopback_board import TestBoard
    from virtual_scanner import VirtualScanner

    from scanmail.firmware.app import app_loop
    from scanmail.firmware.board_parts import NullStatusLight

    board = TestBoard("scanner-3f2a", "127.0.0.20", spec["routes"], spec["now"])
    board.storage_root = spec["root"]
    board.scanner = VirtualScanner(spec["pages"])
    board.status_light = FileLight(spec["light_path"]) if spec.get("light_path") else NullStatusLight()
    if spec.get("clock_path"):
        board.clock = FileClock(spec["clock_path"])
    board.profile = "esp32-devkitc"
    app_loop.main(board, capacity=spec.get("capacity"))


if __name__ == "__main__":
    # the spec comes in a file: the unix port aborts on a long command-line argument
    with open(sys.argv[1]) as f:
        run(json.loads(f.read()))
