# What the tenant keeps stays bounded and whole: the trace rotates on disk and keeps its last records
# in memory, the API pages through them; a message for several folders is journalled, so a server
# killed at any instant of its delivery finishes it when it starts again (all folders or none); and
# a failed AUTH leaves no secret in the trace, whatever the client put in its user name field.
import base64
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from scanmail.emulator.tenant import mail_store
from scanmail.emulator.tenant.mail_store import MailStore
from scanmail.emulator.tenant.trace_log import TraceLog, read_trace_files
from tests.tenant.helpers import Client, tls_context

FOLDERS5 = [("alice@contoso.com", "Inbox"), ("bob@contoso.com", "Inbox"), ("scanner@contoso.com", "Inbox"),
            ("nosmtp@contoso.com", "Inbox"), ("alice@contoso.com", "Sent Items")]


def add(trace, n):
    for i in range(n):
        trace.add(1.7e9 + i, "mx", "direct_send", "127.0.0.9", None, "a@b.example", ["x%d@contoso.com" % i],
                  "Refused", "550 5.4.1 Recipient address rejected")


def test_the_trace_rotates_on_disk_and_keeps_only_its_last_records_in_memory(tmp_path):
    path = str(tmp_path / "trace.jsonl")
    trace = TraceLog(path, max_file_bytes=20_000, memory_records=50)
    add(trace, 400)
    trace.close()
    assert os.path.getsize(path) <= 20_000 and os.path.getsize(str(tmp_path / "trace.1.jsonl")) <= 20_000
    kept = trace.records()
    assert len(kept) == 50 and [r["seq"] for r in kept] == list(range(351, 401))
    on_disk = read_trace_files(path)
    assert on_disk[-1]["seq"] == 400 and [r["seq"] for r in on_disk] == list(range(on_disk[0]["seq"], 401))
    again = TraceLog(path, max_file_bytes=20_000, memory_records=50)   # a restart goes on numbering
    add(again, 1)
    assert again.records()[-1]["seq"] == 401
    again.close()


def test_the_api_pages_through_the_trace(tenant):
    for i in range(3):
        with Client(tenant, "mx", "127.0.0.99") as client:
            client.ehlo("pager")
            client.mail("someone@fabrikam.example")
            client.rcpt("nobody%d@contoso.com" % i)
    every = json.load(urllib.request.urlopen(tenant.api_url + "/api/trace"))
    assert len(every) == 3
    first = json.load(urllib.request.urlopen(tenant.api_url + "/api/trace?limit=2"))
    rest = json.load(urllib.request.urlopen(tenant.api_url + "/api/trace?after=%d&limit=2" % first[-1]["seq"]))
    assert first + rest == every
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(tenant.api_url + "/api/trace?after=-1")
    assert refused.value.code == 400 and "after must be a whole number" in json.load(refused.value)["error"]


class Killed(Exception):
    """The process died here."""


@pytest.mark.parametrize("links_before_death", [0, 1, 3, "before rename", "before journal removal"])
def test_a_delivery_cut_at_any_step_is_completed_by_the_next_start(tmp_path, monkeypatch, links_before_death):
    root = str(tmp_path / "mail")
    store = MailStore(root)
    spool = store.new_spool_file(FOLDERS5[0])
    spool.write(b"Subject: five\r\n\r\nscan\r\n")
    spool.close()
    real_link, real_rename, real_unlink = os.link, os.rename, os.unlink
    links = []

    def link(src, dst):
        if links_before_death == len(links):
            raise Killed()
        links.append(dst)
        real_link(src, dst)

    def rename(src, dst):
        if links_before_death == "before rename" and "/new/" in dst and dst.endswith(os.path.basename(spool.name)) \
                and FOLDERS5[0][0] in dst:
            raise Killed()
        real_rename(src, dst)

    def unlink(path):
        if links_before_death == "before journal removal" and ".journal" in path:
            raise Killed()
        real_unlink(path)

    monkeypatch.setattr(mail_store.os, "link", link)
    monkeypatch.setattr(mail_store.os, "rename", rename)
    monkeypatch.setattr(mail_store.os, "unlink", unlink)
    with pytest.raises(Killed):
        store.deliver(spool.name, FOLDERS5)
    monkeypatch.undo()
    counts = [len(store.messages(a, f)) for a, f in FOLDERS5]
    assert counts != [1] * 5 or links_before_death == "before journal removal"
    restarted = MailStore(root)
    assert [len(restarted.messages(a, f)) for a, f in FOLDERS5] == [1] * 5
    assert restarted.spool_files() == [] and restarted.journal_files() == []


def test_a_mailbox_folder_caught_while_its_first_delivery_makes_it_reads_as_empty(tmp_path):
    # a test polling for mail reads the folder while the first delivery is making tmp/, new/, cur/
    store = MailStore(str(tmp_path / "mail"))
    path = store.folder_path("alice@contoso.com", "Inbox")
    for sub in ("tmp", "new"):
        os.makedirs(os.path.join(path, sub))
    assert store.messages("alice@contoso.com") == []
    os.makedirs(os.path.join(path, "cur"))
    assert store.messages("alice@contoso.com") == []


def test_a_message_killed_before_its_journal_is_in_no_folder(tmp_path):
    root = str(tmp_path / "mail")
    store = MailStore(root)
    spool = store.new_spool_file(FOLDERS5[0])
    spool.write(b"Subject: half\r\n\r\nhalf a sc")
    restarted = MailStore(root)
    assert [len(restarted.messages(a, f)) for a, f in FOLDERS5] == [0] * 5 and restarted.spool_files() == []


def test_an_unreadable_journal_is_set_aside_not_a_crash(tmp_path):
    root = tmp_path / "mail"
    (root / ".journal").mkdir(parents=True)
    (root / ".journal" / "x.json").write_text("{not json")
    restarted = MailStore(str(root))
    assert [os.path.basename(p) for p in restarted.journal_files()] == ["x.json.unreadable"]


SCANMAIL = [sys.executable, "-c", "import sys; from scanmail.host_tools.cli import main; sys.exit(main(sys.argv[1:]))"]
RECIPIENTS = ["alice@contoso.com", "bob@contoso.com", "scanner@contoso.com", "nosmtp@contoso.com",
              "hve-scanner@contoso.com"]


def start_serve(state, log):
    try:
        os.unlink(os.path.join(state, "endpoints.json"))
    except FileNotFoundError:
        pass
    proc = subprocess.Popen(SCANMAIL + ["o365", "serve", "--state", state], stdout=log, stderr=subprocess.STDOUT)
    path = os.path.join(state, "endpoints.json")
    while not os.path.exists(path):             # pytest-timeout bounds the wait
        assert proc.poll() is None, "serve stopped at start"
        time.sleep(0.02)
    with open(path) as f:
        return proc, json.load(f)


def copies(state, run):
    needle = b"<kill-%d@test>" % run
    found = 0
    for address in RECIPIENTS:
        folder = os.path.join(state, "mail", address, "Inbox", "new")
        found += any(needle in open(os.path.join(folder, n), "rb").read() for n in
                     (os.listdir(folder) if os.path.isdir(folder) else []))
    return found


def test_kill_9_around_the_end_of_data_never_leaves_a_partial_or_lost_message(tmp_path):
    """A seeded slice of bench/hostile.py's kill phase: 4 runs."""
    rng = random.Random(14)
    state = str(tmp_path / "state")
    with open(tmp_path / "serve.log", "wb") as log:
        proc, info = start_serve(state, log)
        for run in range(4):
            mx = info["endpoints"]["mx"]
            sock = socket.create_connection((mx["host"], mx["port"]), 10, ("127.0.0.20", 0))
            sock.settimeout(10)
            reader = sock.makefile("rb")
            commands = [b"EHLO kill", b"MAIL FROM:<scanner@contoso.com>"] + \
                [b"RCPT TO:<%s>" % r.encode() for r in RECIPIENTS] + [b"DATA"]
            reader.readline()
            for command in commands:
                sock.sendall(command + b"\r\n")
                line = reader.readline()
                while line[3:4] == b"-":
                    line = reader.readline()
            body = base64.encodebytes(rng.randbytes(100_000)).replace(b"\n", b"\r\n")
            sock.sendall(b"Subject: kill %d\r\nMessage-ID: <kill-%d@test>\r\n\r\n" % (run, run) + body)
            sock.sendall(b"\r\n.\r\n")
            time.sleep(rng.uniform(0, 0.02))
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            try:
                acked = reader.readline().startswith(b"250")
            except OSError:
                acked = False
            sock.close()
            proc, info = start_serve(state, log)
            found = copies(state, run)
            assert found in (0, 5), "run %d left the message in %d of 5 mailboxes" % (run, found)
            assert found == 5 or not acked, "run %d: acknowledged, then lost" % run
        proc.send_signal(signal.SIGINT)
        proc.wait(30)
    assert b"Traceback" not in (tmp_path / "serve.log").read_bytes()


SECRET = "Hostile-Secret-7f3a"


def b64(text):
    return base64.b64encode(text.encode() if isinstance(text, str) else text).decode()


@pytest.mark.parametrize("exchange", [
    ["AUTH LOGIN " + b64("\0scanner@contoso.com\0" + SECRET), b64(SECRET)],          # a PLAIN blob to LOGIN
    ["AUTH LOGIN " + b64(SECRET), b64(SECRET)],                                    # the password as user
    ["AUTH XOAUTH2 " + b64("user=alice@contoso.com\x01auth=Bearer %s\x01\x01" % SECRET), ""],
    ["AUTH XOAUTH2 " + b64("user=%s\x01auth=Bearer %s\x01\x01" % (SECRET, SECRET)), ""],
    ["AUTH LOGIN " + b64(SECRET.upper() + "@contoso"), b64(SECRET)],               # an address-like secret
], ids=["PLAIN blob to LOGIN", "password as user", "bad XOAUTH2 token", "token as user", "no domain dot"])
def test_a_failed_sign_in_leaves_no_secret_in_the_trace(tenant, exchange):
    with Client(tenant, "submission") as client:
        client.secure()
        for line in exchange:
            code, _ = client.raw(line)
            if code != 334:
                break
        client.raw("MAIL FROM:<scanner@contoso.com>")
    written = open(os.path.join(tenant.state_dir, "trace.jsonl"), encoding="utf-8").read()
    forms = [SECRET, b64(SECRET), b64("\0scanner@contoso.com\0" + SECRET)]
    for form in forms:
        assert form.lower() not in written.lower()
        assert form.lower() not in json.dumps(tenant.trace()).lower()
    refused = [r for r in tenant.trace() if r.get("stage") == "auth"]
    assert refused and all(r["sender"] in ("", "alice@contoso.com") for r in refused)


def test_a_failed_sign_in_with_an_address_keeps_the_address(tenant):
    with Client(tenant, "submission") as client:
        client.secure()
        client.raw("AUTH LOGIN " + b64("scanner@contoso.com"))
        client.raw(b64("wrong"))
    assert [r["sender"] for r in tenant.trace() if r.get("stage") == "auth"] == ["scanner@contoso.com"]


def test_a_journalled_delivery_keeps_the_exact_bytes_in_every_folder_even_after_a_crash(tmp_path, monkeypatch):
    from scanmail.emulator.tenant.line_ends import exact_bytes

    root = str(tmp_path / "mail")
    store = MailStore(root)
    spool = store.new_spool_file(FOLDERS5[0])
    received = b"Subject: bare\r\n\r\nline one\nline two\r\n"       # a bare LF: the exact bytes are kept
    spool.write(received)
    spool.close()
    real_link, links = os.link, []

    def link(src, dst):
        if len(links) == 7:                 # 5 exact copies placed, then 2 of the 4 message links
            raise Killed()
        links.append(dst)
        real_link(src, dst)

    monkeypatch.setattr(mail_store.os, "link", link)
    with pytest.raises(Killed):
        store.deliver(spool.name, FOLDERS5)
    monkeypatch.undo()
    restarted = MailStore(root)
    for address, folder in FOLDERS5:
        files = restarted.message_files(address, folder)
        assert len(files) == 1 and exact_bytes(files[0]) == received
    assert restarted.spool_files() == [] and restarted.journal_files() == []
