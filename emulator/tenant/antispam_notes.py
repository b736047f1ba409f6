# Plain words for the headers Exchange stamps on a message (Authentication-Results, the
# X-Forefront-Antispam-Report fields, the SCL and AuthAs), and the verdict they add up to: why a
# message landed in the Inbox or in Junk Email. Rule: explain only what the headers say; a field we do
# not know is shown as it is, never guessed at.

SPF_MEANING = {
    "pass": "the sending IP is listed in the sender domain's SPF record",
    "fail": "the sender domain's SPF record says this IP must not send for it (-all)",
    "softfail": "the sending IP is not in the sender domain's SPF record (~all): treated as suspicious",
    "neutral": "the SPF record makes no statement about this IP (?all)",
    "none": "the sender domain publishes no SPF record",
    "temperror": "the SPF lookup failed temporarily",
    "permerror": "the SPF record is broken",
}
SCL_MEANING = {
    "-1": "-1: from inside the organisation (authenticated or a connector); spam filtering skipped",
    "0": "0-1: not spam; delivered to the Inbox", "1": "0-1: not spam; delivered to the Inbox",
    "5": "5-6: spam; delivered to Junk Email", "6": "5-6: spam; delivered to Junk Email",
    "9": "9: high-confidence spam; delivered to Junk Email",
}
FORE_FRONT_FIELDS = {
    "CIP": "connecting IP address",
    "CTRY": "country of the connecting IP",
    "LANG": "language of the message",
    "SCL": "spam confidence level",
    "SFV": "spam filtering verdict",
    "H": "the HELO/EHLO name the client gave",
    "PTR": "reverse DNS of the connecting IP",
    "CAT": "protection policy category applied",
    "DIR": "direction of the message",
    "SPF": "SPF result",
    "IPV": "IP reputation",
    "SFS": "spam rules matched",
    "SRV": "bulk mail",
}
SFV_MEANING = {"SKI": "skipped: the message is internal (authenticated or from a connector)",
               "NSPM": "not spam", "SPM": "spam", "SKS": "marked spam by a mail flow rule",
               "SKA": "allowed by an allow list", "SKB": "blocked by a block list"}
DIR_MEANING = {"INT": "internal (from inside the organisation)", "INB": "inbound (from outside)",
               "OUT": "outbound"}
CAT_MEANING = {"NONE": "no policy applied", "SPM": "spam", "HSPM": "high-confidence spam",
               "PHSH": "phishing", "BULK": "bulk"}
AUTH_AS_MEANING = {"Internal": "the sender signed in, or came through a connector: trusted as internal",
                   "Anonymous": "nobody signed in: an anonymous sender from the internet (direct send)"}


def _authentication_results(value):
    found = {}
    for item in value.replace(";", " ").split():
        name, sep, result = item.partition("=")
        if sep and name in ("spf", "dkim", "dmarc") and name not in found:
            found[name] = result
    return found


def explain(headers):
    """headers: [[name, value]] -> {"verdict": sentence, "notes": [{header, field, value, meaning}]}."""
    notes = []
    spf = scl = sfv = auth_as = client_ip = None
    for name, value in headers:
        lower = name.lower()
        if lower == "authentication-results":
            for mechanism, result in _authentication_results(value).items():
                meaning = SPF_MEANING.get(result, result) if mechanism == "spf" else {
                    "dkim": "DKIM: %s (a scanner rarely signs its mail)",
                    "dmarc": "DMARC: %s"}[mechanism] % result
                notes.append({"header": name, "field": mechanism, "value": result, "meaning": meaning})
                if mechanism == "spf":
                    spf = result
        elif lower == "x-forefront-antispam-report":
            for field in value.split(";"):
                key, sep, field_value = field.partition(":")
                if not sep or not field_value:
                    continue
                meaning = FORE_FRONT_FIELDS.get(key, "")
                extra = {"SFV": SFV_MEANING, "DIR": DIR_MEANING, "CAT": CAT_MEANING}.get(key, {}).get(field_value)
                if key == "SCL":
                    extra = SCL_MEANING.get(field_value)
                if key == "SPF":
                    extra = SPF_MEANING.get(field_value.lower())
                notes.append({"header": name, "field": key, "value": field_value,
                              "meaning": meaning + (": " + extra if extra else "")})
                if key == "SFV":
                    sfv = field_value
                if key == "CIP":
                    client_ip = field_value
                if key == "SPF" and spf is None:
                    spf = field_value.lower()
        elif lower == "x-ms-exchange-organization-scl":
            scl = value.strip()
            notes.append({"header": name, "field": "SCL", "value": scl,
                          "meaning": "spam confidence level " + SCL_MEANING.get(scl, scl)})
        elif lower == "x-ms-exchange-organization-authas":
            auth_as = value.strip()
            notes.append({"header": name, "field": "AuthAs", "value": auth_as,
                          "meaning": AUTH_AS_MEANING.get(auth_as, auth_as)})
    return {"verdict": _verdict(spf, scl, sfv, auth_as, client_ip), "notes": notes}


def _verdict(spf, scl, sfv, auth_as, client_ip):
    if auth_as is None and scl is None and sfv is None:
        return "No Exchange anti-spam headers: this copy did not pass through the tenant's filtering."
    if auth_as == "Internal" or sfv == "SKI":
        return "Inbox: the sender was internal (signed in, or matched a connector), so spam filtering was skipped."
    ip = " %s" % client_ip if client_ip else ""
    if sfv == "SPM" or (scl and scl.lstrip("-").isdigit() and int(scl) >= 5):
        reason = SPF_MEANING.get(spf or "", "the filter judged it spam")
        return ("Junk Email: anonymous direct send from%s with SPF %s (%s), so the spam confidence level is %s. "
                "Add the device's public IP to the domain's SPF record, or send by client submission or a "
                "connector." % (ip, spf or "unknown", reason, scl or "5"))
    return "Inbox: anonymous direct send from%s passed SPF (%s); spam confidence level %s." % (
        ip, spf or "unknown", scl or "1")
