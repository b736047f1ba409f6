# The serial link as an ESP32 has it. Behind a USB-UART bridge (esp32-devkitc) host bytes arrive
# at the baud rate and the board's 260-byte input buffer drops what arrives while it is full; a
# host that paces itself (raw-paste flow control) loses nothing. Native USB (esp32-s3-devkitc-1)
# pushes back instead of dropping. The board is kept busy (not reading its input) by code that
# waits for a file the test creates only once the supervisor has logged the overflow (bytes
# dropped, or held back), so what the buffer holds does not depend on timing.
import os
import time

from tests.boards.conftest import open_repl
from tests.boards.serial_port import Port

WAIT_FOR_GO = (
    "import os, time\n"
    "while True:\n"
    "    try:\n"
    "        os.stat('/go')\n"
    "        break\n"
    "    except OSError:\n"
    "        time.sleep(0.005)\n"
)
# 1000 bytes of code whose output tells whether it arrived whole.
LONG_LINE = 'print(len("' + "a" * 986 + '"))'
RX_BUFFER = 260


def _supervisor_log(board):
    with open(os.path.join(board.state_dir, "supervisor.log")) as f:
        return f.read()


def _dropped_bytes(board):
    """What the supervisor logged as dropped (the board's UART would count overruns)."""
    total = 0
    for line in _supervisor_log(board).splitlines():
        if "input buffer full: dropped" in line:
            total = int(line.split("(")[1].split()[0])
    return total


def _wait_until(condition):
    """Poll for an event the supervisor logs; pytest-timeout bounds the wait."""
    while not condition():
        time.sleep(0.01)


def _write_while_busy(board, port, payload, overflow_seen):
    """Keep the board busy, write `payload` in one go, wait until the link has dealt with the
    overflow (`overflow_seen()`), then let the board read what it kept."""
    port.enter_raw_repl()
    port.write(WAIT_FOR_GO.encode() + b"\x04")
    port.read_until(b"OK")
    port.write(payload)
    _wait_until(overflow_seen)
    with open(os.path.join(board.flash_dir, "go"), "w"):
        pass
    port.read_until(b"\x04\x04>")  # the busy code ends; the board now reads its input buffer


def test_a_host_writing_faster_than_a_uart_bridge_allows_loses_what_overflows_the_260_byte_buffer(start_board):
    board = start_board("micropython", profile="esp32-devkitc")  # not --fast: the real link
    assert len(LONG_LINE) == 1000
    with Port(board.port) as port:
        # Until everything beyond the buffer has crossed the link and been dropped.
        _write_while_busy(board, port, LONG_LINE.encode() + b"\x04",
                          lambda: _dropped_bytes(board) >= len(LONG_LINE) + 1 - RX_BUFFER)
        # The end-of-input byte was among the dropped ones: the board still waits for it.
        port.write(b"\x04")
        port.read_until(b"OK")
        out = port.read_until(b"\x04")
        err = port.read_until(b"\x04")
    assert b"1000" not in out and b"986" not in out
    assert b"SyntaxError" in err  # what a user sees: their code arrived cut short
    assert _dropped_bytes(board) == len(LONG_LINE) + 1 - RX_BUFFER


def test_a_host_that_paces_itself_with_raw_paste_loses_nothing_over_the_same_link(start_board):
    board = start_board("micropython", profile="esp32-devkitc")
    repl = open_repl(board)
    try:
        assert repl.exec(LONG_LINE).strip() == "986"
        assert repl.exec("x = 1\n" * 400 + "print(x)").strip() == "1"  # 2.4 KB in raw-paste windows
    finally:
        repl.close()
    assert _dropped_bytes(board) == 0


def test_a_native_usb_board_pushes_back_instead_of_dropping(start_board):
    board = start_board("micropython", profile="esp32-s3-devkitc-1")
    with Port(board.port) as port:
        # Until the link has filled the board's buffer and holds the rest back.
        _write_while_busy(board, port, LONG_LINE.encode() + b"\x04",
                          lambda: "input buffer full: holding" in _supervisor_log(board))
        port.read_until(b"OK")
        out = port.read_until(b"\x04")
        err = port.read_until(b"\x04")
    assert (out[:-1].strip(), err[:-1]) == (b"986", b"")
    assert _dropped_bytes(board) == 0
