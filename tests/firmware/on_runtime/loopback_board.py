# The test-only board for end-to-end tests of the mail core (Contract 1 members the core uses):
# runs on BOTH runtimes. Its network maps the Microsoft host names (and any extra route a test
# adds) to the fake tenant's loopback listeners, binds the board's own source address
# (127.0.0.20 direct send, 127.0.0.30 relay connector), can block a port the way an ISP does, and
# can cut a scan file short as it connects (a file that changes while it is being sent).
# Rule: a real TCP connection every time; only name resolution is replaced.
import errno
import socket


class TestClock:
    __test__ = False

    def __init__(self, now):
        self._now = now

    def now(self):
        return self._now


class NetworkDown(Exception):
    """What a board's own network layer raises when Wi-Fi is not up (like firmware.board's)."""


class TestNet:
    __test__ = False

    def __init__(self, routes, ip, blocked_ports=(), down=False, shrink_on_connect=None):
        self.routes = routes              # "host:port" -> [listen address, listen port]
        self.ip = ip
        self.blocked_ports = blocked_ports
        self.down = down
        self.shrink_on_connect = shrink_on_connect   # [path, size]: a scan cut short meanwhile
        self.opened = []

    def address(self):
        return self.ip

    def open_tcp(self, host, port, timeout_s, local_ip=None):
        if self.down:
            raise NetworkDown("no IP address: the Wi-Fi is not connected yet")
        if self.shrink_on_connect:        # after the message was composed, before it streams
            path, size = self.shrink_on_connect
            with open(path, "rb") as f:
                kept = f.read(size)
            with open(path, "wb") as f:
                f.write(kept)
        if port in self.blocked_ports:
            raise OSError(errno.ECONNREFUSED)
        target = self.routes.get("%s:%d" % (host, port))
        if target is None:
            raise OSError(-2, "cannot resolve %s" % host)   # what getaddrinfo gives for an unknown name
        sock = socket.socket()
        sock.settimeout(timeout_s)
        sock.bind(socket.getaddrinfo(local_ip or self.ip, 0)[0][-1])
        sock.connect(socket.getaddrinfo(target[0], target[1])[0][-1])
        self.opened.append("%s:%d" % (host, port))
        return sock


class TestBoard:
    __test__ = False

    def __init__(self, name, ip, routes, now, blocked_ports=(), down=False, shrink_on_connect=None):
        self.name = name
        self.net = TestNet(routes, ip, blocked_ports, down, shrink_on_connect)
        self.clock = TestClock(now)
