# Which method a site should use: Microsoft's comparison of the ways a device sends through
# Microsoft 365 (docs/exchange-online.md, "Methods of sending") turned into a decision from six
# answers about the site. Rule: sans-I/O (answers in, a recommendation out); every reason and admin
# step is a fact of that document; the settings it proposes are checked by the firmware's own
# methods.fill(), so advice never suggests settings a board would refuse.
from scanmail.firmware.methods import fill
from scanmail.firmware.errors import SMTPError

QUESTIONS = (
    # (key, question for a person, flag)
    ("tls12", "Can the device use TLS 1.2 or later?", "tls12"),
    ("oauth", "Can it sign in with OAuth 2.0 (XOAUTH2)?", "oauth"),
    ("outside", "Must it send to recipients outside your organization?", "outside"),
    ("static_ip", "Does the site have a static public IP address?", "static-ip"),
    ("licensed_mailbox", "May a licensed Exchange Online mailbox be used for the device?", "licensed-mailbox"),
)
SUBMISSION_RECIPIENTS_PER_DAY = 10000
BASIC_AUTH_NOTE = ("password sign-in (Basic authentication) for SMTP AUTH is disabled by default from "
                   "the end of December 2026: use OAuth (XOAUTH2)")


def mx_host_of(domain):
    """The classic MX host of a domain (contoso.com -> contoso-com.mail.protection.outlook.com).
    Newer tenants get hosts under mx.microsoft: the admin center's DNS records are the truth."""
    return domain.replace(".", "-") + ".mail.protection.outlook.com"


def blockers(method, a):
    """Why `method` cannot serve a site with answers `a` (empty: it can)."""
    out = []
    if method == "submission":
        if not a["tls12"]:
            out.append("client submission needs TLS 1.2 or later (older TLS is refused with 421 4.7.66)")
        if not a["licensed_mailbox"]:
            out.append("client submission needs a licensed mailbox to sign in")
        if a["per_day"] > SUBMISSION_RECIPIENTS_PER_DAY:
            out.append("client submission allows 10,000 recipients a day per mailbox (and 30 messages a minute)")
    elif method == "direct_send":
        if a["outside"]:
            out.append("direct send delivers only to mailboxes in your organization (outside recipients get 550 5.7.64)")
    elif method == "relay":
        if not a["static_ip"] and not a["tls12"]:
            out.append("a relay connector recognises the device by a static public IP, or by a TLS "
                       "client certificate (which needs TLS)")
    elif method == "hve":
        if not a["tls12"]:
            out.append("High Volume Email needs STARTTLS with TLS 1.2 or later")
        if a["outside"]:
            out.append("High Volume Email delivers only to mailboxes in your organization")
    return out


def preference(a):
    """Methods in the order this site should prefer them."""
    if a["outside"]:
        order = ["submission", "relay"]
        if not a["oauth"] and a["static_ip"]:
            order = ["relay", "submission"]  # no password that stops working in December 2026
        return order + ["direct_send", "hve"]
    if a["per_day"] > SUBMISSION_RECIPIENTS_PER_DAY:
        return ["direct_send", "hve", "relay", "submission"] if a["static_ip"] else ["hve", "direct_send", "relay", "submission"]
    if a["oauth"] or not a["static_ip"]:
        return ["submission", "direct_send", "relay", "hve"]
    return ["direct_send", "submission", "relay", "hve"]


def reasons_for(method, a):
    if method == "submission":
        out = ["a mailbox signs in at smtp.office365.com:587 with STARTTLS, and may send to anyone, "
               "inside or outside your organization",
               "mail to your own mailboxes skips spam filtering"]
        out.append("the device signs in with OAuth (XOAUTH2)" if a["oauth"] else BASIC_AUTH_NOTE)
        return out
    if method == "direct_send":
        out = ["no mailbox and no sign-in: the device sends to your MX host on port 25",
               "only to mailboxes in your organization, which fits a site that sends internally",
               "not bound by the 30-a-minute and 10,000-a-day limits of client submission"]
        if a["static_ip"]:
            out.append("list the static IP in your SPF record so the mail lands in the Inbox, not in Junk")
        else:
            out.append("without a static IP listed in SPF the mail is filtered and may land in Junk Email")
        out.append("an admin can turn direct send off (Set-OrganizationConfig -RejectDirectSend $true, then 550 5.7.68)")
        return out
    if method == "relay":
        return ["a connector recognises the device by its static public IP (or its TLS certificate): no "
                "mailbox, no sign-in",
                "delivers to anyone, inside and outside your organization",
                "not bound by the 30-a-minute and 10,000-a-day limits of client submission"]
    if method == "hve":
        return ["an HVE account signs in at smtp.hve.mx.microsoft:587: meant for many messages to your "
                "own mailboxes", "only to mailboxes in your organization; 10 MB and 50 recipients a message"]
    return []


def settings_for(method, a, domain, mailbox):
    mx = mx_host_of(domain) if domain else None
    if method == "submission":
        s = {"method": "submission", "username": mailbox or "scanner@" + (domain or "contoso.com"),
             "auth": "xoauth2" if a["oauth"] else "login"}
        s["token" if a["oauth"] else "password"] = "<set it with: scanmail secret set %s>" % (
            "token" if a["oauth"] else "password")
    elif method == "direct_send":
        s = {"method": "direct_send", "host": mx or "<your MX host>",
             "tls": "starttls" if a["tls12"] else "opportunistic"}
    elif method == "relay":
        s = {"method": "relay", "host": mx or "<your MX host>",
             "tls": "starttls" if a["tls12"] else "opportunistic"}
    else:
        s = {"method": "hve", "username": mailbox or "hve-scanner@" + (domain or "contoso.com"),
             "auth": "xoauth2" if a["oauth"] else "login",
             "token" if a["oauth"] else "password": "<set it with: scanmail secret set %s>" % (
                 "token" if a["oauth"] else "password")}
    return s


def admin_steps(method, a, domain, ip, mailbox):
    dom = domain or "<your domain>"
    addr = ip or "<the site's static public IP>"
    box = mailbox or "scanner@" + dom
    spf = "scanmail spf --domain %s --ip %s" % (dom, addr)
    if method == "submission":
        steps = ["give the device a licensed mailbox (%s) and use it as the sender, or grant it Send As "
                 "on the address the device sends from" % box,
                 "turn SMTP AUTH on for that mailbox: Set-CASMailbox -Identity %s "
                 "-SmtpClientAuthenticationDisabled $false" % box]
        if a["oauth"]:
            steps.append("register an app with the delegated permission SMTP.Send and sign the device "
                         "in once by device code (scope https://outlook.office.com/SMTP.Send offline_access)")
        else:
            steps.append("exclude the mailbox from security defaults and from conditional access that "
                         "requires multi-factor sign-in (a device cannot answer it)")
        return steps
    if method == "direct_send":
        steps = ["nothing to create in Microsoft 365; check that direct send is allowed "
                 "(Get-OrganizationConfig | fl RejectDirectSend must be False)",
                 "take the MX host from the admin center (Settings > Domains > %s > DNS records)" % dom]
        if a["static_ip"]:
            steps.append("add the static IP to the SPF record of %s: %s" % (dom, spf))
        return steps
    if method == "relay" and not a["static_ip"]:
        return ["create an inbound connector: from \"Your organization's email server\" to Office 365, "
                "recognising mail by the TLS certificate's subject name (a domain accepted in %s)" % dom,
                "give the device that certificate and its key (settings client_cert_der, client_key_der)",
                "send from an address in an accepted domain (%s)" % dom]
    if method == "relay":
        return ["create an inbound connector: from \"Your organization's email server\" to Office 365, "
                "recognising mail by the sending IP address %s" % addr,
                "send from an address in an accepted domain (%s)" % dom,
                "add the static IP to the SPF record of %s: %s" % (dom, spf)]
    return ["create a High Volume Email account (Exchange admin center > Mail flow > High volume email) "
            "and use its address (%s) and credentials" % box]


def recommend(answers, domain=None, ip=None, mailbox=None):
    """answers: tls12, oauth, outside, static_ip, licensed_mailbox (bools), per_day (int).
    Returns {"method", "reasons", "settings", "admin_steps", "ruled_out": {method: [why]}} with
    method None (and a fallback in reasons) when none of the four fits."""
    a = dict(answers)
    ruled_out = {}
    chosen = None
    for method in preference(a):
        why = blockers(method, a)
        if why:
            ruled_out[method] = why
        elif chosen is None:
            chosen = method
    if chosen is None:
        return {"method": None, "ruled_out": ruled_out, "settings": {}, "admin_steps": [],
                "reasons": ["none of the four methods fits: put a local relay (IIS SMTP, Postfix) "
                            "on the site's network that takes the device's mail and submits it to "
                            "smtp.office365.com:587 with STARTTLS and a mailbox sign-in; configure "
                            "the device with method = \"custom\" pointing at that relay"]}
    settings = settings_for(chosen, a, domain, mailbox)
    try:
        fill(settings)
    except SMTPError as exc:  # a proposal the firmware would refuse is a bug here, said plainly
        raise AssertionError("advice proposes settings the firmware refuses: %s" % exc)
    return {"method": chosen, "reasons": reasons_for(chosen, a), "settings": settings,
            "admin_steps": admin_steps(chosen, a, domain, ip, mailbox), "ruled_out": ruled_out}
