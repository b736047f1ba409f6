# docs/exchange-online.md agrees with the fake tenant: every reply line emulator/tenant/replies.py
# can send, and every EHLO list it builds, is written in the document exactly as the code has it
# (placeholders in braces). Rule: the code is the truth the tenant speaks; a reply changed in
# replies.py without the document, or a document typo in a reply, fails here with the line.
import os
import re

from scanmail.emulator.tenant import replies

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DOC = os.path.join(ROOT, "docs/exchange-online.md")


def doc_code_spans():
    """Every `inline code` span of the document, backticks removed."""
    with open(DOC, encoding="utf-8") as f:
        return set(re.findall(r"`([^`\n]+)`", f.read()))


def reply_lines():
    """(constant name, one reply line) for every reply text in replies.py."""
    for name in sorted(vars(replies)):
        value = getattr(replies, name)
        # AUTH_KEYWORD and EHLO_HELLO are parts of EHLO lines, checked as whole lists below.
        if name.isupper() and isinstance(value, str) and name not in ("AUTH_KEYWORD", "EHLO_HELLO"):
            for line in value.split("\r\n"):
                yield name, line


def test_every_reply_of_the_tenant_is_in_the_document_word_for_word():
    spans = doc_code_spans()
    replies_found = list(reply_lines())
    assert len(replies_found) > 60, "replies.py should hold every reply line; found %d" % len(replies_found)
    missing = ["%s: %s" % (name, line) for name, line in replies_found if line not in spans]
    assert not missing, ("docs/exchange-online.md lacks these replies of emulator/tenant/replies.py "
                         "(as `inline code`, exactly):\n  " + "\n  ".join(missing))


def test_every_ehlo_list_of_the_tenant_is_in_the_document():
    with open(DOC, encoding="utf-8") as f:
        rows = [line for line in f if line.startswith("| `250")]
    # The EHLO table: one column per list, one keyword per row.
    columns = list(zip(*[[cell.strip().strip("`") for cell in row.strip().strip("|").split("|")]
                         for row in rows if row.count("|") == 4]))
    documented = [[cell for cell in column if cell] for column in columns]
    for tls_active, offer_auth, what in [(False, True, "before STARTTLS"),
                                         (True, True, "submission and HVE after STARTTLS"),
                                         (True, False, "the MX after STARTTLS")]:
        expected = replies.ehlo_lines("{host}", "{ip}", tls_active, offer_auth)
        assert expected in documented, "the EHLO list %s is not in the document as the tenant sends it:\n%s" % (
            what, "\n".join(expected))
