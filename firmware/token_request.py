# One form POST to Microsoft Entra ID's token or device authorization endpoint over HTTPS, with the
# same verified TLS as the mail core (firmware/tls_setup.py: the clock checked first, the bundled
# roots or ca_der, SNI and the host name checked), and the JSON answer read by json_fields as it
# streams in. Rules: HTTP/1.0 (the server closes after the answer: no chunked bodies, no
# keep-alive); the form is written field by field, so a refresh token is never copied into one
# big request string; every failure is an SMTPError at stage "sign_in" whose text never holds a
# secret. Loaded for a request through firmware.call_once and let go after it.
from scanmail.firmware import compat
from scanmail.firmware.compat import const
from scanmail.firmware.errors import SMTPError
from scanmail.firmware.json_fields import JsonFields

_READ = const(256)
_UNRESERVED = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~"
# The fields a sign-in ever needs from an answer; id_token and the rest stream by unkept.
WANTED = ("access_token", "refresh_token", "expires_in", "device_code", "user_code", "verification_uri",
          "interval", "message", "error", "error_codes", "token_type")


def _error(text, kind, transient=True):
    return SMTPError("sign_in", text, transient=transient, kind=kind)


def _encode(value):
    """x-www-form-urlencoded bytes of one value."""
    if isinstance(value, str):
        value = value.encode()
    out = bytearray()
    for b in value:
        if b in _UNRESERVED:
            out.append(b)
        else:
            out.extend(("%%%02X" % b).encode())
    return out


def post(cfg, board, path, fields):
    """POST `fields` (a list of (name, value)) to https://<cfg host><path>.
    -> (HTTP status, {wanted field: value}); raises SMTPError (stage "sign_in")."""
    # Collections every eighth of the free heap while the request runs, as send_mail does: left
    # to collect only at exhaustion, a heap that never compacts scatters the tokens' blocks.
    previous = compat.collect_every(compat.free_heap() // 8)
    try:
        return _post(cfg, board, path, fields)
    finally:
        compat.collect_every(previous)


def _post(cfg, board, path, fields):
    host, port = cfg["host"], cfg.get("port") or 443
    now = board.clock.now()
    # Before the first send the board keeps no TLS context: this request makes one of its own,
    # first, and lets it go after (send_mail makes the one to keep where the heap has room)
    ctx = None if compat.TLS[1] is not None else compat.new_tls_client_context()
    from scanmail.firmware import tls_setup
    try:
        ctx = tls_setup.configure(cfg, now, ctx)
    except SMTPError as exc:
        exc.stage = "sign_in"
        raise
    encoded = [(name, _encode(value)) for name, value in fields]
    length = sum(len(name) + 1 + len(value) for name, value in encoded) + len(encoded) - 1
    compat.free_heap()                   # a collection before the connection's allocations
    try:
        sock = board.net.open_tcp(host, port, cfg.get("timeout_s", 30))
    except Exception as exc:
        kind = compat.network_error_kind(exc) if isinstance(exc, OSError) else "network"
        raise _error("cannot connect to %s:%d (%s): %s" % (host, port, kind, exc), kind)
    try:
        compat.set_timeout(sock, cfg.get("timeout_s", 30))
        try:
            sock = ctx.wrap_socket(sock, server_hostname=host)
        except MemoryError:
            raise
        except Exception as exc:
            error = tls_setup.handshake_failed(exc, host)
            error.stage = "sign_in"
            raise error
        del ctx
        try:
            _write(sock, ("POST %s HTTP/1.0\r\nHost: %s\r\nContent-Type: application/x-www-form-urlencoded"
                          "\r\nAccept: application/json\r\nContent-Length: %d\r\n\r\n" % (path, host, length)).encode())
            for i, (name, value) in enumerate(encoded):
                _write(sock, (b"&" if i else b"") + name.encode() + b"=")
                _write(sock, value)
            encoded = None
            return _read_answer(sock)
        except OSError as exc:
            kind = compat.network_error_kind(exc)
            raise _error("%s talking to %s: %s" % ("timed out" if kind == "timeout" else "connection lost",
                                                   host, exc), kind)
    finally:
        try:
            sock.close()
        except Exception:
            pass


def _write(sock, data):
    view = memoryview(data)
    while len(view):
        n = compat.sock_send(sock, view)
        if not n:
            raise OSError(32)
        view = view[n:]


def _read_answer(sock):
    buf = bytearray(_READ)
    view = memoryview(buf)
    head = bytearray()
    parser = JsonFields(WANTED)
    status = None
    while True:
        n = compat.sock_recv_into(sock, view)
        if not n:
            break
        if status is None:
            head.extend(view[:n])
            end = head.find(b"\r\n\r\n")
            if end < 0:
                if len(head) > 4096:
                    raise _error("the sign-in server's answer has no end of headers", "protocol", False)
                continue
            status = _status(head)
            _feed(parser, memoryview(head)[end + 4:])
            head = None
        else:
            _feed(parser, view[:n])
    if status is None:
        raise _error("the sign-in server closed the connection without an answer", "closed")
    try:
        return status, parser.finish()
    except ValueError as exc:
        raise _error("the sign-in server's answer (HTTP %d): %s" % (status, exc), "protocol", status >= 500)


def _feed(parser, data):
    try:
        parser.feed(data)
    except ValueError as exc:
        raise _error("the sign-in server's answer: %s" % exc, "protocol", False)


def _status(head):
    line = bytes(head[:head.find(b"\r\n")])
    parts = line.split(b" ")
    if len(parts) < 2 or not parts[0].startswith(b"HTTP/") or not parts[1].isdigit():
        raise _error("the sign-in server did not answer HTTP", "protocol", False)
    return int(parts[1])
