# CPython's side of firmware/compat.py (the emulator's boards and the tests run the firmware on
# CPython): compat.py holds MicroPython's side and imports these names over its own on CPython.
# Rule: nothing but CPython differences lives here, and this file never goes onto a MicroPython
# board (host_tools/firmware_build.py leaves it out of .mpy images), so none of it costs a board
# heap. It is still checked by the firmware type check, like every firmware module.
import os
import socket
import ssl
import time


def const(value):
    return value


def ticks_ms():
    return int(time.monotonic() * 1000)


def ticks_diff(end, start):
    return end - start


def sleep_ms(ms):
    time.sleep(ms / 1000)


def free_heap():
    """Plenty (16 MB), without a collection: CPython frees by reference counting and has no small
    heap to keep in one piece, so a collection would only cost time."""
    return 16 << 20


def collect_every(amount):
    """Nothing to set: CPython has no allocation threshold of MicroPython's kind (-1: none)."""
    return -1


def sock_recv_into(sock, view):
    return sock.recv_into(view)


def sock_send(sock, view):
    return sock.send(view)


def socket_error_kind(exc):
    """'timeout' or 'dns' for CPython's own socket exception classes, else None."""
    if isinstance(exc, socket.timeout):
        return "timeout"
    if isinstance(exc, socket.gaierror):
        return "dns"
    return None


def new_tls_client_context():
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.check_hostname = True
    # TLS 1.2 exactly, as MicroPython's mbedTLS speaks it (the unix port and an ESP32 build
    # negotiate 1.2): a board on the CPython runtime then meets the server as a real board does.
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    return ctx


def load_ca(ctx, ca_der):
    """Trust the DER certificate(s) `ca_der` for verifying the server."""
    ctx.load_verify_locations(cadata=ca_der)


def load_client_cert(ctx, cert_der, key_der):
    # CPython loads a client certificate only from a file: write both to a private temporary PEM.
    import tempfile

    from cryptography.hazmat.primitives import serialization  # the emulator's dependency

    key = serialization.load_der_private_key(key_der, password=None)
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    fd, path = tempfile.mkstemp(suffix=".pem")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(ssl.DER_cert_to_PEM_cert(cert_der).encode() + key_pem)
        ctx.load_cert_chain(path)
    finally:
        os.unlink(path)
