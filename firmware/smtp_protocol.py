# The SMTP client conversation as a pure object (sans-I/O, like h11): replies in, commands and
# "what the driver must do next" out. RFC 5321 (SMTP), RFC 3207 (STARTTLS), RFC 4954 (AUTH),
# RFC 2920 (PIPELINING), RFC 1870 (SIZE), RFC 3030 (CHUNKING, BINARYMIME). Rule: everything that affects the conversation lives
# here, and every reply goes through the one method _on_reply (one branch per stage, in the order of
# a conversation); the driver only moves bytes. Errors are split: an SMTPError of kind "protocol"
# when the server broke the protocol, another SMTPError when it refused, RuntimeError when the
# caller drove this object out of order (a bug in the driver).
import binascii

from firmware.compat import const
from firmware.errors import SMTPError
from firmware.smtp_replies import ReplyReader

# What the driver must do next (next_event()): small integers, folded into the bytecode.
SEND = const(1)                  # write take_output() to the connection
NEED_DATA = const(2)             # read from the connection and call receive_data()
START_TLS = const(3)             # wrap the connection in TLS, then call tls_started()
SEND_MESSAGE = const(4)          # write body_command, stream the message (binary / dot_stuffing
                                 # as the client says), then call message_sent()
DONE = const(5)                  # the message was accepted: result(); close the connection
ABORT = const(6)                 # close the connection WITHOUT ending the data; raise failure
FAILED = const(7)                # close the connection and raise failure


def _b64(data):
    return binascii.b2a_base64(data)[:-1]


# What each stage's reply must be to go on (RFC 5321 4.3.2); any other 4xx/5xx is a refusal.
_GO_ON = {"greeting": (220,), "ehlo": (250,), "starttls": (220,), "auth": (235, 334),
          "mail": (250,), "rcpt": (250, 251), "data": (354,), "end_of_data": (250,),
          "quit": (221,)}


class SmtpClient:
    """One attempt to hand one message to one server."""

    def __init__(self, ehlo_name, tls_mode, auth="none", username=None, password=None, token=None,
                 implicit_tls=False, secrets=None, profile=None, port=None):
        self.ehlo_name = ehlo_name
        self.tls_mode = tls_mode          # starttls | opportunistic | implicit | none
        self.auth = auth                  # none | login | plain | xoauth2
        self.username = username
        self.password = password
        self.token = token
        self.secrets = secrets or ()
        self.profile = profile
        self.port = port
        self.tls_active = implicit_tls
        self.extensions = {}
        self._reader = ReplyReader()
        self._out = bytearray()
        self._expect = ["greeting"]       # stages whose replies are still due, oldest first
        self._phase = None                # what next_event() reports when nothing is pending
        self._step = 0                    # AUTH: challenges answered; without PIPELINING: RCPTs sent
        self.sender = None
        self.recipients = ()
        self.size = None
        self.binary_size = None
        self.use_bdat = False             # CHUNKING offered: BDAT <size> LAST, no dot-stuffing
        self.binary = False               # BINARYMIME offered too: attachments go unencoded
        self.body_command = b""           # what the driver writes right before the message
        self._data_accepted = False
        self._quit_sent = False
        self.failure = None
        self.final_reply = None
        self.stage = "greeting"

    # --- the driver's side -------------------------------------------------------------------
    def set_transaction(self, sender, recipients, size, binary_size=None):
        """`size`: the message with base64 attachments; `binary_size`: with them unencoded (None:
        never send BINARYMIME)."""
        self.sender = sender
        self.recipients = tuple(recipients)
        self.size = size
        self.binary_size = binary_size

    def next_event(self):
        if self._out:
            return SEND
        if self._expect:
            return NEED_DATA
        if self._phase is None:
            raise RuntimeError("nothing to send and no reply due: the conversation stalled")
        return self._phase

    def waiting_for(self):
        """The stage whose reply is due (or the last stage), for errors while reading."""
        return self._expect[0] if self._expect else self.stage

    def take_output(self):
        out = bytes(self._out)
        self._out = bytearray()
        return out

    def receive_data(self, data):
        if not self._expect:
            raise self._broken(self.stage, "the server sent data nobody asked for")
        try:
            self._reader.feed(data)
        except ValueError as err:         # the reply reader's only error: not an SMTP reply
            raise self._broken(self.stage, str(err))
        reply = self._reader.next_reply()
        while reply is not None:
            if not self._expect:
                raise self._broken(self.stage, "the server sent a reply nobody asked for: %s"
                                   % reply)
            self.stage = self._expect.pop(0)
            self._on_reply(self.stage, reply)
            if self._expect:
                self.stage = self._expect[0]
            reply = self._reader.next_reply()

    def connection_closed(self):
        """The server closed the connection. Fine only while waiting for QUIT's reply."""
        if self._expect == ["quit"]:
            self._expect = []
            if self.failure is None and self.final_reply is not None:
                self._phase = DONE
                return
        if self.failure is None:
            self.failure = SMTPError(self.stage, "the server closed the connection",
                                     transient=True, secrets=self.secrets, profile=self.profile,
                                     port=self.port, kind="closed")
        self._expect = []
        self._phase = FAILED

    def tls_started(self):
        if self._phase != START_TLS:
            raise RuntimeError("tls_started() without a START_TLS event")
        self._phase = None
        self.tls_active = True
        self.extensions = {}
        self._send_line(b"EHLO " + self.ehlo_name.encode(), "ehlo")   # RFC 3207 4.2: forget, ask again

    def message_sent(self):
        if self._phase != SEND_MESSAGE:
            raise RuntimeError("message_sent() without a SEND_MESSAGE event")
        self._phase = None
        self._data_accepted = False       # the data is ended: from here a refusal is a refusal
        if not self.use_bdat:
            self._out.extend(b".\r\n")   # BDAT counted its octets: no end marker
        self._expect.append("end_of_data")
        if "PIPELINING" in self.extensions:
            self._quit()                  # RFC 2920 3.1: QUIT may follow the end of data

    def result(self):
        return self.final_reply

    # --- sending -------------------------------------------------------------------------------
    def _send_line(self, line, stage):
        if b"\r" in line or b"\n" in line:
            raise RuntimeError("a command must not contain CR or LF")
        self._out.extend(line)
        self._out.extend(b"\r\n")
        self._expect.append(stage)

    def _quit(self):
        if not self._quit_sent:
            self._quit_sent = True
            self._send_line(b"QUIT", "quit")

    def _broken(self, stage, text):
        """The error for a server that broke the protocol (worth a retry: it may be a glitch)."""
        return SMTPError(stage, text, transient=True, secrets=self.secrets, kind="protocol")

    def _fail(self, failure):
        """Record the first failure; finish once every pipelined reply has been read."""
        if self.failure is None:
            self.failure = failure
        if self._expect:
            return
        if self._data_accepted:
            self._phase = ABORT           # only <CRLF>.<CRLF> commits: closing discards the data
            return
        self._phase = FAILED
        if failure.code != 421:          # 421: the server is closing the channel already
            self._quit()

    # --- every reply, one branch per stage -------------------------------------------------------
    def _on_reply(self, stage, reply):
        code = reply.code
        if stage == "quit":
            # The answer to QUIT changes nothing: the message was accepted or refused already.
            if self.failure is not None and not self._expect:
                self._fail(self.failure)
            return
        if self.failure is not None:      # a pipelined reply after a refusal: only count it
            if stage == "data" and code == 354:
                self._data_accepted = True
            self._fail(self.failure)
        elif code not in _GO_ON[stage]:
            if not 400 <= code < 600:
                self._fail(self._broken(stage, "unexpected reply to %s: %s" % (stage, reply)))
            elif stage == "starttls" and self.tls_mode == "opportunistic":
                self._after_security()    # plaintext is allowed here: no credentials to protect
            else:
                self._fail(SMTPError(stage, reply.message(), code=code, enhanced=reply.enhanced,
                                     secrets=self.secrets, profile=self.profile, port=self.port,
                                     kind="starttls_refused" if stage == "starttls" else None))
        elif stage == "greeting":
            self._send_line(b"EHLO " + self.ehlo_name.encode(), "ehlo")
        elif stage == "ehlo":
            self._on_ehlo(reply)
        elif stage == "starttls":
            if not self._reader.is_empty():
                # Bytes after the 220 arrived in clear but would be read as if from inside TLS
                # (STARTTLS response injection, CVE-2011-0411 and kin): refuse them.
                # Nothing more is said on this connection, not even QUIT.
                raise self._broken("starttls", "the server sent data after its STARTTLS reply, "
                                   "before TLS began")
            self._phase = START_TLS
        elif stage == "auth":
            self._on_auth(reply)
        elif stage in ("mail", "rcpt"):
            if "PIPELINING" not in self.extensions:
                self._next_rcpt_or_data()
            elif stage == "rcpt" and self.use_bdat and not self._expect:
                self._start_bdat()        # the last recipient was accepted
        elif stage == "data":
            self._data_accepted = True
            self._phase = SEND_MESSAGE
        else:                             # end_of_data
            self.final_reply = str(reply)
            self._data_accepted = False
            self._phase = DONE
            self._quit()

    def _on_ehlo(self, reply):
        """EHLO keywords (upper case) -> their parameters (RFC 5321 4.1.1.1), then on."""
        extensions = self.extensions = {}
        for line in reply.lines[1:]:
            words = line.strip().split(None, 1)
            if not words:
                continue
            keyword = words[0].upper()
            params = words[1] if len(words) > 1 else ""
            if "=" in keyword:            # old-style "AUTH=LOGIN"
                keyword, params = keyword.split("=", 1)[0], keyword.split("=", 1)[1] + " " + params
            if keyword == "AUTH" and keyword in extensions:
                params = extensions[keyword] + " " + params
            extensions[keyword] = params.strip()
        if not self.tls_active and self.tls_mode in ("starttls", "opportunistic"):
            if "STARTTLS" in extensions:
                self._send_line(b"STARTTLS", "starttls")
                return
            if self.tls_mode == "starttls":
                self._fail(SMTPError("starttls", "the server at port %s does not offer STARTTLS; "
                                     "no credentials or mail were sent" % self.port,
                                     transient=False, profile=self.profile, port=self.port,
                                     kind="no_starttls"))
                return
        self._after_security()

    def _after_security(self):
        if self.auth == "none":
            self._start_transaction()
            return
        if not self.tls_active:
            raise RuntimeError("credentials are never sent without TLS")
        offered = self.extensions.get("AUTH", "").upper().split()
        wanted = self.auth.upper()
        if wanted not in offered:
            self._fail(SMTPError("auth", "the server offers AUTH %s, not %s" % (
                " ".join(offered) or "nothing", wanted), transient=False, profile=self.profile,
                port=self.port, kind="auth_unavailable"))
            return
        self._step = 0
        if self.auth == "plain":
            blob = b"\0" + self.username.encode() + b"\0" + self.password.encode()
            self._send_line(b"AUTH PLAIN " + _b64(blob), "auth")
        elif self.auth == "login":
            # RFC 4954 4 initial response: the user name rides on AUTH LOGIN (as smtplib does with
            # Exchange Online), saving a round trip; the server then asks only for the password.
            self._step = 1
            self._send_line(b"AUTH LOGIN " + _b64(self.username.encode()), "auth")
        else:
            self._send_line(b"AUTH " + wanted.encode(), "auth")

    def _on_auth(self, reply):
        if reply.code == 235:
            self._start_transaction()
            return
        # 334: the server wants the next piece (RFC 4954 4).
        self._step += 1
        step = self._step
        if self.auth == "login" and step == 2:
            try:                          # "Username:" or "Password:", base64 (RFC 4954 4)
                prompt = binascii.a2b_base64(reply.lines[0].strip()).lower()
            except Exception:
                prompt = b""
            if prompt.startswith(b"user"):
                self._step = 1            # it ignored the initial response: give the name again
                self._send_line(_b64(self.username.encode()), "auth")
            else:
                self._send_line(_b64(self.password.encode()), "auth")
        elif self.auth == "xoauth2" and step == 1:
            blob = "user=%s\x01auth=Bearer %s\x01\x01" % (self.username, self.token)
            self._send_line(_b64(blob.encode()), "auth")
        elif self.auth == "xoauth2" and step == 2:
            self._send_line(b"", "auth")  # a 334 error challenge: answer empty, then the 535 comes
        else:
            self._fail(self._broken("auth", "the server asked for more AUTH %s steps than the "
                                    "mechanism has" % self.auth.upper()))

    def _start_transaction(self):
        extensions = self.extensions
        self.use_bdat = "CHUNKING" in extensions
        self.binary = (self.use_bdat and "BINARYMIME" in extensions
                       and self.binary_size is not None)
        size = self.binary_size if self.binary else self.size
        limit = extensions.get("SIZE", "").strip()
        limit = int(limit) if limit.isdigit() else 0
        if limit and size is not None and size > limit:
            self._fail(SMTPError("mail", "the message is %d bytes; the server accepts at most %d"
                                 % (size, limit), enhanced="5.3.4", transient=False,
                                 profile=self.profile, port=self.port, kind="too_big"))
            return
        mail = b"MAIL FROM:<" + self.sender.encode() + b">"
        if "SIZE" in extensions and size is not None:
            mail += b" SIZE=" + str(size).encode()
        if self.binary:
            mail += b" BODY=BINARYMIME"
        self._send_line(mail, "mail")
        self._step = 0
        if "PIPELINING" in extensions:
            for rcpt in self.recipients:
                self._send_line(b"RCPT TO:<" + rcpt.encode() + b">", "rcpt")
            if not self.use_bdat:         # BDAT waits for the RCPT replies: a refused
                self._send_line(b"DATA", "data")   # recipient must not cost the whole upload

    def _next_rcpt_or_data(self):
        if self._step < len(self.recipients):
            rcpt = self.recipients[self._step]
            self._step += 1
            self._send_line(b"RCPT TO:<" + rcpt.encode() + b">", "rcpt")
        elif self.use_bdat:
            self._start_bdat()
        else:
            self._send_line(b"DATA", "data")

    def _start_bdat(self):
        size = self.binary_size if self.binary else self.size
        self.body_command = b"BDAT " + str(size).encode() + b" LAST\r\n"
        self._phase = SEND_MESSAGE

