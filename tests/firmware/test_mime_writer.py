# The streaming MIME writer, on MicroPython and CPython, with CPython's `email` parser as the
# oracle: what a mail client would show (subject, addresses, date, text, attachments and their
# names) is exactly what was given, the wire form is CRLF-only, dot-stuffed, no line over 998
# octets, its announced size is exact, and both runtimes write the very same bytes.
import base64
import email
import email.policy
import json
import os
import re

import pytest

from tests.firmware.runtime_cache import run_json

NOW = 1795842877                       # 2026-11-28 05:14:37 UTC
SMUGGLING_BODY = (
    "Scan attached.\n.starts with a dot\n..two dots\nbare LF\nbare CR\rmixed\r\n"
    "smuggle 1\n.\nsmuggle 2\r.\rsmuggle 3\n.\r\nsmuggle 4\r\n.\rend\n"
    "trailing spaces   \n" + "long line " * 120 + "\nUnicode: héllo wörld 北京 =3D\n.\n"
)


def normalize(text):
    return text.replace("\r\n", "\n").replace("\r", "\n")


@pytest.fixture(scope="module")
def attachment_files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("scans")
    files = {}
    for name, size in (("random.bin", 100_003), ("exact.bin", 57 * 40), ("empty.bin", 0),
                       ("three.bin", 60)):      # (a last base64 line of exactly 3 bytes)
        path = folder / name
        path.write_bytes(os.urandom(size))
        files[name] = str(path)
    return files


def spec_for(files):
    return {
        "sender": "scanner@contoso.com",
        "to": ["alice@contoso.com"] + ["user%02d@contoso.com" % i for i in range(12)],
        "cc": ["bob@contoso.com"],
        "subject": "Scan from the 2nd floor — Überweisung 北京 " + "long subject words " * 8,
        "body": SMUGGLING_BODY,
        "now": NOW,
        "random_hex": "00112233445566778899aabb",
        "attachments": [
            [files["random.bin"], "scan 0001.pdf", "application/pdf"],
            [files["exact.bin"], "Überweisung März 2026 — Rechnung Nr. 12345 für die Buchhaltung.pdf",
             "application/pdf"],
            [files["empty.bin"], 'odd "name".bin', "application/octet-stream"],
            [files["three.bin"], "three.bin", "application/octet-stream"],
        ],
    }


def write_on(runtime, spec, out_path):
    code = ("import json, mime_case\nprint(mime_case.write(json.loads(%r), %r))\n"
            % (json.dumps(spec), str(out_path)))
    return run_json(runtime, code)


def unstuff(wire):
    lines = wire.split(b"\r\n")
    return b"\r\n".join(line[1:] if line.startswith(b".") else line for line in lines)


class Written(dict):
    """runtime -> (the writer's figures, the bytes it wrote), each written on first use."""

    def __init__(self, spec, folder):
        dict.__init__(self)
        self.spec, self.folder = spec, folder

    def __missing__(self, runtime):
        path = self.folder / (runtime + ".eml")
        self[runtime] = (write_on(runtime, self.spec, path), path.read_bytes())
        return self[runtime]


@pytest.fixture(scope="module")
def written(attachment_files, tmp_path_factory):
    spec = spec_for(attachment_files)
    return spec, Written(spec, tmp_path_factory.mktemp("out"))


def test_both_runtimes_write_the_same_bytes(written):
    _, result = written
    assert result["cpython"][1] == result["micropython"][1]


@pytest.mark.parametrize("runtime", ["cpython", "micropython"])
def test_the_announced_size_is_exact_and_the_wire_is_clean(written, runtime):
    _, result = written
    figures, wire = result[runtime]
    assert figures["written"] == len(wire)
    assert figures["size"] == len(unstuff(wire))           # RFC 1870: size before dot-stuffing
    assert wire.endswith(b"\r\n")
    assert b"\r" not in wire.replace(b"\r\n", b"") and b"\n" not in wire.replace(b"\r\n", b"")
    lines = wire.split(b"\r\n")
    assert max(len(line) for line in lines) <= 998
    assert b"\r\n.\r\n" not in wire                        # nothing inside can end the data early
    for line in lines:
        assert not line.startswith(b".") or line.startswith(b".."), line


@pytest.mark.parametrize("runtime", ["cpython", "micropython"])
def test_a_mail_client_shows_exactly_what_the_scanner_sent(written, attachment_files, runtime):
    spec, result = written
    msg = email.message_from_bytes(unstuff(result[runtime][1]), policy=email.policy.default)
    assert msg["Subject"] == spec["subject"].strip()           # trimmed, as clients show it
    assert [a.addr_spec for a in msg["To"].addresses] == spec["to"]
    assert [a.addr_spec for a in msg["Cc"].addresses] == spec["cc"]
    assert msg["From"].addresses[0].addr_spec == "scanner@contoso.com"
    assert msg["Date"].datetime.timestamp() == NOW
    assert msg["MIME-Version"] == "1.0"
    assert msg["Message-ID"] == "<%s.%d@contoso.com>" % (spec["random_hex"], NOW)
    body = msg.get_body(("plain",))
    assert normalize(body.get_content()) == normalize(spec["body"])
    attachments = list(msg.iter_attachments())
    assert [a.get_filename() for a in attachments] == [a[1] for a in spec["attachments"]]
    for part, (path, _, content_type) in zip(attachments, spec["attachments"]):
        assert part.get_content_type() == content_type
        with open(path, "rb") as f:
            assert part.get_payload(decode=True) == f.read()
    assert not msg.defects and all(not p.defects for p in msg.walk())


def test_a_text_only_message_is_a_single_part(tmp_path):
    spec = {"sender": "scanner@contoso.com", "to": ["alice@contoso.com"], "subject": "Hi",
            "body": "one line", "now": NOW, "random_hex": "ab" * 12}
    figures = write_on("micropython", spec, tmp_path / "m.eml")
    wire = (tmp_path / "m.eml").read_bytes()
    msg = email.message_from_bytes(wire, policy=email.policy.default)
    assert not msg.is_multipart()
    assert normalize(msg.get_content()) == "one line\n"
    assert figures["size"] == len(wire)


@pytest.mark.parametrize("runtime", ["cpython", "micropython"])
def test_a_body_that_starts_with_a_dot_is_dot_stuffed_from_its_first_line(tmp_path, runtime):
    spec = {"sender": "scanner@contoso.com", "to": ["alice@contoso.com"], "subject": "Dots",
            "body": ".hidden\n..two\n.", "now": NOW, "random_hex": "ab" * 12}
    figures = write_on(runtime, spec, tmp_path / "m.eml")
    wire = (tmp_path / "m.eml").read_bytes()
    assert b"\r\n\r\n..hidden\r\n...two\r\n..\r\n" in wire
    assert figures["size"] == len(unstuff(wire))
    msg = email.message_from_bytes(unstuff(wire), policy=email.policy.default)
    assert normalize(msg.get_content()) == ".hidden\n..two\n.\n"


@pytest.mark.parametrize("size_mb", [1, 4])
def test_heap_use_does_not_grow_with_the_attachment(tmp_path, size_mb):
    """The same 128 KB MicroPython heap encodes a 1 MB and a 4 MB scan: the file is streamed."""
    path = tmp_path / "big.bin"
    with open(path, "wb") as f:
        f.write(os.urandom(1 << 20) * size_mb)
    spec = {"sender": "scanner@contoso.com", "to": ["alice@contoso.com"], "subject": "Big",
            "body": "x", "now": NOW, "random_hex": "cd" * 12,
            "attachments": [[str(path), "big.bin", "application/octet-stream"]]}
    code = ("import json, mime_case\nprint(mime_case.write(json.loads(%r), %r))\n"
            % (json.dumps(spec), "/dev/null"))
    figures = run_json("micropython", code, heap_bytes=128 * 1024)
    assert figures["written"] == figures["size"] > (size_mb << 20) * 4 // 3


@pytest.fixture(scope="module")
def written_binary(attachment_files, tmp_path_factory):
    spec = dict(spec_for(attachment_files), binary=True)
    return spec, Written(spec, tmp_path_factory.mktemp("out-binary"))


def test_both_runtimes_write_the_same_binary_bytes(written_binary):
    _, result = written_binary
    assert result["cpython"][1] == result["micropython"][1]


def raw_parts(wire, random_hex):
    """The bytes of each attachment as they stand on the wire, cut at the MIME boundaries by hand
    (RFC 2046 5.1.1), not by a parser: between the blank line after a part's headers and the CRLF
    before the next boundary."""
    boundary = b"\r\n--=_scanmail_" + random_hex.encode()
    pieces = wire.split(boundary)[2:]           # before the first boundary, then the text part
    assert pieces[-1] == b"--\r\n"              # the closing boundary ends the message
    return [piece.split(b"\r\n\r\n", 1)[1] for piece in pieces[:-1]]


@pytest.mark.parametrize("runtime", ["cpython", "micropython"])
def test_for_binarymime_the_scans_go_unencoded_and_arrive_exactly(written_binary, runtime):
    spec, result = written_binary
    figures, wire = result[runtime]
    assert figures["size"] == figures["written"] == len(wire)       # BDAT: no dot-stuffing
    files = []
    for path, _, _ in spec["attachments"]:
        with open(path, "rb") as f:
            files.append(f.read())
    assert raw_parts(wire, spec["random_hex"]) == files
    msg = email.message_from_bytes(wire, policy=email.policy.default)
    assert normalize(msg.get_body(("plain",)).get_content()) == normalize(spec["body"])
    parts = list(msg.iter_attachments())
    assert [p["Content-Transfer-Encoding"] for p in parts] == ["binary"] * len(spec["attachments"])
    for part, (path, _, _) in zip(parts, spec["attachments"]):
        with open(path, "rb") as f:
            assert part.get_payload(decode=True) == f.read()


def header_lines(wire):
    return wire.split(b"\r\n\r\n", 1)[0].split(b"\r\n")


@pytest.mark.parametrize("runtime", ["cpython", "micropython"])
def test_the_wire_keeps_the_line_limits_of_the_mail_standards(written, runtime):
    """Headers fold within 78 octets (RFC 5322 2.1.1), each encoded-word within 75 (RFC 2047 2),
    quoted-printable lines within 76 (RFC 2045 6.7), base64 lines are 76 characters but the last
    of each part (RFC 2045 6.8): what every mail server and client can take."""
    _, result = written
    wire = unstuff(result[runtime][1])
    for line in header_lines(wire):
        assert len(line) <= 78, line
        for word in re.findall(rb"=\?UTF-8\?B\?([^?]*)\?=", line):
            assert len(word) + 12 <= 75, word
            base64.b64decode(word).decode("utf-8")    # RFC 2047 5: whole characters in each word
    text = wire.split(b"Content-Transfer-Encoding: quoted-printable\r\n\r\n", 1)[1].split(b"\r\n--")[0]
    assert max(len(line) for line in text.split(b"\r\n")) <= 76
    for part in wire.split(b"Content-Transfer-Encoding: base64\r\n\r\n")[1:]:
        lines = part.split(b"\r\n--")[0].split(b"\r\n")[:-1]    # (the CRLF of the last line)
        assert all(len(line) == 76 for line in lines[:-1]), part[:200]
        assert all(0 < len(line) <= 76 for line in lines[-1:]), part[:200]   # (an empty file: none)
    for line in wire.split(b"\r\n"):                 # the attachments' part headers
        if line.startswith((b"Content-", b" name", b" filename")):
            assert len(line) <= 78, line
        if line.startswith((b" name*", b" filename*")):   # RFC 2231: no %XX split over lines
            assert not re.search(rb"%.?;?$", line), line


# subject / file name -> how it goes on the wire: plain while it fits one line, encoded beyond
FITS = {
    "a subject that just fits a header line": ("Subject", "s" * 69, b"Subject: " + b"s" * 69 + b"\r\n"),
    "a subject one character longer": ("Subject", "s" * 70, b"Subject: =?UTF-8?B?"),
    "a file name of 60 characters": ("name", "n" * 56 + ".pdf", b' filename="' + b"n" * 56 + b'.pdf"'),
    "a file name of 61 characters": ("name", "n" * 57 + ".pdf", b" filename*0*=UTF-8''" + b"n" * 57),
}


@pytest.mark.parametrize("case", list(FITS))
def test_a_header_is_plain_while_it_fits_and_encoded_beyond(tmp_path, attachment_files, case):
    field, value, expected = FITS[case]
    spec = {"sender": "scanner@contoso.com", "to": ["alice@contoso.com"], "subject": "Scan",
            "body": "x", "now": NOW, "random_hex": "ef" * 12,
            "attachments": [[attachment_files["empty.bin"], "a.pdf", "application/pdf"]]}
    if field == "Subject":
        spec["subject"] = value
    else:
        spec["attachments"][0][1] = value
    write_on("cpython", spec, tmp_path / "m.eml")
    wire = (tmp_path / "m.eml").read_bytes()
    assert expected in wire
    msg = email.message_from_bytes(unstuff(wire), policy=email.policy.default)
    if field == "Subject":
        assert msg["Subject"] == value
    else:
        assert next(msg.iter_attachments()).get_filename() == value


# The exact wire forms a mail client reads, on both runtimes: quoted-printable (RFC 2045 6.7: a
# space or tab kept but at a line's end, "=" and 8-bit bytes escaped, soft breaks making lines of
# at most 76 with the "="), RFC 2231 percent-encoding (attribute characters as they are, every
# other byte escaped), and address lists folded after a comma, with no comma after the last.
FORMS_CODE = """
import json
from scanmail.firmware.mime_headers import file_name_param, header_addresses, quoted_printable
texts, names, lists = json.loads(%r)
print(json.dumps([[quoted_printable(t).decode() for t in texts],
                  [file_name_param("filename", n) for n in names],
                  [header_addresses("To", l) for l in lists]]))
"""
QP = {"!~": "!~", "a b": "a b", "a\tb": "a\tb", "a \r\nb": "a=20\r\nb", "a\t": "a=09", "x=y": "x=3Dy", "\u00e9": "=C3=A9",
      "a" * 200: "a" * 75 + "=\r\n" + "a" * 75 + "=\r\n" + "a" * 50,
      "a" * 74 + "\u00e9": "a" * 74 + "=\r\n=C3=A9", "a" * 75 + " b": "a" * 75 + "=\r\n b"}
NAMES = {"Zz09-\u00fc/:@[{!#$&+-.^_`|~.pdf":
         ";\r\n filename*0*=UTF-8''Zz09-%C3%BC%2F%3A%40%5B%7B!#$&+-.^_`|~.pdf",
         # a piece ends before a %XX escape that would not fit whole, wherever it falls
         "\u00e9" * 12: ";\r\n filename*0*=UTF-8''" + "%C3%A9" * 9 + "%C3" + ";\r\n filename*1*=%A9"
         + "%C3%A9" * 2,
         "a" + "\u00e9" * 12: ";\r\n filename*0*=UTF-8''a" + "%C3%A9" * 9 + ";\r\n filename*1*="
         + "%C3%A9" * 3,
         "ab" + "\u00e9" * 12: ";\r\n filename*0*=UTF-8''ab" + "%C3%A9" * 9 + ";\r\n filename*1*="
         + "%C3%A9" * 3}
LISTS = [(["alice@contoso.com", "bob@contoso.com"], "To: alice@contoso.com, bob@contoso.com\r\n"),
         (["user%02d@contoso.com" % i for i in range(6)],
          "To: user00@contoso.com, user01@contoso.com, user02@contoso.com,\r\n"
          " user03@contoso.com, user04@contoso.com, user05@contoso.com\r\n")]


@pytest.mark.parametrize("runtime", ["cpython", "micropython"])
def test_quoted_printable_file_names_and_address_lists_have_their_exact_wire_form(runtime):
    code = FORMS_CODE % json.dumps([list(QP), list(NAMES), [addresses for addresses, _ in LISTS]])
    qp, names, lists = run_json(runtime, code)
    assert qp == list(QP.values())
    assert names == list(NAMES.values())
    assert lists == [header for _, header in LISTS]


@pytest.mark.parametrize("subject, line", [("a~b", b"Subject: a~b\r\n"),
                                           ("caf\u00e9", b"Subject: =?UTF-8?B?Y2Fmw6k=?=\r\n")])
def test_a_printable_ascii_subject_goes_as_it_is_and_any_other_encoded(tmp_path, subject, line):
    spec = {"sender": "scanner@contoso.com", "to": ["alice@contoso.com"], "subject": subject,
            "body": "x", "now": NOW, "random_hex": "ab" * 12}
    write_on("cpython", spec, tmp_path / "m.eml")
    assert line in (tmp_path / "m.eml").read_bytes()


def test_a_scan_that_cannot_be_read_is_refused_naming_it(tmp_path):
    code = ("import json\nfrom scanmail.firmware.message import Message, MimeWriter\n"
            "from scanmail.firmware.errors import SMTPError\n"
            "m = Message('scanner@contoso.com', ['alice@contoso.com'], [], 's', 'b',\n"
            "            [(%r, 'scan.pdf', 'application/pdf')])\n"
            "try:\n    MimeWriter(m, 1795842877, 'ab' * 12)\n"
            "except SMTPError as e:\n    print(json.dumps([e.stage, e.kind, e.field, e.text]))\n"
            % str(tmp_path / "missing.pdf"))
    code = code.replace("e.field, e.text", "e.field, e.transient, e.text")
    assert run_json("cpython", code) == [
        "message", "message", "attachments", False,
        "attachments: cannot read %r (for 'scan.pdf'): check that the scan was saved"
        % str(tmp_path / "missing.pdf")]


def test_without_a_clock_the_message_has_no_date_and_a_message_id_of_time_0(tmp_path):
    spec = {"sender": "scanner@contoso.com", "to": ["alice@contoso.com"], "subject": "s",
            "body": "x", "now": None, "random_hex": "ab" * 12}
    write_on("cpython", spec, tmp_path / "m.eml")
    msg = email.message_from_bytes((tmp_path / "m.eml").read_bytes(), policy=email.policy.default)
    assert msg["Date"] is None                     # the receiving server adds it
    assert msg["Message-ID"] == "<%s.0@contoso.com>" % ("ab" * 12)
