# Maildir files as mail clients read them: LF line ends in every stored file (mutt, run for real on a
# terminal, shows no ^M), while the bytes received stay available exactly (LF -> CRLF of the file,
# or the exact copy kept for a message with bare LFs).
import os
import shutil
import subprocess
import time

from hypothesis import given, settings
from hypothesis import strategies as st

from scanmail.emulator.tenant.line_ends import LfSpool, exact_bytes, exact_path
from tests.tenant.helpers import SCANNER, Client, message
from tests.tenant.test_chunking import Chunker


def stored_files(tenant, address, folder="Inbox"):
    return tenant.world.store.message_files(address, folder)


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=60).map(lambda b: bytes(b"a\r\n"[x % 3] for x in b)),
       cuts=st.lists(st.integers(0, 60), max_size=6))
def test_any_bytes_in_any_chunks_come_back_exactly_and_the_file_has_lf_for_crlf(tmp_path_factory, data, cuts):
    folder = tmp_path_factory.mktemp("box")
    for sub in ("tmp", "new", "cur"):
        os.mkdir(folder / sub)
    spool = LfSpool(str(folder / "tmp" / "m1"))
    start = 0
    for cut in sorted(cuts) + [len(data)]:
        spool.write(data[start:max(start, cut)])
        start = max(start, cut)
    spool.close()
    stored = str(folder / "new" / "m1")
    os.rename(spool.name, stored)
    if os.path.exists(spool.exact_name):
        os.makedirs(os.path.dirname(exact_path(stored)))
        os.rename(spool.exact_name, exact_path(stored))
    assert exact_bytes(stored) == data
    with open(stored, "rb") as f:
        assert f.read() == data.replace(b"\r\n", b"\n")
    # the exact copy exists only where LF -> CRLF could not restore the bytes
    assert os.path.exists(exact_path(stored)) == (data.count(b"\n") > data.count(b"\r\n"))


def test_a_delivered_message_is_stored_with_lf_and_its_source_is_the_bytes_sent(tenant):
    sent = message(subject="Line ends", body="first\r\nsecond")
    with Client(tenant, "submission") as c:
        c.secure().login_as(SCANNER)
        c.sendmail("scanner@contoso.com", ["alice@contoso.com", "bob@contoso.com"], sent)
    for address in ("alice@contoso.com", "bob@contoso.com"):
        path, = stored_files(tenant, address)
        with open(path, "rb") as f:
            text = f.read()
        assert b"\r" not in text and b"Subject: Line ends\nTo" not in text
        assert text.endswith(sent.replace(b"\r\n", b"\n"))
        source = exact_bytes(path)
        assert source.endswith(sent) and source.startswith(b"Received: from ")
        assert b"\n" not in source.replace(b"\r\n", b"")
    assert tenant.messages("alice@contoso.com")[0]["Subject"] == "Line ends"


def test_a_binarymime_message_is_stored_as_received_in_every_copy(tenant):
    # binary attachments: changing line ends would change them, so the file keeps the bytes as sent
    binary = b"From: scanner@contoso.com\r\nSubject: raw\r\n\r\n\x00\x01\n\xff\r\n\r"
    c = Chunker(tenant)
    try:
        c.command(b"MAIL FROM:<scanner@contoso.com> BODY=BINARYMIME")
        c.command(b"RCPT TO:<alice@contoso.com>")
        c.command(b"RCPT TO:<bob@contoso.com>")
        assert c.command(b"BDAT %d LAST" % len(binary), binary).startswith("250 2.6.0 <")
    finally:
        c.close()
    for address in ("alice@contoso.com", "bob@contoso.com"):
        path, = stored_files(tenant, address)
        assert exact_bytes(path).endswith(binary)
        with open(path, "rb") as f:
            assert f.read().endswith(binary)
    assert tenant.spool_files() == []


def test_a_text_message_with_a_bare_lf_over_bdat_keeps_its_exact_bytes(tmp_path):
    # the store's side of it: a bare LF in a text message starts an exact copy from what came before
    spool = LfSpool(str(tmp_path / "m"))
    spool.write(b"Subject: a\r\n\r")
    spool.write(b"\nline\nmore\r\n")
    spool.close()
    with open(spool.exact_name, "rb") as f:
        assert f.read() == b"Subject: a\r\n\r\nline\nmore\r\n"
    with open(spool.name, "rb") as f:
        assert f.read() == b"Subject: a\n\nline\nmore\n"


def capture(server, deadline_s, wanted):
    """The tmux pane's text once it shows `wanted` (polled; the deadline only ends a hung mutt)."""
    deadline = time.monotonic() + deadline_s
    while True:
        text = subprocess.run(["tmux", "-L", server, "capture-pane", "-p", "-t", "0"], capture_output=True,
                              text=True, check=True).stdout
        if wanted in text or time.monotonic() > deadline:
            return text
        time.sleep(0.05)


def test_mutt_opens_a_mailbox_and_a_message_without_carriage_returns(tenant, tmp_path):
    assert shutil.which("mutt") and shutil.which("tmux"), "install the Debian packages mutt and tmux (.ci/run does)"
    with Client(tenant, "submission") as c:
        c.secure().login_as(SCANNER)
        c.sendmail("scanner@contoso.com", ["alice@contoso.com"],
                   message(subject="Scan for mutt", body="Page one attached."))
    inbox = tenant.world.store.folder_path("alice@contoso.com", "Inbox")
    server = "scanmail-mutt-%d" % os.getpid()
    command = ("mutt -n -F /dev/null -R -e 'set folder=%s' -f '%s' -e 'push <display-message>'"
               % (tmp_path, inbox))
    env = dict(os.environ, TERM="xterm", HOME=str(tmp_path))
    subprocess.run(["tmux", "-L", server, "new-session", "-d", "-x", "120", "-y", "30", command], env=env,
                   check=True)
    try:
        pager = capture(server, 20, "-- (all)")
    finally:
        subprocess.run(["tmux", "-L", server, "kill-server"], capture_output=True)
    assert "Subject: Scan for mutt" in pager, pager
    assert "Page one attached." in pager
    assert "^M" not in pager
