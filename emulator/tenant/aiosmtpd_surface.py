# Every private name of aiosmtpd and asyncio that the fake tenant relies on, here and nowhere else.
# Rule: TenantSmtp (smtp_session.py) inherits aiosmtpd's connection, idle-timer and STARTTLS
# plumbing (SMTP.connection_made, connection_lost, eof_received, _reset_timeout, _timeout_cb) but
# skips SMTP.__init__, which walks every member with inspect.getmembers on each connection; so the
# attributes those methods read are set by init_connection() below, every other private name is
# reached through a function of this module, and problems() checks each one against the installed
# aiosmtpd and asyncio (tests/tenant/test_aiosmtpd_surface.py fails naming what changed).
import asyncio
import asyncio.sslproto as sslproto
import inspect
import re
import ssl

import aiosmtpd
from aiosmtpd.smtp import SMTP

# The release range this file was written against; the same range is pinned in pyproject.toml.
SUPPORTED = ((1, 4, 6), (1, 5))
SUPPORTED_TEXT = ">=1.4.6,<1.5"

# SMTP methods the tenant inherits and runs unchanged; each may read only what init_connection sets.
INHERITED = ("connection_made", "connection_lost", "eof_received", "_reset_timeout", "_timeout_cb",
             "_cb_client_connected", "_set_rset_state", "_set_post_data_state", "_create_session",
             "_create_envelope")
# SMTP methods the tenant replaces; SMTP.connection_made must still start the session by this name.
OVERRIDDEN = ("_handle_client",)
# asyncio internals: SSLProtocol._app_transport (the TLS side of a STARTTLS upgrade),
# StreamReader._buffer (pipelined commands pushed back after the end of DATA).
SSL_APP_TRANSPORT = "_app_transport"
READER_BUFFER = "_buffer"
# SSLProtocol.max_size: the read buffer each TLS connection allocates (asyncio's is 256 KB); the
# session reads at most 64 KB at a time anyway (smtp_session.CHUNK).
TLS_READ_BUFFER = 64 * 1024


class _TlsProtocol(sslproto.SSLProtocol):
    max_size = TLS_READ_BUFFER


def init_connection(protocol, loop, reader_limit, idle_timeout_s, hostname, tls_context):
    """What SMTP.__init__ would set that the inherited methods read, without its member walk."""
    asyncio.StreamReaderProtocol.__init__(
        protocol, asyncio.StreamReader(limit=reader_limit, loop=loop),
        client_connected_cb=protocol._cb_client_connected, loop=loop)
    protocol.loop = loop
    protocol.event_handler = _NoHooks()
    protocol.hostname = hostname
    protocol.tls_context = tls_context
    protocol.require_starttls = False
    protocol.enable_SMTPUTF8 = True
    protocol.data_size_limit = None
    protocol.session = None
    protocol.envelope = None
    protocol.transport = None
    protocol._decode_data = False
    protocol._timeout_duration = idle_timeout_s
    protocol._timeout_handle = None
    protocol._tls_handshake_okay = True
    protocol._tls_protocol = None
    protocol._original_transport = None
    protocol._handler_coroutine = None
    protocol._handle_hooks = {}
    protocol._proxy_timeout = None


class _NoHooks:
    """aiosmtpd wants a handler object; every decision is made in TenantSmtp itself."""


def reader(protocol):
    return protocol._reader


def writer(protocol):
    return protocol._writer


def session_task(protocol):
    """The task SMTP.connection_made started for the session (running _handle_client)."""
    return protocol._handler_coroutine


def idle_timeout_s(protocol):
    """The session's idle timeout (SMTP._timeout_duration, which SMTP._reset_timeout uses)."""
    return protocol._timeout_duration


def set_idle_timeout_s(protocol, seconds):
    """Change the session's idle timeout; the next bytes read arm the timer with it."""
    protocol._timeout_duration = seconds


def restart_idle_timer(protocol, seconds=None):
    protocol._reset_timeout(seconds)


def stop_idle_timer(protocol):
    # Cancelled, not dropped: SMTP.connection_lost asserts the handle is there. A cancelled handle
    # holds no reference to the session.
    handle = protocol._timeout_handle
    if handle is not None:
        handle.cancel()


def socket_transport(protocol):
    """The TCP transport under the session (below TLS after STARTTLS), or None once closed."""
    return protocol._original_transport or protocol.transport


def start_tls(protocol, context, handshake_timeout_s):
    """Upgrade the connection as aiosmtpd's smtp_STARTTLS does. Returns the handshake's future;
    SMTP.connection_made runs again (with the TLS transport) when the handshake succeeds."""
    waiter = protocol.loop.create_future()
    tls = _TlsProtocol(protocol.loop, protocol, context, waiter, server_side=True,
                       ssl_handshake_timeout=handshake_timeout_s)
    protocol._tls_protocol = tls
    protocol._original_transport = protocol.transport
    protocol._original_transport.set_protocol(tls)
    protocol.transport = getattr(tls, SSL_APP_TRANSPORT)
    tls.connection_made(protocol._original_transport)
    return waiter


def release(protocol):
    """Drop everything a finished session holds (timer, TLS state and its buffers, transports), so
    nothing of it outlives the connection whatever stage it ended in: a failed TLS handshake never
    calls connection_lost, so aiosmtpd's own clean-up does not run then."""
    stop_idle_timer(protocol)
    raw = protocol._original_transport
    if raw is not None and not raw.is_closing():
        raw.abort()
    if protocol.transport is not None and not protocol.transport.is_closing():
        protocol.transport.abort()
    protocol._tls_protocol = None
    protocol._original_transport = None


def push_back(stream_reader, data):
    """Put bytes read past the end of DATA back in front of the reader's buffer."""
    getattr(stream_reader, READER_BUFFER)[0:0] = data


def installed_version():
    return aiosmtpd.__version__


def _version_tuple(text):
    return tuple(int(part) for part in re.findall(r"\d+", text)[:3])


def problems():
    """What in the installed aiosmtpd or asyncio no longer matches this module, one line each."""
    found = []
    version = installed_version()
    if not SUPPORTED[0] <= _version_tuple(version) < SUPPORTED[1]:
        found.append("aiosmtpd %s is outside %s, the range the fake tenant's TenantSmtp was written for: "
                     "check the names in emulator/tenant/aiosmtpd_surface.py against it, then move the "
                     "range here and in pyproject.toml" % (version, SUPPORTED_TEXT))
    for name in INHERITED + OVERRIDDEN:
        if not callable(getattr(SMTP, name, None)):
            found.append("aiosmtpd %s: SMTP.%s is gone (the fake tenant %s it)"
                         % (version, name, "inherits" if name in INHERITED else "overrides"))
    try:
        if "self._handle_client()" not in inspect.getsource(SMTP.connection_made):
            found.append("aiosmtpd %s: SMTP.connection_made no longer starts self._handle_client(), which "
                         "TenantSmtp overrides to run its sessions" % version)
    except (OSError, TypeError, AttributeError):
        pass
    loop = asyncio.new_event_loop()
    try:
        probe = SMTP.__new__(SMTP)
        init_connection(probe, loop, 1024, 300, "probe", None)
        known = set(vars(probe)) | set(dir(SMTP)) | {"_reader", "_writer"}   # the last two by _cb_client_connected
        for name in INHERITED:
            method = getattr(SMTP, name, None)
            if method is None:
                continue
            try:
                source = inspect.getsource(method)
            except (OSError, TypeError):
                continue
            for attribute in sorted(set(re.findall(r"self\.(\w+)\b(?!\s*=[^=])", source))):
                if attribute not in known:
                    found.append("aiosmtpd %s: SMTP.%s now reads self.%s, which aiosmtpd_surface.init_connection "
                                 "does not set" % (version, name, attribute))
        tls = sslproto.SSLProtocol(loop, probe, ssl.create_default_context(ssl.Purpose.CLIENT_AUTH), None,
                                   server_side=True)
        if sslproto.SSLProtocol.max_size < TLS_READ_BUFFER or "self.max_size" not in inspect.getsource(
                sslproto.SSLProtocol.__init__):
            found.append("asyncio: SSLProtocol no longer sizes its read buffer by max_size (the tenant sets it "
                         "to %d bytes)" % TLS_READ_BUFFER)
        if not hasattr(tls, SSL_APP_TRANSPORT):
            found.append("asyncio: SSLProtocol.%s is gone (start_tls() hands it to the session)" % SSL_APP_TRANSPORT)
        if not isinstance(getattr(asyncio.StreamReader(loop=loop), READER_BUFFER, None), bytearray):
            found.append("asyncio: StreamReader.%s is no longer a bytearray (push_back() writes into it)"
                         % READER_BUFFER)
    finally:
        loop.close()
    return found
