#!/usr/bin/env python3
# Benchmark: the firmware mail core sending a scan to the fake tenant, all in one run.
#   (1) the smallest MicroPython heap (`micropython -X heapsize=...`, bisected to 1 KB) with which
#       the core sends a 10 MB attachment over STARTTLS + AUTH LOGIN to the fake tenant's
#       submission endpoint (target: at most 32 KB), for two builds of the same .mpy modules:
#       the stock build (.mpy files on the board's filesystem: imported code lives in the GC heap)
#       and the product build (the modules in a ROMFS partition, host_tools.firmware_build
#       .romfs_image(), memory-mapped outside the GC heap and mounted at /rom as a board with
#       MicroPython >= 1.25 does: bytecode and string data stay in flash, while function, class
#       and constant objects and the names' qstr entries are still made in the heap). The board
#       script (a minimal board object and one send) is compiled by mpy-cross and installed with
#       the firmware in each build, as a product's own application would be. For each build:
#       the firmware's code resident after import, the heap the unix port needs alone, the heap
#       needed up to the call of send_mail, and so what send_mail itself needs (the unix port is
#       64-bit: pointers are 8 bytes and GC blocks 32, an ESP32's 4 and 16). Then the smallest heap
#       in which the product build sends ten 1 MB scans in a row in one process, as a board that
#       sends all day (the heap must stay usable, not just suffice once). Each smallest heap is
#       then checked from above: MicroPython never compacts its heap, so a send can fail in a heap
#       larger than one where it worked (the collections move, and with them where long-lived
#       objects land); every 512 bytes from the bisected size to 6 KB above it is tried, and any
#       size that fails is printed and the target counts as not met. It also checks whether
#       this unix port's mbedTLS buffers are in the GC heap (on an ESP32 ESP-IDF's mbedTLS
#       allocates outside it): the GC heap a bare TLS handshake + idle connection uses, without
#       any firmware code, and the smallest heap in which that probe completes;
#   (2) throughput of that send on MicroPython (256 KB heap) against the anchor, CPython's
#       smtplib + email sending the same attachment to the same endpoint (target: at least 1.5x),
#       and the same send by the product build in a 32 KB heap (smaller reads, more collections). The fake offers
#       CHUNKING and BINARYMIME as Exchange Online does, so the firmware sends the scan unencoded
#       by BDAT while smtplib sends base64 by DATA (it has no BDAT): the bytes on the wire are
#       printed. The same pair of sends in clear to the MX shows what TLS costs each side;
#   (3) round trips for a small message on submission, firmware against smtplib, counted by a
#       TCP relay in the middle as changes of direction (client->server then server->client);
#       the firmware's own count is printed beside it.
# Run:  .venv/bin/python bench/firmware_send.py [--size-mb 10] [--repeat 3] [--heap-only]
import argparse
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO_ROOT)

from scanmail.emulator.tenant import FakeTenant  # noqa: E402
from scanmail.host_tools.firmware_build import compile_module, firmware_image, romfs_image  # noqa: E402
from scanmail.host_tools.firmware_build import unix_port_romfs_command  # noqa: E402

from examples import configure  # noqa: E402

MICROPYTHON = os.path.join(os.path.dirname(sys.executable), "micropython")
SUBMISSION = "smtp.office365.com"
USER, PASSWORD = "scanner@contoso.com", "Scanner-Pass-1"
BOARD_IP = "127.0.0.20"
MX_HOST = "contoso-com.mail.protection.outlook.com"
SWEEP_KB = 6          # above each bisected smallest heap, every 512 bytes this far up is tried too

# What runs on the board: examples/send_a_scan.py, the project's minimal board object and send,
# kept tiny so that the heap figure is the mail core's, not the harness's, with this bench's
# settings filled in (examples/configure.py). It is compiled by mpy-cross and installed like the
# firmware (add_script): on the filesystem beside it in the stock build, in the same ROMFS
# partition in the product build, as a product's own application would be; the board runs
# `import <name>`.
SEND_LOOP = "for _ in range(SENDS):"   # where the example's sends begin

# The anchor, also in a process of its own and timed around the send alone: CPython's smtplib
# with the email package building the message (the usual way to send an attachment in Python).
ANCHOR_SCRIPT = """
import smtplib, socket, ssl, time
from email.message import EmailMessage
class RoutedSMTP(smtplib.SMTP):
    def _get_socket(self, host, port, timeout):
        return socket.create_connection((%(target_host)r, %(target_port)d), timeout,
                                        source_address=(%(ip)r, 0))
t0 = time.perf_counter()
ctx = ssl.create_default_context(cafile=%(ca_pem)r)
msg = EmailMessage()
msg["From"], msg["To"], msg["Subject"] = %(user)r, "alice@contoso.com", "bench"
msg.set_content("scan attached")
for path, name, ctype in %(attachments)r:
    with open(path, "rb") as f:
        msg.add_attachment(f.read(), maintype="application", subtype="pdf", filename=name)
with RoutedSMTP("smtp.office365.com", 587, timeout=120) as smtp:
    if %(secure)r:
        smtp.starttls(context=ctx)
        smtp.login(%(user)r, %(password)r)
    smtp.send_message(msg)
print("RESULT", int((time.perf_counter() - t0) * 1000))
"""


def build_mpy(target):
    """Write the firmware image a board gets (host_tools.firmware_build: .mpy modules and the DER
    roots) under target/; returns the folder to put on MICROPYPATH (the board's /lib)."""
    for content, device_path in firmware_image():
        path = os.path.join(target, device_path)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as f:
            f.write(content)
    return os.path.join(target, "lib")


def build_romfs(target):
    """Write the product build, the same modules as one ROMFS partition image; returns its path."""
    path = os.path.join(target, "firmware.romfs")
    with open(path, "wb") as f:
        f.write(romfs_image())
    return path


def add_script(work, mpy_dir, source, name):
    """`source` (a board script) compiled to <name>.mpy by mpy-cross, installed in both builds:
    into mpy_dir beside the firmware (stock build) and into a ROMFS image of its own that holds the
    firmware and it (product build). Returns (the script that runs it, the ROMFS image's path)."""
    source_path = os.path.join(work, name + ".py")
    with open(source_path, "w") as f:
        f.write(source)
    code = compile_module(source_path, name)
    with open(os.path.join(mpy_dir, name + ".mpy"), "wb") as f:
        f.write(code)
    image = os.path.join(work, name + ".romfs")
    with open(image, "wb") as f:
        f.write(romfs_image(extra=[(code, "lib/%s.mpy" % name)]))
    return "import %s\n" % name, image


def board_command(mpy_dir, heap, script, romfs=None):
    """(command, environment) running `script` on the unix port with `heap` bytes of GC heap and
    the firmware from mpy_dir (stock build) or from the ROMFS image at `romfs` (product build:
    then only /rom/lib and the unix port's frozen modules are on the path)."""
    args = (["-X", "heapsize=%d" % heap] if heap else []) + ["-c", script]
    if romfs:
        return unix_port_romfs_command(romfs, args), dict(os.environ, MICROPYPATH=".frozen")
    return [MICROPYTHON] + args, dict(os.environ, MICROPYPATH=mpy_dir + ":.frozen")


NO_SEND = 'print("RESULT 0 0 250 0")\n'


def run_board(mpy_dir, heap, script, timeout=300, romfs=None):
    cmd, env = board_command(mpy_dir, heap, script, romfs)
    proc = subprocess.run(cmd, env=env, cwd=mpy_dir, capture_output=True, text=True, timeout=timeout)
    results = [line.split() for line in proc.stdout.splitlines() if line.startswith("RESULT")]
    ok = proc.returncode == 0 and bool(results) and all(r[3] == "250" for r in results)
    elapsed = int(results[-1][4]) / 1000 if ok else None
    return ok, elapsed, proc.stdout + proc.stderr


def run_anchor(tenant, target, attachments, secure=True):
    script = ANCHOR_SCRIPT % {"target_host": target[0], "target_port": target[1], "ip": BOARD_IP,
                              "ca_pem": tenant.ca_pem_path, "user": USER, "password": PASSWORD,
                              "attachments": attachments, "secure": secure}
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True,
                          timeout=300)
    if proc.returncode != 0 or "RESULT" not in proc.stdout:
        raise SystemExit("firmware_send: the smtplib anchor failed:\n" + proc.stdout + proc.stderr)
    return int(proc.stdout.split()[-1]) / 1000


def board_script(tenant, target, attachments, secure=True, sends=1):
    """examples/send_a_scan.py sending `attachments` to `target`, `sends` times."""
    if secure:
        settings = {"method": "submission", "username": USER, "password": PASSWORD}
    else:   # the same bytes in clear to the MX, to show what TLS costs on each side
        settings = {"method": "custom", "host": MX_HOST, "port": 25, "tls": "none"}
    return configure.send_a_scan(NOW=int(time.time()), IP=BOARD_IP, ROUTE=tuple(target),
                                 CA_PATH=tenant.ca_der_path if secure else None, SETTINGS=settings,
                                 SENDER=USER, TO=["alice@contoso.com"],
                                 ATTACHMENTS=[tuple(a) for a in attachments], SENDS=sends)


def median_times(tenant, work, mpy_dir, target, attachments, secure, repeat):
    """Median seconds of the firmware (256 KB heap, stock build) and of the anchor, sending
    alternately, and the firmware's bytes on the wire."""
    script, _ = add_script(work, mpy_dir, board_script(tenant, target, attachments, secure),
                           "bench_throughput_" + ("tls" if secure else "plain"))
    firmware_times, anchor_times = [], []
    for _ in range(repeat):
        tenant.reset()
        ok, elapsed, out = run_board(mpy_dir, 256 * 1024, script)
        if not ok:
            raise SystemExit("firmware_send: the firmware send failed:\n" + out)
        firmware_times.append(elapsed)
        tenant.reset()
        anchor_times.append(run_anchor(tenant, target, attachments, secure))
    wire = int(out.split("RESULT")[1].split()[1])
    return statistics.median(firmware_times), statistics.median(anchor_times), wire


def resident_code_bytes(mpy_dir, romfs=None):
    """GC heap the firmware's code holds after `import scanmail.firmware.mail`, and the file it came from."""
    script = ("import gc\ngc.collect()\na = gc.mem_alloc()\nimport scanmail.firmware.mail\ngc.collect()\n"
              "print('RESIDENT', gc.mem_alloc() - a, scanmail.firmware.mail.__file__)\n")
    cmd, env = board_command(mpy_dir, None, script, romfs)
    proc = subprocess.run(cmd, env=env, cwd=mpy_dir, capture_output=True, text=True, timeout=60)
    if "RESIDENT" not in proc.stdout:
        raise SystemExit("firmware_send: importing the firmware failed:\n" + proc.stdout + proc.stderr)
    words = proc.stdout.split("RESIDENT")[1].split()
    return int(words[0]), words[1]


def interned_names(work, mpy_dir, source, product):
    """(names, pools): how many names (qstrs) the unix port interned by the end of `script`, and
    in how many pools. Pools are allocated whole, each twice the last (20, 40, 80, 160 entries,
    then 320 = 3.5 KB on this port), so the 301st name costs a 3.5 KB block in the middle of a
    send: the figure shows how close a change brings the run to that step."""
    source = source + "import micropython\nmicropython.qstr_info()\n"
    script, image = add_script(work, mpy_dir, source, "bench_names")
    ok, _, out = run_board(mpy_dir, 256 * 1024, script, romfs=image if product else None)
    if not ok or "n_qstr=" not in out:
        raise SystemExit("firmware_send: counting the interned names failed:\n" + out)
    return (int(out.split("n_qstr=")[1].split(",")[0]), int(out.split("n_pool=")[1].split(",")[0]))


# A bare TLS client on the unix port, no firmware code, using MicroPython's tls module as the
# firmware does: GC heap in use (after a collection) before the TLS context, with the context, after
# the handshake and with the connection idle after one EHLO. mbedTLS's record buffers alone are
# kilobytes; if they were allocated from the GC heap ("tracked alloc") the handshake would show
# them, and the smallest heap in which the probe completes would hold them.
TLS_PROBE_SCRIPT = """
import gc, socket, tls
def used():
    gc.collect()
    return gc.mem_alloc()
with open(%(ca)r, "rb") as f:
    ca = f.read()
s = socket.socket()
s.connect(socket.getaddrinfo(%(host)r, %(port)d)[0][-1])
def reply():
    data = b""
    while not data.endswith(b"\\r\\n") or data.split(b"\\r\\n")[-2][3:4] == b"-":
        data += s.recv(256)
    return data
reply()
s.write(b"EHLO probe\\r\\n"); reply()
s.write(b"STARTTLS\\r\\n"); reply()
before = used()
ctx = tls.SSLContext(tls.PROTOCOL_TLS_CLIENT)
ctx.verify_mode = tls.CERT_REQUIRED
ctx.load_verify_locations(ca)
with_context = used()
s = ctx.wrap_socket(s, server_hostname=%(hostname)r)
handshaken = used()
s.write(b"EHLO probe\\r\\n"); reply()
idle = used()
print("TLS", before, with_context, handshaken, idle)
"""


def tls_probe(tenant, heap):
    host, port = tenant.address("submission")
    script = TLS_PROBE_SCRIPT % {"ca": tenant.ca_der_path, "host": host, "port": port,
                                 "hostname": SUBMISSION}
    proc = subprocess.run([MICROPYTHON, "-X", "heapsize=%d" % heap, "-c", script],
                          capture_output=True, text=True, timeout=60)
    if proc.returncode != 0 or "TLS" not in proc.stdout:
        return None, proc.stdout + proc.stderr
    return [int(w) for w in proc.stdout.split("TLS")[1].split()], ""


def tls_gc_bytes(tenant):
    """GC heap used by (the TLS context, the handshake, the idle connection) on the unix port, and
    the smallest heap (KB, bisected) in which the bare probe completes."""
    figures, out = tls_probe(tenant, 256 * 1024)
    if figures is None:
        raise SystemExit("firmware_send: the bare TLS probe failed:\n" + out)
    before, with_context, handshaken, idle = figures
    low_kb, high_kb = 1, 256
    while high_kb - low_kb > 1:
        mid = (low_kb + high_kb) // 2
        if tls_probe(tenant, mid * 1024)[0] is None:
            low_kb = mid
        else:
            high_kb = mid
    return with_context - before, handshaken - with_context, idle - with_context, high_kb


def smallest_heap(mpy_dir, script, low_kb=8, high_kb=512, romfs=None, before_each=None):
    """The smallest heap (KB, bisected) in which `script` reports a send; before_each() runs
    before every try (the tenant's reset, so that its per-minute limits never count earlier tries)."""
    before_each = before_each or (lambda: None)
    before_each()
    ok, _, out = run_board(mpy_dir, high_kb * 1024, script, romfs=romfs)
    if not ok:
        raise SystemExit("firmware_send: the send fails even with %d KB of heap:\n%s" % (high_kb, out))
    while high_kb - low_kb > 1:
        mid = (low_kb + high_kb) // 2
        before_each()
        ok, _, _ = run_board(mpy_dir, mid * 1024, script, romfs=romfs)
        if ok:
            high_kb = mid
        else:
            low_kb = mid
    return high_kb


def failing_heaps(mpy_dir, script, from_kb, to_kb, step=512, romfs=None, before_each=None):
    """The heap sizes (bytes) from from_kb to to_kb, every `step` bytes, in which `script` does NOT
    report its send. MicroPython never compacts its heap, so success is not monotonic in its size:
    a larger heap moves the collections and so where long-lived objects land, and a bisection alone
    can hide a size above its answer that fails."""
    before_each = before_each or (lambda: None)
    failing = []
    for heap in range(from_kb * 1024, to_kb * 1024 + 1, step):
        before_each()
        if not run_board(mpy_dir, heap, script, romfs=romfs)[0]:
            failing.append(heap)
    return failing


def steady_heap(bisected_kb, failing, step=512):
    """The smallest heap (KB) from which every size swept sends: the bisected one, or just above
    the largest size that failed."""
    return max([bisected_kb * 1024] + [heap + step for heap in failing]) / 1024


def sweep_text(bisected_kb, failing, to_kb, step=512):
    steady = steady_heap(bisected_kb, failing, step)
    text = "%g KB (target <= 32 KB: %s): every heap from there to %d KB, every %d bytes, sends" % (
        steady, "met" if steady <= 32 else "NOT met", to_kb, step)
    if failing:
        text += "; bisection found %d KB, but tries at %s KB failed" % (
            bisected_kb, ", ".join("%g" % (heap / 1024) for heap in failing))
    return text


class TurnCountingRelay:
    """A TCP relay that counts the turns of a conversation: each time data flows server->client
    after client->server data (TLS handshake flights included, the same for both clients)."""

    def __init__(self, target):
        self.target = target
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(4)
        self.address = self.listener.getsockname()
        self.turns = 0
        self._last = None
        self._lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def reset(self):
        self.turns, self._last = 0, None

    def _note(self, direction):
        with self._lock:
            if direction == "s2c" and self._last == "c2s":
                self.turns += 1
            self._last = direction

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target, source_address=(BOARD_IP, 0))
            threading.Thread(target=self._pipe, args=(client, server, "c2s"), daemon=True).start()
            threading.Thread(target=self._pipe, args=(server, client, "s2c"), daemon=True).start()

    def _pipe(self, src, dst, direction):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                self._note(direction)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mb", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--heap-only", action="store_true",
                        help="measure only (1), the smallest heap of each build")
    args = parser.parse_args(argv)
    work = tempfile.mkdtemp(prefix="bench-firmware-")
    try:
        mpy_dir = build_mpy(os.path.join(work, "board"))
        romfs = build_romfs(work)
        scan = os.path.join(work, "scan.pdf")
        with open(scan, "wb") as f:
            for _ in range(args.size_mb):
                f.write(os.urandom(1 << 20))
        size = os.path.getsize(scan)
        with FakeTenant(state_dir=os.path.join(work, "o365")) as tenant:
            target = tenant.address("submission")
            big = board_script(tenant, target, [(scan, "scan.pdf", "application/pdf")])

            print("(1) smallest MicroPython heap sending %d MB over STARTTLS + AUTH (target <= 32 KB)"
                  % args.size_mb)
            # The same script stopped right before send_mail, and an empty one, reporting as a
            # send that did nothing so that the same check and bisection apply: what the unix port
            # needs by itself, and what is in the heap when send_mail is called.
            before_send = big.split(SEND_LOOP)[0] + NO_SEND
            send_run, send_image = add_script(work, mpy_dir, big, "bench_send")
            setup_run, setup_image = add_script(work, mpy_dir, before_send, "bench_setup")
            heaps = {}
            for label, product in (("stock build, .mpy files on the filesystem", False),
                                   ("product build, .mpy in a ROMFS partition", True)):
                heap_kb = smallest_heap(mpy_dir, send_run, romfs=send_image if product else None)
                bare_kb = smallest_heap(mpy_dir, NO_SEND, low_kb=1,
                                        romfs=romfs if product else None)
                setup_kb = smallest_heap(mpy_dir, setup_run, low_kb=1,
                                         romfs=setup_image if product else None)
                resident, source = resident_code_bytes(mpy_dir, romfs if product else None)
                names, pools = interned_names(work, mpy_dir, big, product)
                failing = failing_heaps(mpy_dir, send_run, heap_kb, heap_kb + SWEEP_KB,
                                        romfs=send_image if product else None)
                heaps[label] = (steady_heap(heap_kb, failing), resident, setup_kb, names, failing)
                print("    %s (scanmail.firmware.mail imported from %s):" % (label, source))
                print("        smallest heap: " + sweep_text(heap_kb, failing, heap_kb + SWEEP_KB))
                print("        the firmware's code resident after import: %.1f KB (gc.mem_alloc)"
                      % (resident / 1024))
                print("        smallest heap for the unix port alone: %d KB; with the firmware "
                      "imported and the bench's board objects, settings and message made: %d KB; "
                      "so send_mail itself needs %g KB" % (bare_kb, setup_kb,
                                                           heaps[label][0] - setup_kb))
                print("        names interned by the end of the send (bench script included): %d, "
                      "in %d pools (the 301st name adds a 5th pool of 3.5 KB)" % (names, pools))
            # A board sends scan after scan in one process: the heap must stay usable, not just
            # suffice once (MicroPython never compacts it). Ten 1 MB sends in a row, product build.
            with open(os.path.join(work, "scan-1mb.pdf"), "wb") as f:
                f.write(os.urandom(1 << 20))
            ten = board_script(tenant, target, [(os.path.join(work, "scan-1mb.pdf"), "scan.pdf",
                                                 "application/pdf")], sends=10)
            ten_run, ten_image = add_script(work, mpy_dir, ten, "bench_ten_sends")
            ten_kb = smallest_heap(mpy_dir, ten_run, romfs=ten_image, before_each=tenant.reset)
            ten_failing = failing_heaps(mpy_dir, ten_run, ten_kb, ten_kb + SWEEP_KB, romfs=ten_image,
                                        before_each=tenant.reset)
            print("    ten 1 MB sends in a row in one process, product build: smallest heap "
                  + sweep_text(ten_kb, ten_failing, ten_kb + SWEEP_KB))
            tls_context_bytes, handshake_bytes, idle_bytes, tls_heap_kb = tls_gc_bytes(tenant)
            print("    TLS on this unix port, no firmware code: the TLS context (CA loaded) holds %d "
                  "bytes of GC heap, the handshake adds %d, the idle connection %d; the whole "
                  "probe (STARTTLS, handshake, EHLO) completes in a %d KB heap: mbedTLS's "
                  "record buffers are %s" % (
                      tls_context_bytes, handshake_bytes, idle_bytes, tls_heap_kb,
                      "NOT in the GC heap (as on an ESP32, where ESP-IDF's mbedTLS allocates "
                      "outside it), so the figures above need no TLS correction"
                      if idle_bytes < 4096 else "in the GC heap (an ESP32 keeps them outside)"))
            (stock_kb, stock_resident, _, _, stock_failing), \
                (rom_kb, rom_resident, rom_setup_kb, rom_names, rom_failing) = heaps.values()
            ten_steady_kb = steady_heap(ten_kb, ten_failing)
            print("    ratio stock/product heap: %.2fx" % (stock_kb / rom_kb))

            if args.heap_only:
                print(json.dumps({"heap_kb_stock": stock_kb, "resident_code_bytes_stock": stock_resident,
                                  "heap_kb_romfs": rom_kb, "resident_code_bytes_romfs": rom_resident,
                                  "send_mail_kb_romfs": round(rom_kb - rom_setup_kb, 1),
                                  "names_interned_romfs": rom_names,
                                  "heap_kb_romfs_ten_sends": ten_steady_kb,
                                  "failing_heaps_romfs": rom_failing, "failing_heaps_stock": stock_failing,
                                  "failing_heaps_romfs_ten_sends": ten_failing,
                                  "tls_gc_bytes_idle": idle_bytes}))
                return 0
            print("(2) throughput, %d MB attachment, same endpoint" % args.size_mb)
            attachments = [(scan, "scan.pdf", "application/pdf")]
            fw, anchor, wire = median_times(tenant, work, mpy_dir, target, attachments, True,
                                            args.repeat)
            pfw, panchor, _ = median_times(tenant, work, mpy_dir, tenant.address("mx"), attachments,
                                           False, args.repeat)
            mb = size / 1e6
            print("    firmware on MicroPython (256 KB heap), send_mail():  %.2f s, %.1f MB/s"
                  % (fw, mb / fw))
            print("    anchor CPython smtplib + email, build and send:     %.2f s, %.1f MB/s"
                  % (anchor, mb / anchor))
            print("    ratio firmware/anchor: %.2fx (target >= 1.5x)" % (anchor / fw))
            print("    firmware bytes on the wire: %d for a %d-byte scan (%s)" % (
                wire, size, "unencoded by BDAT + BINARYMIME" if wire < size * 4 // 3
                else "base64 by DATA"))
            print("    the same sends in clear to the MX (no TLS on either side): firmware %.2f s, "
                  "anchor %.2f s, ratio %.2fx" % (pfw, panchor, panchor / pfw))
            # In the heap the target allows, the file buffer is small (an eighth of the free heap)
            # and collections come every eighth of it: what a board with that budget gets.
            small_times = []
            for _ in range(args.repeat):
                tenant.reset()
                ok, elapsed, out = run_board(mpy_dir, 32 * 1024, send_run, romfs=send_image)
                if not ok:
                    raise SystemExit("firmware_send: the send in a 32 KB heap failed:\n" + out)
                small_times.append(elapsed)
            fw_32kb = statistics.median(small_times)
            print("    the same send by the product build in a 32 KB heap: %.2f s, %.1f MB/s, "
                  "ratio to the anchor %.2fx (no target)" % (fw_32kb, mb / fw_32kb, anchor / fw_32kb))

            print("(3) round trips for a small message on submission")
            relay = TurnCountingRelay(target)
            small, _ = add_script(work, mpy_dir, board_script(tenant, relay.address, []),
                                  "bench_small")
            relay.reset()
            ok, _, out = run_board(mpy_dir, 256 * 1024, small)
            if not ok:
                raise SystemExit("firmware_send: the small firmware send failed:\n" + out)
            time.sleep(0.2)
            firmware_turns = relay.turns
            own_count = int(out.split("RESULT")[1].split()[0])
            relay.reset()
            run_anchor(tenant, relay.address, [])
            time.sleep(0.2)
            anchor_turns = relay.turns
            print("    firmware: %d turns on the wire (its own count of SMTP waits: %d)"
                  % (firmware_turns, own_count))
            print("    anchor smtplib: %d turns on the wire" % anchor_turns)
            print("    ratio anchor/firmware: %.2fx fewer round trips" % (anchor_turns / firmware_turns))
            print(json.dumps({"heap_kb_stock": stock_kb, "resident_code_bytes_stock": stock_resident,
                              "heap_kb_romfs": rom_kb, "resident_code_bytes_romfs": rom_resident,
                              "send_mail_kb_romfs": round(rom_kb - rom_setup_kb, 1),
                              "names_interned_romfs": rom_names,
                              "heap_kb_romfs_ten_sends": ten_steady_kb,
                              "failing_heaps_romfs": rom_failing, "failing_heaps_stock": stock_failing,
                              "failing_heaps_romfs_ten_sends": ten_failing,
                              "tls_gc_bytes_idle": idle_bytes,
                              "firmware_s": round(fw, 3), "anchor_s": round(anchor, 3),
                              "throughput_ratio": round(anchor / fw, 2),
                              "throughput_ratio_32kb_heap": round(anchor / fw_32kb, 2),
                              "plaintext_ratio": round(panchor / pfw, 2),
                              "firmware_turns": firmware_turns, "anchor_turns": anchor_turns}))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
