# One SMTP connection to the fake tenant (submission, MX or HVE), on aiosmtpd's connection and
# STARTTLS machinery. Rule: every reply comes from emulator/tenant/replies.py; the command loop,
# AUTH, MAIL/RCPT parameters, DATA and BDAT are ours (aiosmtpd's texts differ from Exchange's, it
# reads DATA line by line into memory and lacks DSN parameters and BDAT); each stage asks the fault
# registry first, then the rules in envelope_rules.py; DATA streams in large chunks into a spool
# file and nothing is stored until it is accepted.
import asyncio
import binascii
import itertools
import logging
import time
import uuid
from base64 import b64decode

from aiosmtpd.smtp import SMTP

from scanmail.emulator.tenant import aiosmtpd_surface as surface
from scanmail.emulator.tenant import delivery, replies
from scanmail.emulator.tenant import envelope_rules as rules
from scanmail.emulator.tenant.chunking import BdatTransfer
from scanmail.emulator.tenant.command_syntax import (certificate_names, login_name, parse_path, parse_xoauth2,
                                                     printable, unsupported)
from scanmail.emulator.tenant.data_reader import DataDecoder
from scanmail.emulator.tenant.sign_in import LOGIN, XOAUTH2, sign_in

log = logging.getLogger("scanmail.tenant")

COMMAND_LIMIT = 64 * 1024       # inline XOAUTH2 tokens of 16 KB and more fit on one line
CHUNK = 64 * 1024               # DATA is read in chunks this large (and the stream buffers 2x this)
CONVERSATION_LIMIT = 60         # lines of a session kept for its trace records (the latest ones)
LINE_NOTE_LIMIT = 1000
ERROR_BUDGET = 10               # unrecognized commands before 421 and a close
TLS_ALERT_HANDSHAKE_FAILURE = b"\x15\x03\x03\x00\x02\x02\x28"
TLS_ORDER = {"1.0": 1, "1.1": 2, "1.2": 3, "1.3": 4,
             "TLSv1": 1, "TLSv1.1": 2, "TLSv1.2": 3, "TLSv1.3": 4}
DSN_MAIL_PARAMS = ("RET", "ENVID")
DSN_RCPT_PARAMS = ("NOTIFY", "ORCPT")
TLS_HANDSHAKE_S = 30            # a client that says STARTTLS and never finishes the handshake
_session_ids = itertools.count(1)


class _Closed(Exception):
    """The connection is gone or was closed on purpose; stop the session."""


class TenantSmtp(SMTP):
    line_length_limit = CHUNK   # the StreamReader's buffer limit (flow control), not a line rule

    def __init__(self, world, endpoint, loop):
        # aiosmtpd's SMTP.__init__ is skipped (see aiosmtpd_surface.py, which sets what the
        # inherited connection, STARTTLS and timeout code reads).
        surface.init_connection(self, loop, self.line_length_limit, world.idle_timeout_s,
                                endpoint.server_name, endpoint.tls_context)
        self.world = world
        self.endpoint = endpoint
        self.session_id = next(_session_ids)
        self.admitted = None            # the client address counted in world.connections, once admitted
        self.commands = 0
        self.refused_rcpts = 0
        self.data_deadline = None       # loop time by which the message being transferred must be complete
        self._session_timer = None
        self.client_ip = None
        self.helo = None
        self.tls_version = None
        self.cipher = None
        self.cert_names = []
        self.login = None
        self.last_auth_reply = None
        self.errors = 0
        self.bdat = None
        self.conversation = []      # the session's lines so far, for the trace (no AUTH secrets)
        self._reset_envelope()

    # ------------------------------------------------------------------ plumbing
    @property
    def host(self):
        return self.endpoint.server_name

    def tag(self):
        return replies.diagnostic_tag(self.host, self.world.clock.now())

    def _reset_envelope(self):
        if self.bdat is not None:
            self.world.store.discard(self.bdat.spool)
            self.bdat = None
            self.data_deadline = None
        self.mail_from = None
        self.mail_params = {}
        self.rcpts = []
        self.method = None
        self.connector = None
        self.spf = ("none", "")

    async def reply(self, text):
        if self.transport is None:
            raise _Closed()
        self._note("S: " + text)
        writer = surface.writer(self)
        writer.write(text.encode("utf-8", "surrogateescape") + b"\r\n")
        await writer.drain()

    def _note(self, line):
        if len(self.conversation) >= CONVERSATION_LIMIT:
            del self.conversation[:len(self.conversation) - CONVERSATION_LIMIT + 1]
        self.conversation.append(line[:LINE_NOTE_LIMIT])

    def _close(self):
        if self.transport is not None:
            self.transport.close()

    def _abort(self):
        transport = surface.socket_transport(self)
        if transport is not None:
            transport.abort()

    # ------------------------------------------------------------------ connection and its limits
    def connection_made(self, transport):
        if self.transport is None and self.admitted is None:       # a new connection, not the STARTTLS upgrade
            peer = transport.get_extra_info("peername")
            address = peer[0] if isinstance(peer, tuple) else str(peer)
            connections = self.world.connections
            if not connections.admit(address):
                full = connections.per_address_full(address)
                try:
                    transport.write(((replies.TOO_MANY_CONNECTIONS_FROM_ADDRESS if full
                                      else replies.TOO_MANY_CONNECTIONS) + "\r\n").encode("ascii"))
                finally:
                    transport.close()
                self.admitted = False
                return
            self.admitted = address
            self.world.sessions.add(self)
            limits = self.world.tenant.limits
            self._session_timer = self.loop.call_later(limits["session_s"], self._session_expired)
            super().connection_made(transport)
            # Also when the session task is cancelled before it ever ran (its finally would not run).
            surface.session_task(self).add_done_callback(lambda _task: self._end_session())
            return
        super().connection_made(transport)

    def connection_lost(self, error):
        if self.admitted is False:      # refused over a connection limit: it never became a session
            return
        super().connection_lost(error)

    def _end_session(self):
        """Give back everything the session holds; safe to call more than once."""
        if self._session_timer is not None:
            self._session_timer.cancel()
            self._session_timer = None
        surface.release(self)
        self.world.sessions.discard(self)
        self.world.heap.after_session(self.loop)
        if self.admitted:
            self.world.connections.release(self.admitted)
            self.admitted = None

    def _session_expired(self):
        self._session_timer = None
        self._say_and_close(replies.SESSION_TOO_LONG)

    def _timeout_cb(self):
        # Exchange tells an idle client why it is being dropped before it closes; a message that is
        # still arriving when its transfer time is up gets the transfer limit's reply instead.
        late = self.data_deadline is not None and self.loop.time() >= self.data_deadline
        self._say_and_close(replies.DATA_TOO_SLOW if late else replies.IDLE_TIMEOUT)

    def _say_and_close(self, text):
        transport = self.transport
        if transport is not None and not transport.is_closing():
            try:
                transport.write((text + "\r\n").encode("ascii"))
            except Exception:
                pass
            transport.close()
        raw = surface.socket_transport(self)
        if raw is not None and raw is not transport and self.tls_version is None:
            raw.abort()                 # still in the TLS handshake: nothing can be said
        surface.stop_idle_timer(self)

    def touch(self):
        """Data arrived: restart the idle timer, never past the message's transfer deadline."""
        if self.data_deadline is None:
            surface.restart_idle_timer(self)
        else:
            remaining = self.data_deadline - self.loop.time()
            surface.restart_idle_timer(self, max(0.001, min(surface.idle_timeout_s(self), remaining)))

    def trace(self, status, reply, recipients=None, sender=None, **extra):
        if sender is None:
            sender = self.mail_from if self.mail_from is not None else (self.login or "")
        self.world.trace.add(self.world.clock.now(), self.endpoint.name, self.method or self.default_method(),
                             self.client_ip, self.tls_version, sender,
                             recipients if recipients is not None else self.rcpts, status, reply,
                             conversation=self.conversation_until(reply, extra.get("size")), **extra)

    def conversation_until(self, reply, size):
        """The session so far and the reply about to be sent (a record is written before its reply)."""
        lines = list(self.conversation)
        if size is not None and lines and lines[-1].startswith(("S: 354", "C: BDAT", "C: bdat")):
            lines.append("C: <message, %d bytes>" % size)
        if not lines or lines[-1] != "S: " + reply:
            lines.append("S: " + reply)
        return lines

    def default_method(self):
        return {"submission": "submission", "hve": "hve"}.get(self.endpoint.name, "direct_send")

    async def fault(self, stage):
        """Apply a scripted fault for this stage. Returns None to carry on, or the reply sent."""
        fault = self.world.faults.take(self.endpoint.name, stage)
        if fault is None:
            return None
        if fault.action == "delay":
            await asyncio.sleep(fault.delay_s)
            return None
        if fault.action == "drop":
            self._abort()
            raise _Closed()
        if fault.action == "tls_fail":
            return "tls_fail"
        if stage in ("auth", "mail", "rcpt", "data"):
            self.trace("Refused" if stage != "data" else "Failed", fault.reply, stage=stage, fault=fault.id)
        await self.reply(fault.reply)
        if fault.reply.startswith("421"):
            self._close()
            raise _Closed()
        return fault.reply

    async def read_line(self):
        """One command line without CRLF, or raise _Closed at end of stream."""
        reader = surface.reader(self)
        try:
            line = await reader.readuntil(b"\n")
        except asyncio.IncompleteReadError:
            raise _Closed()
        except asyncio.LimitOverrunError as error:
            await reader.read(error.consumed)
            while True:
                try:
                    await reader.readuntil(b"\n")
                    break
                except asyncio.LimitOverrunError as more:
                    await reader.read(more.consumed)
                except asyncio.IncompleteReadError:
                    raise _Closed()
            return None
        self.touch()
        return line.rstrip(b"\r\n")

    # ------------------------------------------------------------------ the command loop
    async def _handle_client(self):
        peer = self.session.peer
        self.client_ip = peer[0] if isinstance(peer, tuple) else str(peer)
        limits = self.world.tenant.limits
        try:
            # A reply scripted at connect or greeting is sent instead of the greeting.
            if await self.fault("connect") is None and await self.fault("greeting") is None:
                await self.reply(replies.GREETING.format(host=self.host, date=replies.rfc1123_date(
                    self.world.clock.now()), id=uuid.uuid4().hex[:16].upper()))
            while self.transport is not None:
                line = await self.read_line()
                self.commands += 1
                if self.commands > limits["commands_per_session"]:
                    await self.reply(replies.TOO_MANY_COMMANDS)
                    self._close()
                    return
                if line is None or len(line) > COMMAND_LIMIT:
                    await self.reply(replies.LINE_TOO_LONG)
                    continue
                verb, _, arg = line.partition(b" ")
                verb_text = verb.decode("ascii", "replace")
                if verb_text.upper() == "AUTH":     # an initial response is a secret: name the mechanism only
                    words = arg.split()
                    self._note("C: AUTH %s%s" % (printable(words[0].decode("ascii", "replace")) if words else "",
                                                 " <credentials hidden>" if len(words) > 1 else ""))
                else:
                    self._note("C: " + printable(line.decode("utf-8", "replace"), 300))
                handler = getattr(self, "smtp_" + verb_text.upper(), None) if verb_text.isalpha() else None
                if handler is None:
                    self.errors += 1
                    if self.errors > ERROR_BUDGET:
                        await self.reply(replies.TOO_MANY_ERRORS)
                        self._close()
                        return
                    await self.reply(replies.UNRECOGNIZED.format(command=printable(verb_text), tag=self.tag()))
                    continue
                await handler(arg.strip().decode("utf-8", "surrogateescape"))
        except (_Closed, ConnectionError):
            self._close()
        except asyncio.CancelledError:
            # aiosmtpd cancels the session on EOF and keeps the socket half-open: close it here.
            self._close()
            raise
        except Exception:
            log.exception("fake tenant session %d failed", self.session_id)
            self._abort()
        finally:
            self._reset_envelope()          # an unfinished BDAT message leaves no spool file
            if self.login:
                self.world.limits.session_ended(self.login, self.session_id)
                self.login = None
            self._end_session()

    # ------------------------------------------------------------------ greeting commands
    async def smtp_EHLO(self, arg):
        if not arg:
            await self.reply(replies.BAD_SYNTAX)
            return
        if await self.fault("ehlo"):
            return
        if self.forged_helo(arg):
            await self.reply(replies.BAD_HELO)
            return
        self.helo = printable(arg, 255)   # it goes into the Received header: no CR, no control bytes
        self._reset_envelope()
        lines = replies.ehlo_lines(self.host, self.client_ip, self.tls_version is not None,
                                   self.endpoint.name != "mx")
        await self.reply("\r\n".join(lines))

    async def smtp_HELO(self, arg):
        if not arg:
            await self.reply(replies.BAD_SYNTAX)
            return
        if await self.fault("ehlo"):
            return
        if self.forged_helo(arg):
            await self.reply(replies.BAD_HELO)
            return
        self.helo = printable(arg, 255)
        self._reset_envelope()
        await self.reply(replies.HELO_HELLO.format(host=self.host, ip=self.client_ip))

    def forged_helo(self, arg):
        """True when a client greets the MX with one of the service's own names: the tenant's MX
        host, the server's name, or any name under the protection service's MX domains."""
        if self.endpoint.name != "mx":
            return False
        name = arg.split()[0].rstrip(".").lower() if arg.split() else ""
        own = (self.world.tenant.mx_host, self.endpoint.hostname.lower(), self.host.lower())
        return name in own or name.endswith(".mail.protection.outlook.com") or name.endswith(".mx.microsoft")

    async def smtp_NOOP(self, arg):
        await self.reply(replies.NOOP_OK)

    async def smtp_RSET(self, arg):
        self._reset_envelope()
        await self.reply(replies.RSET_OK)

    async def smtp_VRFY(self, arg):
        await self.reply(replies.VRFY_REPLY)

    async def smtp_HELP(self, arg):
        await self.reply(replies.HELP_REPLY)

    async def smtp_QUIT(self, arg):
        await self.reply(replies.QUIT_OK)
        self._close()
        raise _Closed()

    # ------------------------------------------------------------------ STARTTLS
    async def smtp_STARTTLS(self, arg):
        if arg:
            await self.reply(replies.BAD_SYNTAX)
            return
        if self.tls_version is not None:
            await self.reply(replies.ALREADY_TLS)
            return
        outcome = await self.fault("starttls")
        if outcome == "tls_fail":
            await self.reply(replies.STARTTLS_READY)
            self.transport.write(TLS_ALERT_HANDSHAKE_FAILURE)
            self._close()
            raise _Closed()
        if outcome:
            return
        await self.reply(replies.STARTTLS_READY)
        # As aiosmtpd's smtp_STARTTLS, with Exchange's reply text; a failed handshake ends the session.
        waiter = surface.start_tls(self, self.tls_context, TLS_HANDSHAKE_S)
        try:
            await waiter
        except asyncio.CancelledError:
            raise
        except Exception:
            self._abort()
            raise _Closed()
        ssl_object = self.transport.get_extra_info("ssl_object")
        self.tls_version = ssl_object.version()
        self.cipher = (ssl_object.cipher() or ("unknown",))[0]
        self.cert_names = certificate_names(ssl_object.getpeercert())
        self.helo = None                # RFC 3207 4.2: the client starts over with EHLO
        self._reset_envelope()

    # ------------------------------------------------------------------ AUTH
    async def smtp_AUTH(self, arg):
        if not self.helo:
            await self.reply(replies.SEND_HELLO_FIRST)
            return
        host = self.host
        if self.endpoint.name == "mx" or self.tls_version is None:
            await self.reply(replies.AUTH_UNRECOGNIZED_TYPE.format(host=host))
            return
        if self.login:
            await self.reply(replies.ALREADY_AUTHENTICATED)
            return
        if await self.fault("auth"):
            return
        if TLS_ORDER.get(self.tls_version, 4) < TLS_ORDER[self.world.tenant.min_tls]:
            await self.reply(replies.LEGACY_TLS.format(host=host))
            self._close()
            raise _Closed()
        words = arg.split()
        mechanism = words[0].upper() if words else ""
        if mechanism not in (LOGIN, XOAUTH2) or len(words) > 2:
            await self.reply(replies.AUTH_UNRECOGNIZED_TYPE.format(host=host))
            return
        initial = words[1] if len(words) == 2 else None
        if mechanism == LOGIN:
            username = await self._auth_exchange(replies.AUTH_LOGIN_USERNAME, initial)
            if username is None:
                return
            password = await self._auth_exchange(replies.AUTH_LOGIN_PASSWORD, None)
            if password is None:
                return
            username, secret = username.decode("utf-8", "replace"), password.decode("utf-8", "replace")
        else:
            response = await self._auth_exchange(replies.AUTH_XOAUTH2_CHALLENGE, initial)
            if response is None:
                return
            username, secret = parse_xoauth2(response)
        result = sign_in(self.world.tenant, self.world.limits, self.world.entra, self.endpoint.name,
                         mechanism, username, secret, host, self.tag())
        secret = None
        if result.ok:
            self.login = result.mailbox.address
            self.last_auth_reply = None
            self.world.limits.session_started(self.login, self.session_id)
        else:
            self.last_auth_reply = result.reply
            # Only a user name that is an address is kept: a client may have put its secret there.
            extra = {"why": result.why} if result.why else {}
            self.trace("Refused", result.reply, recipients=[], sender=login_name(username), stage="auth",
                       **extra)
        await self.reply(result.reply)

    async def _auth_exchange(self, challenge, initial):
        """Send a challenge (unless an initial response came with AUTH) and decode the answer.
        Returns bytes, or None after replying to a cancel or bad base64."""
        if initial is None:
            await self.reply(challenge)
            line = await self.read_line()
            if line is None:
                await self.reply(replies.LINE_TOO_LONG)
                return None
            initial = line.decode("ascii", "replace")
        if initial.strip() == "*":
            await self.reply(replies.AUTH_CANCELLED)
            return None
        if initial.strip() == "=":
            return b""
        try:
            return b64decode(initial.strip(), validate=True)
        except (binascii.Error, ValueError):
            await self.reply(replies.BAD_BASE64)
            return None

    # ------------------------------------------------------------------ MAIL and RCPT
    def _out_of_sequence(self, no_mail=False, need_mail=False, need_rcpt=False):
        """The reply for a transaction command sent out of order (RFC 5321 3.3), or None."""
        if not self.helo:
            return replies.SEND_HELLO_FIRST
        if no_mail and self.mail_from is not None:
            return replies.NESTED_MAIL
        if need_mail and self.mail_from is None:
            return replies.NEED_MAIL
        if need_rcpt and not self.rcpts:
            return replies.NEED_RCPT
        return None

    async def smtp_MAIL(self, arg):
        refusal = self._out_of_sequence(no_mail=True)
        if refusal:
            await self.reply(refusal)
            return
        if await self.fault("mail"):
            return
        parsed = parse_path(arg, "FROM:")
        if parsed is None:
            await self.reply(replies.BAD_SYNTAX)
            return
        address, params = parsed
        if address is None:
            await self.reply(replies.BAD_ADDRESS)
            return
        bad = unsupported(params, ("SIZE", "BODY", "SMTPUTF8", "AUTH") + DSN_MAIL_PARAMS)
        if bad is None and params.get("BODY", "7BIT").upper() not in ("7BIT", "8BITMIME", "BINARYMIME"):
            bad = "BODY"
        if bad is None and "SIZE" in params and not params["SIZE"].isdigit():
            bad = "SIZE"
        if bad:
            await self.reply(replies.BAD_PARAMETER.format(param=bad))
            return
        declared = int(params.get("SIZE") or 0)
        if self.endpoint.name in ("submission", "hve"):
            refusal = rules.submission_sender_refusal(self, address, declared)
            self.method = "hve" if self.endpoint.name == "hve" else "submission"
        else:
            refusal = rules.mx_sender_refusal(self, address, declared)
            self.method, self.connector = rules.mx_method(self, address)
        if refusal:
            self.mail_from = address
            self.trace("Refused", refusal, recipients=[], stage="mail")
            self._reset_envelope()
            await self.reply(refusal)
            return
        self.mail_from = address
        self.mail_params = params
        if self.method == "direct_send" or self.method == "inbound":
            self.spf = self.world.check_spf(self.client_ip, address, self.helo)
        await self.reply(replies.MAIL_OK)

    async def smtp_RCPT(self, arg):
        refusal = self._out_of_sequence(need_mail=True)
        if refusal:
            await self.reply(refusal)
            return
        if await self.fault("rcpt"):
            return
        parsed = parse_path(arg, "TO:")
        if parsed is None:
            await self.reply(replies.BAD_SYNTAX)
            return
        address, params = parsed
        if not address:
            await self.reply(replies.BAD_ADDRESS)
            return
        bad = unsupported(params, DSN_RCPT_PARAMS)
        if bad:
            await self.reply(replies.BAD_PARAMETER.format(param=bad))
            return
        refusal = rules.recipient_refusal(self, address)
        if refusal:
            self.refused_rcpts += 1
            if self.refused_rcpts > self.world.tenant.limits["refused_recipients_per_session"]:
                await self.reply(replies.TOO_MANY_REFUSED_RECIPIENTS)
                self._close()
                raise _Closed()
            self.trace("Refused", refusal, recipients=[address], stage="rcpt")
            await self.reply(refusal)
            return
        self.rcpts.append(address)
        await self.reply(replies.RCPT_OK)

    # ------------------------------------------------------------------ DATA
    async def smtp_DATA(self, arg):
        refusal = self._out_of_sequence(need_mail=True, need_rcpt=True)
        if refusal:
            await self.reply(refusal)
            return
        if self.bdat is not None or self.mail_params.get("BODY", "").upper() == "BINARYMIME":
            await self.reply(replies.DATA_AFTER_BDAT)
            return
        if await self.fault("data"):
            return
        store = self.world.store
        places = self._destinations()
        spool = store.new_spool_file(places[0])
        try:
            started = time.monotonic()
            prefix = self._spool_prefix()
            spool.write(prefix)
            decoder = DataDecoder(_LimitedSink(spool, rules.size_limit(self)))
            await self.reply(replies.DATA_GO_AHEAD)
            self.data_deadline = self.loop.time() + self.world.tenant.limits["data_s"]
            self.touch()
            reader = surface.reader(self)
            rest = None
            while rest is None:
                chunk = await reader.read(CHUNK)
                if not chunk:
                    raise _Closed()
                self.touch()
                rest = decoder.feed(chunk)
            self.data_deadline = None
            self.touch()
            if rest:
                surface.push_back(reader, rest)      # pipelined commands after the end of data
            spool.close()
            final = await self._end_of_data(spool.name, places, decoder.sink.head, decoder,
                                            time.monotonic() - started)
        except BaseException:
            self.data_deadline = None
            store.discard(spool)
            self._reset_envelope()
            raise
        store.discard(spool)  # already moved into place when delivered; removes it otherwise
        self._reset_envelope()
        await self.reply(final)

    def _spool_prefix(self):
        return delivery.trace_headers(self.host, self.helo, self.client_ip, self.tls_version, self.cipher,
                                      self.world.clock.now(), self.method, self.mail_from, self.spf[0])

    # ------------------------------------------------------------------ BDAT (RFC 3030)
    async def smtp_BDAT(self, arg):
        words = arg.split()
        if not words or len(words) > 2 or not words[0].isdigit() or len(words[0]) > 12 \
                or (len(words) == 2 and words[1].upper() != "LAST"):
            await self.reply(replies.BAD_SYNTAX)     # without a size the chunk cannot be skipped
            return
        size, last = int(words[0]), len(words) == 2
        refusal = self._out_of_sequence(need_mail=True, need_rcpt=True)
        if refusal is not None:
            await self._skip_octets(size)          # the chunk follows the command regardless
            await self.reply(refusal)
            return
        if self.bdat is None:
            if await self.fault("data"):
                await self._skip_octets(size)
                return
            places = self._destinations()
            binary = self.mail_params.get("BODY", "").upper() == "BINARYMIME"
            spool = self.world.store.new_spool_file(places[0], binary=binary)
            spool.write(self._spool_prefix())
            self.bdat = BdatTransfer(spool, places, _LimitedSink(spool, rules.size_limit(self)), binary,
                                     time.monotonic())
            self.data_deadline = self.loop.time() + self.world.tenant.limits["data_s"]
        transfer = self.bdat
        remaining = size
        reader = surface.reader(self)
        while remaining:
            chunk = await reader.read(min(CHUNK, remaining))
            if not chunk:
                raise _Closed()
            self.touch()
            transfer.add(chunk)
            remaining -= len(chunk)
        if not last:
            await self.reply(replies.BDAT_CHUNK_OK.format(size=size))
            return
        self.data_deadline = None
        self.touch()
        transfer.spool.close()
        final = await self._end_of_data(transfer.spool.name, transfer.places, transfer.sink.head, transfer,
                                        time.monotonic() - transfer.started)
        self._reset_envelope()   # removes the spool unless it was delivered
        await self.reply(final)

    async def _skip_octets(self, size):
        reader = surface.reader(self)
        while size:
            chunk = await reader.read(min(CHUNK, size))
            if not chunk:
                raise _Closed()
            self.touch()
            size -= len(chunk)

    def _destinations(self):
        # Known before DATA: recipients, method and SPF decide every folder the message will land in.
        return delivery.destinations(self.world.tenant, self.rcpts, self.method, self.spf[0], self.login)

    async def _end_of_data(self, spool_path, places, head, decoder, seconds):
        """Decide the end-of-data reply; deliver the spooled message when it is accepted."""
        fault = self.world.faults.take(self.endpoint.name, "end_of_data")
        if fault is not None:
            if fault.action == "delay":
                await asyncio.sleep(fault.delay_s)
            elif fault.action == "drop":
                self._abort()
                raise _Closed()
            else:
                self.trace("Failed", fault.reply, stage="end_of_data")
                if fault.reply.startswith("421"):
                    await self.reply(fault.reply)
                    self._close()
                    raise _Closed()
                return fault.reply
        refusal, message_id = rules.content_refusal(self, head, decoder)
        if refusal is None and self.method == "submission":
            refusal = rules.quota_refusal(self)
        if refusal:
            self.trace("Failed", refusal, stage="end_of_data", size=decoder.size)
            return refusal
        if self.method == "submission":
            await self._wait_for_rate_window()
        try:
            self.world.store.deliver(spool_path, places)
        except OSError as exc:   # e.g. the store was reset under a message in flight
            log.warning("fake tenant could not store a message: %s", exc)
            self.trace("Failed", replies.STORE_FAILED, stage="end_of_data", size=decoder.size)
            return replies.STORE_FAILED
        if self.method == "submission":
            self.world.limits.record_sent(self.login, len(self.rcpts))
        if self.endpoint.name == "mx":
            final = replies.MX_QUEUED.format(
                message_id=message_id, internal_id=self.world.next_internal_id(), store_host=self.world.store_host,
                size=decoder.size, seconds=seconds, rate=decoder.size / 1024.0 / max(seconds, 0.001))
        else:
            final = replies.SUBMISSION_QUEUED.format(message_id=message_id, store_host=self.world.store_host)
        status = "Junk" if delivery.is_junk(self.method, self.spf[0]) else "Delivered"
        self.trace(status, final, message_id=message_id, size=decoder.size,
                   spf=self.spf[0], folders=["%s/%s" % p if p[1] else p[0] for p in places])
        return final

    async def _wait_for_rate_window(self):
        limits, clock = self.world.limits, self.world.clock
        moment = limits.next_send_time(self.login)
        if moment <= clock.now():
            return
        self.trace("Delayed", "messages per minute limit reached: held until %s"
                   % replies.rfc1123_date(moment), stage="end_of_data")
        while moment > clock.now():
            self.touch()
            await clock.wait_until(moment)
            moment = limits.next_send_time(self.login)


class _LimitedSink:
    """Writes message bytes to the spool until the size limit; beyond it only counts (the reply is
    552 5.3.4 at the end of data), so an oversized message never fills the disk. Keeps the first
    HEADER_LIMIT bytes in memory too, for the header checks at the end of data."""

    def __init__(self, spool, limit):
        self.spool = spool
        self.room = limit
        self.head = b""
        self.head_complete = False

    def __call__(self, data):
        if self.room >= len(data):
            self.spool.write(data)
        self.room -= len(data)
        if not self.head_complete:
            before = len(self.head)
            self.head += data[:rules.HEADER_LIMIT + 4 - before]
            self.head_complete = (len(self.head) > rules.HEADER_LIMIT
                                  or b"\r\n\r\n" in self.head[max(0, before - 3):])
