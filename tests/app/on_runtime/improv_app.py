# Runs on BOTH runtimes, with stdin/stdout on a pty: the scanner application's loop (app_loop.main)
# as console_app.py runs it, but with the virtual board's own network (the ROM's VirtualNet over its
# `network` module), whose Wi-Fi access point is the one in the spec: joining it with another
# password fails as on an ESP32. What the host test sends on the pty is what a web installer sends.
import json
import sys

import _vboard_host


def run(spec):
    _vboard_host._config = {"nvs": spec["nvs"], "ip": spec["ip"], "tenant_state": spec["tenant_state"],
                            "wifi": spec["access_point"]}
    from loopback_board import TestBoard
    from virtual_board import VirtualNet

    from scanmail.firmware.app import app_loop
    from scanmail.firmware.board_parts import NullStatusLight

    board = TestBoard("scanner-3f2a", spec["ip"], {}, spec["now"])
    board.net = VirtualNet(_vboard_host.config())
    board.network_kind = "wifi"
    board.storage_root = spec["root"]
    board.scanner = None
    board.status_light = NullStatusLight()
    board.profile = "esp32-devkitc"
    app_loop.main(board)


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        run(json.loads(f.read()))
