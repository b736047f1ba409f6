# Property tests (hypothesis; its examples also run on MicroPython, see the end of this file):
# whatever bytes a server sends, the reply reader and the SMTP client end in a reply or an
# SMTPError, never another exception, a hang or an unbounded buffer; whatever text, subject and
# file names a user gives, the MIME writer's output parses back to exactly that, at the exact
# announced size. In CI (CI=true: fixed examples) each property runs a third of the examples a
# developer's run explores, so that the suite stays short; `./dev test` without CI runs them all.
import email
import email.policy
import json
import os

import pytest

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from scanmail.firmware import smtp_protocol as sp
from scanmail.firmware.errors import SMTPError
from scanmail.firmware.message import Message, MimeWriter
from tests.firmware.runtime_cache import batch

SHARE = 3 if os.environ.get("CI") else 1          # CI: a third of each campaign's examples

REPLY_LINES = st.sampled_from([
    b"220 mx ready\r\n", b"250-mx Hello\r\n", b"250 PIPELINING\r\n", b"250-STARTTLS\r\n",
    b"250 AUTH LOGIN\r\n", b"235 2.7.0 ok\r\n", b"334 VXNlcm5hbWU6\r\n", b"354 go\r\n",
    b"421 4.3.2 bye\r\n", b"550 5.7.64 no\r\n", b"221 bye\r\n", b"\r\n", b"2", b"-", b" ",
])


def client_settings(tls, auth):
    """What firmware.methods.prepare() gives the SMTP client, for a submission-like attempt."""
    return {"ehlo_name": "scanner-3f2a", "tls": tls, "auth": auth,
            "username": "scanner@contoso.com", "password": "Pass-1", "token": None,
            "secrets": ["Pass-1"], "method": "submission", "port": 587}


SERVER_BYTES = st.one_of(st.binary(max_size=3000),
                         st.lists(REPLY_LINES, max_size=30).map(b"".join))


@settings(max_examples=300 // SHARE, deadline=None)
@given(SERVER_BYTES, st.integers(min_value=1, max_value=64))
def test_any_bytes_are_read_as_replies_or_a_protocol_error_never_a_crash(data, chunk):
    # Reading alone: no TLS, no AUTH, so whatever the replies say the client only answers them.
    client = sp.SmtpClient(client_settings("none", "none"))
    client.set_transaction("scanner@contoso.com", ["alice@contoso.com"], 100)
    try:
        for i in range(0, len(data), chunk):
            client.receive_data(data[i:i + chunk])
            assert len(client._partial) <= sp.MAX_LINE_BYTES
            assert len(client._lines) <= 100
    except SMTPError as err:                    # any other exception fails the test
        assert err.kind == "protocol", err


@settings(max_examples=300 // SHARE, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(SERVER_BYTES, min_size=1, max_size=12), st.sampled_from(["starttls", "opportunistic"]))
def test_any_server_script_ends_in_success_or_an_smtp_error(replies, tls_mode):
    auth = "login" if tls_mode == "starttls" else "none"
    client = sp.SmtpClient(client_settings(tls_mode, auth))
    client.set_transaction("scanner@contoso.com", ["alice@contoso.com"], 100)
    sent = []
    try:
        for _ in range(200):
            event = client.next_event()
            if event == sp.SEND:
                sent.append(client.take_output())
            elif event == sp.NEED_DATA:
                if replies:
                    client.receive_data(replies.pop(0))
                else:
                    client.connection_closed()
            elif event == sp.START_TLS:
                client.tls_started()
            elif event == sp.SEND_MESSAGE:
                client.message_sent()
            else:
                break
        else:
            raise AssertionError("the conversation did not end")
    except SMTPError as err:
        assert "Pass-1" not in str(err)
    wire = b"".join(sent)
    if not client.tls_active:                 # downgrade protection: no password before TLS
        assert b"UGFzcy0x" not in wire and b"AUTH" not in wire


TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
               max_size=300)
LINE_TEXT = st.text(st.characters(blacklist_categories=("Cs", "Cc")), max_size=120)


@settings(max_examples=150 // SHARE, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=TEXT, subject=LINE_TEXT, name=LINE_TEXT.filter(lambda s: s.strip()),
       size=st.integers(min_value=0, max_value=3000))
@example(body="", subject="", name="<>", size=0)   # a name in angle brackets arrives as typed
def test_whatever_a_user_types_arrives_exactly(tmp_path, body, subject, name, size):
    path = os.path.join(str(tmp_path), "scan.bin")
    content = os.urandom(size)
    with open(path, "wb") as f:
        f.write(content)
    try:
        msg = Message("scanner@contoso.com", ["alice@contoso.com"], [], subject, body,
                      [(path, name, "application/pdf")])
    except SMTPError as err:
        assert (err.stage, err.kind) == ("message", "message"), err
        return                                  # refused up front, with the field named
    writer = MimeWriter(msg, 1795842877, "0123456789abcdef01234567")
    chunks = []
    writer.write_to(chunks.append, False, True)       # base64 by DATA: dot-stuffed
    wire = b"".join(bytes(c) for c in chunks)
    assert b"\r" not in wire.replace(b"\r\n", b"") and b"\n" not in wire.replace(b"\r\n", b"")
    assert max(len(line) for line in wire.split(b"\r\n")) <= 998
    unstuffed = b"\r\n".join(line[1:] if line.startswith(b".") else line
                             for line in wire.split(b"\r\n"))
    assert writer.size() == len(unstuffed)
    parsed = email.message_from_bytes(unstuffed, policy=email.policy.default)
    assert parsed["Subject"] == subject.strip()
    text = parsed.get_body(("plain",)).get_content().replace("\r\n", "\n")
    want = body.replace("\r\n", "\n").replace("\r", "\n")
    if want and not want.endswith("\n"):
        want += "\n"
    assert text == want
    attachment = next(parsed.iter_attachments())
    # The parameter as parsed, not get_filename(): that one also strips a surrounding <...>
    # (email.utils.unquote), so a file named "<>" would read as "" whatever was sent.
    assert attachment["Content-Disposition"].params["filename"] == name.strip()
    assert attachment.get_payload(decode=True) == content


# --- the same properties on MicroPython ---------------------------------------------------------
# Hypothesis runs in CPython; the examples it generates (a fixed, derandomized set) are then run
# through the firmware on each runtime in one interpreter start, and the properties are checked on
# what each runtime produced. MicroPython gets no shrinking, but the same inputs and the same
# verdicts as CPython.

def generated(strategy, count):
    """`count` examples of `strategy`, the same ones on every run."""
    from hypothesis import Phase

    found = []

    @settings(max_examples=count, derandomize=True, database=None, phases=[Phase.generate],
              deadline=None, suppress_health_check=list(HealthCheck))
    @given(strategy)
    def collect(example):
        found.append(example)

    collect()
    return found


READ_CODE = """
import binascii, json
from scanmail.firmware import smtp_protocol as sp
from scanmail.firmware.errors import SMTPError
out = []
for data, chunk in json.loads(%r):
    data = binascii.unhexlify(data)
    client = sp.SmtpClient({"ehlo_name": "scanner-3f2a", "tls": "none", "auth": "none",
                            "username": "scanner@contoso.com", "password": "Pass-1", "token": None,
                            "secrets": ["Pass-1"], "method": "submission", "port": 587})
    client.set_transaction("scanner@contoso.com", ["alice@contoso.com"], 100)
    outcome = "read"
    try:
        for i in range(0, len(data), chunk):
            client.receive_data(data[i:i + chunk])
            if len(client._partial) > sp.MAX_LINE_BYTES or len(client._lines) > 100:
                outcome = "unbounded"
    except SMTPError as err:
        outcome = "error:" + str(err.kind)
    except Exception as exc:
        outcome = "crash:" + type(exc).__name__
    out.append([outcome, client.take_output().decode()])
print(json.dumps(out))
"""
READ_EXAMPLES = generated(st.tuples(SERVER_BYTES, st.integers(min_value=1, max_value=64)), 200)


def test_any_bytes_are_read_the_same_on_both_runtimes_never_a_crash(runtime):
    cases = [[data.hex(), chunk] for data, chunk in READ_EXAMPLES]
    got = batch(runtime, "fuzzed replies", READ_CODE % json.dumps(cases))
    outcomes = [outcome for outcome, _ in got]
    assert not [o for o in outcomes if not (o == "read" or o == "error:protocol")], outcomes
    assert "error:protocol" in outcomes and "read" in outcomes      # both kinds were generated
    if runtime == "micropython":
        assert got == batch("cpython", "fuzzed replies", READ_CODE % json.dumps(cases))


MIME_CODE = """
import binascii, json
from scanmail.firmware.message import Message, MimeWriter
from scanmail.firmware.errors import SMTPError
out = []
# UTF-8 in hex: characters beyond the BMP as they are (JSON's surrogate pair escapes are not
# decoded alike by both runtimes' json modules, which is not what this test is about)
for body, subject, name, path, target in json.loads(binascii.unhexlify(%r).decode()):
    try:
        msg = Message("scanner@contoso.com", ["alice@contoso.com"], [], subject, body,
                      [(path, name, "application/pdf")])
    except SMTPError as err:
        out.append(["refused", err.stage, err.kind])
        continue
    writer = MimeWriter(msg, 1795842877, "0123456789abcdef01234567")
    with open(target, "wb") as f:
        written = writer.write_to(f.write, False, True)
    out.append(["written", writer.size(), written])
print(json.dumps(out))
"""
MIME_EXAMPLES = generated(st.tuples(TEXT, LINE_TEXT, LINE_TEXT.filter(lambda s: s.strip()),
                                    st.integers(min_value=0, max_value=3000)), 100)


@pytest.fixture(scope="module")
def mime_inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fuzzed-mime")
    cases = []
    for i, (body, subject, name, size) in enumerate(MIME_EXAMPLES):
        path = folder / ("scan-%d.bin" % i)
        path.write_bytes(bytes((i * 7 + k) % 256 for k in range(size)))
        cases.append([body, subject, name, str(path), str(folder / ("out-%d.eml" % i))])
    return cases


@pytest.mark.parametrize("runtime_name", ["cpython", "micropython"])
def test_whatever_a_user_types_arrives_exactly_on_both_runtimes(mime_inputs, runtime_name):
    cases = [case[:4] + [case[4] + "." + runtime_name] for case in mime_inputs]
    got = batch(runtime_name, "fuzzed mime",
                MIME_CODE % json.dumps(cases, ensure_ascii=False).encode().hex())
    written = 0
    for (body, subject, name, path, target), result in zip(cases, got):
        if result[0] == "refused":
            assert result[1:] == ["message", "message"], result
            continue
        written += 1
        with open(target, "rb") as f:
            wire = f.read()
        assert b"\r" not in wire.replace(b"\r\n", b"") and b"\n" not in wire.replace(b"\r\n", b"")
        unstuffed = b"\r\n".join(line[1:] if line.startswith(b".") else line
                                 for line in wire.split(b"\r\n"))
        assert result[1:] == [len(unstuffed), len(wire)]
        parsed = email.message_from_bytes(unstuffed, policy=email.policy.default)
        assert parsed["Subject"] == subject.strip()
        want = body.replace("\r\n", "\n").replace("\r", "\n")
        if want and not want.endswith("\n"):
            want += "\n"
        assert parsed.get_body(("plain",)).get_content().replace("\r\n", "\n") == want
        attachment = next(parsed.iter_attachments())
        assert attachment["Content-Disposition"].params["filename"] == name.strip()
        with open(path, "rb") as f:
            assert attachment.get_payload(decode=True) == f.read()
    assert written > len(cases) // 2, "most generated messages should be sendable"
