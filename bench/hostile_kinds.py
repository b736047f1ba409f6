# The kinds of hostile input bench/hostile.py throws at the fake tenant, shared with the tests that
# run short seeded slices of them (tests/tenant/test_hostile.py). Rule: every kind is deterministic
# for a given random.Random, and a session never waits on the server for more than it must: it
# sends, reads what comes, and closes.
import asyncio
import base64
import random
import ssl

# Secrets a hostile client puts where they do not belong (the AUTH user name field, a bad token):
# none of them, in any form, may reach anything the tenant writes.
HOSTILE_SECRETS = ["Hostile-Secret-7f3a", "Stolen-Token-Value-91c2e"]


def secret_forms(secret, user="scanner@contoso.com"):
    """A secret as it may travel: plain, base64, and inside the AUTH PLAIN and XOAUTH2 blobs."""
    b64 = lambda raw: base64.b64encode(raw).decode("ascii")
    return [secret, b64(secret.encode()), b64(b"\0" + user.encode() + b"\0" + secret.encode()),
            b64(("user=%s\x01auth=Bearer %s\x01\x01" % (user, secret)).encode())]


GOOD = '[tenant]\nname = "fabrikam.com"\n\n[[mailboxes]]\naddress = "a@fabrikam.com"\npassword = "p"\n'
def bad_tenant_files():
    """(label, bytes) of malformed tenant files, 60 of them."""
    g = GOOD
    r = lambda a, b: g.replace(a, b)
    files = [
        ("not utf-8", b"\xff\xfe[tenant]\nname = \"x.com\"\n"),
        ("latin-1 name", 'name = "café.com"\n'.encode("latin-1")),
        ("nul bytes", b"\x00" * 100),
        ("deep arrays", ("[tenant]\nname = \"f.com\"\nx = " + "[" * 5000 + "]" * 5000 + "\n").encode()),
        ("deep inline tables", ("a = " + "{b = " * 3000 + "1" + "}" * 3000 + "\n").encode()),
        ("inf size", (g + "send_size_limit_mb = inf\n").encode()),
        ("nan size", (g + "send_size_limit_mb = nan\n").encode()),
        ("-inf size", (g + "send_size_limit_mb = -inf\n").encode()),
        ("huge size", (g + "send_size_limit_mb = 1e308\n").encode()),
        ("huge int size", (g + "send_size_limit_mb = 99999999999999999\n").encode()),
        ("space in domain", r('name = "fabrikam.com"', 'name = "fabri kam.com"').encode()),
        ("path name", r('name = "fabrikam.com"', 'name = "../../evil"').encode()),
        ("slash in address", r('address = "a@fabrikam.com"', 'address = "../../a@fabrikam.com"').encode()),
        ("address domain path", r('address = "a@fabrikam.com"', 'address = "a@../../x"').encode()),
        ("unicode domain", r('name = "fabrikam.com"', 'name = "fäbrikam.com"').encode()),
        ("empty name", r('name = "fabrikam.com"', 'name = ""').encode()),
        ("name is a number", r('name = "fabrikam.com"', 'name = 5').encode()),
        ("name is a table", r('name = "fabrikam.com"', 'name = {a = 1}').encode()),
        ("tenant is an array", b'tenant = [1, 2]\n'),
        ("tenant missing", b'[[mailboxes]]\naddress = "a@b.com"\npassword = "p"\n'),
        ("mailboxes a table", b'[tenant]\nname = "f.com"\n[mailboxes]\na = 1\n'),
        ("mailbox an int", b'[tenant]\nname = "f.com"\nx = 1\n'),
        ("mailboxes array of ints", b'mailboxes = [1, 2]\n[tenant]\nname = "f.com"\n'),
        ("password an int", r('password = "p"', 'password = 5').encode()),
        ("password missing", r('password = "p"\n', '').encode()),
        ("kind wrong", (g + 'kind = "robot"\n').encode()),
        ("licensed string", (g + 'licensed = "yes"\n').encode()),
        ("send_as not list", (g + 'send_as = "x@fabrikam.com"\n').encode()),
        ("send_as bad addr", (g + 'send_as = ["not an address"]\n').encode()),
        ("duplicate mailbox", (g + '\n[[mailboxes]]\naddress = "A@fabrikam.com"\npassword = "q"\n').encode()),
        ("mx_host with space", r('name = "fabrikam.com"', 'name = "fabrikam.com"\nmx_host = "a b"').encode()),
        ("mx_host ip", r('name = "fabrikam.com"', 'name = "fabrikam.com"\nmx_host = "1.2.3.4"').encode()),
        ("submission_host newline", r('name = "fabrikam.com"', 'name = "fabrikam.com"\nsubmission_host = "a\\nb.com"').encode()),
        ("min_tls wrong", r('name = "fabrikam.com"', 'name = "fabrikam.com"\nmin_tls = "1.4"').encode()),
        ("accepted_domains int", r('name = "fabrikam.com"', 'name = "fabrikam.com"\naccepted_domains = 3').encode()),
        ("accepted_domains bad", r('name = "fabrikam.com"', 'name = "fabrikam.com"\naccepted_domains = ["a..b"]').encode()),
        ("unknown key", (g.replace("[tenant]", "[tenant]\ncolour = 1")).encode()),
        ("unknown top key with newline", (g + '\n["a\\nb"]\nx = 1\n').encode()),
        ("connector bad ip", (g + '\n[[connectors]]\nsource_ips = ["999.1.1.1"]\n').encode()),
        ("connector nothing", (g + '\n[[connectors]]\nname = "x"\n').encode()),
        ("connector cert foreign", (g + '\n[[connectors]]\ncertificate_domain = "other.com"\n').encode()),
        ("connector name control", (g + '\n[[connectors]]\nname = "a\\u0000b"\nsource_ips = ["127.0.0.1"]\n').encode()),
        ("connectors a table", (g + '\n[connectors]\nx = 1\n').encode()),
        ("spf not v=spf1", (g + '\n[spf]\n"fabrikam.com" = "x"\n').encode()),
        ("spf key space", (g + '\n[spf]\n"a b" = "v=spf1 -all"\n').encode()),
        ("spf value table", (g + '\n[spf]\n"fabrikam.com" = {a = 1}\n').encode()),
        ("spf a list", (g + '\nspf = [1]\n').encode()),
        ("limits negative", (g + '\n[limits]\nmessages_per_minute = -1\n').encode()),
        ("limits float", (g + '\n[limits]\nmessages_per_minute = 1.5\n').encode()),
        ("limits inf", (g + '\n[limits]\nsession_s = inf\n').encode()),
        ("limits huge", (g + '\n[limits]\ndata_s = 99999999999999999999\n').encode()),
        ("limits unknown", (g + '\n[limits]\nfoo = 1\n').encode()),
        ("limits a list", (g + '\nlimits = [1]\n').encode()),
        ("bad toml", b'[tenant\nname = "x"\n'),
        ("date value", (g + 'licensed = 1979-05-27T07:32:00Z\n').encode()),
        ("bad date", b'x = 1979-02-30\n'),
        ("empty file", b''),
        ("only bom", b'\xef\xbb\xbf'),
        ("huge file", b'# ' + b'x' * (2 * 1024 * 1024) + b'\n'),
        ("long name", r('name = "fabrikam.com"', 'name = "%s.com"' % ("a" * 300)).encode()),
        ("basic_auth bool", r('name = "fabrikam.com"', 'name = "fabrikam.com"\nbasic_auth = true').encode()),
    ]
    return files


def _b64(text):
    return base64.b64encode(text.encode() if isinstance(text, str) else text).decode("ascii")


async def _read_some(reader, timeout=5.0):
    """What the server sent within `timeout` (b"" at end of stream or when nothing came)."""
    try:
        return await asyncio.wait_for(reader.read(65536), timeout)
    except (asyncio.TimeoutError, OSError):
        return b""


async def _command(reader, writer, line, timeout=5.0):
    writer.write(line + b"\r\n")
    await writer.drain()
    return await _reply(reader, timeout)


async def _reply(reader, timeout=5.0):
    """One whole reply (all its lines), or b"" at end of stream."""
    out = b""
    try:
        while True:
            line = await asyncio.wait_for(reader.readline(), timeout)
            out += line
            if not line or line[3:4] != b"-":
                return out
    except (asyncio.TimeoutError, OSError, ValueError):
        return out


async def hostile_session(address, source_ip, kind, rng, contexts, tokens=()):
    """One hostile session of `kind` against (host, port) from source_ip. `contexts` has "wrong" (a
    TLS client context that rejects the fake's certificate) and "right" (one that trusts its CA).
    Returns a short outcome."""
    reader, writer = await asyncio.open_connection(*address, local_addr=(source_ip, 0), limit=1 << 20)
    try:
        greeting = await _reply(reader)
        if not greeting.startswith(b"220"):
            return "refused " + greeting[:3].decode("ascii", "replace")
        return await _KINDS[kind](reader, writer, rng, contexts, tokens)
    except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
        return "server closed"
    finally:
        writer.transport.abort()


async def _starttls(reader, writer):
    await _command(reader, writer, b"EHLO hostile")
    return await _command(reader, writer, b"STARTTLS")


async def k_starttls_close(reader, writer, rng, ctx, tokens):
    await _starttls(reader, writer)
    return "closed after STARTTLS"


async def k_starttls_garbage(reader, writer, rng, ctx, tokens):
    await _starttls(reader, writer)
    writer.write(rng.randbytes(rng.randrange(1, 4000)))
    await writer.drain()
    await _read_some(reader, 2)
    return "garbage after STARTTLS"


async def k_starttls_half_handshake(reader, writer, rng, ctx, tokens):
    await _starttls(reader, writer)
    # The first bytes of a TLS 1.2 ClientHello record, then nothing more.
    writer.write(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + rng.randbytes(rng.randrange(0, 40)))
    await writer.drain()
    await asyncio.sleep(rng.uniform(0, 0.05))
    return "half a handshake"


async def k_starttls_wrong_ca(reader, writer, rng, ctx, tokens):
    await _starttls(reader, writer)
    try:
        await writer.start_tls(ctx["wrong"], server_hostname="smtp.office365.com")
    except (ssl.SSLError, OSError, asyncio.TimeoutError):
        return "certificate rejected"
    return "handshake passed (unexpected)"


async def k_random_bytes(reader, writer, rng, ctx, tokens):
    writer.write(rng.randbytes(rng.randrange(1, 8000)))
    await writer.drain()
    await _read_some(reader, 1)
    return "random bytes"


async def k_overlong_line(reader, writer, rng, ctx, tokens):
    writer.write(b"MAIL FROM:<" + b"a" * rng.randrange(70000, 300000))
    if rng.random() < 0.5:
        writer.write(b">\r\n")
    await writer.drain()
    await _read_some(reader, 2)
    return "overlong line"


async def k_nul_bytes(reader, writer, rng, ctx, tokens):
    await _command(reader, writer, b"EHLO \x00\x00hostile")
    await _command(reader, writer, b"MAIL FROM:<a\x00b@contoso.com>")
    await _command(reader, writer, b"\x00" * rng.randrange(1, 200))
    return "NUL bytes"


async def k_invalid_utf8(reader, writer, rng, ctx, tokens):
    await _command(reader, writer, b"EHLO \xff\xfe\xc3")
    await _command(reader, writer, b"MAIL FROM:<\xff\xfe@contoso.com> SMTPUTF8")
    await _command(reader, writer, b"RCPT TO:<alice\xc3@contoso.com>")
    await _command(reader, writer, b"\xed\xa0\x80 \xf4\x90\x80\x80")
    return "invalid UTF-8"


async def _envelope(reader, writer, rcpt=b"alice@contoso.com"):
    await _command(reader, writer, b"EHLO hostile")
    await _command(reader, writer, b"MAIL FROM:<scanner@contoso.com>")
    return await _command(reader, writer, b"RCPT TO:<" + rcpt + b">")


async def k_close_after_greeting(reader, writer, rng, ctx, tokens):
    return "closed after greeting"


async def k_close_after_ehlo(reader, writer, rng, ctx, tokens):
    await _command(reader, writer, b"EHLO hostile")
    return "closed after EHLO"


async def k_close_after_mail(reader, writer, rng, ctx, tokens):
    await _command(reader, writer, b"EHLO hostile")
    await _command(reader, writer, b"MAIL FROM:<scanner@contoso.com>")
    return "closed after MAIL"


async def k_close_after_rcpt(reader, writer, rng, ctx, tokens):
    await _envelope(reader, writer)
    return "closed after RCPT"


async def k_close_in_data(reader, writer, rng, ctx, tokens):
    # On submission: refused before DATA (no TLS); the bytes still arrive as commands.
    await _envelope(reader, writer)
    await _command(reader, writer, b"DATA")
    writer.write(b"Subject: x\r\n\r\n" + rng.randbytes(rng.randrange(0, 100000)))
    await writer.drain()
    return "closed in DATA"


async def k_mx_close_in_data(reader, writer, rng, ctx, tokens):
    await _envelope(reader, writer)
    await _command(reader, writer, b"DATA")
    writer.write(b"From: a@b.example\r\nSubject: x\r\n\r\n" + rng.randbytes(rng.randrange(0, 200000)))
    await writer.drain()
    return "closed in DATA (MX)"


async def k_close_after_starttls(reader, writer, rng, ctx, tokens):
    await _starttls(reader, writer)
    return "closed after STARTTLS"


async def k_bdat_short(reader, writer, rng, ctx, tokens):
    await _envelope(reader, writer)
    size = rng.randrange(100, 100000)
    writer.write(b"BDAT %d LAST\r\n" % size + rng.randbytes(rng.randrange(0, size)))
    await writer.drain()
    await _read_some(reader, 0.5)
    return "BDAT shorter than announced"


async def k_bdat_long(reader, writer, rng, ctx, tokens):
    await _envelope(reader, writer)
    writer.write(b"BDAT 10\r\n" + rng.randbytes(rng.randrange(11, 5000)))
    await writer.drain()
    await _read_some(reader, 1)
    return "BDAT longer than announced"


async def k_bdat_garbage_size(reader, writer, rng, ctx, tokens):
    await _envelope(reader, writer)
    for size in (b"-5", b"abc", b"1e9", b"", b"99999999999999999999", b"\xff"):
        await _command(reader, writer, b"BDAT " + size)
    return "BDAT with garbage sizes"


async def k_bdat_huge_size(reader, writer, rng, ctx, tokens):
    await _envelope(reader, writer)
    writer.write(b"BDAT 999999999999 LAST\r\n" + rng.randbytes(1000))
    await writer.drain()
    return "BDAT with a huge size"


async def k_mx_bdat_then_close(reader, writer, rng, ctx, tokens):
    await _envelope(reader, writer)
    await _command(reader, writer, b"BDAT 5\r\nabcde")
    return "BDAT chunk, then closed"


async def k_mx_refused_rcpt_flood(reader, writer, rng, ctx, tokens):
    await _command(reader, writer, b"EHLO hostile")
    await _command(reader, writer, b"MAIL FROM:<someone@fabrikam.example>")
    batch = b"".join(b"RCPT TO:<nobody%d@contoso.com>\r\n" % i for i in range(300))
    writer.write(batch)
    await writer.drain()
    await _read_some(reader, 2)
    return "refused RCPT flood"


async def _tls(reader, writer, ctx):
    """STARTTLS with a client that trusts the fake's CA, then EHLO again. True when TLS is up."""
    await _starttls(reader, writer)
    try:
        await writer.start_tls(ctx["right"], server_hostname="smtp.office365.com")
    except (ssl.SSLError, OSError):
        return False
    await _command(reader, writer, b"EHLO hostile")
    return True


async def k_auth_login_plain_blob(reader, writer, rng, ctx, tokens):
    # A PLAIN blob (with the secret in it) sent to AUTH LOGIN as the user name, then the secret.
    if not await _tls(reader, writer, ctx):
        return "TLS failed"
    blob = _b64("\0scanner@contoso.com\0" + HOSTILE_SECRETS[0]).encode()
    await _command(reader, writer, b"AUTH LOGIN " + blob)
    await _command(reader, writer, _b64(HOSTILE_SECRETS[0]).encode())
    return "AUTH LOGIN with a PLAIN blob"


async def k_auth_password_as_user(reader, writer, rng, ctx, tokens):
    if not await _tls(reader, writer, ctx):
        return "TLS failed"
    await _command(reader, writer, b"AUTH LOGIN " + _b64(HOSTILE_SECRETS[0]).encode())
    await _command(reader, writer, _b64(HOSTILE_SECRETS[0]).encode())
    await _command(reader, writer, b"MAIL FROM:<scanner@contoso.com>")    # traced, after the failure
    return "password as the user name"


async def k_auth_xoauth2_bad_token(reader, writer, rng, ctx, tokens):
    # alice, not scanner: the good submissions sign in as scanner, whom failures would lock out.
    if not await _tls(reader, writer, ctx):
        return "TLS failed"
    blob = "user=alice@contoso.com\x01auth=Bearer %s\x01\x01" % HOSTILE_SECRETS[1]
    reply = await _command(reader, writer, b"AUTH XOAUTH2 " + _b64(blob).encode())
    if reply.startswith(b"334"):
        await _command(reader, writer, b"")
    return "bad XOAUTH2 token"


async def k_auth_xoauth2_stolen_user(reader, writer, rng, ctx, tokens):
    if not await _tls(reader, writer, ctx):
        return "TLS failed"
    token = tokens[rng.randrange(len(tokens))] if tokens else HOSTILE_SECRETS[1]
    blob = "user=%s\x01auth=Bearer %s\x01\x01" % (token, token)
    reply = await _command(reader, writer, b"AUTH XOAUTH2 " + _b64(blob).encode())
    if reply.startswith(b"334"):
        await _command(reader, writer, b"")
    return "token in the XOAUTH2 user field"


async def k_pipelined_junk(reader, writer, rng, ctx, tokens):
    lines = [b"EHLO x", b"NOOP", b"RSET", b"MAIL FROM:<>", b"RCPT TO:<alice@contoso.com>", b"DATA", b".",
             b"HELP", b"VRFY root", b"XYZZY", b"QUIT"]
    writer.write(b"\r\n".join(rng.choice(lines) for _ in range(rng.randrange(5, 60))) + b"\r\n")
    await writer.drain()
    await _read_some(reader, 1)
    return "pipelined junk"


async def k_mx_bad_helo(reader, writer, rng, ctx, tokens):
    reply = await _command(reader, writer, b"EHLO contoso-com.mail.protection.outlook.com")
    return "bad HELO " + reply[:3].decode("ascii", "replace")


async def k_command_flood(reader, writer, rng, ctx, tokens):
    writer.write(b"NOOP\r\n" * 6000)
    await writer.drain()
    await _read_some(reader, 2)
    return "command flood"


_KINDS = {name[2:]: value for name, value in list(globals().items()) if name.startswith("k_")}
KINDS = tuple(sorted(_KINDS))
