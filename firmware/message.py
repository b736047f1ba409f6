# The message a board sends: sender, recipients, subject, text and attachment files.
# Rule: a Message is checked when it is built, before anything touches the network
# (firmware/message_checks.py, loaded for the check and let go after it); attachment files are
# checked (exist, readable size) right before sending, when the message is composed
# (firmware/mime_headers.py).
from firmware import call_once


class Message:
    """One e-mail: Message(sender, to, cc, subject, body, attachments=[(path, name, type)])."""

    def __init__(self, sender, to, cc=(), subject="", body="", attachments=()):
        call_once("message_checks", "check", sender, to, cc, subject, body, attachments)
        # The fields are made after the checker is let go, so that they land in the heap's lowest
        # free space instead of in the middle of the space it used (a board's heap has no
        # compaction: one small object there splits the run a TLS context needs). Whitespace
        # around a subject or file name means nothing to a reader and mail clients trim it, so it
        # is trimmed here: what is sent is what will be shown.
        self.sender = sender
        self.to = list(to)
        self.cc = list(cc)
        self.subject = subject.strip()
        self.body = body
        self.attachments = [(path, name.strip(), content_type.lower())
                            for path, name, content_type in attachments]

    def recipients(self):
        seen = []
        for address in self.to + self.cc:
            if address not in seen:
                seen.append(address)
        return seen
