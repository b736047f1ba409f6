# The code `scanmail flash` runs on a board (MicroPython, or a virtual board's CPython runtime),
# sent once per session through the raw REPL; later commands call its functions. Rule: one
# function per step of a flash, each printing one line per result for the host to parse; it only
# writes inside the inactive application slot (/app/a or /app/b), /boot.py and the slot pointer
# /app/active, and the pointer changes by a single rename, so a cut at any instant leaves the
# board booting one whole application. On a board with a ROMFS partition the product build also
# goes there: the pointer names the slot (whose files stay, whole) and, once the partition holds
# the same image, verified, "rom" after it; while the partition is written the pointer says the
# slot alone, so a cut then boots the slot's files. Text only (no 0x03/0x04 bytes): it travels in the REPL.

# The pointer to the slot that boots, and the slots.
APP_DIR = "/app"
POINTER = APP_DIR + "/active"
SLOTS = ("a", "b")
# Where an install made before slots existed put the firmware; removed once a slot boots.
LEGACY_DIRS = ("/lib/scanmail",)

AGENT_LIST = r'''
import os, hashlib, binascii
def _sm_h(p):
    h = hashlib.sha256()
    b = bytearray(1024)
    f = open(p, 'rb')
    try:
        while True:
            n = f.readinto(b)
            if not n:
                break
            h.update(b if n == 1024 else b[:n])
    finally:
        f.close()
    return binascii.hexlify(h.digest()).decode()
def _sm_walk(d, pre, out):
    try:
        it = list(os.ilistdir(d))
    except OSError:
        return
    for e in it:
        p = d + '/' + e[0]
        if e[1] & 0x4000:
            _sm_walk(p, pre + e[0] + '/', out)
        else:
            out.append((pre + e[0], p))
def _sm_isdir(p):
    try:
        return bool(os.stat(p)[0] & 0x4000)
    except OSError:
        return False
def _sm_ls():
    for s in %(slots)r:
        out = []
        _sm_walk(%(app)r + '/' + s, '', out)
        for r, p in out:
            print('file', s, _sm_h(p), r)
    try:
        f = open(%(pointer)r)
        print('active', f.read().strip() or '-')
        f.close()
    except OSError:
        print('active -')
    try:
        print('boot', _sm_h('/boot.py'))
    except OSError:
        print('boot -')
    for d in %(legacy)r:
        if _sm_isdir(d):
            print('legacy', d)
    print('end')
'''

AGENT_WRITE = r'''
try:
    import deflate, io
    def _sm_z(d):
        return deflate.DeflateIO(io.BytesIO(d), deflate.ZLIB).read()
    _sm_zname = 'deflate'
except ImportError:
    import zlib
    def _sm_z(d):
        return zlib.decompress(d)
    _sm_zname = 'zlib'
def _sm_md(p):
    c = ''
    for x in p.split('/')[:-1]:
        if x:
            c += '/' + x
            try:
                os.mkdir(c)
            except OSError:
                pass
def _sm_rx(p, n, sha):
    import sys
    r = sys.stdin.buffer
    r = getattr(r, 'raw', r)
    w = sys.stdout
    fl = getattr(w, 'flush', None)
    _sm_md(p)
    f = open(p, 'wb')
    pend = b''
    carry = b''
    got = 0
    acked = 0
    w.write('\x01\x01')
    if fl:
        fl()
    while got < n:
        c = r.read(min(128 - (got - acked), n - got))
        if not c:
            continue
        got += len(c)
        if got - acked >= 128:
            acked += 128
            w.write('\x01')
            if fl:
                fl()
        s = carry + c
        carry = b''
        if s[-1:] == b'\x1b':
            carry = s[-1:]
            s = s[:-1]
        pend += s.replace(b'\x1b\x01', b'\x03').replace(b'\x1b\x02', b'\x04').replace(b'\x1b\x00', b'\x1b')
        while len(pend) >= 2:
            k = pend[0] | (pend[1] << 8)
            if len(pend) < 2 + k:
                break
            f.write(_sm_z(pend[2:2 + k]))
            pend = pend[2 + k:]
    f.close()
    print('ok' if _sm_h(p) == sha else 'bad', p)
def _sm_cp(src, dst, sha):
    _sm_md(dst)
    a = open(src, 'rb')
    b = open(dst, 'wb')
    buf = bytearray(1024)
    while True:
        n = a.readinto(buf)
        if not n:
            break
        b.write(buf if n == 1024 else buf[:n])
    a.close()
    b.close()
    print('ok' if _sm_h(dst) == sha else 'bad', dst)
def _sm_rm(p):
    try:
        os.remove(p)
    except OSError:
        pass
def _sm_rmtree(d):
    out = []
    _sm_walk(d, '', out)
    for r, p in out:
        _sm_rm(p)
    dirs = {}
    for r, p in out:
        parts = r.split('/')[:-1]
        for i in range(len(parts), 0, -1):
            dirs[d + '/' + '/'.join(parts[:i])] = 1
    for x in sorted(dirs, key=len, reverse=True) + [d]:
        try:
            os.rmdir(x)
        except OSError:
            pass
def _sm_prune(d):
    out = []
    _sm_walk(d, '', out)
    dirs = {}
    for r, p in out:
        parts = r.split('/')[:-1]
        for i in range(len(parts), 0, -1):
            dirs[d + '/' + '/'.join(parts[:i])] = 1
    def _walkdirs(x):
        try:
            it = list(os.ilistdir(x))
        except OSError:
            return
        for e in it:
            if e[1] & 0x4000:
                dirs[x + '/' + e[0]] = 1
                _walkdirs(x + '/' + e[0])
    _walkdirs(d)
    for x in sorted(dirs, key=len, reverse=True):
        try:
            os.rmdir(x)
        except OSError:
            pass
def _sm_replace(tmp, dst):
    try:
        os.rename(tmp, dst)
    except OSError:
        _sm_rm(dst)
        os.rename(tmp, dst)
def _sm_switch(s):
    _sm_md(%(pointer)r)
    f = open(%(pointer)r + '.new', 'w')
    f.write(s)
    f.close()
    _sm_replace(%(pointer)r + '.new', %(pointer)r)
    print('switched', s)
print('agent', _sm_zname)
''' % {"pointer": POINTER}


def compact(code):
    """The same code with each indentation level one space wide: fewer bytes over the wire."""
    out = []
    for line in code.splitlines():
        stripped = line.lstrip(" ")
        if stripped:
            out.append(" " * ((len(line) - len(stripped)) // 4) + stripped)
    return "\n".join(out) + "\n"


# The ROMFS partition (vfs.rom_ioctl: 2 the segment, 3 erase, 4 write, 5 done): the hash of its
# first n bytes, and writing an image received as a file (by _sm_rx, verified) into it.
AGENT_ROMFS = r'''
def _sm_romh(n):
    import vfs
    s = vfs.rom_ioctl(2, 0)
    h = hashlib.sha256()
    for i in range(0, n, 1024):
        h.update(s[i:min(n, i + 1024)])
    print('romh', binascii.hexlify(h.digest()).decode(), len(s))
def _sm_romw(src):
    import vfs, sys
    for k in list(sys.modules):
        if getattr(sys.modules[k], '__file__', '').startswith('/rom/'):
            del sys.modules[k]
    try:
        vfs.umount('/rom')
    except OSError:
        pass
    n = os.stat(src)[6]
    vfs.rom_ioctl(3, 0, n)
    f = open(src, 'rb')
    b = bytearray(1024)
    at = 0
    while True:
        k = f.readinto(b)
        if not k:
            break
        c = b if k == 1024 else b[:k] + b'\xff' * (-k % 4)
        vfs.rom_ioctl(4, 0, at, c)
        at += k
    f.close()
    vfs.rom_ioctl(5, 0)
    os.remove(src)
    _sm_romh(n)
'''


AGENT_LIST = compact(AGENT_LIST % {"slots": SLOTS, "app": APP_DIR, "pointer": POINTER, "legacy": LEGACY_DIRS})
AGENT_WRITE = compact(AGENT_WRITE)
AGENT_ROMFS = compact(AGENT_ROMFS)

# What boot.py does on every start: put the active slot's lib folder on sys.path in front of
# /lib, so `import scanmail.firmware` loads the slot the pointer names; when the pointer says
# "rom" too and the board mounted its ROMFS image (/rom/lib on sys.path, in front of /lib), the
# image runs in place instead. On a virtual board's CPython runtime sys.path holds host paths: the
# flash's root is the one in front of /lib.
BOOT_PY = '''# boot.py, written by `scanmail flash`: boots the application slot /app/active names.
import sys


def _scanmail_slot():
    try:
        f = open("%(pointer)s")
        words = f.read().split()
        f.close()
    except OSError:
        return
    slot = words[0] if words else ""
    if slot not in %(slots)r:
        return
    if "rom" in words[1:] and "/rom/lib" in sys.path:
        return
    root = ""
    if sys.implementation.name != "micropython":
        for p in sys.path:
            if p.endswith("/lib"):
                root = p[:-4]
                break
    sys.path.insert(1, root + "%(app)s/" + slot + "/lib")


_scanmail_slot()
del _scanmail_slot
''' % {"slots": SLOTS, "app": APP_DIR, "pointer": POINTER}
