# The MIME header writer (firmware/mime_headers.py) at its edges, on both runtimes, each against a
# judge written elsewhere: every day's Date from 1970 to 2300 as CPython's email.utils writes it;
# a Subject's encoded-words each valid UTF-8 on its own (a mail client decodes them one by one),
# as long as the line allows and cut only between characters, whatever the characters' byte
# values; a plain ASCII subject left readable; an address list folded only when the next address
# would pass the line; a file name percent-encoded as urllib.parse.quote does for RFC 2231's
# attribute characters.
import base64
import datetime
import email.utils
import hashlib
import json
import re
import urllib.parse

from tests.firmware.runtime_cache import batch

FIRST_DAY = 0                                               # 1970-01-01
LAST_DAY = (datetime.date(2300, 1, 1) - datetime.date(1970, 1, 1)).days
SECONDS_INTO_THE_DAY = 12 * 3600 + 34 * 60 + 56

SUBJECTS = []
for _shift in range(4):                                     # every byte offset of a cut
    for _char in ("é", "€", "𝄞", "ü€𝄞"):                     # 2-, 3- and 4-byte characters
        SUBJECTS.append("x" * _shift + _char * 60)
SUBJECTS += ["Scan from scanner-3f2a on 2026-12-02 at 09:15", "x" * 200 + "é",
             "Rechnung für März: " + "ÄÖÜ " * 20]
# twelve addresses of 25 characters; then two lists whose one line would be 77 and 78 long
ADDRESSES = [["a%02d@contoso-example.com" % i for i in range(12)],
             ["b@contoso.com", "x" * 46 + "@contoso.com"], ["b@contoso.com", "x" * 47 + "@contoso.com"]]
FILE_NAMES = ["Ärger Angebot (März) 2026 – final [v2] {copy} #3 $4 &5 +6 ^7 `8 |9 ~.pdf",
              "AZaz09" + "é" * 40 + ".pdf", "A" * 70 + "é.pdf"]

CODE = """
import json, hashlib, binascii
from scanmail.firmware import mime_headers as m
digest = hashlib.sha256()
sampled = []
for d in range(%(first)d, %(last)d):
    text = m.rfc5322_date(d * 86400 + %(secs)d)
    digest.update((text + "\\n").encode())
    if d %% 997 == 0:
        sampled.append(text)
out = {"dates": [binascii.hexlify(digest.digest()).decode(), sampled]}
out["subjects"] = [m.header_unstructured("Subject", s) for s in json.loads(%(subjects)r)]
out["addresses"] = [m.header_addresses("To", a) for a in json.loads(%(addresses)r)]
out["names"] = [m.file_name_param("filename", n) for n in json.loads(%(names)r)]
print(json.dumps(out))
"""


def written(runtime):
    return batch(runtime, "mime header edges", CODE % {
        "secs": SECONDS_INTO_THE_DAY, "first": FIRST_DAY, "last": LAST_DAY,
        # (raw UTF-8, not \\u escapes: MicroPython's json does not join an escaped surrogate pair)
        "subjects": json.dumps(SUBJECTS, ensure_ascii=False), "addresses": json.dumps(ADDRESSES),
        "names": json.dumps(FILE_NAMES, ensure_ascii=False)})


def test_every_days_date_is_written_as_the_email_package_writes_it(runtime):
    digest, sampled = written(runtime)["dates"]
    start = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)
    expected = hashlib.sha256()
    wrong = []
    for day in range(FIRST_DAY, LAST_DAY):
        text = email.utils.format_datetime(start + datetime.timedelta(
            days=day, seconds=SECONDS_INTO_THE_DAY))
        expected.update((text + "\n").encode())
        if day % 997 == 0 and sampled[day // 997] != text:
            wrong.append((text, sampled[day // 997]))
    assert not wrong, wrong[:5]
    assert digest == expected.hexdigest()      # every day, not only the sampled ones


def test_a_subject_is_cut_between_characters_into_full_encoded_words(runtime):
    for subject, header in zip(SUBJECTS, written(runtime)["subjects"]):
        assert header.endswith("\r\n")
        lines = header[:-2].split("\r\n")
        assert all(len(line) <= 78 for line in lines), lines
        if all(32 <= ord(c) <= 126 for c in subject) and len("Subject: " + subject) <= 78:
            assert header == "Subject: %s\r\n" % subject      # readable as it is
            continue
        words = re.findall(r"=\?UTF-8\?B\?([A-Za-z0-9+/=]*)\?=", header)
        assert "".join("=?UTF-8?B?%s?=" % w for w in words) == header[len("Subject: "):-2].replace(
            "\r\n ", "")
        pieces = [base64.b64decode(w) for w in words]
        decoded = [p.decode("utf-8") for p in pieces]         # each word whole UTF-8 on its own
        assert "".join(decoded) == subject
        assert all(len("=?UTF-8?B?%s?=" % w) <= 75 for w in words)
        # as much as fits: the first word 42 bytes (its line has "Subject: "), the others 45,
        # less only where a character would have been cut
        limits = [42] + [45] * (len(pieces) - 1)
        for piece, limit, rest in zip(pieces, limits, pieces[1:] + [b""]):
            assert len(piece) == limit or (rest and len(piece) > limit - 4
                                            and rest[0] & 0xC0 != 0x80) or not rest, (subject, len(piece))


def test_an_address_list_is_folded_only_when_the_next_address_would_pass_the_line(runtime):
    for addresses, header in zip(ADDRESSES, written(runtime)["addresses"]):
        lines = header[:-2].split("\r\n")
        assert email.utils.getaddresses([header[len("To: "):].replace("\r\n", "")]) == \
            [("", a) for a in addresses]
        for line, following in zip(lines, lines[1:]):
            first = following.strip().split(" ")[0]
            assert len(line) <= 77 and len(line) + 1 + len(first) > 77, (line, following)
    assert len(written(runtime)["addresses"][1].split("\r\n")) == 2      # 77 characters: one line
    assert len(written(runtime)["addresses"][2].split("\r\n")) == 3      # 78: folded


def test_a_file_name_is_percent_encoded_as_rfc_2231_attribute_characters_allow(runtime):
    for name, param in zip(FILE_NAMES, written(runtime)["names"]):
        pieces = re.findall(r"filename\*(\d+)\*=(?:UTF-8'')?([^;\r\n]*)", param)
        assert [int(n) for n, _ in pieces] == list(range(len(pieces)))
        encoded = "".join(chunk for _, chunk in pieces)
        assert encoded == urllib.parse.quote(name.encode("utf-8"), safe="!#$&+^`|")
        assert urllib.parse.unquote(encoded) == name
        assert all(len(line) <= 78 for line in param.split("\r\n"))
