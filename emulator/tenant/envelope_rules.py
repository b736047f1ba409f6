# Which envelopes and messages Exchange Online refuses, and with which reply: the rules for MAIL,
# RCPT and the end of data on each endpoint. Rule: decisions only, no I/O. Each function reads the
# session's state `s` (endpoint, TLS, login, method, recipients, the tenant and its limits) and returns
# a reply from replies.py to refuse, or None to go on; the session does the talking.
import re
import uuid

from scanmail.emulator.tenant import replies
from scanmail.emulator.tenant.config import ADVERTISED_SIZE

HEADER_LIMIT = 256 * 1024       # headers beyond this: 552 5.3.4 Header size exceeds fixed maximum size


def submission_sender_refusal(s, address, declared):
    if s.tls_version is None:
        return replies.STARTTLS_REQUIRED.format(tag=s.tag())
    if not s.login:
        if s.last_auth_reply:
            return replies.NOT_AUTHENTICATED_AFTER_FAILURE.format(last_auth_reply=s.last_auth_reply)
        return replies.NOT_AUTHENTICATED.format(host=s.host)
    mailbox = s.world.tenant.mailbox(s.login)
    if not mailbox.licensed:
        return replies.BAD_OUTBOUND_SENDER
    if not may_send_as(s, address):
        return replies.SEND_AS_DENIED_AT_MAIL
    if declared > size_limit(s):
        return replies.MESSAGE_TOO_BIG
    return None


def mx_method(s, address):
    """(method, connector) of mail arriving at the MX: relay when a connector matches the client's IP
    or certificate, direct send from an accepted domain, inbound from anyone else."""
    connector = s.world.match_connector(s.client_ip, s.cert_names)
    if connector is not None:
        return "relay", connector
    if address and s.world.tenant.is_accepted_domain(address):
        return "direct_send", None
    return "inbound", None


def mx_sender_refusal(s, address, declared):
    if declared > ADVERTISED_SIZE:
        return replies.MESSAGE_TOO_BIG
    return None


def may_send_as(s, address):
    mailbox = s.world.tenant.mailbox(s.login)
    address = (address or "").lower()
    return address == mailbox.address or address in mailbox.send_as


def size_limit(s):
    if s.endpoint.name == "hve":
        return s.world.tenant.limits["hve_message_size"]
    if s.endpoint.name == "submission" and s.login:
        return s.world.tenant.mailbox(s.login).send_size_limit
    return ADVERTISED_SIZE


def recipient_refusal(s, address):
    tenant = s.world.tenant
    limit_key = "hve_recipients_per_message" if s.endpoint.name == "hve" else "recipients_per_message"
    if len(s.rcpts) >= tenant.limits[limit_key]:
        return replies.TOO_MANY_RECIPIENTS
    internal = tenant.is_accepted_domain(address)
    if internal and tenant.mailbox(address) is None:
        return replies.UNKNOWN_RECIPIENT.format(tag=s.tag())
    if s.endpoint.name == "submission":
        return None
    if s.endpoint.name == "hve":
        return None if internal else replies.RELAY_DENIED.format(host=s.host)
    if s.method == "relay":
        return None
    if not internal:
        return replies.RELAY_DENIED.format(host=s.host)
    if s.method == "direct_send" and tenant.reject_direct_send:
        return replies.DIRECT_SEND_REJECTED
    return None


def content_refusal(s, head, decoder):
    if decoder.bare_linefeeds:
        return replies.BARE_LINEFEED, None
    if decoder.size > size_limit(s):
        return replies.MESSAGE_TOO_BIG, None
    end = head.find(b"\r\n\r\n")
    if end < 0:
        if len(head) > HEADER_LIMIT:
            return replies.HEADER_TOO_BIG, None
        end = len(head)
    fields = header_fields(head[:end])
    from_values = fields.get("from", [])
    header_from = mailbox_address(from_values[0]) if len(from_values) == 1 else None
    if header_from is None:
        return replies.NOT_RFC5322, None
    if s.method in ("submission", "hve") and not may_send_as(s, header_from):
        return replies.SEND_AS_DENIED_AFTER_DATA.format(login=s.login, sender=header_from), None
    message_ids = fields.get("message-id")
    message_id = message_ids[0] if message_ids and message_ids[0] else "<%s@%s>" % (
        uuid.uuid4().hex.upper(), s.world.store_host)
    return None, message_id


def header_fields(block):
    """RFC 5322 section 2.2 header fields of a header block (bytes, no trailing blank line) as
    {lower-case name: [unfolded values]}. Lines that are not fields are ignored."""
    fields = {}
    last = None
    for line in block.decode("utf-8", "surrogateescape").split("\r\n"):
        if line[:1] in (" ", "\t"):
            if last is not None:                       # a folded continuation line
                last[-1] += " " + line.strip()
            continue
        name, colon, value = line.partition(":")
        if colon and name and " " not in name.strip():
            last = fields.setdefault(name.strip().lower(), [])
            last.append(value.strip())
        else:
            last = None
    return fields


_ANGLE_ADDRESS = re.compile(r"<([^<>\s@]+@[^<>\s@]+)>")
_BARE_ADDRESS = re.compile(r"(?:^|[\s,;:])([^\s<>(),;:\"@]+@[^\s<>(),;:\"@]+)(?=$|[\s,;(])")


def mailbox_address(value):
    """The address of a From field (`Name <a@b>` or `a@b (comment)`), or None."""
    found = _ANGLE_ADDRESS.search(value) or _BARE_ADDRESS.search(value)
    return found.group(1) if found else None


def quota_refusal(s):
    limits = s.world.limits
    if limits.over_connection_limit(s.login, s.session_id):
        return replies.CONCURRENT_CONNECTIONS.format(host=s.world.store_host)
    if limits.over_daily_recipients(s.login, len(s.rcpts)):
        return replies.DAILY_QUOTA
    return None
