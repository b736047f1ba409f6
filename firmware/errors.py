# SMTPError: the one error the mail core raises for anything a user or an admin can act on.
# Rule: an error carries the stage, the SMTP code, the enhanced code and the server's text, and
# never a secret: every text that reaches an error is masked with the secrets of the attempt (a
# hostile or chatty server could echo them back). One class, told apart by `kind` ("settings",
# "message", "protocol", "timeout", ...): on a board every class costs heap for as long as the
# firmware runs, a tag costs nothing.
# Programming errors in our own use of the protocol are RuntimeError (nobody but a developer can
# fix those).

# Stages, in the order of an attempt: settings, message, connect, greeting, ehlo, starttls, tls,
# auth, mail, rcpt, data, end_of_data, quit.


class SMTPError(Exception):
    """A send that did not happen, and why (Contract 2 in docs/architecture.md)."""

    def __init__(self, stage, text, code=None, enhanced=None, transient=None, secrets=None,
                 method=None, port=None, kind=None, field=None):
        # Every secret of the attempt (each form of it is given by the caller) masked, found in any
        # case and across the spaces that join a multi-line reply: a server may echo a secret in
        # upper case, or split over two lines. A secret's bytes outside printable ASCII are "?", as
        # a reply line is decoded. (Written inline: on a board every new name costs heap.)
        if text and secrets:
            where = [i for i in range(len(text)) if text[i] != " "]
            flat = "".join([text[i] for i in where]).lower()
            hide = bytearray(len(text))
            for secret in secrets:
                for needle in (secret.replace(" ", "").lower() if secret else "",
                               "".join([chr(b) if 32 < b < 127 else "?" for b in secret.encode()
                                        if b != 32]).lower() if secret else ""):
                    start = flat.find(needle) if len(needle) >= 3 else -1
                    while start >= 0:
                        for i in range(where[start], where[start + len(needle) - 1] + 1):
                            hide[i] = 1
                        start = flat.find(needle, start + 1)
            if any(hide):
                text = "".join([text[i] if not hide[i] else ("[redacted]" if i == 0 or not hide[i - 1] else "")
                                for i in range(len(text))])
        super().__init__(text)
        self.stage = stage
        self.code = code
        self.enhanced = enhanced
        self.text = text
        # 4xx and network trouble are worth retrying later; 5xx and local refusals are not.
        if transient is None:
            transient = code is not None and 400 <= code < 500
        self.transient = transient
        self.method = method      # the connection method of the attempt, for the diagnosis
        self.port = port
        # A short tag for failures that are not an SMTP refusal: "settings" and "message" (then
        # `field` names the setting or the message field at fault), "protocol" (the server broke
        # SMTP), "refused", "timeout", "clock", "untrusted", ...
        self.kind = kind
        self.field = field

    def diagnosis(self):
        """(cause, what_to_do) in the words of Microsoft's guide for devices. The table is
        loaded for the question and let go after it (firmware.call_once): a board needs it rarely,
        and the heap it takes (13 KB measured on the 64-bit unix port) is better left to the
        application."""
        from scanmail.firmware import call_once

        return call_once("diagnosis", "diagnose", self)

    def __str__(self):
        head = "%s failed" % self.stage
        if self.code is not None:
            head += ": %d" % self.code
            if self.enhanced:
                head += " " + self.enhanced
        return "%s: %s" % (head, self.text) if self.text else head
