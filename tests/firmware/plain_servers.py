# Tiny raw-socket SMTP servers for the cases a well-behaved fake tenant never shows: a server (or
# a man in the middle) that strips STARTTLS from EHLO and would happily take a password in clear.
# Rule: it records every byte it receives so a test can prove what never reached the wire.
import socket
import threading


class StrippingServer:
    """Offers no STARTTLS, invites AUTH LOGIN, accepts anything; `received` holds every byte."""

    EHLO = b"250-evil.example Hello\r\n250-SIZE 157286400\r\n250-PIPELINING\r\n250 AUTH LOGIN PLAIN\r\n"

    def __init__(self, bind="127.0.0.1"):
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((bind, 0))
        self._listener.listen(4)
        self._listener.settimeout(0.2)
        self.address = self._listener.getsockname()
        self.received = bytearray()
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
                conn, _ = self._listener.accept()
            except socket.timeout:
                continue
            with conn:
                conn.settimeout(5)
                self._session(conn)

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
