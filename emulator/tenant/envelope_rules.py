# Which envelopes and messages Exchange Online refuses, and with which reply: the rules for MAIL,
# RCPT and the end of data on each endpoint. Rule: decisions only, no I/O. Each function reads the
# session's state `s` (endpoint, TLS, login, mode, recipients, the tenant and its limits) and returns
# a reply from replies.py to refuse, or None to go on; the session does the talking.
import email.parser
import email.policy
import email.utils
import uuid

from emulator.tenant import replies
from emulator.tenant.config import ADVERTISED_SIZE

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


def mx_mode(s, address):
    """(mode, connector) of mail arriving at the MX: relay when a connector matches the client's IP
    or certificate, direct send from an accepted domain, inbound from anyone else."""
    connector = s.world.match_connector(s.client_ip, s.cert_names)
    if connector is not None:
        return "relay", connector
    if address and s.world.tenant.is_accepted_domain(address):
        return "direct send", None
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
    if s.mode == "relay":
        return None
    if not internal:
        return replies.RELAY_DENIED.format(host=s.host)
    if s.mode == "direct send" and tenant.reject_direct_send:
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
    headers = email.parser.BytesHeaderParser(policy=email.policy.compat32).parsebytes(head[:end + 4])
    from_values = headers.get_all("From") or []
    addresses = email.utils.getaddresses(from_values)
    if len(from_values) != 1 or not addresses or "@" not in addresses[0][1]:
        return replies.NOT_RFC5322, None
    header_from = addresses[0][1]
    if s.mode in ("submission", "HVE") and not may_send_as(s, header_from):
        return replies.SEND_AS_DENIED_AFTER_DATA.format(login=s.login, sender=header_from), None
    message_id = (headers.get("Message-ID") or "").strip() or "<%s@%s>" % (uuid.uuid4().hex.upper(),
                                                                           s.world.store_host)
    return None, message_id


def quota_refusal(s):
    limits = s.world.limits
    if limits.over_connection_limit(s.login, s.session_id):
        return replies.CONCURRENT_CONNECTIONS.format(host=s.world.store_host)
    if limits.over_daily_recipients(s.login, len(s.rcpts)):
        return replies.DAILY_QUOTA
    return None
