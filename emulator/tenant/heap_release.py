# Gives the memory of finished sessions back to the operating system. Rule: only after sessions
# end, at most once every RELEASE_EVERY_S (one more is scheduled for the end of the window). A
# finished session is a web of reference cycles (task, streams, transports, TLS protocol, caught
# exceptions) that only the cyclic garbage collector frees, and it runs rarely, while each TLS
# session holds OpenSSL state and a read buffer in C: so collect, then ask the C library to return
# free pages (glibc's malloc_trim; elsewhere only the collection runs). Without it the server's RSS
# climbs with every burst of sessions, hostile or not, long after they are gone.
import ctypes
import ctypes.util
import gc
import time

RELEASE_EVERY_S = 2.0


def _load_trim():
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim = libc.malloc_trim
    except (OSError, AttributeError):
        return None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int
    return trim


class HeapRelease:
    """One per running tenant (its event loop): `after_session(loop)` when a session ends."""

    def __init__(self):
        self._last = 0.0
        self._pending = None
        self._trim = _load_trim()

    def after_session(self, loop):
        """Release now, or once the current RELEASE_EVERY_S window is over (so a release always
        follows the last session of a burst)."""
        wait = self._last + RELEASE_EVERY_S - time.monotonic()
        if wait > 0:
            if self._pending is None:
                self._pending = loop.call_later(wait, self._release_later, loop)
            return
        self._release()

    def _release_later(self, loop):
        self._pending = None
        self.after_session(loop)

    def _release(self):
        self._last = time.monotonic()
        gc.collect()
        if self._trim is not None:
            self._trim(0)

    def close(self):
        if self._pending is not None:
            self._pending.cancel()
            self._pending = None
