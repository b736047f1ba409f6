# Every reply line the fake tenant sends, in one place, byte for byte as docs/exchange-online.md
# gives them ("The conversation" and "Replies"; a test checks the document against this file).
# Rule: where Exchange shows `[HOST ts id]` the reply ends with `{tag}` (the diagnostic tag
# `[<HOST> <ISO-8601 UTC with ms>Z <16 hex>]`); where it shows `[HOST]` it ends with `[{host}]`; where
# it shows neither, nothing is added. Texts marked [INF] are sensible defaults where no real
# text is known. Tests import these constants rather than retyping them.
import datetime
import secrets

GREETING = "220 {host} Microsoft ESMTP MAIL Service ready at {date} [{id}]"
EHLO_HELLO = "{host} Hello [{ip}]"
HELO_HELLO = "250 {host} Hello [{ip}]"
STARTTLS_READY = "220 2.0.0 SMTP server ready"
AUTH_LOGIN_USERNAME = "334 VXNlcm5hbWU6"          # base64("Username:")
AUTH_LOGIN_PASSWORD = "334 UGFzc3dvcmQ6"          # base64("Password:")
AUTH_XOAUTH2_CHALLENGE = "334 "
AUTH_OK = "235 2.7.0 Authentication successful"
MAIL_OK = "250 2.1.0 Sender OK"
RCPT_OK = "250 2.1.5 Recipient OK"
DATA_GO_AHEAD = "354 Start mail input; end with <CRLF>.<CRLF>"
BDAT_CHUNK_OK = "250 2.6.0 CHUNK received OK, {size} octets"                        # [INF]
DATA_AFTER_BDAT = "503 5.5.1 Bad sequence of commands"                              # [INF] RFC 3030 section 2
SUBMISSION_QUEUED = "250 2.0.0 OK {message_id} [Hostname={store_host}]"
MX_QUEUED = ("250 2.6.0 {message_id} [InternalId={internal_id}, Hostname={store_host}] "
             "{size} bytes in {seconds:.3f}, {rate:.3f} KB/sec Queued mail for delivery")
RSET_OK = "250 2.0.0 Resetting"
NOOP_OK = "250 2.0.0 OK"
QUIT_OK = "221 2.0.0 Service closing transmission channel"
VRFY_REPLY = "252 2.1.5 Cannot VRFY user"                                          # [INF]
HELP_REPLY = "214-This server supports the following commands:\r\n214 HELO EHLO STARTTLS RCPT DATA RSET MAIL QUIT HELP AUTH"  # [INF]

UNRECOGNIZED = "500 5.3.3 Unrecognized command '{command}' {tag}"
SEND_HELLO_FIRST = "503 5.5.2 Send hello first"
NEED_MAIL = "503 5.5.2 Need mail command"                                          # [INF]
NEED_RCPT = "503 5.5.2 Need rcpt command"                                          # [INF]
NESTED_MAIL = "503 5.5.2 Sender already specified"                                 # [INF]
ALREADY_AUTHENTICATED = "503 5.5.2 Already authenticated"                          # [INF]
ALREADY_TLS = "503 5.5.2 TLS already active"                                       # [INF]
BAD_SYNTAX = "501 5.5.4 Invalid arguments"                                         # [INF]
BAD_ADDRESS = "501 5.1.7 Invalid address"                                          # [INF]
BAD_PARAMETER = "555 5.5.4 Unsupported option: {param}"                            # [INF]
BAD_BASE64 = "501 5.5.2 Cannot Base64-decode Client responses"                     # [INF, real Exchange text]
AUTH_CANCELLED = "501 5.0.0 Authentication cancelled"                              # [INF]
LINE_TOO_LONG = "500 5.5.6 Line too long"                                          # [INF]
TOO_MANY_ERRORS = "421 4.7.0 Too many errors on this connection, closing transmission channel"  # [INF]
IDLE_TIMEOUT = "451 4.7.0 Timeout waiting for client input"                        # [INF]
TOO_MANY_RECIPIENTS = "452 4.5.3 Too many recipients"                              # [INF]
MESSAGE_TOO_BIG = "552 5.3.4 Message size exceeds fixed maximum message size"      # [INF]
TOO_MANY_CONNECTIONS = ("421 4.3.2 The maximum number of concurrent connections has exceeded a limit, closing "
                        "transmission channel")                                    # [INF]
TOO_MANY_CONNECTIONS_FROM_ADDRESS = ("421 4.3.2 The maximum number of concurrent connections from your address "
                                     "has exceeded a limit, closing transmission channel")   # [INF]
SESSION_TOO_LONG = "421 4.4.2 Session time limit exceeded, closing transmission channel"   # [INF]
DATA_TOO_SLOW = "421 4.4.2 Message transfer time limit exceeded, closing transmission channel"  # [INF]
TOO_MANY_COMMANDS = "421 4.7.0 Too many commands on this connection, closing transmission channel"  # [INF]
TOO_MANY_REFUSED_RECIPIENTS = ("421 4.7.0 Too many refused recipients on this connection, closing transmission "
                               "channel")                                          # [INF]
BAD_HELO = "550 5.7.506 Access Denied, Bad HELO"
STORE_FAILED = "451 4.7.0 Temporary server error. Please try again later. PRX4"     # [INF] the mail store failed

STARTTLS_REQUIRED = "451 5.7.3 STARTTLS is required to send mail {tag}"
AUTH_UNRECOGNIZED_TYPE = "504 5.7.4 Unrecognized authentication type [{host}]"
NOT_AUTHENTICATED = "530 5.7.57 Client not authenticated to send mail. [{host}]"
NOT_AUTHENTICATED_AFTER_FAILURE = "530 5.7.57 Client not authenticated to send mail. Error: {last_auth_reply}"
AUTH_FAILED = "535 5.7.3 Authentication unsuccessful [{host}]"
SMTP_AUTH_DISABLED_TENANT = ("535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled "
                             "for the Tenant. Visit https://aka.ms/smtp_auth_disabled for more information. {tag}")
SMTP_AUTH_DISABLED_MAILBOX = ("535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled "
                              "for the Mailbox. Visit https://aka.ms/smtp_auth_disabled for more information. {tag}")
BASIC_AUTH_DISABLED = "535 5.7.139 Authentication unsuccessful, basic authentication is disabled. {tag}"
CONDITIONAL_ACCESS = ("535 5.7.139 Authentication unsuccessful, the request did not meet the criteria to be "
                      "authenticated successfully. Contact your administrator.")
SECURITY_DEFAULTS = ("535 5.7.139 Authentication unsuccessful, user is locked by your organization's security "
                     "defaults policy. Contact your administrator.")
ACCOUNT_LOCKED = "535 5.7.139 Authentication unsuccessful, account locked."
BASIC_AUTH_RETIRED = "550 5.7.30 Basic authentication is not supported for Client Submission."
LEGACY_TLS = ("421 4.7.66 TLS 1.0 and 1.1 are not supported. Please upgrade/update your client to support "
              "TLS 1.2. Visit https://aka.ms/smtp_auth_tls. [{host}]")
SEND_AS_DENIED_AT_MAIL = "550 5.7.60 SMTP; Client does not have permissions to send as this sender"
SEND_AS_DENIED_AFTER_DATA = (
    "554 5.2.252 SendAsDenied; {login} not allowed to send as {sender}; "
    "STOREDRV.Submission.Exception:SendAsDeniedException.MapiExceptionSendAsDenied; Failed to process "
    "message due to a permanent exception with message [BeginDiagnosticData]Cannot submit message.")
DAILY_QUOTA = "554 5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceededException"
CONCURRENT_CONNECTIONS = ("432 4.3.2 Concurrent connections limit exceeded. Visit "
                          "https://aka.ms/concurrent_sending for more information. [Hostname={host}]")
BAD_OUTBOUND_SENDER = "550 5.1.8 Bad outbound sender"
UNKNOWN_RECIPIENT = "550 5.4.1 Recipient address rejected: Access denied. AS(201806281) {tag}"
RELAY_DENIED = "550 5.7.64 TenantAttribution; Relay Access Denied [{host}]"
DIRECT_SEND_REJECTED = ("550 5.7.68 TenantInboundAttribution; Direct Send not allowed for this organization "
                        "from unauthorized sources")
HEADER_TOO_BIG = "552 5.3.4 Header size exceeds fixed maximum size"
NOT_RFC5322 = "550 5.7.512 Access denied, message must be RFC 5322 section 3.6.2 compliant"
BARE_LINEFEED = "550 5.6.11 SMTPSEND.BareLinefeedsAreIllegal"

# EHLO keyword list (docs/exchange-online.md, "The conversation"), as Exchange sends it. DSN parameters are accepted (no
# DSNs are generated); BDAT (CHUNKING) and BODY=BINARYMIME are implemented.
EHLO_KEYWORDS_BEFORE_TLS = ["SIZE {size}", "PIPELINING", "DSN", "ENHANCEDSTATUSCODES", "STARTTLS",
                            "8BITMIME", "BINARYMIME", "CHUNKING", "SMTPUTF8"]
AUTH_KEYWORD = "AUTH LOGIN XOAUTH2"


def diagnostic_tag(host, now):
    """`[HOST 2025-11-23T11:12:20.123Z 08DE2A6028D26C22]` for the given clock time (UTC seconds)."""
    moment = datetime.datetime.fromtimestamp(now, datetime.timezone.utc)
    stamp = moment.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (moment.microsecond // 1000)
    return "[%s %s %s]" % (host, stamp, secrets.token_hex(8).upper())


def rfc1123_date(now):
    moment = datetime.datetime.fromtimestamp(now, datetime.timezone.utc)
    return moment.strftime("%a, %d %b %Y %H:%M:%S +0000")


def ehlo_lines(host, client_ip, tls_active, offer_auth):
    """The EHLO reply lines. Before TLS the list has STARTTLS; after it, AUTH takes that place on
    endpoints that authenticate and the MX drops it."""
    keywords = []
    for word in EHLO_KEYWORDS_BEFORE_TLS:
        if word == "STARTTLS" and tls_active:
            if offer_auth:
                keywords.append(AUTH_KEYWORD)
            continue
        keywords.append(word.format(size=157286400))
    lines = [EHLO_HELLO.format(host=host, ip=client_ip)] + keywords
    return ["250-" + line for line in lines[:-1]] + ["250 " + lines[-1]]
