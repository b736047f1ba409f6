# A virtual board leaves its firmware the heap the profile says a real board has: the ROM's own
# modules (machine, network, socket, the flash VFS, ...), which an ESP32 keeps in flash, must not
# eat into it. Checked with what the firmware itself would see, gc.mem_free() after a collection.
import subprocess
import sys
import os

from scanmail.emulator.boards import runtimes
from scanmail.hardware import profiles

MPREMOTE = os.path.join(os.path.dirname(sys.executable), "mpremote")


def test_a_booted_micropython_board_has_the_profiles_heap_free_for_the_firmware(start_board):
    board = start_board("micropython", fast=True)
    proc = subprocess.run([MPREMOTE, "connect", board.port, "exec",
                           "import gc\ngc.collect()\nprint(gc.mem_free())"],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    free = int(proc.stdout.split()[-1])
    wanted = runtimes.heap_for_runtime(profiles.load("esp32-devkitc")["heap_bytes"])
    assert free >= wanted, ("the ROM holds %d bytes more than runtimes.ROM_HEAP_BYTES allows"
                            % (wanted - free))
