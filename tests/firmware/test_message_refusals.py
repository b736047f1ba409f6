# Every refusal of a message's fields, on MicroPython and CPython (firmware/message_checks.py): the
# field is named, the text says what to do, and the edges of each rule are tried from both sides
# (a 64-character local part passes, 65 does not), so a check that is loosened or tightened shows.
# What a Message keeps of what it was given (trimmed subject and names, lower-case types,
# recipients once each) is checked here too.
import json

import pytest

from tests.firmware.runtime_cache import batch

OK = "scanner@contoso.com"
LOCAL_64 = "a" * 64
DOMAIN_LONG = ".".join(["d" * 63] * 3) + ".com"          # 195 characters


def address_of_length(n):
    return "a" * (n - 1 - len(DOMAIN_LONG)) + "@" + DOMAIN_LONG


# case -> (Message arguments changed from a good message, None if it is accepted or
#          (field named, words the text must contain))
CASES = {
    "a good message": ({}, None),
    "a sender that is not text": ({"sender": None}, ("sender", "an address must be text")),
    "a sender with a control character": ({"sender": "scan\x01ner@contoso.com"},
                                          ("sender", "control character")),
    "a sender with DEL": ({"sender": "scan\x7fner@contoso.com"}, ("sender", "control character")),
    "a subject with the last control character": ({"subject": "Scan\x1f1"},
                                                  ("subject", "control character")),
    "a subject with a space and a tilde": ({"subject": " ~ "}, None),
    "a sender with a line break": ({"sender": OK + "\r\nRCPT TO:<x@fabrikam.example>"},
                                   ("sender", "line break")),
    "a non-ASCII address": ({"to": ["jürgen@contoso.com"]}, ("to", "non-ASCII")),
    "an address of 254 characters": ({"to": [address_of_length(254)]}, None),
    "an address of 255 characters": ({"to": [address_of_length(255)]}, ("to", "not a valid")),
    "two at signs": ({"to": ["alice@@contoso.com"]}, ("to", "not a valid")),
    "no at sign": ({"to": ["alice.contoso.com"]}, ("to", "not a valid")),
    "an empty local part": ({"to": ["@contoso.com"]}, ("to", "not a valid")),
    "a local part of 64 characters": ({"to": [LOCAL_64 + "@contoso.com"]}, None),
    "a local part of 65 characters": ({"to": [LOCAL_64 + "a@contoso.com"]}, ("to", "not a valid")),
    "a local part starting with a dot": ({"to": [".alice@contoso.com"]}, ("to", "not a valid")),
    "a local part ending with a dot": ({"to": ["alice.@contoso.com"]}, ("to", "not a valid")),
    "two dots in a row": ({"to": ["al..ice@contoso.com"]}, ("to", "not a valid")),
    "one dot inside": ({"to": ["alice.smith@contoso.com"]}, None),
    "every special a local part may hold": ({"to": ["!#$%&'*+-/=?^_`{|}~a@contoso.com"]}, None),
    "a parenthesis in the local part": ({"to": ["alice(x)@contoso.com"]}, ("to", "not a valid")),
    "a domain that is not a host name": ({"to": ["alice@-contoso.com"]}, ("to", "not a valid")),
    "a domain without a dot": ({"to": ["alice@localhost"]}, ("to", "not a valid")),
    "to given as one string": ({"to": "alice@contoso.com"}, ("to", "must be lists")),
    "cc given as one string": ({"cc": "bob@contoso.com"}, ("to", "must be lists")),
    "a bad cc address": ({"cc": ["bob"]}, ("cc", "not a valid")),
    "no recipient at all": ({"to": [], "cc": []}, ("to", "no recipient")),
    "only a cc": ({"to": [], "cc": ["bob@contoso.com"]}, None),
    "a subject with a line break": ({"subject": "Scan\nBcc: x@fabrikam.example"},
                                    ("subject", "line break")),
    "a subject with a lone CR": ({"subject": "Scan\rBcc: x@fabrikam.example"},
                                 ("subject", "line break")),
    "a subject with a tab": ({"subject": "Scan\tone"}, None),
    "a subject that is not text": ({"subject": 7}, ("subject", "must be text")),
    "a body with line breaks and tabs": ({"body": "a\r\nb\nc\rd\te"}, None),
    "a body with a NUL": ({"body": "a\x00b"}, ("body", "control character")),
    "an attachment that is not a triple": ({"attachments": [["/scans/1.pdf", "1.pdf"]]},
                                           ("attachments", "(path, file name, MIME type)")),
    "an attachment that is a string": ({"attachments": ["/scans/1.pdf"]},
                                       ("attachments", "(path, file name, MIME type)")),
    "an attachment path with a line break": (
        {"attachments": [["/scans/1.pdf\n", "1.pdf", "application/pdf"]]},
        ("attachment path", "line break")),
    "an attachment name of spaces": ({"attachments": [["/scans/1.pdf", "  ", "application/pdf"]]},
                                     ("attachment name", "is empty")),
    "an attachment name with a line break": (
        {"attachments": [["/scans/1.pdf", "1.pdf\r\nX: y", "application/pdf"]]},
        ("attachment name", "line break")),
    "a type without a slash": ({"attachments": [["/scans/1.pdf", "1.pdf", "pdf"]]},
                               ("attachment type", "MIME type like application/pdf")),
    "a type with an empty subtype": ({"attachments": [["/scans/1.pdf", "1.pdf", "application/"]]},
                                     ("attachment type", "MIME type")),
    "a type with an empty type": ({"attachments": [["/scans/1.pdf", "1.pdf", "/pdf"]]},
                                  ("attachment type", "MIME type")),
    "a type with two slashes": ({"attachments": [["/scans/1.pdf", "1.pdf", "a/b/c"]]},
                                ("attachment type", "MIME type")),
    "a type with a parameter": ({"attachments": [["/scans/1.pdf", "1.pdf", "text/plain; x=1"]]},
                                ("attachment type", "MIME type")),
    "a type with every allowed character": (
        {"attachments": [["/scans/1.pdf", "1.pdf", "Application/VND.a-b+c_d.9"]]}, None),
}

CODE = """
import json
from scanmail.firmware.message import Message
from scanmail.firmware.errors import SMTPError
good = json.loads(%r)
cases = json.loads(%r)
out = {}
for name in cases:
    fields = dict(good)
    fields.update(cases[name])
    try:
        msg = Message(fields["sender"], fields["to"], fields["cc"], fields["subject"],
                      fields["body"], [tuple(a) if isinstance(a, list) else a
                                       for a in fields["attachments"]])
        out[name] = ["ok", msg.subject, msg.attachments and list(msg.attachments[0]),
                     msg.recipients()]
    except SMTPError as err:
        out[name] = ["refused", err.stage, err.kind, err.field, err.transient, err.text, str(err)]
print(json.dumps(out))
"""
GOOD = {"sender": OK, "to": ["alice@contoso.com"], "cc": [], "subject": "Scan", "body": "Hi",
        "attachments": [["/scans/0001.pdf", "0001.pdf", "application/pdf"]]}


def results(runtime):
    return batch(runtime, "message refusals", CODE % (json.dumps(GOOD), json.dumps(
        dict((name, CASES[name][0]) for name in CASES))))


@pytest.mark.parametrize("case", list(CASES))
def test_each_field_rule_names_the_field_and_says_what_to_do(runtime, case):
    got = results(runtime)[case]
    want = CASES[case][1]
    if want is None:
        assert got[0] == "ok", got
        return
    field, words = want
    assert got[:5] == ["refused", "message", "message", field, False], got
    assert got[5].startswith(field + ": ") and words in got[5], got[5]
    assert got[6] == "message failed: " + got[5]


def test_a_message_keeps_what_a_mail_client_would_show(runtime):
    code = CODE % (json.dumps(GOOD), json.dumps({"kept": {
        "subject": "  Scan 7  ", "to": ["alice@contoso.com", "bob@contoso.com"],
        "cc": ["alice@contoso.com", "carol@contoso.com", "bob@contoso.com"],
        "attachments": [["/scans/7.pdf", "  scan 7.pdf ", "Application/PDF"]]}}))
    got = batch(runtime, "message kept", code)["kept"]
    assert got == ["ok", "Scan 7", ["/scans/7.pdf", "scan 7.pdf", "application/pdf"],
                   ["alice@contoso.com", "bob@contoso.com", "carol@contoso.com"]]
