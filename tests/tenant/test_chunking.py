# BDAT (RFC 3030 CHUNKING) and BINARYMIME, which Exchange offers in its EHLO list: a message sent in
# chunks is stored exactly, binary bodies keep their bare LFs while text bodies are refused with
# 5.6.11 as over DATA, and out-of-sequence chunks are answered without losing step.
import socket
import time

from scanmail.emulator.tenant import replies
from tests.tenant.helpers import SCANNER_IP, leftover_files, message


class Chunker:
    def __init__(self, tenant):
        self.sock = socket.create_connection(tenant.address("mx"), timeout=10, source_address=(SCANNER_IP, 0))
        self.file = self.sock.makefile("rwb")
        self.file.readline()
        assert self.command(b"EHLO chunker").startswith("250 ")

    def reply(self):
        line = self.file.readline()
        while line[3:4] == b"-":
            line = self.file.readline()
        return line.decode().rstrip("\r\n")

    def command(self, line, payload=b""):
        self.file.write(line + b"\r\n" + payload)
        self.file.flush()
        return self.reply()

    def close(self):
        self.file.close()
        self.sock.close()


def test_a_message_sent_in_bdat_chunks_is_stored_as_sent(tenant):
    data = message(body="line one\r\n.line with a dot\r\nline three")
    c = Chunker(tenant)
    try:
        assert c.command(b"MAIL FROM:<scanner@contoso.com>") == replies.MAIL_OK
        assert c.command(b"RCPT TO:<alice@contoso.com>") == replies.RCPT_OK
        first, second = data[:20], data[20:]
        assert c.command(b"BDAT %d" % len(first), first) == replies.BDAT_CHUNK_OK.format(size=len(first))
        final = c.command(b"BDAT %d LAST" % len(second), second)
        assert final.startswith("250 2.6.0 <")
        assert c.command(b"QUIT") == replies.QUIT_OK
    finally:
        c.close()
    stored, = tenant.messages("alice@contoso.com")
    assert stored.get_content() == "line one\n.line with a dot\nline three\n"   # no dot-unstuffing in BDAT
    assert tenant.trace()[-1]["status"] == "Delivered"


def test_a_binarymime_body_keeps_its_bare_linefeeds_but_a_text_body_is_refused_with_5_6_11(tenant):
    binary = b"From: scanner@contoso.com\r\nSubject: raw\r\n\r\n\x00\x01\n\xff\n"
    c = Chunker(tenant)
    try:
        c.command(b"MAIL FROM:<scanner@contoso.com> BODY=BINARYMIME")
        c.command(b"RCPT TO:<alice@contoso.com>")
        assert c.command(b"DATA") == replies.DATA_AFTER_BDAT         # BINARYMIME needs BDAT
        assert c.command(b"BDAT %d LAST" % len(binary), binary).startswith("250 2.6.0 <")
        c.command(b"MAIL FROM:<scanner@contoso.com>")
        c.command(b"RCPT TO:<bob@contoso.com>")
        assert c.command(b"BDAT %d LAST" % len(binary), binary) == replies.BARE_LINEFEED
    finally:
        c.close()
    assert len(tenant.messages("alice@contoso.com")) == 1
    assert tenant.messages("bob@contoso.com") == []


def test_bdat_before_rcpt_is_refused_and_its_chunk_skipped_so_the_session_stays_in_step(tenant):
    c = Chunker(tenant)
    try:
        assert c.command(b"BDAT 5", b"MAIL ") == replies.NEED_MAIL
        c.command(b"MAIL FROM:<scanner@contoso.com>")
        assert c.command(b"BDAT 4 LAST", b"RSET") == replies.NEED_RCPT
        assert c.command(b"BDAT lots") == replies.BAD_SYNTAX
        assert c.command(b"NOOP") == replies.NOOP_OK
    finally:
        c.close()


def test_a_client_that_vanishes_between_chunks_leaves_nothing_behind(tenant):
    c = Chunker(tenant)
    c.command(b"MAIL FROM:<scanner@contoso.com>")
    c.command(b"RCPT TO:<alice@contoso.com>")
    assert c.command(b"BDAT 10", b"Subject: x") == replies.BDAT_CHUNK_OK.format(size=10)
    c.close()
    while tenant.world.sessions:      # the server notices the close; pytest-timeout bounds the wait
        time.sleep(0.01)
    assert tenant.messages("alice@contoso.com") == []
    assert leftover_files(tenant) == []
