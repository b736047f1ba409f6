# What happens to an accepted message: the trace headers Exchange stamps on it and the folders it
# lands in. Rule: everything here is known before DATA begins (client IP, HELO, TLS, SPF, method), so
# the headers are written to the spool first and the message body streams after them untouched.
# SPF pass -> Inbox; fail or softfail -> Junk Email (direct send only; submission, HVE and relay
# through a connector are Internal and skip filtering).
from scanmail.emulator.tenant import replies

EXCHANGE_BUILD = "15.20.9320.12"
SPF_LABEL = {"pass": "Pass", "fail": "Fail", "softfail": "SoftFail", "neutral": "Neutral",
             "none": "None", "temperror": "TempError", "permerror": "PermError"}
JUNK_SPF = ("fail", "softfail")


def tls_label(version):
    """'TLSv1.2' -> 'TLS1_2' as in Exchange's Received header."""
    return version.replace("TLSv", "TLS").replace(".", "_") if version else None


def is_junk(method, spf_result):
    return method in ("direct_send", "inbound") and spf_result in JUNK_SPF


def trace_headers(server_name, helo, client_ip, tls_version, cipher, now, method, mail_from, spf_result):
    """The header block prepended to a stored message, CRLF-terminated lines."""
    date = replies.rfc1123_date(now)
    if tls_version:
        via = "with Microsoft SMTP Server (version=%s, cipher=%s) id %s" % (tls_label(tls_version), cipher,
                                                                             EXCHANGE_BUILD)
    else:
        via = "with Microsoft SMTP Server id %s" % EXCHANGE_BUILD
    lines = ["Received: from %s (%s) by %s %s; %s" % (helo or "unknown", client_ip, server_name, via, date)]
    internal = method in ("submission", "hve", "relay")
    mail_domain = (mail_from or "").rpartition("@")[2] or "none"
    if internal:
        lines.append("X-MS-Exchange-Organization-AuthAs: Internal")
        lines.append("X-MS-Exchange-Organization-SCL: -1")
        lines.append("X-Forefront-Antispam-Report: CIP:%s;CTRY:;LANG:en;SPF:%s;SCL:-1;SRV:;IPV:NLI;SFV:SKI;"
                     "H:%s;PTR:;CAT:NONE;SFS:;DIR:INT;" % (client_ip, SPF_LABEL.get(spf_result, "None"), helo))
    else:
        junk = is_junk(method, spf_result)
        scl = 5 if junk else 1
        lines.append("Authentication-Results: spf=%s (sender IP is %s) smtp.mailfrom=%s; dkim=none "
                     "(message not signed) header.d=none;dmarc=none action=none header.from=%s;"
                     % (spf_result, client_ip, mail_domain, mail_domain))
        lines.append("X-MS-Exchange-Organization-AuthAs: Anonymous")
        lines.append("X-MS-Exchange-Organization-SCL: %d" % scl)
        lines.append("X-Forefront-Antispam-Report: CIP:%s;CTRY:;LANG:en;SPF:%s;SCL:%d;SRV:;IPV:NLI;SFV:%s;"
                     "H:%s;PTR:;CAT:%s;SFS:;DIR:INB;" % (client_ip, SPF_LABEL.get(spf_result, "None"), scl,
                                                         "SPM" if junk else "NSPM", helo,
                                                         "SPM" if junk else "NONE"))
    return ("\r\n".join(lines) + "\r\n").encode("utf-8", "surrogateescape")


def destinations(tenant, recipients, method, spf_result, login=None):
    """[(address or 'internet', folder)] for each copy to store, without duplicates."""
    folder = "Junk Email" if is_junk(method, spf_result) else "Inbox"
    places = []
    for rcpt in recipients:
        place = (rcpt.lower(), folder) if tenant.mailbox(rcpt) else ("internet", None)
        if place not in places:
            places.append(place)
    if login and method == "submission":
        places.append((login, "Sent Items"))
    return places
