# The application's log ring on both runtimes: a log line never stops the scanner. Each task logs
# its own failures with it, so a clock that cannot be read or a serial port that cannot be written
# must leave the line on flash and raise nothing (the outbox worker died this way once: its clock
# failed, then the line saying so failed too). The ring holds the newest lines in two files of at
# most `half` bytes each, counts on across a reboot, and `logs` gives the last 50 by default.
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


RING_CASES = r"""
import json
import os
from scanmail.firmware.app.log_ring import LogRing

out = {}
echoed = []
ring = LogRing(ROOT, half=135, clock=lambda: 1800000000, echo=echoed.append)   # a line: 27 bytes
for i in range(3):
    ring("line %03d of the" % i)
ring = LogRing(ROOT, half=135, clock=lambda: 1800000000, echo=echoed.append)   # a reboot: the size
for i in range(3, 5):                                                           # is the file's
    ring("line %03d of the" % i)
out["full"] = [os.stat(ROOT + "/log.0")[6], ring.lines(10)]
ring("line 005 of the")
out["rotated"] = [os.stat(ROOT + "/log.1")[6], os.stat(ROOT + "/log.0")[6], len(ring.lines(10))]
for i in range(6, 10):
    ring("line %03d of the" % i)
out["second_full"] = [os.stat(ROOT + "/log.0")[6], ring.lines(2)]
for i in range(10, 60):
    ring("line %03d of the" % i)
out["bounded"] = [os.stat(ROOT + "/log.0")[6] <= 135, os.stat(ROOT + "/log.1")[6] <= 135]
out["echoed"] = echoed[:2]
big = LogRing(ROOT + "/big", half=10)
os.mkdir(ROOT + "/big")
big("a line longer than the whole ring")                      # on an empty ring: kept whole
out["big"] = big.lines()
gone = LogRing(ROOT + "/no/such/folder")                      # a flash that takes nothing
gone("lost, and nothing raised")
out["gone"] = gone.lines()
many = LogRing(ROOT + "/many", clock=lambda: 7)
os.mkdir(ROOT + "/many")
for i in range(60):
    many("n%d" % i)
out["default_count"] = [len(many.lines()), many.lines()[0]]
os.mkdir(ROOT + "/fresh")
fresh = LogRing(ROOT + "/fresh")                              # the application's ring: 8 KB a file
for i in range(256):
    fresh("line %04d of thirty-two bytes" % i)                # "- " + 29 + newline: 32 bytes
out["fresh"] = [os.stat(ROOT + "/fresh/log.0")[6], "log.1" in os.listdir(ROOT + "/fresh")]
fresh("one more")
out["fresh"] += [os.stat(ROOT + "/fresh/log.1")[6], fresh.lines(1)]
print(json.dumps(out))
"""


def test_the_ring_holds_the_newest_lines_in_two_files_of_at_most_half_each(run_firmware, tmp_path):
    out = json.loads(run_firmware("ROOT = %r\n" % str(tmp_path) + RING_CASES).strip().splitlines()[-1])
    assert out["full"] == [135, ["1800000000 line %03d of the" % i for i in range(5)]]   # exactly full
    assert out["rotated"] == [135, 27, 6]            # the 6th line went to a new file
    assert out["second_full"] == [135, ["1800000000 line 008 of the", "1800000000 line 009 of the"]]
    assert out["bounded"] == [True, True]
    assert out["echoed"] == ["1800000000 line 000 of the\n", "1800000000 line 001 of the\n"]
    assert out["big"] == ["- a line longer than the whole ring"]
    assert out["gone"] == []
    assert out["default_count"] == [50, "7 n10"]     # `logs` without a count: the last 50
    assert out["fresh"] == [8192, False, 8192, ["- one more"]]   # exactly full from empty, then turned
