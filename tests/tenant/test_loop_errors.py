# When file descriptors run out, asyncio's accept loop reports it on every retry; the tenant's
# event-loop error handler turns a storm of such reports into one line a minute, without a traceback.
import logging

from scanmail.emulator.tenant.connection_limits import LoopErrorLog


def test_a_storm_of_loop_errors_becomes_one_line_a_minute(caplog):
    caplog.set_level(logging.WARNING, logger="scanmail.tenant")
    handler = LoopErrorLog()
    for i in range(10000):
        handler(None, {"message": "socket.accept() out of system resource",
                       "exception": OSError(24, "Too many open files")})
        handler(None, {"message": "Exception in callback <Handle %d>(conn=%d)" % (i, i),
                       "exception": AssertionError()})
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 2 and all("\n" not in line for line in lines), lines
    assert lines[0].startswith("fake tenant: socket.accept") and "Too many open files" in lines[0]
    assert all(r.exc_info is None for r in caplog.records)
