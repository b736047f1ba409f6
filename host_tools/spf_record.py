# The SPF record of a domain with a device's static IP merged in, and its count of DNS lookups
# against RFC 7208's limit of 10 (section 4.6.4: include, a, mx, ptr, exists and redirect each cost
# one, and so does every such term inside an included record). Rule: sans-I/O; the TXT lookups of
# included domains go through a `resolve(domain) -> [txt strings]` function the caller passes
# (dnspython in the command, a dict in tests).
import ipaddress

LOOKUP_LIMIT = 10
MICROSOFT_INCLUDE = "include:spf.protection.outlook.com"
_LOOKUP_MECHANISMS = ("include", "a", "mx", "ptr", "exists")


class SpfError(ValueError):
    pass


def _name(term):
    return term.lstrip("+-~?").split(":", 1)[0].split("/", 1)[0].split("=", 1)[0].lower()


def parse(record):
    terms = record.split()
    if not terms or terms[0].lower() != "v=spf1":
        raise SpfError("%r is not an SPF record: it must start with v=spf1" % record[:60])
    return terms[1:]


def covers(terms, ip):
    """True when an ip4/ip6 term of the record already includes `ip`."""
    address = ipaddress.ip_address(ip)
    for term in terms:
        name = _name(term)
        if name in ("ip4", "ip6") and not term.startswith("-"):
            try:
                if address in ipaddress.ip_network(term.split(":", 1)[1], strict=False):
                    return True
            except ValueError:
                continue
    return False


def merge(ip, existing=None):
    """The record with `ip` authorized: put in front of the first lookup or `all` term, or a new
    record as Microsoft recommends for a device with a static IP when there is none."""
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        raise SpfError("%r is not an IP address; give the device's static public IP, e.g. --ip 203.0.113.7" % ip)
    term = ("ip4:%s" if address.version == 4 else "ip6:%s") % address
    if not existing:
        return "v=spf1 %s %s ~all" % (term, MICROSOFT_INCLUDE)
    terms = parse(existing)
    alls = [t for t in terms if _name(t) == "all"]
    if len(alls) > 1:
        raise SpfError("the record has %d 'all' terms; keep one, at the end" % len(alls))
    if covers(terms, ip):
        return "v=spf1 " + " ".join(terms)
    at = next((i for i, t in enumerate(terms) if _name(t) != "ip4" and _name(t) != "ip6"), len(terms))
    return "v=spf1 " + " ".join(terms[:at] + [term] + terms[at:])


def count_lookups(record, resolve, _seen=None, _depth=0):
    """(lookups, notes): DNS lookups `record` costs when evaluated, with included records
    resolved by `resolve`; notes say what could not be resolved (counted as one lookup each)."""
    seen = set() if _seen is None else _seen
    total, notes = 0, []
    for term in parse(record):
        name = _name(term)
        if name in _LOOKUP_MECHANISMS or name == "redirect":
            total += 1
            if name in ("include", "redirect"):
                target = term.split(":" if name == "include" else "=", 1)[-1].lower()
                if target in seen or _depth > 10:
                    notes.append("%s is included twice or in a loop" % target)
                    continue
                seen.add(target)
                nested = [t for t in (resolve(target) or []) if t.lower().startswith("v=spf1")]
                if not nested:
                    notes.append("no SPF record found for %s (counted as 1 lookup)" % target)
                    continue
                more, more_notes = count_lookups(nested[0], resolve, seen, _depth + 1)
                total += more
                notes += more_notes
    return total, notes
