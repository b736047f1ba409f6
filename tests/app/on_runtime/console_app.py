# Runs on BOTH runtimes, with stdin/stdout on a pty: the scanner application's loop (app_loop.main)
# on a loopback TestBoard (network to the fake tenant, a clock), the virtual board's own scanner
# and NVS from the ROM, and its flash in a folder. What the host test sends on the pty is what a
# host tool sends on a board's serial port.
import json
import sys

import _vboard_host


def run(spec):
    _vboard_host._config = {"nvs": spec["nvs"]}
    from loopback_board import TestBoard
    from virtual_scanner import VirtualScanner

    from scanmail.firmware.app import app_loop
    from scanmail.firmware.board_parts import NullStatusLight

    board = TestBoard("scanner-3f2a", "127.0.0.20", spec["routes"], spec["now"])
    board.storage_root = spec["root"]
    board.scanner = VirtualScanner(spec["pages"])
    board.status_light = NullStatusLight()
    board.profile = "esp32-devkitc"
    app_loop.main(board, capacity=spec.get("capacity"))


if __name__ == "__main__":
    # the spec comes in a file: the unix port aborts on a long command-line argument
    with open(sys.argv[1]) as f:
        run(json.loads(f.read()))
