# SMTPError: the one error the mail core raises for anything a user or an admin can act on.
# Rule: an error carries the stage, the SMTP code, the enhanced code and the server's text, and
# never a secret: every text that reaches an error passes through `redact` with the secrets of the
# attempt (a hostile or chatty server could echo them back). Programming errors in our own use of
# the protocol are LocalProtocolError (not an SMTPError: nobody but a developer can fix those).

# Stages, in the order of an attempt: settings, message, connect, greeting, ehlo, starttls, tls,
# auth, mail, rcpt, data, end_of_data, quit.


def redact(text, secrets):
    """`text` with every secret (and each secret's base64 form given by the caller) masked."""
    if not text:
        return text
    for secret in secrets or ():
        if secret and len(secret) >= 3:
            text = text.replace(secret, "[redacted]")
    return text


class SMTPError(Exception):
    """A send that did not happen, and why (Contract 2 in docs/architecture.md)."""

    def __init__(self, stage, text, code=None, enhanced=None, transient=None, secrets=None,
                 profile=None, port=None, kind=None):
        text = redact(text, secrets)
        super().__init__(text)
        self.stage = stage
        self.code = code
        self.enhanced = enhanced
        self.text = text
        # 4xx and network trouble are worth retrying later; 5xx and local refusals are not.
        if transient is None:
            transient = code is not None and 400 <= code < 500
        self.transient = transient
        self.profile = profile      # the connection profile of the attempt, for the diagnosis
        self.port = port
        self.kind = kind            # a short tag for non-SMTP failures: "refused", "timeout", ...

    def diagnosis(self):
        """(cause, what_to_do) in the words of Microsoft's guide for devices. The table is
        loaded for the question and let go after it (firmware.call_once): a board needs it rarely,
        and the heap it takes (13 KB measured on the 64-bit unix port) is better left to the
        application."""
        from firmware import call_once

        return call_once("diagnosis", "diagnose", self)

    def __str__(self):
        head = "%s failed" % self.stage
        if self.code is not None:
            head += ": %d" % self.code
            if self.enhanced:
                head += " " + self.enhanced
        return "%s: %s" % (head, self.text) if self.text else head

    def __repr__(self):
        return "SMTPError(%r, %r, code=%r, enhanced=%r, transient=%r)" % (
            self.stage, self.text, self.code, self.enhanced, self.transient)


class SMTPProtocolError(SMTPError):
    """The server broke the protocol: a malformed, over-long or unexpected reply."""

    def __init__(self, stage, text, secrets=None):
        super().__init__(stage, text, code=None, transient=True, secrets=secrets, kind="protocol")


class SettingsError(SMTPError):
    """A setting is missing or wrong; `setting` names it and the text says what to do."""

    def __init__(self, setting, text):
        super().__init__("settings", "setting %r: %s" % (setting, text), transient=False,
                         kind="settings")
        self.setting = setting


class MessageError(SMTPError):
    """The message cannot be sent as given (header injection, bad address, missing file)."""

    def __init__(self, field, text):
        super().__init__("message", "%s: %s" % (field, text), transient=False, kind="message")
        self.field = field


class LocalProtocolError(Exception):
    """We broke the protocol: the caller drove the SMTP client out of order (a bug here)."""
