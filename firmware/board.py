# The board interface (Contract 1 in docs/architecture.md): the one object through which the
# application and the mail core reach hardware. They never build hardware themselves.
#
#   board.name                      host name for EHLO, e.g. "scanner-3f2a"
#   board.net.open_tcp(host, port, timeout_s, local_ip=None)
#                                   a connected TCP socket (getaddrinfo + connect with a timeout);
#                                   the caller wraps TLS itself with server_hostname=host
#   board.net.address()             the board's IP address as a string
#   board.clock.now()               UTC seconds since 1970-01-01, or None while the clock is unset
#   board.storage_root              the writable filesystem root ("/" on a board)
#   board.scanner                   None, or a sheet feeder: scanner.next_page() -> the next page as
#                                   a stream of its JPEG bytes (page.readinto(buf) -> count, 0 at
#                                   the page's end; page.close()), or None when the feeder is empty
#   board.status_light              set(state), state in "idle" | "busy" | "ok" | "error"
#   board.reset()                   hard reset
#
# The parts (BoardError, SocketNet, SystemClock, NullStatusLight, Board) live in
# firmware/board_parts.py and are importable from here too. open_board(config) picks the backing:
# the emulator's ROM shim `virtual_board` when it can be imported, else the real ESP32
# (firmware/board_esp32.py). Rule: nothing here imports machine,
# network, ntptime or esp32 at module level; this file runs unchanged on MicroPython and CPython.
from scanmail.firmware.board_parts import (  # noqa: F401  (the interface's names, here too)
    STATUS_STATES, CLOCK_SET_AFTER, BoardError, SocketNet, SystemClock, NullStatusLight, Board)


def open_board(config=None):
    """The board this code runs on: the emulator's virtual board if present, else the ESP32."""
    try:
        import virtual_board  # type: ignore[import-not-found]  # the emulator's ROM shim; absent on a board
    except ImportError as e:
        if "virtual_board" not in str(e):
            raise  # the shim exists but is broken: say so instead of driving absent hardware
    else:
        return virtual_board.VirtualBoard()
    from scanmail.firmware.board_esp32 import Esp32Board

    return Esp32Board(config)
