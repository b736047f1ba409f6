# Hostile clients against the fake tenant: thousands of seeded sessions (8 batches of 300) of
# garbage, malformed and pipelined commands, 100 KB lines, NUL bytes, invalid base64 in AUTH,
# clients that vanish mid-DATA or stall, plain bytes after STARTTLS and TLS ClientHellos on
# plaintext ports, from raw asyncio sockets against one FakeTenant (the built-in tenant with its
# per-mailbox sending limits raised, see RAISED_LIMITS). Rule: the fake must survive all of it the
# way a real server does. After every batch: a well-formed direct send and submission still work;
# every reply line was a well-formed SMTP reply (RFC 5321 4.2, at most 512 octets per 4.5.3.1.5)
# and replies stayed in step with commands (QUIT gets 221); only messages completed with CRLF.CRLF
# and accepted are stored, and every accepted one is; the spool and Maildir tmp/ folders are empty;
# the server's file descriptors and threads are back to where they were before the first batch;
# nothing was logged as an error. Every failure prints the seed and the session transcript; rerun
# one session with
#   SCANMAIL_FUZZ_SEED=<seed> SCANMAIL_FUZZ_SESSIONS=1 .venv/bin/python -m pytest \
#       tests/tenant/test_fuzz_sessions.py -k "batch 1"
import asyncio
import base64
import logging
import os
import random
import re
import ssl
import threading
import time
import uuid

import psutil
import pytest

from scanmail.emulator.tenant import FakeTenant
from scanmail.emulator.tenant.config import BUILTIN_TENANT_PATH
from tests.tenant.helpers import BOB, HVE, SCANNER, SCANNER_IP, Client, leftover_files

BASE_SEED = int(os.environ.get("SCANMAIL_FUZZ_SEED", "20261128"))
SESSIONS_PER_BATCH = int(os.environ.get("SCANMAIL_FUZZ_SESSIONS", "300"))
BATCHES = 8
CONCURRENCY = 64
# No deadlines of its own: every wait is for an event (a reply, the end of a handshake, the server
# closing, its last session ending); a server that is stuck is stopped by pytest-timeout, so a slow
# machine is never mistaken for a broken server.

# RFC 5321 4.2: Reply-line = *( Reply-code "-" [ textstring ] CRLF ) Reply-code [ SP textstring ] CRLF,
# textstring = 1*( %d09 / %d32-126 ); 8-bit text is tolerated (SMTPUTF8), control characters are not.
REPLY_LINE = re.compile(rb"[2-5][0-9][0-9](?:[ -][^\x00-\x08\x0a-\x1f\x7f]*)?\r\n")
MAX_REPLY_LINE = 512
TOKEN = re.compile(rb"fuzz-[0-9a-f]{32}")

SOURCES = {
    "mx": ["127.0.0.20", "127.0.0.30", "127.0.0.99"],
    "submission": ["127.0.0.41", "127.0.0.42"],
    "hve": ["127.0.0.43"],
}
LOGINS = {"submission": SCANNER, "hve": HVE}
CHECKER = BOB
# Hostile clients sign in now and then; the per-mailbox limit of 30 messages a minute would hold
# their messages back for up to a minute (as Exchange does), which is not what this file tests.
RAISED_LIMITS = "\n[limits]\nmessages_per_minute = 1000000\nrecipients_per_day = 100000000\n"
ADDRESSES = [
    "<scanner@contoso.com>", "<alice@contoso.com>", "<bob@contoso.com>", "<someone@fabrikam.com>",
    "<>", "<nobody@contoso.com>", "<frontdesk@contoso.com>", "<@relay.example:alice@contoso.com>",
    "<" + "a" * 300 + "@contoso.com>", "alice@contoso.com", "<alice@contoso.com", "<alice@>",
    "<\u00fcml\u00e4ut@contoso.com>", "<alice@contoso.com> SIZE=abc", "<alice@contoso.com> SIZE=999999999999",
    "<alice@contoso.com> BODY=8BITMIME SMTPUTF8", "<alice@contoso.com> RET=HDRS ENVID=x",
    "<alice@contoso.com> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;alice@contoso.com",
    "<alice@contoso.com> FOO=BAR", "<alice@contoso.com> =", "<a\"b@contoso.com>", "",
]
JUNK_VERBS = ["HELO", "EHLO", "MAIL FROM:", "RCPT TO:", "RSET", "NOOP", "VRFY", "EXPN", "HELP",
              "AUTH", "TURN", "ETRN", "XCLIENT", "mail from:", "rcpt to:", "ehlo", "Mail From:"]
AUTH_ARGS = ["LOGIN", "PLAIN", "XOAUTH2", "CRAM-MD5", "login", "LOGIN !!!notbase64!!!",
             "PLAIN AGFsaWNlAHdyb25n", "XOAUTH2 " + "A" * 3000, "XOAUTH2 ====", "LOGIN =",
             "XOAUTH2 " + base64.b64encode(b"user=scanner@contoso.com\x01auth=Bearer nope\x01\x01").decode(),
             "", "GSSAPI", "LOGIN " + base64.b64encode(b"scanner@contoso.com").decode()]
AUTH_RESPONSES = [b"!!!notbase64!!!", b"*", b"", b"====", b"dXNlcg", b"\x00\x00\x00",
                  base64.b64encode(b"scanner@contoso.com"), base64.b64encode(b"wrong-password"),
                  b"A" * 100_000, "\u00e9t\u00e9".encode("utf-8")]


# --------------------------------------------------------------------------------------------
# One hostile session: a seeded script run over a raw asyncio stream, with its transcript.
# --------------------------------------------------------------------------------------------


class SessionOver(Exception):
    """The server closed the connection (or the client vanished on purpose): the session ends."""


def show(data, limit=160):
    if len(data) > limit:
        return "%r...(%d bytes)" % (data[:limit], len(data))
    return repr(data)


def client_hello(hostname):
    """The first flight of a real TLS handshake, as a scanner set to implicit TLS would send it."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)   # no trust store: it never gets an answer
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = context.wrap_bio(incoming, outgoing, server_hostname=hostname)
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    return outgoing.read()


def not_base64(data):
    if not data or data.strip() in (b"*", b"="):
        return False
    try:
        base64.b64decode(data, validate=True)
    except ValueError:
        return True
    return False


class HostileSession:
    def __init__(self, seed, tenant, ca_context):
        self.seed = seed
        self.rng = random.Random(seed)
        self.endpoint = self.rng.choice(["mx"] * 6 + ["submission"] * 3 + ["hve"])
        self.source = self.rng.choice(SOURCES[self.endpoint])
        self.address = tenant.address(self.endpoint)
        self.hostname = tenant.hostname(self.endpoint)
        self.ca_context = ca_context
        self.token = "fuzz-" + uuid.UUID(int=self.rng.getrandbits(128)).hex
        self.transcript = []
        self.anomalies = []
        self.accepted = False   # a 2xx after our CRLF.CRLF: this token must be stored
        self.events = set()     # which hostile behaviours this session really exercised
        self.tls = False
        self.last_code = None   # 334: the server takes our next line as an AUTH response
        self.reader = self.writer = None

    # -- transcript and wire -------------------------------------------------------------------
    def note(self, direction, data):
        self.transcript.append("%s %s" % (direction, show(data)))

    def anomaly(self, text):
        self.anomalies.append(text)

    def report(self):
        return "seed %d (%s from %s)%s:\n  %s\n  transcript:\n    %s" % (
            self.seed, self.endpoint, self.source, " TLS" if self.tls else "",
            "\n  ".join(self.anomalies), "\n    ".join(self.transcript[-60:]))

    async def send(self, data):
        self.note("C:", data)
        try:
            self.writer.write(data)
            await self.writer.drain()
        except (ConnectionError, OSError):
            raise SessionOver()

    async def reply(self):
        """Read one whole reply (continuation lines and the final line); return its code."""
        code = None
        while True:
            try:
                line = await self.reader.readuntil(b"\n")
            except asyncio.IncompleteReadError as eof:
                if eof.partial:
                    self.note("S:", eof.partial)
                    self.anomaly("a reply line without CRLF before the connection closed: %s"
                                 % show(eof.partial))
                raise SessionOver()
            except (ConnectionError, OSError):
                raise SessionOver()
            except asyncio.LimitOverrunError:
                self.anomaly("a reply line longer than the reader's 1 MB limit")
                raise SessionOver()
            self.note("S:", line)
            if not REPLY_LINE.fullmatch(line):
                self.anomaly("not a well-formed SMTP reply line: %s" % show(line))
            if len(line) > MAX_REPLY_LINE:
                self.anomaly("reply line of %d octets, over RFC 5321's 512" % len(line))
            if code is not None and line[:3] != code:
                self.anomaly("continuation code %r differs from %r" % (line[:3], code))
            code = line[:3]
            if line[3:4] != b"-":
                self.last_code = int(code) if code.isdigit() else 0
                return self.last_code

    async def replies(self, count):
        codes = []
        for _ in range(count):
            codes.append(await self.reply())
        return codes

    async def command(self, line, terminator=b"\r\n"):
        await self.send(line + terminator)
        return await self.reply()

    async def vanish(self):
        self.events.add("vanished")
        if self.rng.random() < 0.5:
            self.note("C:", b"<reset>")
            self.writer.transport.abort()
        else:
            self.note("C:", b"<close>")
            self.writer.close()
        raise SessionOver()

    # -- generators ------------------------------------------------------------------------------
    def junk_line(self):
        rng = self.rng
        kind = rng.randrange(10)
        if kind == 0:  # garbage bytes, no LF inside
            return bytes(rng.choice([b for b in range(256) if b != 10]) for _ in range(rng.randrange(1, 60)))
        if kind == 1:
            self.events.add("100 KB line")
            return b"X" * 100_000 if rng.random() < 0.5 else b"MAIL FROM:<" + b"a" * 100_000 + b">"
        if kind == 2:
            return b""
        if kind == 3:
            self.events.add("NUL in a command")
            return rng.choice(JUNK_VERBS).encode() + b"\x00" + bytes(rng.randrange(1, 8))
        if kind == 4:
            return ("AUTH " + rng.choice(AUTH_ARGS)).encode()
        if kind == 5:
            return rng.choice(AUTH_RESPONSES)
        if kind == 6:
            return "\u00c9HLO h\u00f6st".encode("utf-8") if rng.random() < 0.5 else b"\xff\xfe\xfd"
        verb = rng.choice(JUNK_VERBS)
        if verb.rstrip(":").upper() in ("MAIL FROM", "RCPT TO"):
            return (verb + rng.choice(ADDRESSES)).encode("utf-8")
        arg = rng.choice(["", " scanner-3f2a", " [127.0.0.1]", " " + "h" * 300, " \t ", " x y z"])
        return (verb + arg).encode("utf-8")

    def terminator(self):
        return self.rng.choice([b"\r\n"] * 6 + [b"\n", b"\r\r\n"])

    async def pipelined_junk(self):
        lines = [self.junk_line() for _ in range(self.rng.randrange(1, 8))]
        self.events.add("pipelined junk")
        await self.send(b"".join(line + self.terminator() for line in lines))
        await self.replies(len(lines))

    async def ehlo(self):
        name = self.rng.choice([b"scanner-3f2a", b"[127.0.0.20]", b"", b"x" * 300, b"EHLO"])
        verb = self.rng.choice([b"EHLO", b"HELO", b"ehlo"])
        await self.command(verb + (b" " + name if name else b""))

    async def valid_envelope(self, params=b""):
        if self.endpoint == "mx":
            rcpt = self.rng.choice(["alice@contoso.com", "bob@contoso.com", "someone@fabrikam.com"])
            sender = "scanner@contoso.com"
        else:
            sender = LOGINS[self.endpoint][0]
            rcpt = self.rng.choice(["alice@contoso.com", "bob@contoso.com"])
        await self.command(b"MAIL FROM:<" + sender.encode() + b">" + params)
        await self.command(b"RCPT TO:<" + rcpt.encode() + b">")
        return sender, rcpt

    def message_head(self, sender, rcpt):
        return ("From: %s\r\nTo: %s\r\nSubject: fuzz %s\r\nDate: Sat, 28 Nov 2026 06:00:00 +0000\r\n"
                "Message-ID: <%s@scanner.contoso.com>\r\n\r\n" % (sender, rcpt, self.token, self.token)
                ).encode("ascii")

    def hostile_body(self):
        rng = self.rng
        parts = []
        for _ in range(rng.randrange(1, 6)):
            parts.append(rng.choice([
                b"See attached.\r\n", b"..leading dots\r\n", b"..\r\n..\r\n",   # dot-stuffed
                b"x" * rng.choice([998, 1000, 5000, 100_000]) + b"\r\n", b"nul \x00 byte\r\n",
                b"smuggle \n.\nMAIL FROM:<x@fabrikam.com>\r\n",
                b"smuggle \r\n.\nRCPT TO:<y@fabrikam.com>\r\n", b"smuggle \n.\r\nNOOP\r\n",
                b"bare cr \r.\r more\r\n", "\u00fcnic\u00f6de\r\n".encode("utf-8"),
            ]))
        return b"".join(parts)

    async def data(self, sender, rcpt):
        code = await self.command(b"DATA")
        if code != 354:
            return
        content = self.message_head(sender, rcpt) + self.hostile_body()
        ending = self.rng.randrange(6)
        if ending == 0:   # vanish mid-DATA, content cut anywhere
            self.events.add("vanished mid-DATA")
            await self.send(content[: self.rng.randrange(1, len(content) + 1)])
            await self.vanish()
        if ending == 1:   # vanish after an end that is not CRLF.CRLF
            self.events.add("vanished mid-DATA")
            await self.send(content + self.rng.choice([b".", b".\r", b"\r\n.", b"\r\n.\n", b"\n.\r\n"]))
            await self.vanish()
        if ending == 2:   # stall mid-DATA, then finish properly
            cut = self.rng.randrange(1, len(content))
            await self.send(content[:cut])
            await asyncio.sleep(self.rng.uniform(0.02, 0.3))
            self.events.add("stalled mid-DATA")
            self.note("C:", b"<stalled, resumed>")
            content = content[cut:]
        await self.send(content + b".\r\n")   # every body part ends in CRLF: this is CRLF.CRLF
        code = await self.reply()
        if 200 <= code < 300:
            self.accepted = True
            self.events.add("accepted")

    async def bdat(self):
        """RFC 3030 CHUNKING: exact octet counts, no dot-stuffing, no end marker. Every BDAT with a
        size gets one reply once its chunk is read, whether the transaction is good or not."""
        rng = self.rng
        self.events.add("BDAT")
        if rng.random() < 0.15:   # a BDAT whose size cannot be read: no chunk may follow it
            await self.command(rng.choice([b"BDAT", b"BDAT -1", b"BDAT x", b"BDAT 10 NOTLAST",
                                           b"BDAT 1 2 3", b"BDAT 9999999999999", b"BDAT 0x10"]))
            return
        if rng.random() < 0.8:
            sender, rcpt = await self.valid_envelope(rng.choice([b"", b"", b" BODY=BINARYMIME"]))
        else:
            sender, rcpt = "scanner@contoso.com", "alice@contoso.com"
        content = self.message_head(sender, rcpt) + self.hostile_body()
        cuts = sorted(rng.sample(range(1, len(content)), min(rng.randrange(0, 4), len(content) - 1)))
        chunks = [content[a:b] for a, b in zip([0] + cuts, cuts + [len(content)])]
        if rng.random() < 0.3:   # the whole transaction in one write (RFC 3030 allows pipelining)
            self.events.add("pipelined BDAT")
            wire = b"".join(b"BDAT %d%s\r\n" % (len(c), b" LAST" if i == len(chunks) - 1 else b"") + c
                            for i, c in enumerate(chunks))
            await self.send(wire)
            codes = await self.replies(len(chunks))
        else:
            codes = []
            for i, chunk in enumerate(chunks):
                last = i == len(chunks) - 1
                command = b"BDAT %d%s\r\n" % (len(chunk), b" LAST" if last else b"")
                if last and rng.random() < 0.2:   # vanish with the last chunk half sent
                    self.events.add("vanished mid-BDAT")
                    await self.send(command + chunk[: rng.randrange(0, len(chunk))])
                    await self.vanish()
                await self.send(command + chunk)
                codes.append(await self.reply())
                if not last and rng.random() < 0.2:
                    self.events.add("DATA inside a BDAT transfer")
                    await self.command(b"DATA")   # 503: DATA cannot follow BDAT
        if 200 <= codes[-1] < 300:
            self.accepted = True
            self.events.add("accepted")

    async def starttls(self):
        code = await self.command(b"STARTTLS")
        if code != 220:
            return
        if self.rng.random() < 0.3:   # plain bytes where a ClientHello belongs
            self.events.add("plain bytes after STARTTLS")
            await self.send(self.rng.choice([b"EHLO scanner\r\n", b"MAIL FROM:<a@b>\r\n" * 3,
                                             bytes(range(256)), b"\x16\x03\x01\x00\x05hello"]))
            await self.drain_raw()
            raise SessionOver()
        self.note("C:", b"<TLS handshake>")
        try:
            await self.writer.start_tls(self.ca_context, server_hostname=self.hostname)
        except (ssl.SSLError, ConnectionError, OSError) as error:
            self.anomaly("TLS handshake after 220 failed: %r" % error)
            raise SessionOver()
        self.tls = True
        self.events.add("TLS")

    async def drain_raw(self):
        """Read whatever comes (a TLS alert, nothing) until the server closes; bytes are not SMTP.
        A server that kept the connection open would hold the test until pytest-timeout."""
        try:
            while await self.reader.read(65536):
                pass
        except (ConnectionError, OSError):
            pass

    async def auth(self):
        if self.rng.random() < 0.3 and self.endpoint in LOGINS:
            user, password = LOGINS[self.endpoint]
            code = await self.command(b"AUTH LOGIN")
            if code == 334:
                code = await self.command(base64.b64encode(user.encode()))
            if code == 334:
                self.note("C:", b"<password>")
                self.writer.write(base64.b64encode(password.encode()) + b"\r\n")
                await self.reply()
            return
        argument = self.rng.choice(AUTH_ARGS)
        if self.tls and not_base64(argument.partition(" ")[2].encode()):
            self.events.add("invalid base64 in AUTH")
        code = await self.command(("AUTH " + argument).encode())
        while code == 334 and self.rng.random() < 0.8:
            response = self.rng.choice(AUTH_RESPONSES)
            if not_base64(response):
                self.events.add("invalid base64 in AUTH")
            code = await self.command(response)

    async def stall(self):
        partial = self.rng.choice([b"", b"NO", b"MAIL FR", b"EHLO scan"])
        if partial:
            await self.send(partial)
        await asyncio.sleep(self.rng.uniform(0.02, 0.5))
        self.events.add("stalled")
        self.note("C:", b"<stalled>")
        if partial:
            await self.send(b"\r\n")
            await self.reply()

    # -- the script ------------------------------------------------------------------------------
    async def run(self):
        try:
            self.reader, self.writer = await asyncio.open_connection(
                self.address[0], self.address[1], local_addr=(self.source, 0), limit=1 << 20)
        except OSError as error:
            self.anomaly("cannot connect: %r" % error)
            return
        try:
            await self.script()
        except SessionOver:
            pass
        finally:
            self.writer.transport.abort()

    async def script(self):
        rng = self.rng
        opening = rng.randrange(10)
        if opening == 0:   # a scanner set to implicit TLS talks TLS to the plaintext port
            self.events.add("ClientHello on a plaintext port")
            await self.send(client_hello(self.hostname))
            await self.reply()   # the greeting; what follows answers binary, and is read raw
            await self.drain_until_quit()
            return
        if opening == 1:   # an early talker: pipelined junk before the greeting
            self.events.add("early talker")
            lines = [self.junk_line() for _ in range(rng.randrange(1, 4))]
            await self.send(b"".join(line + b"\r\n" for line in lines))
            await self.replies(1 + len(lines))
        else:
            await self.reply()
        steps = [self.ehlo, self.pipelined_junk, self.starttls, self.auth, self.valid_and_data,
                 self.valid_and_data, self.stall, self.random_valid_verb, self.bdat]
        for _ in range(rng.randrange(1, 9)):
            if rng.random() < 0.04:
                await self.vanish()
            await rng.choice(steps)()
        if rng.random() < 0.8:
            if self.last_code == 334:
                await self.command(b"*")   # cancel the AUTH exchange, or QUIT is read as base64
            code = await self.command(b"QUIT")
            if code != 221:
                self.anomaly("QUIT got %r, not 221: replies are out of step with commands" % code)

    async def valid_and_data(self):
        if self.rng.random() < 0.85:
            await self.ehlo_good()
            if self.endpoint != "mx" and not self.tls:
                await self.starttls()
                await self.ehlo_good()
            if self.endpoint != "mx" and self.tls and self.rng.random() < 0.7:
                await self.auth()
        if self.rng.random() < 0.3:
            await self.pipelined_transaction()
            return
        sender, rcpt = await self.valid_envelope()
        await self.data(sender, rcpt)

    async def pipelined_transaction(self):
        """RFC 2920: MAIL, RCPT and DATA in one write; then the content, the end of data and two
        more commands in one write. Exactly one reply per command must come back, in order."""
        sender = "scanner@contoso.com" if self.endpoint == "mx" else LOGINS[self.endpoint][0]
        rcpt = self.rng.choice(["alice@contoso.com", "bob@contoso.com"])
        self.events.add("pipelined transaction")
        await self.send(b"MAIL FROM:<%s>\r\nRCPT TO:<%s>\r\nDATA\r\n" % (sender.encode(), rcpt.encode()))
        codes = await self.replies(3)
        if codes[-1] != 354:
            return
        content = self.message_head(sender, rcpt) + self.hostile_body()
        await self.send(content + b".\r\nRSET\r\nNOOP\r\n")
        end, reset, noop = await self.replies(3)
        if 200 <= end < 300:
            self.accepted = True
            self.events.add("accepted")
        if (reset, noop) != (250, 250):
            self.anomaly("RSET and NOOP pipelined after the end of data got %r and %r, not 250"
                         % (reset, noop))

    async def ehlo_good(self):
        await self.command(b"EHLO scanner-3f2a")

    async def random_valid_verb(self):
        verb = self.rng.choice(["RSET", "NOOP", "HELP", "VRFY alice", "DATA", "MAIL FROM:<scanner@contoso.com>",
                                "RCPT TO:<alice@contoso.com>", "EHLO again", "HELO again"])
        if verb == "DATA":
            await self.data("scanner@contoso.com", "alice@contoso.com")
        else:
            await self.command(verb.encode())

    async def drain_until_quit(self):
        """After binary input the reply count is unknowable: end the line, say QUIT, and check every
        line that comes until QUIT's 221 or the server closes."""
        await self.send(b"\r\nQUIT\r\n")
        while True:
            try:
                line = await self.reader.readuntil(b"\n")
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError, OSError):
                return
            self.note("S:", line)
            if not REPLY_LINE.fullmatch(line):
                self.anomaly("not a well-formed SMTP reply line: %s" % show(line))
            if line.startswith(b"221 "):
                return


async def run_batch(sessions):
    gate = asyncio.Semaphore(CONCURRENCY)

    async def one(session):
        async with gate:
            await session.run()

    await asyncio.gather(*(one(s) for s in sessions))


# --------------------------------------------------------------------------------------------
# The server's health, checked after every batch
# --------------------------------------------------------------------------------------------


class ErrorLog(logging.Handler):
    """Collects every record at ERROR or above, and every record with a traceback, from any logger
    (the fake's own, aiosmtpd's `mail.log`, and asyncio's unhandled-exception reports)."""

    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.records = []

    def emit(self, record):
        if record.levelno >= logging.ERROR or record.exc_info:
            self.records.append("%s %s: %s" % (record.name, record.levelname, self.format(record)))


def stored_tokens(tenant, state_dir):
    """Tokens in every stored message: every file of the tenant's state but its own records, the
    DATA spool and Maildir tmp/ folders (those are half-written files: leftover_files reports
    them), plus the internet store through the API."""
    found = set()
    for root, _dirs, files in os.walk(state_dir):
        if set(os.path.relpath(root, state_dir).split(os.sep)) & {".spool", "tmp"}:
            continue
        for name in files:
            path = os.path.join(root, name)
            if name.endswith((".json", ".log", ".pem", ".der", ".jsonl", ".toml")):
                continue
            with open(path, "rb") as handle:
                found.update(t.decode() for t in TOKEN.findall(handle.read()))
    for message in tenant.internet_messages():
        found.update(t.decode() for t in TOKEN.findall(message.as_bytes()))
    return found


def half_written_tokens(tenant):
    """Tokens of the sessions whose messages were left in the spool or a Maildir tmp/ folder."""
    found = set()
    for root, _dirs, files in os.walk(tenant.mail_dir):
        if set(os.path.relpath(root, tenant.mail_dir).split(os.sep)) & {".spool", "tmp"}:
            for name in files:
                with open(os.path.join(root, name), "rb") as handle:
                    found.update(t.decode() for t in TOKEN.findall(handle.read()))
    return found


def sessions_closed(tenant):
    """Wait until the server has finished with every session: its spool files and sockets are then
    released (pytest-timeout bounds the wait)."""
    while tenant.world.sessions:
        time.sleep(0.01)


def well_formed_sessions_work(tenant, ca_context):
    """A direct send and a client submission, as a scanner does them, still get through."""
    token = "fuzz-" + uuid.uuid4().hex
    message = ("From: scanner@contoso.com\r\nTo: alice@contoso.com\r\nSubject: check %s\r\n"
               "Date: Sat, 28 Nov 2026 06:00:00 +0000\r\nMessage-ID: <%s@scanner.contoso.com>\r\n\r\n"
               "See attached.\r\n" % (token, token)).encode("ascii")
    with Client(tenant, "mx", SCANNER_IP) as smtp:
        smtp.starttls(context=ca_context)
        assert smtp.sendmail("scanner@contoso.com", ["alice@contoso.com"], message) == {}
    with Client(tenant, "submission") as smtp:
        smtp.starttls(context=ca_context)
        smtp.login(*CHECKER)   # a mailbox the hostile clients never try passwords on
        assert smtp.sendmail(CHECKER[0], ["alice@contoso.com"], message.replace(
            b"From: scanner@contoso.com", b"From: " + CHECKER[0].encode())) == {}
    return token


# --------------------------------------------------------------------------------------------
# The test
# --------------------------------------------------------------------------------------------

# Every batch must really have exercised each of these (a generator that drifted would otherwise
# pass while testing nothing).
EXPECTED_EVENTS = {
    "accepted", "vanished", "vanished mid-DATA", "stalled", "stalled mid-DATA", "100 KB line",
    "NUL in a command", "pipelined junk", "early talker", "TLS", "plain bytes after STARTTLS",
    "ClientHello on a plaintext port", "invalid base64 in AUTH", "pipelined transaction", "BDAT",
    "pipelined BDAT", "vanished mid-BDAT", "DATA inside a BDAT transfer",
}


def baseline_resources(tenant):
    sessions_closed(tenant)
    return server_resources()


def server_resources():
    """Open file descriptors and threads of this process, which runs the fake tenant."""
    return psutil.Process().num_fds(), threading.active_count()


@pytest.fixture(scope="module")
def fuzzed(tmp_path_factory):
    """One tenant for the module (limits raised, see RAISED_LIMITS), its error log, and the server's
    resources once warmed up by one well-formed session of each kind."""
    errors = ErrorLog()
    root = logging.getLogger()
    root.addHandler(errors)
    thread_errors = []
    previous_hook = threading.excepthook

    def hook(args):
        thread_errors.append("%s in thread %s: %s" % (args.exc_type.__name__,
                                                       getattr(args.thread, "name", "?"), args.exc_value))
        previous_hook(args)

    threading.excepthook = hook
    state_dir = str(tmp_path_factory.mktemp("fuzz-tenant"))
    tenant_file = os.path.join(str(tmp_path_factory.mktemp("fuzz-tenant-file")), "tenant.toml")
    with open(BUILTIN_TENANT_PATH, encoding="utf-8") as builtin, open(tenant_file, "w") as out:
        out.write(builtin.read() + RAISED_LIMITS)
    try:
        with FakeTenant(tenant=tenant_file, state_dir=state_dir) as tenant:
            ca_context = ssl.create_default_context(cafile=str(tenant.ca_pem_path))
            accepted = {well_formed_sessions_work(tenant, ca_context)}
            yield {"tenant": tenant, "state": state_dir, "ca": ca_context, "errors": errors,
                   "thread_errors": thread_errors, "accepted": accepted,
                   "baseline": baseline_resources(tenant)}
    finally:
        threading.excepthook = previous_hook
        root.removeHandler(errors)


@pytest.mark.parametrize("batch", range(BATCHES), ids=lambda b: "batch %d" % (b + 1))
def test_the_tenant_survives_hostile_clients_and_still_serves_a_scanner(fuzzed, batch):
    tenant, state_dir, ca_context = fuzzed["tenant"], fuzzed["state"], fuzzed["ca"]
    first_seed = BASE_SEED + batch * SESSIONS_PER_BATCH
    errors_before, thread_errors_before = len(fuzzed["errors"].records), len(fuzzed["thread_errors"])
    sessions = [HostileSession(first_seed + i, tenant, ca_context) for i in range(SESSIONS_PER_BATCH)]
    asyncio.run(run_batch(sessions))

    troubled = [s for s in sessions if s.anomalies]
    assert not troubled, "%d of %d sessions saw a broken server; the first ones:\n\n%s" % (
        len(troubled), len(sessions), "\n\n".join(s.report() for s in troubled[:3]))

    fuzzed["accepted"].update(s.token for s in sessions if s.accepted)
    fuzzed["accepted"].add(well_formed_sessions_work(tenant, ca_context))

    by_token = {s.token: s for s in sessions}
    stored = stored_tokens(tenant, state_dir)
    half_stored = stored - fuzzed["accepted"]
    assert not half_stored, "stored although never accepted (250 to CRLF.CRLF or BDAT LAST):\n\n%s" % "\n\n".join(
        by_token[t].report() if t in by_token else t for t in sorted(half_stored)[:3])
    lost = fuzzed["accepted"] - stored
    assert not lost, "accepted with 250 but not stored:\n\n%s" % "\n\n".join(
        by_token[t].report() if t in by_token else t for t in sorted(lost)[:3])

    seeds = "seeds %d-%d (SCANMAIL_FUZZ_SEED=%d)" % (first_seed, first_seed + len(sessions) - 1, BASE_SEED)
    sessions_closed(tenant)
    assert not leftover_files(tenant), (
        "half-written files left in the spool or a Maildir tmp/ after %s: %s\n\n%s" % (
            seeds, leftover_files(tenant)[:5], "\n\n".join(
                by_token[t].report() for t in sorted(half_written_tokens(tenant)) if t in by_token)))

    baseline = fuzzed["baseline"]
    settled = all(now <= then for now, then in zip(server_resources(), baseline))
    assert settled, ("the server holds more after %s than before the first batch: fds/threads %r, "
                     "before %r; connections by state: %r" % (
                         seeds, server_resources(), baseline, connection_states()))

    logged = fuzzed["errors"].records[errors_before:]   # this batch's own, not an earlier one's
    assert not logged, "the server logged errors during %s:\n%s" % (seeds, "\n".join(logged[:5]))
    died = fuzzed["thread_errors"][thread_errors_before:]
    assert not died, "a server thread died during %s: %s" % (seeds, died[:5])

    exercised = set().union(*(s.events for s in sessions))
    assert EXPECTED_EVENTS <= exercised, "%s never exercised: %s" % (
        seeds, sorted(EXPECTED_EVENTS - exercised))


def connection_states():
    states = {}
    for connection in psutil.Process().net_connections():
        states[connection.status] = states.get(connection.status, 0) + 1
    return states
