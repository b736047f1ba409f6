# `scanmail flash` on a board whose MicroPython has a ROMFS partition (a virtual board started with
# one): the product build goes there as a ROMFS image and runs in place from /rom, mpremote's own
# `romfs query` sees it, a second flash sends nothing, and a flash cut while the partition is
# written still boots one whole application (the slot's files, or the image once verified). A
# board without a partition, or whose partition is too small, gets the .mpy files.
import json
import random
import subprocess
import sys
import threading

import pytest

from scanmail.host_tools import cli
from scanmail.host_tools.flash import BoardFlash, FlashError
from scanmail.host_tools.raw_repl import RawRepl
from tests.boards.test_flash_command import hashes, release

ROMFS_BYTES = 256 * 1024
WHAT_BOOTS = (
    "import os, hashlib, binascii\n"
    "import scanmail.firmware.errors as m\n"
    "f = m.__file__\n"
    "root = '/rom' if f.startswith('/rom/') else '/app/' + f[f.find('/app/'):].split('/')[2]\n"
    "print(root)\n"
    "def _h(p):\n"
    "    x = open(p, 'rb'); d = x.read(); x.close()\n"
    "    return binascii.hexlify(hashlib.sha256(d).digest()).decode()\n"
    "def _w(d, pre):\n"
    "    for e in list(os.ilistdir(d)):\n"
    "        if e[1] & 0x4000:\n"
    "            _w(d + '/' + e[0], pre + e[0] + '/')\n"
    "        else:\n"
    "            print(pre + e[0], _h(d + '/' + e[0]))\n"
    "_w(root, '')\n"
)


def what_boots(port):
    """(where the firmware is imported from: /rom or /app/<slot>, {path: sha} of what is there)."""
    with RawRepl(port, read_timeout_s=30) as repl:
        repl.enter()
        lines = [line for line in repl.exec(WHAT_BOOTS).splitlines() if line.strip()]
    return lines[0], dict(line.split() for line in lines[1:])


@pytest.mark.parametrize("runtime", ("micropython", "cpython"))
def test_the_product_build_goes_to_the_romfs_partition_where_the_board_has_one(start_board, runtime, capsys):
    board = start_board(runtime, fast=True, romfs_bytes=ROMFS_BYTES)
    assert cli.main(["flash", "--port", board.port, "-q", "--json"]) == 0
    [first] = json.loads(capsys.readouterr().out)
    root, listing = what_boots(board.port)
    if runtime == "cpython":   # the CPython runtime has no vfs.rom_ioctl: the sources, in a slot
        assert (first["romfs"], first["build"], root) == (False, "py", "/app/a")
        return
    assert (first["romfs"], first["build"], first["romfs_written"], root) == (True, "romfs", True, "/rom")
    assert "lib/scanmail/firmware/errors.mpy" in listing
    query = subprocess.run([sys.executable, "-m", "mpremote", "connect", board.port, "romfs", "query"],
                           capture_output=True, text=True, timeout=60)
    assert "ROMFS0 partition has size %d bytes" % ROMFS_BYTES in query.stdout, query.stdout + query.stderr
    assert "ROMFS image size" in query.stdout
    again = BoardFlash(board.port).run()
    assert again["status"] == "up to date" and again["wire_bytes"] == 0 and not again["romfs_written"]


def test_a_romfs_flash_cut_by_power_or_cable_always_leaves_a_whole_application(start_board):
    # Closing the port stops the host, not the board; a power cut stops the board, here while it
    # fills the partition (the stage event comes just before), when only the slot may boot.
    board = start_board("micropython", fast=True, romfs_bytes=ROMFS_BYTES)
    images = {}
    first = BoardFlash(board.port, reset=False, image=lambda info: images.setdefault(1, release(info, 1))).run()
    assert first["build"] == "romfs"
    rng = random.Random(7)
    roots = []
    for cut in range(6):
        number = 2 if cut % 2 == 0 else 1
        flasher = BoardFlash(board.port, reset=False, read_timeout_s=5,
                             image=lambda info, n=number: images.setdefault(n, release(info, n)))
        timers = []
        if cut % 2 == 0:
            def on_stage(text, timers=timers):
                if text == "writing ROMFS" and not timers:
                    timers.append(threading.Timer(rng.uniform(0.0, 0.004), board.power_cut))
                    timers[0].start()
            flasher.stage = on_stage
        else:
            timers.append(threading.Timer(rng.uniform(0.0, 0.6), lambda f=flasher: f.repl and f.repl.serial.close()))
            timers[0].start()
        try:
            flasher.run()
        except FlashError as err:
            assert "\n" not in str(err) and "run the flash again" in str(err)
        for timer in timers:
            timer.join()
        board.reset()
        root, listing = what_boots(board.port)
        roots.append(root)
        assert listing in (hashes(images[1]), hashes(images[2]))
    # some power cut came before the image was switched in: the slot's files booted then
    assert any(root.startswith("/app/") for root in roots[0::2]), roots


def test_a_partition_too_small_for_the_image_gets_the_mpy_files(start_board):
    board = start_board("micropython", fast=True, romfs_bytes=16 * 1024)
    summary = BoardFlash(board.port).run()
    assert summary["build"] == "mpy" and "larger than the ROMFS partition" in summary["romfs_note"]
    root, listing = what_boots(board.port)
    assert root == "/app/a" and "lib/scanmail/firmware/errors.mpy" in listing


def test_board_start_gives_a_romfs_partition_that_mpremote_sees(tmp_path, capsys):
    state = str(tmp_path / "romfs-board")
    assert cli.main(["board", "start", "--profile", "esp32-devkitc", "--state", state, "--ip", "127.0.0.23",
                     "--fast", "--romfs-kb", "64"]) == 0
    try:
        port = [line.split(" on ")[1].split(",")[0] for line in capsys.readouterr().out.splitlines()
                if line.startswith("board ")][0]
        query = subprocess.run([sys.executable, "-m", "mpremote", "connect", port, "romfs", "query"],
                               capture_output=True, text=True, timeout=60)
        assert "ROMFS0 partition has size 65536 bytes (16 blocks of 4096 bytes each)" in query.stdout, query.stdout
    finally:
        assert cli.main(["board", "stop", "--state", state]) == 0
