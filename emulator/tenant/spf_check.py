# SPF for direct send, evaluated by the real pyspf (`spf.check2`) against the fake world's own DNS.
# Rule: no query leaves the machine. pyspf resolves through its module-level `DNSLookup(name, qtype,
# strict, timeout)`; we install a dispatcher once that answers from the active LocalDns table (a
# context variable, so only calls made inside `with dns:` see it) and otherwise hands the query to
# pyspf's original resolver, leaving every other user of pyspf in the process untouched.
import contextvars

import spf

_active_dns = contextvars.ContextVar("scanmail_local_dns", default=None)
_original_lookup = spf.DNSLookup


def _dispatching_lookup(name, qtype, strict=True, timeout=30):
    local = _active_dns.get()
    if local is None:
        return _original_lookup(name, qtype, strict, timeout)
    return local.lookup(name, qtype)


if getattr(spf.DNSLookup, "__name__", "") != "_dispatching_lookup":
    spf.DNSLookup = _dispatching_lookup


class LocalDns:
    """TXT, MX and A answers of the fake world. Anything not in the table does not exist."""

    def __init__(self, txt=None, mx=None, a=None):
        self.txt = {k.lower(): v for k, v in (txt or {}).items()}
        self.mx = {k.lower(): v for k, v in (mx or {}).items()}
        self.a = {k.lower(): v for k, v in (a or {}).items()}

    def lookup(self, name, qtype):
        name = name.lower().rstrip(".")
        if qtype in ("TXT", "SPF") and name in self.txt:
            return [((name, qtype), [self.txt[name].encode("ascii")])]
        if qtype == "MX" and name in self.mx:
            return [((name, "MX"), (10, self.mx[name]))]
        if qtype == "A" and name in self.a:
            return [((name, "A"), self.a[name])]
        return []

    def __enter__(self):
        self._token = _active_dns.set(self)
        return self

    def __exit__(self, *exc):
        _active_dns.reset(self._token)


def world_dns(tenant, mx_address):
    return LocalDns(
        txt=tenant.dns_txt(),
        mx={domain: tenant.mx_host for domain in tenant.accepted_domains},
        a={tenant.mx_host: mx_address})


def check_spf(dns, client_ip, mail_from, helo):
    """('pass' | 'fail' | 'softfail' | 'neutral' | 'none' | 'temperror' | 'permerror', explanation)."""
    sender = mail_from or ("postmaster@" + (helo or "unknown"))
    with dns:
        result, explanation = spf.check2(i=client_ip, s=sender, h=helo or "unknown", querytime=5)
    return result, explanation
