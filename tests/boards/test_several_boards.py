# Several boards at once, each its own device: its own port, its own address on the virtual
# network (what a server sees as the peer, never shared with another running board), and a row in
# `board list`.
import os
import socket

import pytest

from scanmail.emulator.boards import VirtualBoardError, BoardHandle, list_boards
from tests.boards.conftest import open_repl


def test_two_boards_run_at_once_and_each_connects_from_its_own_address(start_board, tmp_path):
    boards = [start_board("micropython", ip="127.0.0.20", fast=True),
              start_board("cpython", ip="127.0.0.21", fast=True)]
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    server.settimeout(20)
    peers = []
    try:
        for board in boards:
            repl = open_repl(board)
            try:
                repl.exec("from virtual_board import VirtualBoard\n"
                          "s = VirtualBoard().net.open_tcp('127.0.0.1', %d, 5)\ns.send(b'hi')\ns.close()"
                          % server.getsockname()[1])
            finally:
                repl.close()
            conn, peer = server.accept()
            peers.append(peer[0])
            conn.close()
    finally:
        server.close()
    assert peers == ["127.0.0.20", "127.0.0.21"]
    listed = {b["ip"]: (b["runtime"], b["port"], b["alive"]) for b in list_boards(str(tmp_path))}
    assert listed == {"127.0.0.20": ("micropython", boards[0].port, True),
                      "127.0.0.21": ("cpython", boards[1].port, True)}
    assert boards[0].port != boards[1].port


def test_a_second_board_on_an_address_already_taken_is_refused_and_one_without_ip_gets_the_next(
        start_board, tmp_path):
    first = start_board("micropython", ip="127.0.0.20", fast=True)
    second = BoardHandle("esp32-devkitc", "micropython", str(tmp_path / "second"), "127.0.0.20",
                          fast=True)
    with pytest.raises(VirtualBoardError) as refused:
        second.start()
    words = str(refused.value)
    assert "127.0.0.20" in words and first.state_dir in words and "--ip" in words
    assert not os.path.exists(tmp_path / "second" / "board.json")   # nothing was started
    third = BoardHandle("esp32-devkitc", "micropython", str(tmp_path / "third"), None, fast=True)
    try:
        third.start()
        assert third.info["ip"] == "127.0.0.21"      # the next free one beside the first
    finally:
        third.stop()
