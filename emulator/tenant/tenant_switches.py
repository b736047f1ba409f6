# The tenant as the workbench shows and changes it: accepted domains, mailboxes and their switches,
# connectors, SPF records, the tenant switches. Rule: a change is checked as a whole (one message
# naming the key and what is allowed) and applied to the running tenant's own objects, which every
# SMTP session reads when it needs them, so the next session sees it; passwords are never shown;
# `defaults` remembers the tenant file's values so that a reset puts them back.
import copy
import ipaddress

from scanmail.emulator.tenant.config import BASIC_AUTH_STATES, TLS_VERSIONS

TENANT_SWITCHES = {"smtp_auth": bool, "basic_auth": BASIC_AUTH_STATES, "reject_direct_send": bool,
                   "min_tls": TLS_VERSIONS, "security_defaults": bool}
MAILBOX_SWITCHES = {"smtp_auth": (True, False, None), "licensed": bool, "mfa_required": bool}


class SwitchError(ValueError):
    """A change that cannot be made; the message says what is allowed."""


def view(tenant):
    return {
        "name": tenant.name,
        "accepted_domains": list(tenant.accepted_domains),
        "hosts": {"submission": tenant.submission_host, "mx": tenant.mx_host, "hve": tenant.hve_host},
        "switches": {key: getattr(tenant, key) for key in TENANT_SWITCHES},
        "mailboxes": [{"address": m.address, "kind": m.kind, "licensed": m.licensed, "smtp_auth": m.smtp_auth,
                       "mfa_required": m.mfa_required, "send_as": list(m.send_as),
                       "send_size_limit": m.send_size_limit}
                      for _address, m in sorted(tenant.mailboxes.items())],
        "connectors": [{"name": c.name, "source_ips": [str(net) for net in c.source_ips],
                        "certificate_domain": c.certificate_domain} for c in tenant.connectors],
        "spf": dict(sorted(tenant.spf.items())),
        "limits": dict(tenant.limits),
    }


def _check(value, allowed, where):
    if allowed is bool:
        if not isinstance(value, bool):
            raise SwitchError("%s: expected true or false, got %r" % (where, value))
    elif value not in allowed or isinstance(value, bool) != isinstance(allowed[0], bool):
        if not (None in allowed and value is None):
            raise SwitchError("%s: expected one of %s, got %r" % (where, ", ".join(
                "null" if a is None else str(a).lower() if isinstance(a, bool) else a for a in allowed), value))


def _object(value, where):
    if not isinstance(value, dict):
        raise SwitchError("%s: expected an object" % where)
    return value


def apply(tenant, dns, changes):
    """Check `changes` ({"switches": {...}, "mailboxes": {address: {...}}, "connectors": {name:
    {"source_ips": [...]}}, "spf": {domain: record}}) and apply them all, or none."""
    _object(changes, "the request body")
    unknown = sorted(set(changes) - {"switches", "mailboxes", "connectors", "spf"})
    if unknown:
        raise SwitchError("unknown key(s) %s; allowed: switches, mailboxes, connectors, spf" % ", ".join(unknown))
    actions = []
    for key, value in _object(changes.get("switches", {}), "switches").items():
        if key not in TENANT_SWITCHES:
            raise SwitchError("switches.%s: unknown; allowed: %s" % (key, ", ".join(TENANT_SWITCHES)))
        _check(value, TENANT_SWITCHES[key], "switches." + key)
        actions.append(lambda key=key, value=value: setattr(tenant, key, value))
    for address, fields in _object(changes.get("mailboxes", {}), "mailboxes").items():
        mailbox = tenant.mailbox(address)
        if mailbox is None:
            raise SwitchError("mailboxes: no mailbox %r; the tenant has %s" % (address, ", ".join(sorted(tenant.mailboxes))))
        for key, value in _object(fields, "mailboxes." + address).items():
            if key not in MAILBOX_SWITCHES:
                raise SwitchError("mailboxes.%s.%s: unknown; allowed: %s" % (address, key, ", ".join(MAILBOX_SWITCHES)))
            _check(value, MAILBOX_SWITCHES[key], "mailboxes.%s.%s" % (address, key))
            actions.append(lambda mailbox=mailbox, key=key, value=value: setattr(mailbox, key, value))
    connectors = {c.name: c for c in tenant.connectors}
    for name, fields in _object(changes.get("connectors", {}), "connectors").items():
        if name not in connectors:
            raise SwitchError("connectors: no connector %r; the tenant has %s" % (name, ", ".join(connectors) or "none"))
        for key, value in _object(fields, "connectors." + name).items():
            if key != "source_ips":
                raise SwitchError("connectors.%s.%s: only source_ips can be changed" % (name, key))
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise SwitchError("connectors.%s.source_ips: expected a list like [\"127.0.0.30/32\"]" % name)
            try:
                networks = [ipaddress.ip_network(v.strip(), strict=False) for v in value if v.strip()]
            except ValueError as exc:
                raise SwitchError("connectors.%s.source_ips: %s" % (name, exc))
            actions.append(lambda c=connectors[name], networks=networks: setattr(c, "source_ips", networks))
    for domain, record in _object(changes.get("spf", {}), "spf").items():
        domain = domain.lower()
        if not isinstance(record, str) or not record.startswith("v=spf1") or not record.isascii():
            raise SwitchError("spf.%s: expected an SPF record like \"v=spf1 ip4:127.0.0.20 ~all\", got %r"
                              % (domain, record))
        actions.append(lambda domain=domain, record=record: _set_spf(tenant, dns, domain, record))
    for action in actions:
        action()
    return view(tenant)


def _set_spf(tenant, dns, domain, record):
    tenant.spf[domain] = record
    if dns is not None:
        dns.txt[domain] = record


class Defaults:
    """The switches, connectors and SPF records as the tenant file set them, to put back on reset."""

    def __init__(self, tenant):
        self.switches = {key: getattr(tenant, key) for key in TENANT_SWITCHES}
        self.mailboxes = {address: {key: getattr(m, key) for key in MAILBOX_SWITCHES}
                          for address, m in tenant.mailboxes.items()}
        self.connectors = {c.name: list(c.source_ips) for c in tenant.connectors}
        self.spf = copy.deepcopy(tenant.spf)

    def restore(self, tenant, dns):
        for key, value in self.switches.items():
            setattr(tenant, key, value)
        for address, fields in self.mailboxes.items():
            for key, value in fields.items():
                setattr(tenant.mailboxes[address], key, value)
        for connector in tenant.connectors:
            connector.source_ips = list(self.connectors.get(connector.name, connector.source_ips))
        for domain in list(tenant.spf):
            if domain not in self.spf:
                del tenant.spf[domain]
                if dns is not None:
                    dns.txt.pop(domain, None)
        for domain, record in self.spf.items():
            _set_spf(tenant, dns, domain, record)
