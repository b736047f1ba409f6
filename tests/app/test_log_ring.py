# The application's log ring on both runtimes: a log line never stops the scanner. Each task logs
# its own failures with it, so a clock that cannot be read or a serial port that cannot be written
# must leave the line on flash and raise nothing (the outbox worker died this way once: its clock
# failed, then the line saying so failed too).
import json


LOG_CASES = r"""
import json
from scanmail.firmware.app.log_ring import LogRing


def broken_clock():
    raise ValueError("invalid syntax for integer with base 10: ''")


def broken_port(line):
    raise OSError(5, "EIO")


out = []
for clock, echo in ((broken_clock, None), (lambda: 1800000000, broken_port), (broken_clock, broken_port)):
    log = LogRing(ROOT, clock=clock, echo=echo)
    try:
        log("outbox: ValueError: the clock failed")
        out.append(log.lines(1))
    except Exception as err:
        out.append(repr(err))
print(json.dumps(out))
"""


def test_a_clock_or_port_that_fails_leaves_the_line_on_flash_and_raises_nothing(run_firmware, tmp_path):
    out = json.loads(run_firmware("ROOT = %r\n" % str(tmp_path) + LOG_CASES).strip().splitlines()[-1])
    assert out == [["- outbox: ValueError: the clock failed"],
                   ["1800000000 outbox: ValueError: the clock failed"],
                   ["- outbox: ValueError: the clock failed"]]
