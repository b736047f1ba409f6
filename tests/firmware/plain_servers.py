# Tiny SMTP servers for the cases the fake tenant does not cover: a server (or a man in the middle)
# that strips STARTTLS from EHLO and would happily take a password in clear, one that never
# answers, and an implicit-TLS server (the "custom" method on port 465) built on aiosmtpd.
# Rule: the raw ones record every byte they receive so a test can prove what never reached the wire.
import socket
import threading


class ScriptedServer:
    """A raw TCP server on a thread, one session at a time; subclasses write `_session(conn)`.
    A client that vanishes ends only its own session."""

    session_timeout_s = 5

    def __init__(self, bind="127.0.0.1"):
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((bind, 0))
        self._listener.listen(4)
        self._listener.settimeout(0.2)
        self.address = self._listener.getsockname()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join(5)
        self._listener.close()

    def _serve(self):
        while not self._stop.is_set():
            try:
                conn, self.peer = self._listener.accept()
            except socket.timeout:
                continue
            with conn:
                conn.settimeout(self.session_timeout_s)
                try:
                    self._session(conn)
                except OSError:
                    pass

    def _session(self, conn):
        raise NotImplementedError


class GreetingServer(ScriptedServer):
    """Answers each connection with `greeting(peer_ip)` (bytes) and closes it."""

    def __init__(self, greeting, bind="127.0.0.1"):
        ScriptedServer.__init__(self, bind)
        self._greeting = greeting

    def _session(self, conn):
        conn.sendall(self._greeting(self.peer[0]))


class StrippingServer(ScriptedServer):
    """Offers no STARTTLS, invites AUTH LOGIN, accepts anything; `received` holds every byte."""

    EHLO = b"250-evil.example Hello\r\n250-SIZE 157286400\r\n250-PIPELINING\r\n250 AUTH LOGIN PLAIN\r\n"

    def __init__(self, bind="127.0.0.1"):
        ScriptedServer.__init__(self, bind)
        self.received = bytearray()

    def _session(self, conn):
        conn.sendall(b"220 evil.example ESMTP\r\n")
        pending = b""
        while True:
            try:
                data = conn.recv(4096)
            except OSError:
                return
            if not data:
                return
            self.received.extend(data)
            pending += data
            while b"\r\n" in pending:
                line, pending = pending.split(b"\r\n", 1)
                verb = line.split(b" ")[0].upper()
                if verb == b"EHLO":
                    conn.sendall(self.EHLO)
                elif verb == b"AUTH":
                    conn.sendall(b"334 VXNlcm5hbWU6\r\n")
                elif verb == b"QUIT":
                    conn.sendall(b"221 bye\r\n")
                    return
                else:
                    conn.sendall(b"250 OK\r\n")


class SilentServer:
    """Accepts connections and never says a word (a firewall that black-holes the port)."""

    def __init__(self, bind="127.0.0.1"):
        self._listener = socket.socket()
        self._listener.bind((bind, 0))
        self._listener.listen(4)
        self.address = self._listener.getsockname()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._listener.close()


class ImplicitTlsServer:
    """aiosmtpd behind implicit TLS for `hostname`, AUTH PLAIN/LOGIN for one user, PIPELINING
    advertised on request; `messages` holds what it accepted and `ca_der` is the CA to trust."""

    def __init__(self, hostname, user, password, pipelining=False):
        import ssl

        import trustme
        from aiosmtpd.controller import Controller
        from aiosmtpd.smtp import AuthResult

        ca = trustme.CA()
        self.ca_der = ssl.PEM_cert_to_DER_cert(ca.cert_pem.bytes().decode())
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ca.issue_cert(hostname).configure_cert(context)
        self.messages = []
        server = self

        class Handler:
            async def handle_DATA(self, smtp, session, envelope):
                server.messages.append(envelope.content)
                return "250 2.0.0 OK stored"

            async def handle_EHLO(self, smtp, session, envelope, hostname, responses):
                session.host_name = hostname
                if pipelining:                  # aiosmtpd reads commands in order anyway
                    responses.insert(1, "250-PIPELINING")
                return responses

        def authenticate(smtp, session, envelope, mechanism, data):
            ok = data.login == user.encode() and data.password == password.encode()
            return AuthResult(success=ok, handled=False)   # handled=True would send no reply

        probe = socket.socket()                 # aiosmtpd's Controller cannot bind port 0
        probe.bind(("127.0.0.1", 0))
        self.address = probe.getsockname()
        probe.close()
        self._controller = Controller(Handler(), hostname="127.0.0.1", port=self.address[1],
                                      ssl_context=context, authenticator=authenticate,
                                      auth_require_tls=False, server_hostname=hostname)

    def __enter__(self):
        self._controller.start()
        return self

    def __exit__(self, *exc):
        self._controller.stop()


class CertificateServer(ScriptedServer):
    """Implicit TLS for `hostname` with a certificate whose validity a test chooses (`not_before`,
    `not_after`: datetimes, or None for trustme's defaults); greets and closes after a handshake.
    `ca_der` is its CA, to trust."""

    def __init__(self, hostname, not_before=None, not_after=None, bind="127.0.0.1"):
        import ssl

        import trustme

        ScriptedServer.__init__(self, bind)
        ca = trustme.CA()
        self.ca_der = ssl.PEM_cert_to_DER_cert(ca.cert_pem.bytes().decode())
        self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ca.issue_cert(hostname, not_before=not_before, not_after=not_after).configure_cert(
            self._context)
        self.handshakes = 0

    def _session(self, conn):
        import ssl

        try:
            tls = self._context.wrap_socket(conn, server_side=True)
        except (ssl.SSLError, OSError):
            return                          # the client refused the certificate
        self.handshakes += 1
        with tls:
            tls.sendall(b"421 4.3.2 closing\r\n")


class ClosingServer(ScriptedServer):
    """Accepts each connection and closes it at once, without a word."""

    def _session(self, conn):
        pass


class PlaintextServer(ScriptedServer):
    """Greets in clear where TLS was expected (a plain SMTP port given as an implicit-TLS one)."""

    def _session(self, conn):
        conn.sendall(b"220 mail.example.org ESMTP\r\n" * 40)
        try:
            conn.recv(4096)
        except OSError:
            pass
