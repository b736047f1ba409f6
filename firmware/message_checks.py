# Checks of a message's fields, run once when a Message is built (firmware.call_once: loaded for
# the check and let go after it, so a board does not keep this code between scans).
# Rule: a CR or LF in any header value, address or file name (header injection), a malformed
# address or a control character is an SMTPError of kind "message" naming the field (`field`) and
# saying what to do, raised before anything touches the network.
from scanmail.firmware.compat import const
from scanmail.firmware.errors import SMTPError
from scanmail.firmware.host_names import is_domain, letters_digits_or

_LOCAL_SPECIALS = const(b"!#$%&'*+-/=?^_`{|}~.")


def refused(field, text):
    """The error for a message field that cannot be sent: stage and kind "message", `field`
    names it."""
    return SMTPError("message", "%s: %s" % (field, text), transient=False, kind="message",
                     field=field)


def check_address(field, address):
    """Refuse anything but a plain ASCII address local@domain.tld (RFC 5321 4.1.2 dot-atoms)."""
    if not isinstance(address, str):
        raise refused(field, "an address must be text, got %r" % (address,))
    _check_text(field, address)
    raw = address.encode()
    if len(raw) != len(address):
        raise refused(field, "%r has non-ASCII characters; internationalized addresses "
                             "are not supported: use the mailbox's ASCII address" % address)
    what = "%r is not a valid e-mail address (expected name@example.com)" % address
    if len(address) > 254 or address.count("@") != 1:
        raise refused(field, what)
    local, domain = address.split("@")
    if not local or len(local) > 64 or local.startswith(".") or local.endswith(".") or ".." in local:
        raise refused(field, what)
    if not letters_digits_or(local.encode(), _LOCAL_SPECIALS):
        raise refused(field, what)
    if not is_domain(domain) or "." not in domain:
        raise refused(field, what)
    return address


def _check_text(field, value, allow_newlines=False):
    if not isinstance(value, str):
        raise refused(field, "must be text, got %r" % (value,))
    if not allow_newlines and ("\r" in value or "\n" in value):
        raise refused(field, "contains a line break (CR or LF), which would inject headers; "
                             "remove it")
    for b in value.encode():               # UTF-8: every byte of a non-ASCII character is >= 128
        if (b < 32 and b not in b"\t\r\n") or b == 127:
            raise refused(field, "contains the control character %r; remove it" % chr(b))
    return value


def _check_content_type(field, value):
    _check_text(field, value)
    parts = value.split("/")
    if (len(parts) != 2 or not parts[0] or not parts[1]
            or not letters_digits_or(value.encode(), b"/-+._")):
        raise refused(field, "%r is not a MIME type like application/pdf" % value)
    return value.lower()


def check(sender, to, cc, subject, body, attachments):
    """None if a Message can be built from these fields, else an SMTPError naming the field."""
    check_address("sender", sender)
    if isinstance(to, str) or isinstance(cc, str):
        raise refused("to", "to and cc must be lists of addresses, e.g. [\"alice@contoso.com\"]")
    for field, addresses in (("to", to), ("cc", cc)):
        for address in addresses:
            check_address(field, address)
    if not to and not cc:
        raise refused("to", "no recipient: give at least one address in to or cc")
    _check_text("subject", subject)
    _check_text("body", body, allow_newlines=True)
    for item in attachments:
        if not isinstance(item, (tuple, list)) or len(item) != 3:
            raise refused("attachments", "each attachment is (path, file name, MIME type), "
                                         "got %r" % (item,))
        path, name, content_type = item
        _check_text("attachment path", path)
        if not _check_text("attachment name", name).strip():
            raise refused("attachment name", "is empty; give the file name to show")
        _check_content_type("attachment type", content_type)
