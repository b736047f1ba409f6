# The one place where MicroPython and CPython differ. Every other firmware module imports what it
# needs from here instead of testing the runtime itself. Keep it small: a shim per difference.
import sys

IS_MICROPYTHON = sys.implementation.name == "micropython"

if IS_MICROPYTHON:
    from micropython import const  # noqa: F401  (folds constants into bytecode)
    from time import sleep_ms, ticks_diff, ticks_ms  # noqa: F401
else:  # CPython: its side of every difference is in firmware/compat_cpython.py (end of this file)
    # (the type check reads this module as an ESP32's: these names are then defined twice)
    from scanmail.firmware.compat_cpython import (  # type: ignore[no-redef]  # noqa: F401
        const, sleep_ms, ticks_diff, ticks_ms)


def free_heap():
    """Free what can be freed (worth calling before a large allocation), and return how many bytes
    of heap are then free."""
    import gc

    gc.collect()
    return gc.mem_free()


def collect_every(amount):
    """Have the heap collected after every `amount` bytes allocated as well as when an allocation
    fails (gc.threshold; -1: only then), and return the setting it replaces, to put back."""
    import gc

    previous = gc.threshold()
    gc.threshold(amount)
    return previous


# --- streams: MicroPython sockets and TLS sockets speak read/readinto/write (CPython's speak
# recv_into/send: firmware/compat_cpython.py). Both loop until the work is done or the timeout
# fires. ------------------------------------------------------------------------------------------
import errno


def read_into(f, view):
    """Fill `view` from a file; return how many bytes arrived (fewer only at end of file)."""
    got = 0
    while got < len(view):
        n = f.readinto(view[got:])
        if not n:
            break
        got += n
    return got


def set_timeout(sock, seconds):
    if hasattr(sock, "settimeout"):
        sock.settimeout(seconds)


def sock_recv_into(sock, view):
    # On MicroPython a blocking readinto()/recv_into() waits until the whole buffer is full, plain
    # or TLS; recv() returns what has arrived, which is what a reply reader needs.
    data = sock.recv(len(view))
    if data is None:                         # a non-blocking socket had nothing: a timeout
        raise OSError(errno.ETIMEDOUT)
    n = len(data)
    view[:n] = data
    return n


def sock_send(sock, view):
    n = sock.write(view)
    if n is None:
        raise OSError(errno.ETIMEDOUT)
    return n


def network_error_kind(exc):
    """'timeout' | 'refused' | 'dns' | 'closed' | 'network' for an exception from a socket."""
    number = getattr(exc, "errno", None)
    if number is None and getattr(exc, "args", None) and isinstance(exc.args[0], int):
        number = exc.args[0]
    if not IS_MICROPYTHON:
        kind = socket_error_kind(exc)
        if kind:
            return kind
    if number in (errno.ETIMEDOUT, errno.EAGAIN):
        return "timeout"
    if number == errno.ECONNREFUSED:
        return "refused"
    if number in (errno.ECONNRESET, errno.ECONNABORTED, 32):   # 32: EPIPE, on every port
        return "closed"
    if isinstance(number, int) and number < 0:   # MicroPython getaddrinfo: negative EAI_* codes
        return "dns"
    return "network"


# --- TLS: MicroPython's tls.SSLContext, the C module that MicroPython's own ssl.py only wraps
# (using it directly keeps that wrapper module and its objects out of a small heap). It takes CA
# roots and a client certificate as DER bytes; CPython's ssl differs in that and in minimum version
# settings (firmware/compat_cpython.py). ---------------------------------------------------------
# The board's one TLS context, kept from send to send: [what it was configured with (a digest of
# its roots and client certificate; None while it is new), the context]. It is one block of about
# 3 KB in the GC heap, and MicroPython never compacts its heap: made once, early, it keeps its place
# (a new one, for other roots, is made right after the old one is let go, so it takes that place),
# where one made per attempt would need 3 KB in one piece among the pieces long-lived objects leave.
# Its roots are parsed once too. firmware/tls_setup.py configure() is what uses it. One board sends
# from one task at a time (the outbox worker, or a console command): it is not made for two threads
# that connect at once with different roots.
TLS = [None, None]


def new_tls_client_context():
    import tls

    ctx = tls.SSLContext(tls.PROTOCOL_TLS_CLIENT)
    # MicroPython's default is CERT_NONE: set it always. (verify_mode is an attribute of the C
    # type that the generated ESP32 stubs do not list; the boards have it.)
    ctx.verify_mode = tls.CERT_REQUIRED  # type: ignore[attr-defined]
    return ctx


def load_ca(ctx, ca_der):
    """Trust the DER certificate(s) `ca_der` for verifying the server."""
    ctx.load_verify_locations(ca_der)


def load_client_cert(ctx, cert_der, key_der):
    ctx.load_cert_chain(cert_der, key_der)


if not IS_MICROPYTHON:  # CPython (the emulator, the tests): its side of the differences above
    from scanmail.firmware.compat_cpython import (  # noqa: F401,E402
        collect_every, free_heap, load_ca, load_client_cert, new_tls_client_context,
        sock_recv_into, sock_send, socket_error_kind)
