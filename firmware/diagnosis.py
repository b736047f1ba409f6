# What a refusal means and what to do about it, for every reply in the catalogue
# (docs/exchange-online.md, "Replies") and for network and TLS failures.
# Rule: one table, first match wins, most specific rows first; the words follow Microsoft's guide
# for devices ("How to set up a multifunction device or application to send email using Office 365").
# A row is one string "enhanced|fragment|stage|method|kind|cause|what to do" (an empty field
# matches anything): one object per row rather than a tuple of seven keeps the table small on a
# board, where it is loaded only when a diagnosis is asked for. Fragments are matched
# case-insensitively against the server text.

_TABLE = (
    # --- the OAuth sign-in (firmware/oauth.py), stage "sign_in" ----------------------------------
    "||sign_in||sign_in_needed|the board's OAuth sign-in has ended (refused, revoked or expired) "
    "or was never made; queued scans wait|a person must sign in again by device code: "
    "`scanmail oauth login --port PORT`, or the console command oauth.login",
    "||sign_in||declined|the person at the sign-in page declined the sign-in|start the sign-in "
    "again and accept it as the scanner's mailbox",
    "||sign_in||expired|nobody signed in before the code expired (15 minutes)|start the sign-in "
    "again and enter the new code",
    "|invalid_client|sign_in||refused|Entra ID refused the app's credential (client secret or "
    "certificate)|store the app registration's current secret (oauth_secret) or certificate key "
    "(oauth_key) and check oauth_client_id and oauth_thumbprint",
    "||sign_in||refused|Entra ID refused the sign-in request|check oauth_tenant, oauth_client_id "
    "and that the app registration allows this sign-in (public client flows for device code)",
    "||sign_in||server|Entra ID is busy or failing|nothing to change: the board tries again later",
    "||sign_in||settings|the OAuth settings or stored credential cannot be used|set oauth_tenant, "
    "oauth_client_id and, for app-only, the client secret or certificate key as the message says",
    # --- the board itself, before any server answered -------------------------------------------
    "||tls||clock|the board's clock is not set, so no certificate can be checked|set the time"
    ' first: connect the board to a network with NTP (or set the clock), then retry',
    "||tls||hostname|the server's certificate is for another name than the configured "
    'host|check the host setting (smtp.office365.com, your MX host, smtp.hve.mx.microsoft); '
    'if a proxy or firewall intercepts TLS, exempt the board from it',
    "||tls||untrusted|the server's certificate does not chain to a trusted root (DigiCert "
    "Global Root G2 unless a CA of your own is set)|update the board's bundled roots, or trust "
    'your own CA (scanmail flash --ca FILE, then set ca_path; ca_der for the mail core alone); '
    'if a proxy or firewall intercepts TLS, exempt the board from it',
    "||tls||expired|the server's certificate is expired or not yet valid for the board's "
    "clock|check the board's clock (NTP); if it is right, the server's certificate must be "
    'renewed',
    "||tls||client_cert|the board's client certificate or key could not be loaded|set "
    'client_cert_der and client_key_der to the certificate and key (DER) your connector '
    'expects',
    '||starttls||no_starttls|the server did not offer STARTTLS, so credentials would travel '
    'in clear text; nothing was sent|check the host and port (smtp.office365.com:587 offers '
    'STARTTLS); a firewall or proxy that strips STARTTLS must be fixed; direct send may use '
    'tls = "opportunistic"',
    '||starttls|||the server refused STARTTLS, so the connection cannot be encrypted; nothing'
    ' was sent|retry later; if it persists check the host and port, or that no proxy '
    'interferes',
    '||connect|direct_send|refused|outbound port 25 is blocked (often by the ISP)|use client '
    'submission on 587 or a relay; or ask the ISP or firewall admin to open port 25',
    '||connect|relay|refused|outbound port 25 is blocked (often by the ISP)|use client '
    'submission on 587 or a relay; or ask the ISP or firewall admin to open port 25',
    '||connect||refused|the server refused the connection on this port (blocked by a '
    'firewall, or nothing listens there)|check host and port (587 for client submission; 465 '
    'is not a submission port); port 25 is often blocked by ISPs',
    "||connect||dns|the server's name could not be resolved|check the host setting and the "
    "board's DNS; for direct send and relay use the MX host shown in the Microsoft 365 admin "
    'center (Manage DNS)',
    '||||timeout|the server did not answer in time (a firewall dropping the port, or a slow '
    'network)|check that the port is open on your network (587 or 25); 465 is not a '
    'submission port and times out; retry later',
    '||||closed|the server closed the connection unexpectedly|retry later; if it persists, '
    'check the network and the host setting',
    "||||network|the network failed during the send|check the board's network connection and "
    'retry',
    "||||protocol|the server's reply did not follow the SMTP protocol|check that host and "
    'port point to a mail server (smtp.office365.com:587 or your MX on 25)',
    '||mail||too_big|the message is larger than the server accepts|scan at a lower resolution'
    ' or split the document into several messages',
    '||settings|||a setting is missing or wrong|correct the setting named in the message and '
    'retry',
    '||message|||the message cannot be sent as given|correct the field named in the message '
    '(addresses, subject, attachments) and retry',
    # --- the reply catalogue --------------------------------------------------------------------
    '5.7.3|starttls||||the server requires STARTTLS before mail can be sent|enable '
    'TLS/StartTLS on the device (port 587)',
    '5.7.4|||||the server does not accept this authentication type here (before TLS, or '
    'PLAIN)|use STARTTLS and AUTH LOGIN or XOAUTH2',
    '5.7.57|||||the device is not authenticated|enter the sign-in credentials (user name and '
    'password, or OAuth) of the mailbox being used',
    '5.7.139|tenant||||SMTP AUTH is disabled for the organization|an admin must enable SMTP '
    'AUTH, or use OAuth (Set-TransportConfig -SmtpClientAuthenticationDisabled $false)',
    '5.7.139|mailbox||||SMTP AUTH is disabled for this mailbox|an admin must enable SMTP AUTH'
    ' for the mailbox (Set-CASMailbox -SmtpClientAuthenticationDisabled $false)',
    '5.7.139|basic authentication is disabled||||basic authentication (password) is '
    'disabled|use OAuth (XOAUTH2), or an admin must re-enable basic authentication for SMTP '
    'AUTH',
    '5.7.139|security defaults||||security defaults block SMTP AUTH for this account|an admin'
    ' must turn off security defaults for this account, or use direct send or a relay',
    '5.7.139|criteria||||multi-factor authentication or conditional access blocks the '
    "sign-in|an admin must exclude this device's account from MFA / conditional access, or "
    'use OAuth',
    '5.7.139|locked||||the account is locked|an admin must unlock the account',
    '5.7.139|||||SMTP AUTH is disabled for this tenant or mailbox|an admin must enable SMTP '
    'AUTH, or use OAuth',
    '5.7.30|||||basic authentication is no longer supported for client submission|use OAuth '
    '(XOAUTH2), or send by direct send or through a relay connector',
    '5.7.3||auth|||the user name or password (or token) was not accepted|check the sign-in '
    'credentials of the mailbox; a token may have expired: sign in again',
    '4.7.66|||||TLS 1.0 and 1.1 are not supported|the device must use TLS 1.2 or later '
    '(update its firmware)',
    '5.7.60|||||the mailbox is not allowed to send as this sender|send from the signed-in '
    "mailbox's own address, or an admin must grant Send As on the sender",
    '5.2.252|throttled||||the sender is throttled after continuous errors|fix the earlier '
    'errors, then wait',
    '5.2.252|||||the From address is not one the mailbox may send as|send from the signed-in '
    "mailbox's own address, or an admin must grant Send As",
    '5.2.0|quota||||the mailbox reached its daily recipient limit (10,000 recipients per '
    'day)|wait a day, or use direct send or a relay connector for high volume',
    '4.3.2|||||too many devices share this mailbox at once|give each device its own mailbox, '
    'or send fewer messages at once (3 connections at most)',
    "5.2.2|||||the sending mailbox is full|empty the mailbox's Sent Items or raise its quota",
    '5.2.251|||||the sender is throttled after continuous errors|fix the earlier errors '
    '(mailbox full, Send As, license, recipients), then wait',
    '5.2.253|||||the sender is throttled after continuous errors|fix the earlier errors '
    '(license), then wait',
    '5.2.254|||||the sender is throttled after continuous errors|send to fewer recipients per'
    ' message, then wait',
    '5.2.255|||||the sender is throttled after continuous errors|correct the invalid '
    'recipients, then wait',
    '5.1.8|||||the sending mailbox is blocked for outbound mail (unlicensed or restricted '
    'sender)|an admin must license the mailbox or remove it from the restricted senders',
    "5.4.1|||||the recipient does not exist in the organization|check the recipient's address",
    '5.7.64|||direct_send||direct send delivers only to mailboxes in your '
    "organization|outside recipients need client submission or a connector for this device's "
    'static IP',
    '5.7.64|||||the connection is not attributed to your organization (no connector matches '
    "this device)|outside recipients need client submission or a connector for this device's "
    "static IP; check the connector's IP address or certificate",
    '5.7.51|||||a partner connector restricts this domain to certain IP addresses or '
    'certificates|send from an IP address or with a certificate the connector allows, or fix '
    'the connector',
    '5.7.68|||||direct send is turned off for this organization (RejectDirectSend)|use client'
    " submission, or a relay connector for this device's static IP",
    '4.4.62|||||the mail went to the wrong Office 365 region|use the MX host shown for your '
    'domain in the Microsoft 365 admin center',
    "5.7.606|||||the sending IP address is on Microsoft's blocked list|request removal at "
    'https://sender.office.com/, or send from another IP address',
    '4.7.500|||||the server is busy (graylisting)|retry later; the device will be accepted '
    'after a short delay',
    '5.3.4|||||the message (or its header) is larger than the server accepts|scan at a lower '
    'resolution or split the document into several messages',
    "5.7.506|||||the server refused the device's HELO name|give the device its own host name "
    "(not the server's), or leave ehlo_name unset",
    '5.7.512|||||the message has no valid From header|set the sender to a full address in an '
    'accepted domain',
    '5.6.11|||||the message contains bare line feeds|update the device firmware (it must send'
    ' CRLF line endings only)',
    "5.7.509|||||DMARC rejected the message (the sender's domain does not authorize this "
    "device)|add the device's static IP to the domain's SPF record, or use client submission",
    '5.3.3|||||the server did not recognize a command|check that host and port point to '
    'Microsoft 365 (smtp.office365.com:587)',
    '5.5.2|||||commands were sent out of order|update the device firmware',
)

_BY_CODE = (
    (421, "the server is closing the connection (busy or shutting down)", "retry later"),
    (4, "the server refused the message for now", "retry later"),
    (5, "the server refused the message", "check the settings and the server's reply"),
)


def _matches(fields, err, text):
    enhanced, fragment, stage, method, kind = fields[0], fields[1], fields[2], fields[3], fields[4]
    if enhanced and enhanced != err.enhanced:
        return False
    if kind and kind != err.kind:
        return False
    if stage and stage != err.stage:
        return False
    if method and method != err.method:
        return False
    if fragment and fragment not in text:
        return False
    return True


def diagnose(err):
    """(cause, what_to_do) for an SMTPError."""
    text = (err.text or "").lower()
    for row in _TABLE:
        fields = row.split("|")
        if _matches(fields, err, text):
            return fields[5], fields[6]
    code = err.code
    if code is not None:
        for key, cause, todo in _BY_CODE:
            if key == code or key == code // 100:
                return cause, todo
    return "the send failed at the %s stage" % err.stage, "check the settings and retry"
