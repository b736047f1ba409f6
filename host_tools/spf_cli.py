# `scanmail spf --domain D --ip A [--existing RECORD]`: the domain's SPF record with the device's
# static IP merged in, checked against the 10-lookup limit. Rule: the record comes from
# --existing, or from DNS (dnspython) unless --offline; the check resolves included records the
# same way, and says which it could not.
import json

from scanmail.host_tools import spf_record
from scanmail.host_tools.user_error import UserError

EXAMPLES = """examples:
  scanmail spf --domain contoso.com --ip 203.0.113.7
  scanmail spf --domain contoso.com --ip 203.0.113.7 --existing "v=spf1 include:spf.protection.outlook.com -all"
  scanmail spf --domain contoso.com --ip 203.0.113.7 --offline --json
"""


def dns_txt(timeout_s):
    def resolve(domain):
        import dns.exception
        import dns.resolver

        try:
            answer = dns.resolver.resolve(domain, "TXT", lifetime=timeout_s)
        except (dns.exception.DNSException, OSError):
            return []
        return [b"".join(r.strings).decode("ascii", "replace") for r in answer]

    return resolve


def do_spf(args):
    resolve = (lambda domain: []) if args.offline else dns_txt(args.timeout)
    existing = args.existing
    source = "given"
    if existing is None and not args.offline:
        found = [t for t in resolve(args.domain) if t.lower().startswith("v=spf1")]
        if len(found) > 1:
            raise UserError("%s publishes %d SPF records; a domain must have one: merge them, then "
                            "pass it with --existing" % (args.domain, len(found)))
        existing = found[0] if found else None
        source = "from DNS" if found else "none found in DNS"
    elif existing is None:
        source = "none given (--offline)"
    try:
        record = spf_record.merge(args.ip, existing)
        lookups, notes = spf_record.count_lookups(record, resolve)
        if args.offline:
            notes = ["--offline: each include is counted as 1 lookup; the lookups inside it are not"]
    except spf_record.SpfError as exc:
        raise UserError(str(exc))
    ok = lookups <= spf_record.LOOKUP_LIMIT
    if args.json:
        print(json.dumps({"domain": args.domain, "existing": existing, "record": record,
                          "lookups": lookups, "limit": spf_record.LOOKUP_LIMIT, "ok": ok, "notes": notes}))
    else:
        print("existing:  %s" % (existing or "-") + ("" if existing else "  (%s)" % source))
        print("record:    %s" % record)
        print("publish:   TXT record of %s" % args.domain)
        print("lookups:   %d of %d%s" % (lookups, spf_record.LOOKUP_LIMIT, "" if ok else "  TOO MANY"))
        for note in notes:
            print("note:      %s" % note)
    if not ok:
        raise UserError("the record needs %d DNS lookups, more than SPF's limit of 10 (receivers then fail "
                        "it): replace include: terms you no longer need, or list their ip4: ranges instead" % lookups)
    return 0


def register(parser):
    parser.epilog = EXAMPLES
    parser.add_argument("--domain", required=True, help="the sender's domain, e.g. contoso.com")
    parser.add_argument("--ip", required=True, help="the device's static public IP")
    parser.add_argument("--existing", metavar="RECORD", help="the domain's current SPF record (default: look it up)")
    parser.add_argument("--offline", action="store_true", help="no DNS: included records are counted as one lookup each")
    parser.add_argument("--timeout", type=float, default=3.0, help="seconds for each DNS lookup (default 3)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(handler=do_spf)
