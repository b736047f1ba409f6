# The raw-REPL client tells a technician what is wrong when the thing on the port is not a board
# answering MicroPython's raw REPL, and never sends bytes that would end the board's input early.
import pytest

from scanmail.host_tools.raw_repl import RawRepl, ReplError


def test_a_port_that_does_not_exist_is_named_with_what_to_check():
    with pytest.raises(ReplError) as err:
        RawRepl("/dev/ttyUSB-no-such-port")
    message = str(err.value)
    assert "/dev/ttyUSB-no-such-port" in message
    assert "check the cable" in message


def test_a_port_with_no_micropython_behind_it_times_out_with_a_clear_error():
    # loop:// echoes what is written: something answers, but it is not a raw REPL.
    with RawRepl("loop://", read_timeout_s=0.3) as repl:
        with pytest.raises(ReplError) as err:
            repl.enter()
    assert "no raw REPL prompt from the board on loop://" in str(err.value)
    assert "running MicroPython" in str(err.value)


def test_code_with_control_bytes_is_refused_before_anything_is_sent():
    with RawRepl("loop://", read_timeout_s=0.3) as repl:
        repl.in_raw_repl = True  # skip entering: the refusal must come before any byte is written
        with pytest.raises(ValueError):
            repl.exec("print('\x04')")
        assert repl.serial.in_waiting == 0
