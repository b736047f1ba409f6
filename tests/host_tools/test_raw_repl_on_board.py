# The raw-REPL client against virtual boards on both runtimes, as against a board on a USB port:
# runs code, reports the board's exceptions, copies files (at the root and in folders) verified by
# SHA-256, and copies nothing when the board already has the same bytes.
import os

import pytest

from scanmail.emulator.boards import BoardHandle
from scanmail.host_tools.raw_repl import DeviceError, RawRepl


@pytest.fixture(params=["micropython", "cpython"])
def board(request, tmp_path):
    with BoardHandle("esp32-devkitc", runtime=request.param, state_dir=str(tmp_path / "board"),
                      ip="127.0.0.61", fast=True) as b:
        yield b


def test_code_runs_and_a_board_exception_comes_back_with_its_traceback(board):
    with RawRepl(board.port) as repl:
        repl.enter()
        assert repl.exec("print(6 * 7)").strip() == "42"
        with pytest.raises(DeviceError) as err:
            repl.exec("import no_such_module_here")
        assert "no_such_module_here" in err.value.traceback
        assert repl.exec("print('still answering')").strip() == "still answering"


def test_files_land_byte_exact_at_the_root_and_in_folders_and_are_not_copied_twice(board):
    payload = os.urandom(10000) + b"\r\n\x03\x04 quotes ' \" and \\ backslashes"
    with RawRepl(board.port) as repl:
        repl.enter()
        assert repl.put_file(b"print('boot')\n", "boot.py") is True
        assert repl.put_file(payload, "/data/scans/blob.bin") is True
        assert repl.put_file(payload, "/data/scans/blob.bin") is False  # same SHA-256: skipped
    with open(os.path.join(board.flash_dir, "boot.py"), "rb") as handle:
        assert handle.read() == b"print('boot')\n"
    with open(os.path.join(board.flash_dir, "data", "scans", "blob.bin"), "rb") as handle:
        assert handle.read() == payload
    assert not os.path.exists(os.path.join(board.flash_dir, "data", "scans", "blob.bin.part"))
