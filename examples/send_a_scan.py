# The smallest complete scanmail program: one scan sent to Microsoft 365 by the mail core, from a
# board object made of plain sockets. It runs as it is on the MicroPython unix port and on CPython;
# a real board gets its board object from scanmail.firmware.board.open_board() instead.
#
#   micropython examples/send_a_scan.py        (or: python examples/send_a_scan.py)
#
# Change the settings below for your setup: as they stand they send to the built-in fake tenant
# (`scanmail o365 serve`, ROUTE = its submission port, CA_PATH = its ca.der). It prints one line
# per send: RESULT <round trips> <bytes sent> <reply code> <milliseconds>.
# README.md shows it; bench/firmware_send.py and tests/host_tools/test_firmware_romfs.py run this
# very file with their own settings (examples/configure.py fills them in). The settings are
# constants so that, compiled into a ROMFS image, their text stays in flash, not in the heap.
import gc
import socket
import time

from scanmail.firmware.compat import ticks_diff, ticks_ms
from scanmail.firmware.mail import Message, send_mail

# -- settings --
NOW = None                    # UTC seconds for certificate checks, or None: this machine's clock
IP = "127.0.0.1"              # the address this board sends from
ROUTE = None                  # (host, port) to connect to instead of the method's host, or None
CA_PATH = None                # a DER CA to trust instead of the bundled DigiCert Global Root G2
SETTINGS = {"method": "submission", "username": "scanner@contoso.com", "password": "Scanner-Pass-1"}
SENDER = "scanner@contoso.com"
TO = ["alice@contoso.com"]
ATTACHMENTS = [("scan.pdf", "scan.pdf", "application/pdf")]
SENDS = 1
# -- end of settings --


class SocketBoard:
    # board.name, board.clock.now(), board.net.address() and board.net.open_tcp()
    # (docs/architecture.md, Contract 1): one object plays all three parts, and no instance
    # state, so that the harness costs the heap as little as it can.
    name = "scanner-example"

    def now(self):
        return NOW or int(time.time())

    def address(self):
        return IP

    def open_tcp(self, host, port, timeout_s, local_ip=None):
        s = socket.socket()
        s.settimeout(timeout_s)
        s.bind(socket.getaddrinfo(IP, 0)[0][-1])
        if ROUTE:
            host, port = ROUTE
        s.connect(socket.getaddrinfo(host, port)[0][-1])
        return s


board = SocketBoard()
board.net = board.clock = board
settings = dict(SETTINGS)
if CA_PATH:
    with open(CA_PATH, "rb") as f:
        settings["ca_der"] = f.read()
msg = Message(SENDER, TO, [], "Scan", "scan attached", ATTACHMENTS)
for _ in range(SENDS):
    gc.collect()
    start = ticks_ms()
    r = send_mail(settings, msg, board)
    print("RESULT", r["round_trips"], r["bytes_sent"], r["reply"][:3], ticks_diff(ticks_ms(), start))
