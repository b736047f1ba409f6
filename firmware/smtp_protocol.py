# The SMTP client conversation as a pure object (sans-I/O, like h11): bytes in, commands and "what
# the driver must do next" out. RFC 5321 (SMTP), RFC 3207 (STARTTLS), RFC 4954 (AUTH), RFC 2920
# (PIPELINING), RFC 1870 (SIZE), RFC 3030 (CHUNKING, BINARYMIME); replies with enhanced status
# codes (RFC 3463, RFC 2034).
# Rules: everything that affects the conversation lives here, and every reply goes through the one
# method _on_reply (one branch per stage, in the order of a conversation); the driver only moves
# bytes. Bytes may come one at a time or many replies at once alike. Anything malformed or
# unbounded from the server (a line over 2 KB, more than 100 lines, a bad code, codes that change
# inside one reply, data nobody asked for) is an SMTPError of kind "protocol" the moment it is
# seen: never a hang, a crash or an ever-growing buffer. A refusal is an SMTPError with the
# server's code and text; RuntimeError means the driver used this object out of order (a bug).
# Heap: this module stays loaded during every send, so it is one class (reading replies included:
# a class costs a board heap for good) and a reply is just (code, lines).
import binascii

from scanmail.firmware.compat import const
from scanmail.firmware.errors import SMTPError

# What the driver must do next (next_event()): small integers, folded into the bytecode.
SEND = const(1)                  # write take_output() to the connection
NEED_DATA = const(2)             # read from the connection and call receive_data()
START_TLS = const(3)             # wrap the connection in TLS, then call tls_started()
SEND_MESSAGE = const(4)          # write body_command, stream the message (binary / dot_stuffing
                                 # as the client says), then call message_sent()
DONE = const(5)                  # the message was accepted: result(); close the connection
ABORT = const(6)                 # close the connection WITHOUT ending the data; raise failure
FAILED = const(7)                # close the connection and raise failure

MAX_LINE_BYTES = const(2048)     # RFC 5321 4.5.3.1.5 says 512; Exchange tags replies: allow more
_MAX_REPLY_LINES = const(100)    # an EHLO list is about a dozen lines
_PIECE = const(512)              # a longer command line (XOAUTH2) is handed out in pieces this big

# The reply each stage needs to go on (RFC 5321 4.3.2); AUTH may also get 334 (a challenge) and
# RCPT 251 (will forward). Any other 4xx/5xx is a refusal. QUIT's reply changes nothing.
_GO_ON = {"greeting": 220, "ehlo": 250, "starttls": 220, "auth": 235, "mail": 250, "rcpt": 250,
          "data": 354, "end_of_data": 250}


# The EHLO extensions the client acts on (RFC 2920, 3207, 4954, 1870, 3030).
_USED = ("PIPELINING", "STARTTLS", "AUTH", "SIZE", "CHUNKING", "BINARYMIME")


def _b64(data):
    return binascii.b2a_base64(data)[:-1].decode()


def enhanced_code(code, line):
    """The enhanced status code at the start of `line` ("5.7.64") if it is one for `code`'s class,
    else None."""
    word = line.split(" ", 1)[0] if line else ""
    parts = word.split(".")
    if len(parts) != 3 or parts[0] != str(code // 100):
        return None
    if not (parts[1].isdigit() and parts[2].isdigit()):   # the text is ASCII (_printable)
        return None
    if len(parts[1]) > 3 or len(parts[2]) > 3:
        return None
    return word


def reply_text(code, lines, with_enhanced=True):
    """A reply on one line: "250 2.0.0 OK queued" (with_enhanced=False: the text for people,
    without the code or the enhanced code)."""
    parts = []
    for line in lines:
        if not with_enhanced:
            enhanced = enhanced_code(code, line)
            if enhanced:
                line = line[len(enhanced):].lstrip()
        if line:
            parts.append(line)
    if not with_enhanced:
        return " ".join(parts)
    return ("%d %s" % (code, " ".join(parts))).rstrip()


def _printable(raw):
    """Decode a reply line safely: anything outside printable ASCII becomes '?'."""
    out = bytearray(raw)
    for i in range(len(out)):
        b = out[i]
        if b < 32 or b > 126:
            if b != 9:
                out[i] = 63
    return out.decode()


class SmtpClient:
    """One attempt to hand one message to one server."""

    def __init__(self, settings):
        """`settings`: the attempt's settings as firmware.methods.prepare() gives them, kept by
        reference (a board has them in its heap already): "ehlo_name", "tls" (starttls |
        opportunistic | implicit | none), "auth" (none | login | plain | xoauth2), "username",
        "password", "token", "secrets" (every form of them, masked in errors), "xoauth2" (the
        XOAUTH2 line, base64 bytes; made here when absent), and "method" and "port" (for the diagnosis
        of an error)."""
        self.settings = settings
        self.tls_active = settings["tls"] == "implicit"
        self.extensions = {}
        self._partial = bytearray()       # the reply line being received, without its line end
        self._lines = []                  # text lines of the reply being received
        self._code = 0                    # and its code
        self._out = bytearray()           # or a memoryview: a long line still to go (_send_line)
        self._expect = ["greeting"]       # stages whose replies are still due, oldest first
        self._phase = None                # what next_event() reports when nothing is pending
        self._step = 0                    # AUTH: challenges answered; no PIPELINING: RCPTs sent
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
        out = self._out             # handed over, not copied
        if type(out) is memoryview:  # a long line (nothing was waiting when it came), in pieces
            if len(out) > _PIECE:
                self._out = out[_PIECE:]
                return bytes(out[:_PIECE])
            out = bytes(out) + b"\r\n"
        self._out = bytearray()
        return out

    def receive_data(self, data):
        """Bytes from the server, any number: each reply completed by them is acted on."""
        if not self._expect:
            raise self._broken(self.stage, "the server sent data nobody asked for")
        data = bytes(data)
        start = 0
        while start < len(data):
            end = data.find(b"\n", start)
            if end < 0:
                self._partial.extend(data[start:])
                end = len(data)
            else:
                self._partial.extend(data[start:end])
            start = end + 1
            if len(self._partial) > MAX_LINE_BYTES:
                raise self._broken(self.stage, "a reply line is longer than %d bytes"
                                   % MAX_LINE_BYTES)
            if end == len(data):
                return                    # the line goes on in the next bytes
            line = bytes(self._partial)
            self._partial = bytearray()
            if line.endswith(b"\r"):
                line = line[:-1]
            if self._take_line(line) and self._phase == START_TLS and start < len(data):
                # Bytes after the 220 arrived in clear but would be read as if from inside TLS
                # (STARTTLS response injection, CVE-2011-0411 and kin): refuse them.
                # Nothing more is said on this connection, not even QUIT.
                raise self._broken("starttls", "the server sent data after its STARTTLS reply, "
                                   "before TLS began")

    def connection_closed(self):
        """The server closed the connection. Fine only while waiting for QUIT's reply."""
        if self._expect == ["quit"]:
            self._expect = []
            if self.failure is None and self.final_reply is not None:
                self._phase = DONE
                return
        if self.failure is None:
            self.failure = self._error(self.stage, "the server closed the connection", "closed",
                                       True)
        self._expect = []
        self._phase = FAILED

    def tls_started(self):
        if self._phase != START_TLS:
            raise RuntimeError("tls_started() without a START_TLS event")
        self._phase = None
        self.tls_active = True
        self.extensions = {}
        self._send_line("EHLO " + self.settings["ehlo_name"], "ehlo")  # RFC 3207 4.2: ask again

    def message_sent(self):
        if self._phase != SEND_MESSAGE:
            raise RuntimeError("message_sent() without a SEND_MESSAGE event")
        self._phase = None
        self._data_accepted = False       # the data is ended: from here a refusal is a refusal
        if not self.use_bdat:
            self._out.extend(b".\r\n")    # BDAT counted its octets: no end marker
        self._expect.append("end_of_data")
        if "PIPELINING" in self.extensions:
            self._quit()                  # RFC 2920 3.1: QUIT may follow the end of data

    def result(self):
        return self.final_reply

    # --- reading replies -------------------------------------------------------------------------
    def _take_line(self, raw):
        """One reply line without its line end; True when it completed a reply (acted on)."""
        if len(raw) < 3 or not raw[:3].isdigit():
            raise self._broken(self.stage, "not an SMTP reply line: %r" % _printable(raw[:60]))
        code = int(raw[:3])
        if code < 200 or code > 599:
            raise self._broken(self.stage, "reply code %d is not a valid SMTP reply code" % code)
        separator = raw[3] if len(raw) > 3 else 32
        if separator != 32 and separator != 45:          # a space, or a hyphen: more lines follow
            raise self._broken(self.stage, "reply line %r lacks the space or hyphen after the "
                               "code" % _printable(raw[:60]))
        if self._lines and code != self._code:
            raise self._broken(self.stage, "a multi-line reply changed its code from %d to %d"
                               % (self._code, code))
        if len(self._lines) >= _MAX_REPLY_LINES:
            raise self._broken(self.stage, "a reply has more than %d lines" % _MAX_REPLY_LINES)
        self._code = code
        self._lines.append(_printable(raw[4:]))
        if separator == 45:
            return False
        lines = self._lines
        self._lines = []
        if not self._expect:
            raise self._broken(self.stage, "the server sent a reply nobody asked for: %s"
                               % reply_text(code, lines))
        self.stage = self._expect.pop(0)
        self._on_reply(self.stage, code, lines)
        if self._expect:
            self.stage = self._expect[0]
        return True

    # --- sending -------------------------------------------------------------------------------
    def _send_line(self, line, stage):
        if isinstance(line, str):
            line = line.encode()
        if b"\r" in line or b"\n" in line:
            raise RuntimeError("a command must not contain CR or LF")
        if len(line) > _PIECE and not self._out:
            # an XOAUTH2 line, often over 2 KB: handed out in pieces from where it is, for a heap
            # in the middle of a TLS session may have no free block that large
            # (no attribute of its own: every name the mail core interns costs a board heap)
            self._out = memoryview(line)  # type: ignore[assignment]  # until taken (take_output)
        else:
            if type(self._out) is memoryview:    # a line behind a long one (rare): copied
                out = bytearray(self._out)
                out.extend(b"\r\n")
                self._out = out
            self._out.extend(line)
            self._out.extend(b"\r\n")
        self._expect.append(stage)

    def _quit(self):
        if not self._quit_sent:
            self._quit_sent = True
            self._send_line("QUIT", "quit")

    def _error(self, stage, text, kind, transient, code=None, enhanced=None):
        """An SMTPError of this attempt: its secrets masked, its method and port named."""
        settings = self.settings
        return SMTPError(stage, text, code, enhanced, transient, settings["secrets"],
                         settings["method"], settings["port"], kind)

    def _broken(self, stage, text):
        """The error for a server that broke the protocol (worth a retry: it may be a glitch)."""
        return self._error(stage, text, "protocol", True)

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
    def _on_reply(self, stage, code, lines):
        if stage == "quit":
            # The answer to QUIT changes nothing: the message was accepted or refused already.
            if self.failure is not None and not self._expect:
                self._fail(self.failure)
            return
        if self.failure is not None:      # a pipelined reply after a refusal: only count it
            if stage == "data" and code == 354:
                self._data_accepted = True
            self._fail(self.failure)
        elif not (code == _GO_ON[stage] or (stage == "auth" and code == 334)
                  or (stage == "rcpt" and code == 251)):
            if not 400 <= code < 600:
                self._fail(self._broken(stage, "unexpected reply to %s: %s"
                                        % (stage, reply_text(code, lines))))
            elif stage == "starttls" and self.settings["tls"] == "opportunistic":
                self._after_security()    # plaintext is allowed here: no credentials to protect
            else:
                # A refusal: 4xx is worth a retry later, 5xx is not (transient from the code).
                self._fail(self._error(stage, reply_text(code, lines, False),
                                       "starttls_refused" if stage == "starttls" else None, None,
                                       code, enhanced_code(code, lines[0])))
        elif stage == "greeting":
            self._send_line("EHLO " + self.settings["ehlo_name"], "ehlo")
        elif stage == "ehlo":
            self._on_ehlo(lines)
        elif stage == "starttls":
            self._phase = START_TLS       # (receive_data refuses bytes that came after the 220)
        elif stage == "auth":
            self._on_auth(code, lines)
        elif stage == "mail" or stage == "rcpt":
            if "PIPELINING" not in self.extensions:
                self._next_rcpt_or_data()
            elif stage == "rcpt" and self.use_bdat and not self._expect:
                self._start_bdat()        # the last recipient was accepted
        elif stage == "data":
            self._data_accepted = True
            self._phase = SEND_MESSAGE
        else:                             # end_of_data
            self.final_reply = reply_text(code, lines)
            self._data_accepted = False
            self._phase = DONE
            self._quit()

    def _on_ehlo(self, lines):
        """The EHLO keywords this client acts on (_USED) -> their parameters (RFC 5321 4.1.1.1),
        then on. Others are not kept: what is kept stays in the heap for the whole send."""
        extensions = self.extensions = {}
        for line in lines[1:]:
            words = line.strip().split(None, 1)
            if not words:
                continue
            keyword = words[0].upper()
            params = words[1] if len(words) > 1 else ""
            if "=" in keyword:            # old-style "AUTH=LOGIN"
                keyword, params = keyword.split("=", 1)[0], keyword.split("=", 1)[1] + " " + params
            if keyword not in _USED:
                continue
            keyword = _USED[_USED.index(keyword)]   # the constant: no copy kept for the send
            if keyword == "AUTH" and keyword in extensions:
                params = extensions[keyword] + " " + params
            extensions[keyword] = params.strip()
        if not self.tls_active and self.settings["tls"] in ("starttls", "opportunistic"):
            if "STARTTLS" in extensions:
                self._send_line("STARTTLS", "starttls")
                return
            if self.settings["tls"] == "starttls":
                self._fail(self._error("starttls", "the server at port %s does not offer "
                                       "STARTTLS; no credentials or mail were sent"
                                       % self.settings["port"], "no_starttls", False))
                return
        self._after_security()

    def _after_security(self):
        if self.settings["auth"] == "none":
            self._start_transaction()
            return
        if not self.tls_active:
            raise RuntimeError("credentials are never sent without TLS")
        offered = self.extensions.get("AUTH", "").upper().split()
        wanted = self.settings["auth"].upper()
        if wanted not in offered:
            self._fail(self._error("auth", "the server offers AUTH %s, not %s" % (
                " ".join(offered) or "nothing", wanted), "auth_unavailable", False))
            return
        self._step = 0
        if self.settings["auth"] == "plain":
            blob = "\0%s\0%s" % (self.settings["username"], self.settings["password"])
            self._send_line("AUTH %s %s" % (wanted, _b64(blob.encode())), "auth")
        elif self.settings["auth"] == "login":
            # RFC 4954 4 initial response: the user name rides on AUTH LOGIN (as smtplib does with
            # Exchange Online), saving a round trip; the server then asks only for the password.
            self._step = 1
            self._send_line("AUTH %s %s" % (wanted, _b64(self.settings["username"].encode())),
                            "auth")
        else:
            self._send_line("AUTH %s" % wanted, "auth")

    def _on_auth(self, code, lines):
        if code == 235:
            self._start_transaction()
            return
        # 334: the server wants the next piece (RFC 4954 4).
        self._step += 1
        step = self._step
        if self.settings["auth"] == "login" and step == 2:
            try:                          # "Username:" or "Password:", base64 (RFC 4954 4)
                prompt = binascii.a2b_base64(lines[0].strip()).lower()
            except Exception:
                prompt = b""
            if prompt.startswith(b"user"):
                self._step = 1            # it ignored the initial response: give the name again
                self._send_line(_b64(self.settings["username"].encode()), "auth")
            else:
                self._send_line(_b64(self.settings["password"].encode()), "auth")
        elif self.settings["auth"] == "xoauth2" and step == 1:
            # methods.prepare gives the blob's base64 made once (tokens are often over 1 KB, and
            # a board should not hold that twice).
            if self.settings.get("xoauth2"):
                self._send_line(self.settings["xoauth2"], "auth")
            else:
                blob = "user=%s\x01auth=Bearer %s\x01\x01" % (self.settings["username"],
                                                             self.settings["token"])
                self._send_line(_b64(blob.encode()), "auth")
        elif self.settings["auth"] == "xoauth2" and step == 2:
            self._send_line("", "auth")   # a 334 error challenge: answer empty, then the 535 comes
        else:
            self._fail(self._broken("auth", "the server asked for more AUTH %s steps than the "
                                    "mechanism has" % self.settings["auth"].upper()))

    def _start_transaction(self):
        extensions = self.extensions
        self.use_bdat = "CHUNKING" in extensions
        self.binary = (self.use_bdat and "BINARYMIME" in extensions
                       and self.binary_size is not None)
        size = self.binary_size if self.binary else self.size
        limit = extensions.get("SIZE", "").strip()
        limit = int(limit) if limit.isdigit() else 0
        if limit and size is not None and size > limit:
            self._fail(self._error("mail", "the message is %d bytes; the server accepts at most "
                                   "%d" % (size, limit), "too_big", False, None, "5.3.4"))
            return
        mail = "MAIL FROM:<%s>" % self.sender
        if "SIZE" in extensions and size is not None:
            mail += " SIZE=%d" % size
        if self.binary:
            mail += " BODY=BINARYMIME"
        self._send_line(mail, "mail")
        self._step = 0
        if "PIPELINING" in extensions:
            for rcpt in self.recipients:
                self._send_line("RCPT TO:<%s>" % rcpt, "rcpt")
            if not self.use_bdat:         # BDAT waits for the RCPT replies: a refused
                self._send_line("DATA", "data")    # recipient must not cost the whole upload

    def _next_rcpt_or_data(self):
        if self._step < len(self.recipients):
            rcpt = self.recipients[self._step]
            self._step += 1
            self._send_line("RCPT TO:<%s>" % rcpt, "rcpt")
        elif self.use_bdat:
            self._start_bdat()
        else:
            self._send_line("DATA", "data")

    def _start_bdat(self):
        size = self.binary_size if self.binary else self.size
        self.body_command = ("BDAT %d LAST\r\n" % size).encode()
        self._phase = SEND_MESSAGE
