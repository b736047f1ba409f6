# Checks of a message's fields, run once when a Message is built (firmware.call_once: loaded for
# the check and let go after it, so a board does not keep this code between scans).
# Rule: a CR or LF in any header value, address or file name (header injection), a malformed
# address or a control character is a MessageError naming the field and what to do, raised before
# anything touches the network.
from firmware.errors import MessageError

_LOCAL_SPECIALS = "!#$%&'*+-/=?^_`{|}~."


def _refuse_line_breaks(field, value):
    if "\r" in value or "\n" in value:
        raise MessageError(field, "contains a line break (CR or LF), which would inject headers; "
                                  "remove it")


def check_address(field, address):
    """Refuse anything but a plain ASCII address local@domain.tld (RFC 5321 4.1.2 dot-atoms)."""
    if not isinstance(address, str):
        raise MessageError(field, "an address must be text, got %r" % (address,))
    _refuse_line_breaks(field, address)
    for ch in address:
        if ord(ch) > 126:
            raise MessageError(field, "%r has non-ASCII characters; internationalized addresses "
                                      "are not supported: use the mailbox's ASCII address" % address)
    what = "%r is not a valid e-mail address (expected name@example.com)" % address
    if len(address) > 254 or address.count("@") != 1:
        raise MessageError(field, what)
    local, domain = address.split("@")
    if not local or len(local) > 64 or local[0] == "." or local[-1] == "." or ".." in local:
        raise MessageError(field, what)
    for ch in local:
        if not (ch.isalpha() or ch.isdigit() or ch in _LOCAL_SPECIALS) or ord(ch) > 126:
            raise MessageError(field, what)
    if not is_domain(domain) or "." not in domain:
        raise MessageError(field, what)
    return address


def is_domain(name):
    """A DNS host name: dot-separated labels of ASCII letters, digits and inner hyphens."""
    if not name or len(name) > 253:
        return False
    for label in name.split("."):
        if not label or len(label) > 63 or label[0] == "-" or label[-1] == "-":
            return False
        for ch in label:
            if ord(ch) > 126 or not (ch.isalpha() or ch.isdigit() or ch == "-"):
                return False
    return True


def _check_text(field, value, allow_newlines=False):
    if not isinstance(value, str):
        raise MessageError(field, "must be text, got %r" % (value,))
    if not allow_newlines:
        _refuse_line_breaks(field, value)
    for ch in value:
        code = ord(ch)
        if (code < 32 and ch not in "\t\r\n") or code == 127:
            raise MessageError(field, "contains the control character %r; remove it" % ch)
    return value


def _check_content_type(field, value):
    _check_text(field, value)
    parts = value.split("/")
    if len(parts) != 2 or not parts[0] or not parts[1]:
        raise MessageError(field, "%r is not a MIME type like application/pdf" % value)
    for ch in value:
        if not (ch.isalpha() or ch.isdigit() or ch in "/-+._"):
            raise MessageError(field, "%r is not a MIME type like application/pdf" % value)
    return value.lower()


def check(sender, to, cc, subject, body, attachments):
    """None if a Message can be built from these fields, else a MessageError naming the field."""
    check_address("sender", sender)
    if isinstance(to, str) or isinstance(cc, str):
        raise MessageError("to", "to and cc must be lists of addresses, e.g. [\"alice@contoso.com\"]")
    for field, addresses in (("to", to), ("cc", cc)):
        for address in addresses:
            check_address(field, address)
    if not to and not cc:
        raise MessageError("to", "no recipient: give at least one address in to or cc")
    _check_text("subject", subject)
    _check_text("body", body, allow_newlines=True)
    for item in attachments:
        if not isinstance(item, (tuple, list)) or len(item) != 3:
            raise MessageError("attachments", "each attachment is (path, file name, MIME type), "
                                              "got %r" % (item,))
        path, name, content_type = item
        _check_text("attachment path", path)
        if not _check_text("attachment name", name).strip():
            raise MessageError("attachment name", "is empty; give the file name to show")
        _check_content_type("attachment type", content_type)
