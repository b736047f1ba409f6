# A virtual ESP32's ROM download mode, judged by esptool itself (its CLI as a subprocess, without
# its stub): entered by a reset with BOOT held, it is detected as an ESP32, takes a firmware image
# (plain and deflated), verifies it, reads it back byte for byte, and boots it; the board then
# says the written image's version. `scanmail flash --micropython` does the same through esptool's
# Python API and installs scanmail after it; what a user can get wrong is one line.
import os
import pty
import subprocess
import sys
import threading
import time

import pytest

from scanmail.host_tools import cli
from scanmail.host_tools.flash import FlashError
from scanmail.host_tools.flash_micropython import write_micropython
from tests.boards.esp_images import APP_AT, FIRMWARE_OFFSET, micropython_firmware
from tests.boards.serial_port import Port

RUNTIMES = ("micropython", "cpython")


def esptool(port, *args, after="no-reset"):
    """esptool's CLI on a virtual board in download mode: a pty has no DTR/RTS, so no reset before."""
    run = subprocess.run([sys.executable, "-m", "esptool", "--port", port, "--before", "no-reset",
                          "--after", after, "--no-stub", "--connect-attempts", "2"] + list(args),
                         capture_output=True, text=True, timeout=300)
    return run.returncode, run.stdout + run.stderr


@pytest.fixture
def firmware(tmp_path):
    path = tmp_path / "ESP32_GENERIC-v1.26.0.bin"
    path.write_bytes(micropython_firmware("v1.26.0"))
    return str(path)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_esptool_detects_writes_verifies_reads_back_and_boots_an_image(start_board, runtime, firmware, tmp_path):
    board = start_board(runtime, fast=True)
    board.reset(download=True)
    assert board_json(board)["boot"] == "download"

    status, out = esptool(board.port, "flash-id")
    assert status == 0, out
    assert "Detecting chip type... ESP32" in out and "ESP32-D0WD-V3 (revision v3.1)" in out
    assert "MAC:                24:0a:c4:00:00:14" in out and "Detected flash size: 4MB" in out

    status, out = esptool(board.port, "write-flash", hex(FIRMWARE_OFFSET), firmware)
    assert status == 0 and "Hash of data verified." in out, out
    status, out = esptool(board.port, "verify-flash", hex(FIRMWARE_OFFSET), firmware)
    assert status == 0 and "Verification successful (digest matched)." in out, out

    back = tmp_path / "back.bin"
    image = open(firmware, "rb").read()
    status, out = esptool(board.port, "read-flash", hex(FIRMWARE_OFFSET), hex(len(image)), str(back))
    assert status == 0, out
    assert back.read_bytes() == image

    status, out = esptool(board.port, "chip-id", after="soft-reset")   # the ROM runs the image
    assert status == 0, out
    assert board_json(board)["boot"] == "flash"
    with Port(board.port) as port:
        board.reset()                                                   # and boots it after a reset
        boot = port.read_until(b">>> " if runtime == "micropython" else b">")
    assert b"App version:      v1.26.0" in boot and b"Project name:     micropython" in boot
    if runtime == "micropython":
        assert b"MicroPython v1.26.0 on " in boot and b"Generic ESP32 module with ESP32" in boot


def test_a_paced_board_takes_a_deflated_image_at_a_higher_baud_rate(start_board, firmware):
    # 115200 baud behind a UART bridge until esptool changes the rate; --compress sends
    # FLASH_DEFL_* blocks the ROM inflates.
    board = start_board("micropython")
    board.reset(download=True)
    status, out = esptool(board.port, "--baud", "460800", "write-flash", "--compress", hex(FIRMWARE_OFFSET), firmware)
    assert status == 0, out
    assert "Changing baud rate to 460800" in out and "compressed" in out and "Hash of data verified." in out
    status, out = esptool(board.port, "verify-flash", hex(FIRMWARE_OFFSET), firmware)   # heard again at 115200
    assert status == 0 and "digest matched" in out, out


def test_a_board_not_in_download_mode_is_not_reached_by_esptool_and_keeps_running(start_board):
    board = start_board("micropython", fast=True)
    status, out = esptool(board.port, "flash-id")
    assert status != 0 and "Failed to connect to Espressif device" in out
    with Port(board.port) as port:
        port.write(b"\x03\r\nprint(6 * 7)\r\n")     # the REPL took esptool's bytes as keys
        port.read_until(b"\r\n42\r\n>>> ")


def test_a_reset_leaves_download_mode_and_the_cli_enters_it(start_board, capsys):
    board = start_board("micropython", fast=True)
    assert cli.main(["board", "reset", "--state", board.state_dir, "--download"]) == 0
    assert "download mode" in capsys.readouterr().out
    assert board_json(board)["boot"] == "download"
    with Port(board.port) as port:
        board.reset()
        assert b"rst:0xc (SW_CPU_RESET)" in port.read_until(b">>> ")
    assert board_json(board)["boot"] == "flash"


def test_download_mode_entered_twice_and_left_by_a_power_cut(start_board, firmware):
    board = start_board("micropython", fast=True)
    board.reset(download=True)
    board.reset(download=True)       # already there: the ROM starts over and still answers
    assert board_json(board)["download_entries"] == 2
    status, out = esptool(board.port, "write-flash", hex(FIRMWARE_OFFSET), firmware)
    assert status == 0, out
    with Port(board.port) as port:
        board.power_cut()
        boot = port.read_until(b">>> ")
    assert b"rst:0x1 (POWERON_RESET),boot:0x13" in boot and b"App version:      v1.26.0" in boot


def test_only_the_esp32_download_mode_is_emulated(start_board):
    from scanmail.emulator.boards import VirtualBoardError

    board = start_board("micropython", profile="esp32-s3-devkitc-1", fast=True)
    with pytest.raises(VirtualBoardError) as err:
        board.reset(download=True)
    assert "only the ESP32's ROM download mode" in str(err.value)


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_flash_writes_micropython_with_esptool_then_installs_scanmail(start_board, runtime, firmware, capsys):
    board = start_board(runtime, fast=True)
    assert cli.main(["flash", "--port", board.port, "--micropython", firmware, "-q", "--json"]) == 0
    import json

    [result] = json.loads(capsys.readouterr().out)
    assert result["error"] is None and result["status"] == "flashed"
    assert result["micropython"] == {"chip": "ESP32", "bytes": os.path.getsize(firmware), "virtual": True}
    written = open(os.path.join(board.state_dir, "spi_flash.bin"), "rb").read()
    image = open(firmware, "rb").read()
    assert written[FIRMWARE_OFFSET:FIRMWARE_OFFSET + len(image)] == image
    from tests.boards.test_flash_command import booted_application

    slot, listing = booted_application(board.port)
    assert slot == "a" and listing


def test_flash_refusals_for_micropython_are_one_line(start_board, firmware, tmp_path, capsys):
    board = start_board("micropython", fast=True)
    # Not in download mode and told not to reset it.
    assert cli.main(["flash", "--port", board.port, "--micropython", firmware, "--manual-download", "-q"]) == 2
    err = capsys.readouterr().err
    assert "not in download mode" in err and "Traceback" not in err and err.count("\n") == 1
    # Not a firmware image.
    junk = tmp_path / "notes.txt"
    junk.write_text("hello")
    assert cli.main(["flash", "--port", board.port, "--micropython", str(junk), "-q"]) == 2
    err = capsys.readouterr().err
    assert "not an ESP32 firmware image" in err and err.count("\n") == 1
    assert cli.main(["flash", "--port", board.port, "--manual-download", "-q"]) == 2
    assert "goes with --micropython" in capsys.readouterr().err


def test_the_cable_pulled_while_esptool_writes_is_one_line(start_board, firmware):
    board = start_board("micropython")          # paced: the write takes long enough to cut
    pulled = threading.Event()
    stopper = []

    def pull(done, total):
        if done and not pulled.is_set():
            pulled.set()
            stopper.append(threading.Thread(target=board.stop))
            stopper[0].start()

    with pytest.raises(FlashError) as err:
        write_micropython(board.port, firmware, progress=pull)
    stopper[0].join()
    assert "\n" not in str(err.value) and "check the cable" in str(err.value)


def stranger_on(path, stranger, timeout_s=10):
    """Another program's pty that gets `path` once it is free (Linux gives a freed /dev/pts number
    to the next program that asks): appends (its master, its slave), or (None, None)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        master, slave = pty.openpty()
        if os.ttyname(slave) == path:
            stranger.append((master, slave))
            return
        os.close(master)
        os.close(slave)
        time.sleep(0.005)
    stranger.append((None, None))


def test_a_board_gone_while_esptool_writes_leaves_the_next_owner_of_its_pty_alone(start_board, firmware):
    # esptool reopens a lost port by its name and sends SYNC there; a /dev/pts name freed by a
    # stopped virtual board belongs to another program's terminal by then (a shell, another board)
    board = start_board("micropython")
    stranger, pulled = [], []

    def pull(done, total):
        if done and not pulled:
            pulled.append(threading.Thread(target=lambda: (board.stop(), stranger_on(board.port, stranger))))
            pulled[0].start()

    with pytest.raises(FlashError) as err:
        write_micropython(board.port, firmware, progress=pull)
    pulled[0].join()
    master, slave = stranger[0]
    assert master is not None, "%s never came free after the board stopped" % board.port
    os.set_blocking(master, False)
    try:
        heard = os.read(master, 4096)
    except BlockingIOError:
        heard = b""
    os.close(master)
    os.close(slave)
    assert heard == b"", "esptool wrote into another program's terminal: %r" % heard[:80]
    assert "\n" not in str(err.value) and "check the cable" in str(err.value)


def test_the_written_image_decides_only_what_the_board_says(start_board, firmware):
    # The image's app partition is read through its partition table, as ESP-IDF's bootloader does.
    from scanmail.emulator.boards.spi_flash import SpiFlash

    board = start_board("micropython", fast=True)
    write_micropython(board.port, firmware)
    app = SpiFlash(board.state_dir, 4 << 20).app_description()
    assert (app["project"], app["version"], app["offset"]) == ("micropython", "v1.26.0", APP_AT)


def board_json(board):
    import json

    with open(os.path.join(board.state_dir, "board.json")) as f:
        return json.load(f)


def test_two_boards_get_micropython_and_scanmail_in_one_flash(start_board, firmware, capsys):
    boards = [start_board("micropython", ip=ip, fast=True) for ip in ("127.0.0.20", "127.0.0.21")]
    argv = ["flash", "--micropython", firmware, "-q", "--json"]
    for board in boards:
        argv += ["--port", board.port]
    assert cli.main(argv) == 0
    import json

    results = json.loads(capsys.readouterr().out)
    assert [r["port"] for r in results] == [b.port for b in boards]
    assert all(r["error"] is None and r["micropython"]["virtual"] and r["status"] == "flashed" for r in results)
