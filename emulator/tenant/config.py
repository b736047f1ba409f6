# Tenant description: loads and checks a tenant file (TOML) into plain objects the server reads.
# Rule: a wrong file is refused as a whole with one message that names the key, what is allowed and
# what was found (`tenant file x.toml: mailboxes[2].smtp_auth: expected true or false, got "yes"`);
# every default here is the Exchange Online default docs/exchange-online.md gives.
import ipaddress
import json
import math
import os
import uuid

try:
    import tomllib
except ImportError:  # Python 3.10
    import tomli as tomllib

MAX_FILE_BYTES = 1024 * 1024
BUILTIN_TENANT_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "builtin_tenant.toml")
# Built-in tenants by name (`--tenant NAME`): the tenant as Exchange Online sets it up after the end
# of December 2026, Basic authentication for SMTP AUTH disabled, OAuth the way to sign in.
PRESETS = {
    "after-december-2026": os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                        "preset_after_december_2026.toml"),
}
DELEGATED_PERMISSIONS = ("SMTP.Send",)
APPLICATION_PERMISSIONS = ("SMTP.SendAsApp",)

MB = 1024 * 1024
BASIC_AUTH_STATES = ("enabled", "disabled", "retired")
TLS_VERSIONS = ("1.0", "1.1", "1.2", "1.3")
MAILBOX_KINDS = ("user", "shared", "hve")

# Fixed facts of the service (docs/exchange-online.md, "Limits"); [limits] in a tenant file may lower
# them so a test can reach a quota without sending ten thousand recipients.
DEFAULT_LIMITS = {
    "messages_per_minute": 30,
    "recipients_per_day": 10000,
    "recipients_per_message": 500,
    "concurrent_connections": 3,
    "failed_signins_to_lock": 10,
    "failed_signin_window_s": 300,
    "lockout_s": 900,
    "hve_recipients_per_message": 50,
    "hve_message_size": 10 * MB,
    # Protection of the fake itself (Exchange has such limits but publishes no figures for them):
    "connections": 2000,                    # open SMTP connections in total (lowered to fit the fd limit)
    "connections_per_address": 50,          # ... from one client address
    "session_s": 1800,                      # a whole SMTP session
    "data_s": 600,                          # one message's DATA or BDAT transfer
    "commands_per_session": 5000,
    "refused_recipients_per_session": 100,
}
ADVERTISED_SIZE = 157286400
LARGEST_NUMBER = 10 ** 9               # any [limits] value above this is a typo, not a limit
LARGEST_SEND_SIZE_MB = 150             # Exchange Online's largest message size
DEFAULT_SEND_SIZE_LIMIT = 35 * MB

# Microsoft's own SPF include, answered by the fake world's DNS (a subset of the real ranges).
OUTLOOK_SPF = ("v=spf1 ip4:40.92.0.0/15 ip4:40.107.0.0/16 ip4:52.100.0.0/15 ip4:52.102.0.0/16 "
               "ip4:52.103.0.0/16 ip4:104.47.0.0/17 ip6:2a01:111:f400::/48 ip6:2a01:111:f403::/49 -all")


class TenantFileError(ValueError):
    """A tenant file that cannot be used; the message names the key and what is allowed."""


class Mailbox:
    def __init__(self, address, password, kind, licensed, smtp_auth, send_as, send_size_limit,
                 mfa_required):
        self.address = address
        self.password = password
        self.kind = kind
        self.licensed = licensed
        self.smtp_auth = smtp_auth          # True, False, or None: follow the tenant switch
        self.send_as = send_as              # lower-case addresses
        self.send_size_limit = send_size_limit
        self.mfa_required = mfa_required

    def __repr__(self):  # never shows the password
        return "Mailbox(%r, kind=%r)" % (self.address, self.kind)


class App:
    """An app registration with its service principal: who may get which token."""

    def __init__(self, name, client_id, public_client, secrets, delegated, application, mailboxes,
                 object_id):
        self.name = name
        self.client_id = client_id          # lower-case GUID
        self.public_client = public_client  # "Allow public client flows" (device code)
        self.secrets = secrets              # client secrets (values, never shown)
        self.certificates = {}              # x5t (base64url SHA-1) -> public key; added at run time
        self.delegated = delegated          # granted delegated permissions, e.g. ["SMTP.Send"]
        self.application = application      # granted application permissions, e.g. ["SMTP.SendAsApp"]
        self.mailboxes = mailboxes          # Add-MailboxPermission for the service principal
        self.object_id = object_id          # the service principal's object id (oid in app tokens)

    @property
    def confidential(self):
        return bool(self.secrets or self.certificates)

    def __repr__(self):  # never shows a secret
        return "App(%r, %r)" % (self.name, self.client_id)


class Connector:
    def __init__(self, name, source_ips, certificate_domain):
        self.name = name
        self.source_ips = source_ips        # list of ip_network
        self.certificate_domain = certificate_domain

    def matches_ip(self, ip):
        try:
            addr = ipaddress.ip_address(ip)
        except ValueError:
            return False
        return any(addr in net for net in self.source_ips)

    def matches_certificate(self, names):
        if not self.certificate_domain:
            return False
        domain = self.certificate_domain.lower()
        for name in names:
            name = name.lower()
            if name == domain or name.endswith("." + domain) or name == "*." + domain:
                return True
        return False


class Tenant:
    def __init__(self, source, name, accepted_domains, mx_host, submission_host, hve_host, smtp_auth,
                 basic_auth, reject_direct_send, min_tls, security_defaults, mailboxes, connectors,
                 spf, limits, tenant_id=None, apps=None):
        self.source = source
        self.id = tenant_id or str(uuid.uuid5(uuid.NAMESPACE_DNS, name))
        self.apps = apps or {}              # lower-case client id -> App
        self.name = name
        self.accepted_domains = accepted_domains
        self.mx_host = mx_host
        self.submission_host = submission_host
        self.hve_host = hve_host
        self.smtp_auth = smtp_auth
        self.basic_auth = basic_auth
        self.reject_direct_send = reject_direct_send
        self.min_tls = min_tls
        self.security_defaults = security_defaults
        self.mailboxes = mailboxes          # lower-case address -> Mailbox
        self.connectors = connectors
        self.spf = spf                      # lower-case domain -> record text
        self.limits = limits

    def is_accepted_domain(self, address):
        domain = address.rpartition("@")[2].lower()
        return domain in self.accepted_domains

    def mailbox(self, address):
        return self.mailboxes.get((address or "").lower())

    def app(self, client_id):
        return self.apps.get((client_id or "").lower())

    def dns_txt(self):
        """The TXT records the fake world's DNS answers."""
        records = {"spf.protection.outlook.com": OUTLOOK_SPF}
        records.update(self.spf)
        return records


def is_host_name(name):
    """A DNS host name: dot-separated labels of ASCII letters, digits and hyphens, at least two."""
    if not isinstance(name, str) or not 3 <= len(name) <= 253:
        return False
    labels = name.split(".")
    return len(labels) >= 2 and not labels[-1].isdigit() and all(
        0 < len(label) <= 63 and label[0] != "-" and label[-1] != "-"
        and all(c.isascii() and (c.isalnum() or c == "-") for c in label) for label in labels)


def _show(value):
    if isinstance(value, (dict, list)):
        return "a table" if isinstance(value, dict) else "an array"
    text = json.dumps(value) if isinstance(value, str) else repr(value).replace("True", "true").replace(
        "False", "false")
    return text if len(text) <= 80 else text[:77] + "..."


class _Checker:
    def __init__(self, source):
        self.source = source

    def fail(self, key, expected, got=None, show_got=True):
        text = "tenant file %s: %s: expected %s" % (self.source, key, expected)
        if show_got:
            text += ", got %s" % _show(got)
        raise TenantFileError(text)

    def table(self, data, key, allowed):
        if not isinstance(data, dict):
            self.fail(key, "a table", data)
        for name in data:
            if name not in allowed:
                if not (name.isascii() and name.replace("_", "a").isalnum()):
                    name = _show(name)
                self.fail("%s.%s" % (key, name) if key else name,
                          "one of the keys " + ", ".join(sorted(allowed)), show_got=False)
        return data

    def boolean(self, data, key, path, default):
        value = data.get(key, default)
        if not isinstance(value, bool):
            self.fail(path + key, "true or false", value)
        return value

    def optional_boolean(self, data, key, path):
        if key not in data:
            return None
        return self.boolean(data, key, path, None)

    def string(self, data, key, path, default=None, choices=None):
        if key not in data:
            if default is None:
                self.fail(path + key, "a string (this key is required)", show_got=False)
            return default
        value = data[key]
        if not isinstance(value, str) or not value:
            self.fail(path + key, "a non-empty string", value)
        if choices and value not in choices:
            self.fail(path + key, "one of " + ", ".join(_show(c) for c in choices), value)
        return value

    def positive_int(self, data, key, path, default):
        value = data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            self.fail(path + key, "a positive whole number", value)
        if value > LARGEST_NUMBER:
            self.fail(path + key, "a positive whole number up to %d" % LARGEST_NUMBER, value)
        return value

    def address(self, value, key):
        local, _, domain = value.rpartition("@") if isinstance(value, str) else ("", "", "")
        if not isinstance(value, str) or value.count("@") != 1 or not local or len(local) > 64 \
                or any(not ("!" <= c <= "~") or c in "<>()[]\\,;:\"/" for c in local) \
                or local.startswith(".") or not is_host_name(domain):
            self.fail(key, "an e-mail address like \"scanner@contoso.com\"", value)
        return value.lower()

    def host_name(self, value, key):
        if not isinstance(value, str) or not is_host_name(value):
            self.fail(key, "a DNS name like \"contoso.com\" (letters, digits, hyphens and dots)", value)
        return value.lower()

    def string_list(self, data, key, path):
        value = data.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            self.fail(path + key, "a list of strings", value)
        return value


def load_tenant(path=None):
    """Load a tenant file; None loads the built-in tenant. Raises TenantFileError."""
    path = PRESETS.get(path, path) or BUILTIN_TENANT_PATH
    source = os.path.basename(path) if path != BUILTIN_TENANT_PATH else "builtin_tenant.toml"
    try:
        with open(path, "rb") as f:
            raw = f.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise TenantFileError("tenant file %s: not found (give the path of a TOML tenant file)" % path)
    except OSError as exc:   # a folder, no permission, ...
        raise TenantFileError("tenant file %s: cannot read it (%s); give the path of a TOML tenant file"
                              % (path, exc.strerror or exc))
    if len(raw) > MAX_FILE_BYTES:
        raise TenantFileError("tenant file %s: larger than %d KB; a tenant file is a short TOML text"
                              % (source, MAX_FILE_BYTES // 1024))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise TenantFileError("tenant file %s: not UTF-8 text (byte %d); save it as UTF-8"
                              % (source, exc.start + 1))
    try:
        data = tomllib.loads(text[1:] if text.startswith("\ufeff") else text)   # a byte order mark is harmless
    except tomllib.TOMLDecodeError as exc:
        raise TenantFileError("tenant file %s: not valid TOML: %s" % (source, exc))
    except RecursionError:
        raise TenantFileError("tenant file %s: arrays or tables nested too deeply; a tenant file needs at most "
                              "two levels" % source)
    except (ValueError, OverflowError) as exc:   # e.g. a date tomllib cannot represent
        raise TenantFileError("tenant file %s: not valid TOML: %s" % (source, exc))
    return parse_tenant(data, source)


def parse_tenant(data, source="<tenant>"):
    c = _Checker(source)
    c.table(data, "", {"tenant", "mailboxes", "connectors", "spf", "limits", "apps"})
    if "tenant" not in data:
        c.fail("tenant", "a [tenant] table with at least name = \"contoso.com\"", show_got=False)
    t = c.table(data["tenant"], "tenant", {
        "name", "accepted_domains", "mx_host", "submission_host", "hve_host", "smtp_auth",
        "basic_auth", "reject_direct_send", "min_tls", "security_defaults", "id"})
    name = c.host_name(c.string(t, "name", "tenant."), "tenant.name")
    domains = [c.host_name(d, "tenant.accepted_domains") for d in c.string_list(t, "accepted_domains", "tenant.")] \
        or [name]
    if name not in domains:
        domains.insert(0, name)
    mx_default = name.replace(".", "-") + ".mail.protection.outlook.com"

    limits = dict(DEFAULT_LIMITS)
    lim = c.table(data.get("limits", {}), "limits", set(DEFAULT_LIMITS))
    for key in lim:
        limits[key] = c.positive_int(lim, key, "limits.", None)

    mailboxes = {}
    raw_mailboxes = data.get("mailboxes", [])
    if not isinstance(raw_mailboxes, list):
        c.fail("mailboxes", "an array of tables ([[mailboxes]])", raw_mailboxes)
    for i, m in enumerate(raw_mailboxes):
        p = "mailboxes[%d]." % i
        c.table(m, p[:-1], {"address", "password", "kind", "licensed", "smtp_auth", "send_as",
                            "send_size_limit_mb", "mfa_required"})
        if "address" not in m:
            c.fail(p + "address", "an e-mail address", show_got=False)
        address = c.address(m["address"], p + "address")
        if address in mailboxes:
            c.fail(p + "address", "an address not listed twice", m["address"])
        kind = c.string(m, "kind", p, "user", MAILBOX_KINDS)
        password = m.get("password")
        if password is not None and (not isinstance(password, str) or not password):
            c.fail(p + "password", "a non-empty string", show_got=False)  # never echo a password
        if kind != "shared" and password is None:
            c.fail(p + "password", "a password for a %s mailbox (only shared mailboxes have none)" % kind,
                   show_got=False)
        send_as = [c.address(a, p + "send_as") for a in c.string_list(m, "send_as", p)]
        size_mb = m.get("send_size_limit_mb", DEFAULT_SEND_SIZE_LIMIT // MB)
        if isinstance(size_mb, bool) or not isinstance(size_mb, (int, float)) or not math.isfinite(size_mb) \
                or not 0 < size_mb <= LARGEST_SEND_SIZE_MB:
            c.fail(p + "send_size_limit_mb", "a number of megabytes above 0, at most %d" % LARGEST_SEND_SIZE_MB,
                   size_mb)
        mailboxes[address] = Mailbox(
            address=address, password=password, kind=kind,
            licensed=c.boolean(m, "licensed", p, True),
            smtp_auth=c.optional_boolean(m, "smtp_auth", p),
            send_as=send_as, send_size_limit=int(size_mb * MB),
            mfa_required=c.boolean(m, "mfa_required", p, False))

    connectors = []
    raw_connectors = data.get("connectors", [])
    if not isinstance(raw_connectors, list):
        c.fail("connectors", "an array of tables ([[connectors]])", raw_connectors)
    for i, k in enumerate(raw_connectors):
        p = "connectors[%d]." % i
        c.table(k, p[:-1], {"name", "source_ips", "certificate_domain"})
        nets = []
        for ip in c.string_list(k, "source_ips", p):
            try:
                nets.append(ipaddress.ip_network(ip, strict=False))
            except ValueError:
                c.fail(p + "source_ips", "IP addresses or ranges like \"127.0.0.30/32\"", ip)
        cert_domain = k.get("certificate_domain")
        if cert_domain is not None:
            cert_domain = c.host_name(c.string(k, "certificate_domain", p), p + "certificate_domain")
            if cert_domain not in domains:
                c.fail(p + "certificate_domain", "one of the accepted domains (%s)" % ", ".join(domains),
                       cert_domain)
        if not nets and not cert_domain:
            c.fail(p[:-1], "source_ips or certificate_domain", show_got=False)
        connector_name = c.string(k, "name", p, "connector-%d" % (i + 1))
        if len(connector_name) > 64 or not connector_name.isascii() or not connector_name.isprintable():
            c.fail(p + "name", "a name of at most 64 printable ASCII characters", connector_name)
        connectors.append(Connector(connector_name, nets, cert_domain))

    spf = {}
    raw_spf = data.get("spf", {})
    for domain, record in c.table(raw_spf, "spf", set(raw_spf) if isinstance(raw_spf, dict) else set()).items():
        c.host_name(domain, "spf key %s" % _show(domain))
        if not isinstance(record, str) or not record.startswith("v=spf1"):
            c.fail("spf.%s" % domain, "an SPF record starting with \"v=spf1\"", record)
        if len(record) > 4096 or not record.isascii() or not record.isprintable():
            c.fail("spf.%s" % domain, "an SPF record of printable ASCII, at most 4096 characters", record)
        spf[domain.lower()] = record

    tenant_id = None
    if "id" in t:
        tenant_id = c.string(t, "id", "tenant.").lower()
        if not _is_guid(tenant_id):
            c.fail("tenant.id", "a tenant id GUID like \"72f988bf-86f1-41af-91ab-2d7cd011db47\"", t["id"])
    apps = _parse_apps(c, data.get("apps", []), mailboxes)

    return Tenant(
        tenant_id=tenant_id, apps=apps,
        source=source, name=name, accepted_domains=domains,
        mx_host=c.host_name(c.string(t, "mx_host", "tenant.", mx_default), "tenant.mx_host"),
        submission_host=c.host_name(c.string(t, "submission_host", "tenant.", "smtp.office365.com"),
                                    "tenant.submission_host"),
        hve_host=c.host_name(c.string(t, "hve_host", "tenant.", "smtp.hve.mx.microsoft"), "tenant.hve_host"),
        smtp_auth=c.boolean(t, "smtp_auth", "tenant.", True),
        basic_auth=c.string(t, "basic_auth", "tenant.", "enabled", BASIC_AUTH_STATES),
        reject_direct_send=c.boolean(t, "reject_direct_send", "tenant.", False),
        min_tls=c.string(t, "min_tls", "tenant.", "1.2", TLS_VERSIONS),
        security_defaults=c.boolean(t, "security_defaults", "tenant.", False),
        mailboxes=mailboxes, connectors=connectors, spf=spf, limits=limits)


def _is_guid(text):
    try:
        return str(uuid.UUID(text)) == text.lower()
    except (ValueError, AttributeError, TypeError):
        return False


def _parse_apps(c, raw_apps, mailboxes):
    apps = {}
    if not isinstance(raw_apps, list):
        c.fail("apps", "an array of tables ([[apps]])", raw_apps)
    for i, a in enumerate(raw_apps):
        p = "apps[%d]." % i
        c.table(a, p[:-1], {"name", "client_id", "public_client", "secrets", "delegated", "application",
                            "mailboxes", "object_id"})
        client_id = c.string(a, "client_id", p).lower()
        if not _is_guid(client_id):
            c.fail(p + "client_id", "an application (client) id GUID", a["client_id"])
        if client_id in apps:
            c.fail(p + "client_id", "a client id not listed twice", client_id)
        secrets = a.get("secrets", [])
        if not isinstance(secrets, list) or not all(isinstance(v, str) and v for v in secrets):
            c.fail(p + "secrets", "a list of non-empty strings", show_got=False)  # never echo a secret
        delegated = c.string_list(a, "delegated", p)
        application = c.string_list(a, "application", p)
        for value in delegated:
            if value not in DELEGATED_PERMISSIONS:
                c.fail(p + "delegated", "permissions among " + ", ".join(DELEGATED_PERMISSIONS), value)
        for value in application:
            if value not in APPLICATION_PERMISSIONS:
                c.fail(p + "application", "permissions among " + ", ".join(APPLICATION_PERMISSIONS), value)
        granted = [c.address(v, p + "mailboxes") for v in c.string_list(a, "mailboxes", p)]
        for address in granted:
            if address not in mailboxes:
                c.fail(p + "mailboxes", "mailboxes of this tenant", address)
        object_id = c.string(a, "object_id", p, str(uuid.uuid5(uuid.NAMESPACE_URL, "sp:" + client_id))).lower()
        apps[client_id] = App(c.string(a, "name", p, client_id), client_id,
                              c.boolean(a, "public_client", p, not secrets), secrets, delegated, application,
                              granted, object_id)
    return apps
