# A per-board TCP relay that shapes the link between a virtual board and the fake tenant. Rule: it
# forwards bytes unchanged (TLS passes through untouched, certificate checks stay end to end), it
# connects onward from the board's own address so the tenant sees the board's IP, and it applies
# the switches as they are when a connection opens (read_switches(), the board's net.json):
#   latency_ms        added round-trip time, half on each direction
#   bandwidth_kbps    a cap in kilobits per second, each direction
#   drop_after_bytes  the link dies (both sides reset) once this many bytes crossed it, both ways
# The board opens a connection here and first sends one line: `VNET <host> <port>\n`.
import queue
import socket
import struct
import threading
import time

_HEADER_LIMIT = 128


def _reset(sock):
    """Close with a TCP reset, as a dropped link looks to the other end. SHUT_RD first wakes a
    thread blocked in recv() on it (which holds the socket open); the reset goes out when the
    last user lets go, with SO_LINGER 0."""
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.shutdown(socket.SHUT_RD)
    except OSError:
        pass
    sock.close()


class _Link:
    """One relayed connection: two directions, each a reader and a delayed, rate-capped writer."""

    def __init__(self, board_side, tenant_side, switches, log):
        self.sides = (board_side, tenant_side)
        self.one_way_delay_s = float(switches.get("latency_ms") or 0) / 2000.0
        kbps = float(switches.get("bandwidth_kbps") or 0)
        self.seconds_per_byte = 8.0 / (kbps * 1000.0) if kbps > 0 else 0.0
        self.drop_after = int(switches.get("drop_after_bytes") or 0)
        self.crossed = 0
        self.lock = threading.Lock()
        self.dead = False
        self.log = log
        for src, dst in ((board_side, tenant_side), (tenant_side, board_side)):
            pending = queue.Queue()
            threading.Thread(target=self._read, args=(src, pending), daemon=True).start()
            threading.Thread(target=self._write, args=(dst, pending), daemon=True).start()

    def _read(self, src, pending):
        while True:
            try:
                data = src.recv(16384)
            except OSError:
                data = b""
            pending.put((time.monotonic() + self.one_way_delay_s, data))
            if not data:
                return

    def _write(self, dst, pending):
        link_free_at = 0.0
        while True:
            due, data = pending.get()
            if not data:
                self._half_close(dst)
                return
            for start in range(0, len(data), 1024):
                piece = data[start : start + 1024]
                send_at = max(due, link_free_at)
                delay = send_at - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                link_free_at = max(send_at, time.monotonic()) + len(piece) * self.seconds_per_byte
                if not self._send(dst, piece):
                    return

    def _send(self, dst, piece):
        with self.lock:
            if self.dead:
                return False
            if self.drop_after:
                allowed = self.drop_after - self.crossed
                if allowed < len(piece):
                    piece = piece[: max(0, allowed)]
                    self.dead = True
            self.crossed += len(piece)
        try:
            if piece:
                dst.sendall(piece)
        except OSError:
            self.dead = True
        if self.dead:
            self.log("link dropped after %d bytes" % self.crossed)
            for side in self.sides:
                _reset(side)
            return False
        return True

    def _half_close(self, dst):
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass


class ShapingRelay:
    def __init__(self, board_ip, read_switches, log=lambda text: None):
        self.board_ip = board_ip
        self.read_switches = read_switches
        self.log = log
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((board_ip, 0))
        self.listener.listen(16)
        self.address = self.listener.getsockname()
        self.closed = False
        threading.Thread(target=self._accept_loop, daemon=True).start()

    def _accept_loop(self):
        while not self.closed:
            try:
                conn, _peer = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        try:
            header = b""
            while not header.endswith(b"\n"):
                byte = conn.recv(1)
                if not byte or len(header) > _HEADER_LIMIT:
                    raise ValueError("bad relay header %r" % header)
                header += byte
            word, host, port = header.decode("ascii").split()
            if word != "VNET" or not host.startswith("127."):
                raise ValueError("bad relay header %r" % header)
            upstream = socket.create_connection((host, int(port)), timeout=10, source_address=(self.board_ip, 0))
            upstream.settimeout(None)
        except (OSError, ValueError) as exc:
            self.log("relay: %s" % exc)
            _reset(conn)
            return
        try:
            switches = self.read_switches()
        except ValueError as exc:  # a hand-edited net.json that is not JSON: say so, shape nothing
            self.log("relay: unreadable network switches (%s); link not shaped" % exc)
            switches = {}
        self.log("relay: link to %s:%s (latency %s ms, bandwidth cap %s kbit/s, drop after %s bytes; 0 = off)" % (
            host, port, switches.get("latency_ms") or 0, switches.get("bandwidth_kbps") or 0,
            switches.get("drop_after_bytes") or 0))
        _Link(conn, upstream, switches, self.log)

    def close(self):
        self.closed = True
        try:
            self.listener.close()
        except OSError:
            pass
