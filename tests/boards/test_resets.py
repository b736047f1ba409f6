# Resets behave as on an ESP32: a soft reset (Ctrl-D on an empty raw REPL line, sys.exit() in
# raw-REPL code, machine.soft_reset()) prints the soft-reboot line, runs boot.py but not main.py and
# comes back in the raw REPL; a hard reset (machine.reset(), `scanmail board reset`) prints boot
# noise, runs boot.py then main.py and shows the friendly prompt. Ctrl-C interrupts running code
# when it has Ctrl-C on, and is an ordinary byte when it has it off, whatever the instant.
import os
import time

import pytest

from scanmail.emulator.boards import reset_board
from tests.boards.conftest import open_repl
from tests.boards.serial_port import Port

RUNTIMES = ("micropython", "cpython")
RAW_PROMPT = b"raw REPL; CTRL-B to exit\r\n>"


def _board_with_boot_and_main(start_board, runtime):
    board = start_board(runtime, fast=True)
    with open(os.path.join(board.flash_dir, "boot.py"), "w") as f:
        f.write("print('boot.py ran')\nbooted = True\n")
    with open(os.path.join(board.flash_dir, "main.py"), "w") as f:
        f.write("print('main.py ran')\n")
    return board


@pytest.mark.parametrize("runtime", RUNTIMES)
@pytest.mark.parametrize("how", ["ctrl-d on an empty line", "sys.exit()", "machine.soft_reset()"])
def test_a_soft_reset_from_the_raw_repl_runs_boot_py_but_not_main_py_and_returns_to_the_raw_repl(
        start_board, runtime, how):
    board = _board_with_boot_and_main(start_board, runtime)
    with Port(board.port) as port:
        port.enter_raw_repl()
        port.run_raw("left_over = 42")
        trigger = {"ctrl-d on an empty line": b"\x04", "sys.exit()": b"import sys\nsys.exit()\x04",
                   "machine.soft_reset()": b"import machine\nmachine.soft_reset()\x04"}[how]
        port.write(trigger)
        after_reset = port.read_until(RAW_PROMPT)
        assert b"soft reboot\r\n" in after_reset
        assert b"boot.py ran" in after_reset.split(b"soft reboot\r\n", 1)[1]
        assert b"main.py ran" not in after_reset
        assert b">>> " not in after_reset  # the restarted runtime's friendly banner is not shown
        out, err = port.run_raw("print(booted, 'left_over' in globals())")
        assert (out.split(), err) == (["True", "False"], "")


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_machine_reset_is_a_hard_reset_with_boot_noise_boot_py_main_py_and_the_friendly_prompt(
        start_board, runtime):
    board = _board_with_boot_and_main(start_board, runtime)
    with Port(board.port) as port:
        port.enter_raw_repl()
        port.write(b"import machine\nmachine.reset()\x04")
        after_reset = port.read_until(b'Type "help()" for more information.\r\n>>> ')
        noise, _, rest = after_reset.partition(b"rst:0xc (SW_CPU_RESET)")
        assert rest, "no ESP32 reset line in %r" % after_reset
        assert rest.index(b"boot.py ran") < rest.index(b"main.py ran")
        port.enter_raw_repl()
        out, _ = port.run_raw("import machine\nprint(machine.reset_cause() == machine.SOFT_RESET)")
        assert out.strip() == "True"  # what esp_restart() reports on an ESP32


def test_scanmail_board_reset_restarts_a_running_board_from_boot_py_and_main_py(start_board):
    board = _board_with_boot_and_main(start_board, "micropython")
    with Port(board.port) as port:
        port.write(b"\r")
        port.read_until(b">>> ")
        reset_board(board.state_dir)
        after_reset = port.read_until(b'Type "help()" for more information.\r\n>>> ')
        assert b"boot.py ran" in after_reset and b"main.py ran" in after_reset


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_ctrl_c_interrupts_running_code_and_the_board_answers_again(start_board, runtime):
    board = start_board(runtime, fast=True)
    with Port(board.port) as port:
        port.enter_raw_repl()
        port.write(b"print('looping')\nwhile True:\n    pass\n\x04")
        port.read_until(b"looping")
        port.write(b"\x03")
        port.read_until(b"\x04")
        err = port.read_until(b"\x04")
        assert b"KeyboardInterrupt" in err
        port.read_until(b">")
        assert port.run_raw("print(6 * 7)") == ("42\r\n", "")


TOGGLING = """
import micropython, select, sys
poller = select.poll()
poller.register(sys.stdin, select.POLLIN)
interrupts = typed = 0
micropython.kbd_intr(-1)          # the first press may come as soon as this line is out
print('toggling')
while interrupts + typed < %d:
    try:
        try:
            while True:
                micropython.kbd_intr(3)
                for _ in range(3000):
                    pass
                micropython.kbd_intr(-1)
                if poller.poll(0):
                    typed += sys.stdin.buffer.read(1) == b'\\x03'
                    break
        except KeyboardInterrupt:
            micropython.kbd_intr(-1)
            interrupts += 1
    except KeyboardInterrupt:     # the next press, in the handler before it turned Ctrl-C off
        micropython.kbd_intr(-1)
        interrupts += 1
micropython.kbd_intr(3)
print('alive', interrupts, typed)
"""


def test_ctrl_c_while_code_turns_it_on_and_off_is_an_interrupt_or_input_never_a_dead_board(start_board):
    # firmware switches Ctrl-C off around its own console reads and on around blocking steps; on
    # an ESP32 a Ctrl-C byte is then either a KeyboardInterrupt or an ordinary byte, whatever the
    # instant (the board never dies of it)
    board = start_board("micropython", fast=True)
    presses = 10
    with Port(board.port) as port:
        port.enter_raw_repl()
        port.write(TOGGLING.lstrip().encode() % presses + b"\x04")
        port.read_until(b"toggling")
        for _ in range(presses):
            port.write(b"\x03")
            time.sleep(0.3)        # apart: presses closer together are one interrupt (next test)
        out = port.read_until(b"\x04", timeout_s=30)
        assert b"alive" in out, (out, port.read_until(b"\x04", timeout_s=5))     # with what it raised
        interrupts, typed = (int(n) for n in out.split(b"alive")[1].split(b"\r")[0].split())
        assert interrupts + typed == presses and interrupts > 0
        port.read_until(b">")
        assert port.run_raw("print(6 * 7)") == ("42\r\n", "")


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_mpremotes_double_ctrl_c_is_one_keyboardinterrupt(start_board, runtime):
    # mpremote interrupts with "\r\x03\x03" in one write: on an ESP32 the second Ctrl-C finds the
    # first still pending, and the code sees one KeyboardInterrupt (the unix port would end itself)
    board = start_board(runtime, fast=True)
    with Port(board.port) as port:
        port.enter_raw_repl()
        port.write(b"import time\nn = 0\nprint('looping')\ntry:\n    while True:\n        pass\n"
                   b"except KeyboardInterrupt:\n    n += 1\n"
                   b"time.sleep(0.6)\nprint('interrupts', n)\n\x04")    # a second one would land here
        port.read_until(b"looping")
        port.write(b"\r\x03\x03")
        out = port.read_until(b"\x04")
        err = port.read_until(b"\x04")
        assert b"interrupts 1" in out and err == b"\x04", (out, err)
        port.read_until(b">")
        assert port.run_raw("print(6 * 7)") == ("42\r\n", "")


def test_a_host_that_soft_resets_the_board_many_times_in_a_row_keeps_a_working_board(start_board):
    board = start_board("micropython", fast=True)
    repl = open_repl(board)
    try:
        for _ in range(8):  # what a script running `mpremote exec ...` in a loop does
            repl.enter(soft_reset=True)
        assert repl.exec("print('still here')").strip() == "still here"
    finally:
        repl.close()
