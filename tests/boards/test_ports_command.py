# `scanmail ports` lists a running virtual board beside the USB ports, on both runtimes, and
# guesses the board behind a USB bridge from its IDs alone.
import json
import os

from serial.tools.list_ports_common import ListPortInfo

from scanmail.host_tools import cli, serial_ports


def test_a_running_virtual_board_is_listed_with_its_port(start_board, runtime, tmp_path, capsys):
    board = start_board(runtime)
    status = cli.main(["ports", "--json", "--boards-dir", os.path.dirname(board.state_dir)])
    rows = json.loads(capsys.readouterr().out)
    assert status == 0
    [virtual] = [r for r in rows if r["virtual"]]
    assert virtual["port"] == board.port
    assert runtime in virtual["board"] and "127.0.0.20" in virtual["board"]


def test_bridges_are_named_from_their_usb_ids():
    def port(vid, pid):
        info = ListPortInfo("/dev/ttyUSB0")
        info.vid, info.pid = vid, pid
        return serial_ports.describe(info)

    assert port(0x10C4, 0xEA60)["bridge"] == "CP210x" and port(0x10C4, 0xEA60)["usb"] == "10C4:EA60"
    assert port(0x1A86, 0x7523)["bridge"] == "CH340"
    assert port(0x0403, 0x6010)["bridge"].startswith("FTDI")
    assert "ESP32-S3" in port(0x303A, 0x1001)["board"]
    assert port(0x1234, 0x5678)["bridge"] is None
