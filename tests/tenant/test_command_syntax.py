# The SMTP argument parsers, table-driven: MAIL/RCPT paths with ESMTP parameters, the XOAUTH2 SASL
# string, and client words made safe to echo in a reply.
import pytest

from scanmail.emulator.tenant.command_syntax import parse_path, parse_xoauth2, printable

PATHS = [
    # (argument, keyword, expected)
    ("FROM:<scanner@contoso.com>", "FROM:", ("scanner@contoso.com", {})),
    ("from:<scanner@contoso.com> SIZE=100 BODY=8BITMIME", "FROM:", ("scanner@contoso.com", {"SIZE": "100", "BODY": "8BITMIME"})),
    ("FROM: <scanner@contoso.com>", "FROM:", ("scanner@contoso.com", {})),
    ("FROM:<>", "FROM:", ("", {})),
    ("TO:<alice@contoso.com> NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;alice@contoso.com", "TO:",
     ("alice@contoso.com", {"NOTIFY": "SUCCESS,FAILURE", "ORCPT": "rfc822;alice@contoso.com"})),
    ("TO:alice@contoso.com", "TO:", ("alice@contoso.com", {})),
    ("TO:<>", "TO:", (None, {})),
    ("TO:<alice@contoso.com", "TO:", None),
    ("FROM:<not an address>", "FROM:", (None, {})),
    ("FROM:<a\rb@contoso.com>", "FROM:", (None, {})),
    ("FROM:<alice@>", "FROM:", (None, {})),
    ("<alice@contoso.com>", "FROM:", None),
]


@pytest.mark.parametrize("argument,keyword,expected", PATHS, ids=[p[0] for p in PATHS])
def test_paths_and_parameters_parse_like_rfc_5321_says(argument, keyword, expected):
    assert parse_path(argument, keyword) == expected


@pytest.mark.parametrize("raw,expected", [
    (b"user=scanner@contoso.com\x01auth=Bearer abc.def.ghi\x01\x01", ("scanner@contoso.com", "abc.def.ghi")),
    (b"auth=Bearer tok\x01user=a@b.c\x01\x01", ("a@b.c", "tok")),
    (b"user=scanner@contoso.com\x01auth=Basic abc\x01\x01", ("scanner@contoso.com", "")),
    (b"garbage", ("", "")),
    (b"\xff\xfe", ("", "")),
])
def test_the_xoauth2_string_gives_user_and_bearer_token(raw, expected):
    assert parse_xoauth2(raw) == expected


def test_a_client_word_is_echoed_as_printable_ascii_and_bounded():
    assert printable("xyz") == "xyz"
    assert printable("\x00\x16\u00e9\r") == "????"
    assert printable("A" * 100) == "A" * 64 + "..."


@pytest.mark.parametrize("value,address", [
    ("scanner@contoso.com", "scanner@contoso.com"),
    ("Front Desk <frontdesk@contoso.com>", "frontdesk@contoso.com"),
    ("scanner@contoso.com (Scanner 3F2A)", "scanner@contoso.com"),
    ('"Doe, Jane" <jane@fabrikam.com>', "jane@fabrikam.com"),
    ("undisclosed-recipients:;", None),
    ("Scanner", None),
])
def test_the_address_of_a_from_field_is_found_in_its_usual_forms(value, address):
    from scanmail.emulator.tenant.envelope_rules import mailbox_address
    assert mailbox_address(value) == address


def test_header_fields_are_unfolded_and_grouped_by_lower_case_name():
    from scanmail.emulator.tenant.envelope_rules import header_fields
    block = b"From: Front Desk\r\n <frontdesk@contoso.com>\r\nSubject: Scan\r\nFROM: second@contoso.com\r\nnot a field"
    assert header_fields(block) == {"from": ["Front Desk <frontdesk@contoso.com>", "second@contoso.com"],
                                    "subject": ["Scan"]}
