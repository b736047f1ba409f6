# `outbox list` with hundreds of jobs: the reply streams out job by job in continuation frames, so
# a board whose heap is a fraction of the reply still answers it whole (on the unix port, in a heap
# where building the same reply in RAM runs out of memory), and the host's ConsoleClient reads it
# across the serial line (through a pty, on both runtimes).
import json

import pytest

from scanmail.host_tools.console_client import parse_frame
from tests.app.test_console import board, pages  # noqa: F401  (fixtures: the application on a pty)

JOBS = 800
HEAP = 128 * 1024
SERVER_TEXT = "4.4.316 Connection refused [Message=Socket error code 10061] " * 3


def write_jobs(root, count):
    """`count` failed jobs with a full diagnosis, as the outbox writes them (write_atomic's end)."""
    jobs = root / "outbox" / "jobs"
    jobs.mkdir(parents=True, exist_ok=True)
    (root / "outbox" / "docs").mkdir(exist_ok=True)
    for n in range(count):
        job_id = "%06d" % (n + 1)   # as Outbox.new_id names them
        job = {"id": job_id, "state": "failed", "created": 1_800_000_000 + n, "attempts": 5,
               "next_at": 0, "files": [["/outbox/docs/%s-01.pdf" % job_id, "scan.pdf", "application/pdf"]],
               "size": 123456, "sent_at": None, "reply": None, "to": ["alice@contoso.com"],
               "subject": "Scan %d from scanner-3f2a" % n,
               "last": {"text": "554 5.4.316 " + SERVER_TEXT, "stage": "data", "code": 554,
                        "server_text": SERVER_TEXT, "enhanced": "5.4.316", "cause": "the route failed",
                        "what_to_do": "check the connector's smart host and try again"}}
        (jobs / (job_id + ".json")).write_bytes(json.dumps(job).encode() + b"\n#end\n")


LIST = """
import sys, gc
from scanmail.firmware.app.console_commands import Commands
from scanmail.firmware.app.console_session import ConsoleSession
from scanmail.firmware.app.outbox import Outbox
import binascii
class App:
    pass
app = App()
app.outbox = Outbox(%(root)r)
session = ConsoleSession(Commands(app))
request = b'{"cmd":"outbox.list"}'
frame = b"#SM1 5 . %%d %%08x %%s\\n" %% (len(request), binascii.crc32(request) & 0xFFFFFFFF, request)
out = sys.stdout.buffer if hasattr(sys.stdout, "buffer") else sys.stdout
gc.collect()
if %(in_ram)r:
    try:
        reply = list(Commands(app)._job_summaries())
        print("WHOLE", len(reply))
    except MemoryError:
        print("MemoryError")
else:
    for part in session.feed(frame):
        out.write(part)
"""


def frames_to_message(text):
    data = bytearray()
    count = 0
    for line in text.splitlines():
        parsed = parse_frame(line)
        if parsed is None:
            continue
        assert parsed[0] == 5, parsed
        data.extend(parsed[2])
        count += 1
    return json.loads(bytes(data)), count


def test_eight_hundred_jobs_stream_out_of_a_heap_a_fraction_of_the_reply(run_firmware, runtime, tmp_path):
    write_jobs(tmp_path, JOBS)
    heap = HEAP if runtime == "micropython" else None
    out = run_firmware(LIST % {"root": str(tmp_path), "in_ram": False}, heap_bytes=heap, timeout=120)
    message, frames = frames_to_message(out.encode())
    assert message["ok"] is True and len(message["result"]) == JOBS
    assert [job["id"] for job in message["result"]] == ["%06d" % (n + 1) for n in range(JOBS)]
    assert message["result"][-1]["server_text"] == SERVER_TEXT and message["result"][0]["code"] == 554
    assert len(out) > 4 * HEAP and frames > 800            # the reply is many times the heap
    if runtime == "micropython":
        # the anchor: the same summaries gathered in RAM do not fit that heap
        anchor = run_firmware(LIST % {"root": str(tmp_path), "in_ram": True}, heap_bytes=heap, timeout=120)
        assert anchor.strip() == "MemoryError"


@pytest.fixture
def board_with_jobs(board):  # noqa: F811
    write_jobs(board.root, 300)
    return board


def test_the_host_client_reads_a_streamed_outbox_list_over_the_serial_line(board_with_jobs):
    jobs = board_with_jobs.request("outbox.list")
    assert len(jobs) == 300 and jobs[299]["id"] == "000300" and jobs[0]["state"] == "failed"
    assert board_with_jobs.request("status")["outbox"]["failed"] == 300   # the console still answers


HALF_WAY = """
import sys, binascii
from scanmail.firmware.app.console_session import ConsoleSession, Streamed
def items():
    for n in range(%(count)d):
        yield {"n": n, "pad": "x" * 300}
    raise %(error)s
def handler(cmd, args):
    return Streamed(items())
session = ConsoleSession(handler, log=lambda line: None)
request = b'{"cmd":"outbox.list"}'
frame = b"#SM1 5 . %%d %%08x %%s\\n" %% (len(request), binascii.crc32(request) & 0xFFFFFFFF, request)
out = sys.stdout.buffer if hasattr(sys.stdout, "buffer") else sys.stdout
for part in session.feed(frame):
    out.write(part)
"""


@pytest.mark.parametrize("error, code", [("MemoryError()", "no_memory"), ("OSError(5)", "internal")])
def test_a_failure_half_way_ends_the_streamed_reply_well_formed(run_firmware, error, code):
    out = run_firmware(HALF_WAY % {"count": 3, "error": error})
    message, frames = frames_to_message(out.encode())
    assert frames > 3                                        # parts were out before the failure
    assert message["ok"] is False and message["error"]["code"] == code
    assert [item["n"] for item in message["result"]] == [0, 1, 2]
