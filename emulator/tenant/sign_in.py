# Who may sign in over SMTP AUTH, and which reply a refused sign-in gets. Rule: one function decides,
# in the order Exchange Online applies its checks: account lockout; the protocol (Basic auth retired
# or disabled for LOGIN); the credentials (password or XOAUTH2 token; wrong ones count towards the
# lockout; an XOAUTH2 token is checked by Entra ID's rules in entra.py: signature, times, audience,
# scope or role, user, revocation); then the policies (security defaults, conditional access, the SMTP AUTH switches, where
# the mailbox switch overrides the tenant's and applies to OAuth too). No secret leaves this file.
import hmac

from scanmail.emulator.tenant import replies

LOGIN = "LOGIN"
XOAUTH2 = "XOAUTH2"


class SignInResult:
    def __init__(self, reply, mailbox=None, why=None):
        self.reply = reply
        self.mailbox = mailbox
        self.why = why          # for the trace: why a token was refused (never the token)

    @property
    def ok(self):
        return self.mailbox is not None


def sign_in(tenant, limits, entra, endpoint, mechanism, username, secret, host, tag):
    """`secret` is the password (LOGIN) or the bearer token (XOAUTH2)."""
    address = (username or "").strip().lower()
    if limits.is_locked(address):
        return SignInResult(replies.ACCOUNT_LOCKED)
    if mechanism == LOGIN and endpoint != "hve":
        if tenant.basic_auth == "retired":
            return SignInResult(replies.BASIC_AUTH_RETIRED)
        if tenant.basic_auth == "disabled":
            return SignInResult(replies.BASIC_AUTH_DISABLED.format(tag=tag))
    mailbox = tenant.mailbox(address)
    right_kind = mailbox is not None and mailbox.kind != "shared" and ((mailbox.kind == "hve") == (endpoint == "hve"))
    why = None
    if mechanism == LOGIN:
        good = right_kind and mailbox.password is not None and hmac.compare_digest(
            mailbox.password.encode("utf-8"), (secret or "").encode("utf-8"))
    else:
        why = entra.check_xoauth2(secret or "", address) if right_kind else "no mailbox of that kind here"
        good = why is None
    if not good:
        # Only existing accounts can be locked; counting failures for every name a client makes up
        # would let a password sprayer grow the server's memory without bound.
        if mechanism == LOGIN and mailbox is not None:
            limits.record_failed_signin(address)
        return SignInResult(replies.AUTH_FAILED.format(host=host), why=why)
    if endpoint == "hve":
        return SignInResult(replies.AUTH_OK, mailbox)
    if tenant.security_defaults:
        return SignInResult(replies.SECURITY_DEFAULTS)
    if mailbox.mfa_required and mechanism == LOGIN:
        return SignInResult(replies.CONDITIONAL_ACCESS)
    if mailbox.smtp_auth is False:
        return SignInResult(replies.SMTP_AUTH_DISABLED_MAILBOX.format(tag=tag))
    if mailbox.smtp_auth is None and not tenant.smtp_auth:
        return SignInResult(replies.SMTP_AUTH_DISABLED_TENANT.format(tag=tag))
    return SignInResult(replies.AUTH_OK, mailbox)
