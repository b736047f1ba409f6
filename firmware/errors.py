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
        # Every secret of the attempt (each form of it, text or bytes, is given by the caller)
        # masked, found in any case and across the spaces that join a multi-line reply: a server
        # may echo a secret in upper case, or split over two lines. Bytes outside printable ASCII compare as "?", as a
        # reply line is decoded. Written inline and on bytes: on a board every new name and every
        # list costs heap, and an error is often built when the heap is tight.
        if text and secrets:
            raw = text.encode()
            hide = None
            for secret in secrets:
                # a form is text, or bytes (the XOAUTH2 line, as the client sends it: not copied)
                needle = (secret.encode() if isinstance(secret, str) else secret) if secret else b""
                if len(needle) < 3:
                    continue
                for start in range(len(raw)):
                    i = start
                    j = 0
                    while j < len(needle) and i < len(raw):
                        a = needle[j]
                        b = raw[i]
                        if a == 32:
                            j += 1
                            continue
                        if b == 32 and i > start:
                            i += 1
                            continue
                        a = 63 if a < 33 or a > 126 else (a + 32 if 65 <= a <= 90 else a)
                        b = 63 if b < 33 or b > 126 else (b + 32 if 65 <= b <= 90 else b)
                        if a != b:
                            break
                        i += 1
                        j += 1
                    if j == len(needle):
                        if hide is None:
                            hide = bytearray(len(raw))
                        for k in range(start, i):
                            hide[k] = 1
            if hide is not None:
                out = bytearray()
                for k in range(len(raw)):
                    if not hide[k]:
                        out.append(raw[k])
                    elif k == 0 or not hide[k - 1]:
                        out.extend(b"[redacted]")
                text = out.decode()
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
