#!/usr/bin/env python3
# Benchmark: `scanmail flash` against the reference host tools, on virtual ESP32-DevKitC boards
# (MicroPython runtime) paced at 115200 baud with the 260-byte UART input buffer.
# Anchors, measured in the same run on equal boards with the same files (the firmware's .mpy
# files and boot.py, laid out as on the board):
#   - full_ratio: scanmail's first flash of a fresh board over `mpremote fs cp -r` of the same
#     files to a fresh board (target <= 0.4);
#   - nochange_ratio: scanmail's flash with nothing changed over mpremote's own copy with nothing
#     changed (it compares SHA-256 and skips) (target <= 0.1);
#   - mpytool_ratio: scanmail's first flash over `mpytool cp` of the same files (report; aim < 1);
#   - cuts, mixed: transfers cut by closing the port at a random instant, then a hard reset; mixed
#     counts boots whose application is neither the old nor the new one, whole (target: 0 of >= 50);
#     cuts_after_switch says how many cuts came after the pointer changed;
#   - parallel_ratio: four fresh boards flashed at once over one (target <= 1.5).
# Each tool is timed inside its own process after its imports (interpreter start-up is not the
# tool's work), from its main() with the arguments a user types to its return.
# Run:  .venv/bin/python bench/flash.py [--json] [--cuts 50] [--seed 1]
import argparse
import hashlib
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time

TOOL_RUNNER = r"""
import sys, time
tool, argv, cwd = sys.argv[1], sys.argv[2:], None
if tool == "mpremote":
    from mpremote.main import main
elif tool == "mpytool":
    from mpytool.mpytool import main
else:
    from scanmail.host_tools.cli import main as _main
    main = lambda: _main(sys.argv[1:])
sys.argv = [tool] + argv
t0 = time.perf_counter()
try:
    status = main()
except SystemExit as exc:
    status = exc.code
elapsed = time.perf_counter() - t0
sys.stderr.write("\nBENCH-ELAPSED %.6f %s\n" % (elapsed, status))
"""


def timed_tool(tool, argv, cwd=None):
    proc = subprocess.run([sys.executable, "-c", TOOL_RUNNER, tool] + argv, cwd=cwd, capture_output=True,
                          text=True, timeout=600)
    for line in proc.stderr.splitlines()[::-1]:
        if line.startswith("BENCH-ELAPSED "):
            _, elapsed, status = line.split()
            if status not in ("0", "None"):
                raise RuntimeError("%s %s exited %s: %s" % (tool, argv, status, proc.stderr[-800:]))
            return float(elapsed)
    raise RuntimeError("%s did not finish: %s" % (tool, proc.stderr[-800:]))


def image_files():
    """The files of the flash, {device path relative to the slot root: bytes}, for MicroPython."""
    from scanmail.host_tools import firmware_build

    return {path: data for data, path in firmware_build.firmware_image(compiled=True)}


def lay_out(image, boot_py, folder):
    for path, data in list(image.items()) + [("boot.py", boot_py)]:
        target = os.path.join(folder, path)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with open(target, "wb") as handle:
            handle.write(data)


def board_hashes(port, root):
    """{path: sha} of every file under `root` on the board."""
    from scanmail.host_tools.raw_repl import RawRepl

    code = ("import os, hashlib, binascii\n"
            "def _w(d, pre):\n"
            "    for e in list(os.ilistdir(d)):\n"
            "        if e[1] & 0x4000:\n"
            "            _w(d + '/' + e[0], pre + e[0] + '/')\n"
            "        else:\n"
            "            f = open(d + '/' + e[0], 'rb'); b = f.read(); f.close()\n"
            "            print(pre + e[0], binascii.hexlify(hashlib.sha256(b).digest()).decode())\n"
            "try:\n"
            "    _w(%r, '')\n"
            "except OSError:\n"
            "    pass\n" % root)
    with RawRepl(port, read_timeout_s=30) as repl:
        repl.enter()
        out = repl.exec(code)
    return dict(line.split() for line in out.splitlines() if line.strip())


def booted_slot(port):
    from scanmail.host_tools.raw_repl import RawRepl

    with RawRepl(port, read_timeout_s=30) as repl:
        repl.enter()
        out = repl.exec("import scanmail.firmware.errors as m\nf = getattr(m, '__file__', '')\n"
                        "print(f.split('/')[2] if f.startswith('/app/') else 'none')").strip()
    return out


def sha(data):
    return hashlib.sha256(data).hexdigest()


class Boards:
    def __init__(self, root):
        self.root = root
        self.started = []
        self.next_ip = 60

    def start(self):
        from scanmail.emulator.boards import BoardHandle

        ip = "127.0.0.%d" % self.next_ip
        self.next_ip += 1
        board = BoardHandle("esp32-devkitc", "micropython", os.path.join(self.root, ip), ip)
        board.start()
        self.started.append(board)
        return board

    def stop_all(self):
        for board in self.started:
            board.stop()


def measure_full_and_nochange(boards, files_dir, image, boot_py, report):
    ours = boards.start()
    theirs = boards.start()
    pytool = boards.start()
    full = timed_tool("scanmail", ["flash", "--port", ours.port, "-q", "--no-reset", "--json"])
    nochange = timed_tool("scanmail", ["flash", "--port", ours.port, "-q", "--no-reset", "--json"])
    want = {path: sha(data) for path, data in image.items()}
    slot = booted_slot(ours.port) if False else None
    failures = {"mpremote": [], "mpytool": []}

    def anchor(tool, board, argv_of):
        """An anchor's run; one that fails (a byte lost to the full UART buffer, say) is noted and
        run again on a fresh board, three tries at most."""
        for _ in range(3):
            try:
                return board, timed_tool(tool, argv_of(board.port), cwd=files_dir)
            except RuntimeError as exc:
                failures[tool].append(str(exc).splitlines()[-1][-160:] if str(exc).strip() else "failed")
                board.stop()
                board = boards.start()
        raise RuntimeError("%s failed three times: %s" % (tool, failures[tool]))

    mp_argv = lambda port: ["connect", port, "fs", "cp", "-r", "lib", "boot.py", ":"]
    theirs, mp_full = anchor("mpremote", theirs, mp_argv)
    mp_nochange = timed_tool("mpremote", mp_argv(theirs.port), cwd=files_dir)
    pytool, mt_full = anchor("mpytool", pytool, lambda port: ["-p", port, "-q", "cp", "lib", "boot.py", ":/"])
    report["anchor_failures"] = failures
    # Every tool must really have put the files there.
    ours_files = {k: v for k, v in board_hashes(ours.port, "/app/a").items()}
    checks = {
        "scanmail": ours_files == want,
        "mpremote": all(board_hashes(theirs.port, "/lib").get(p[4:]) == h for p, h in want.items()),
        "mpytool": all(board_hashes(pytool.port, "/lib").get(p[4:]) == h for p, h in want.items()),
    }
    report.update({
        "full_s": full, "mpremote_full_s": mp_full, "full_ratio": full / mp_full,
        "nochange_s": nochange, "mpremote_nochange_s": mp_nochange, "nochange_ratio": nochange / mp_nochange,
        "mpytool_full_s": mt_full, "mpytool_ratio": full / mt_full,
        "files": len(image) + 1, "bytes": sum(len(d) for d in image.values()) + len(boot_py),
        "copies_verified": checks,
    })
    for board in (theirs, pytool):
        board.stop()
    return ours


def measure_cuts(board, image, want_cuts, seed, full_s, report):
    """Alternate two releases on one board, closing the port at a random instant of each flash."""
    from scanmail.host_tools.flash import BoardFlash, FlashError
    from scanmail.host_tools.raw_repl import RawRepl

    release2 = dict(image)
    release2["lib/scanmail/release.txt"] = b"release 2\n"
    release2 = {p: d for p, d in release2.items() if "/diagnosis." not in p}
    wholes = [{p: sha(d) for p, d in image.items()}, {p: sha(d) for p, d in release2.items()}]
    rng = random.Random(seed)
    # The campaign reads the booted slot after every reset from the REPL: the scanner application
    # that `scanmail flash` installs (main.py) would start instead and fill the heap the reading
    # needs, so this board boots to the REPL (the slots and boot.py are what the cuts test).
    with RawRepl(board.port, read_timeout_s=30) as repl:
        repl.enter()
        repl.exec("import os\ntry:\n    os.remove('/main.py')\nexcept OSError:\n    pass\n")
    cuts = mixed = completed = attempts = after_switch = 0
    mixed_details = []
    outcomes = {"old": 0, "new": 0}
    # How long each kind of flash takes, from the last one that ran to its end: the cut instant is
    # drawn uniformly over that (times 1.1), so cuts land anywhere in it, the switch included.
    durations = {}
    while cuts < want_cuts and attempts < want_cuts * 6:
        attempts += 1
        target = release2 if attempts % 2 else image
        kind = "full" if rng.random() < 0.5 else "switch"
        # A release the board already boots needs nothing: its own (short) duration, apart.
        key = (kind, attempts % 2)
        if kind == "full":  # empty the slot that is not booting: the next flash sends everything
            with RawRepl(board.port, read_timeout_s=30) as repl:
                repl.enter()
                active = repl.exec("print(open('/app/active').read())").strip()
                other = "b" if active == "a" else "a"
                repl.exec("import os\ndef _rm(d):\n    for e in list(os.ilistdir(d)):\n"
                          "        p = d + '/' + e[0]\n        if e[1] & 0x4000:\n            _rm(p)\n"
                          "            os.rmdir(p)\n        else:\n            os.remove(p)\n"
                          "try:\n    _rm('/app/%s')\nexcept OSError:\n    pass\n" % other)
        flasher = BoardFlash(board.port, reset=False, image=target)
        at = rng.uniform(0.0, durations.get(key, full_s if kind == "full" else 0.6) * 1.25)
        timer = threading.Timer(at, lambda f=flasher: f.repl and f.repl.serial.close())
        timer.start()
        began = time.perf_counter()
        try:
            flasher.run()
            completed += 1
            timer.cancel()
            durations[key] = time.perf_counter() - began
        except FlashError:
            cuts += 1
            after_switch += flasher.switched
        timer.join()
        board.reset()
        slot, listing = "none", {}
        for _ in range(2):  # reading the board changes nothing on it: a read that failed is read again
            try:
                slot = booted_slot(board.port)
                listing = board_hashes(board.port, "/app/%s" % slot) if slot != "none" else {}
                break
            except Exception as exc:  # a board that never answers after the reset counts as mixed
                slot, listing = "unreadable", {"error": str(exc)[:200]}
        if listing == wholes[0]:
            outcomes["old"] += 1
        elif listing == wholes[1]:
            outcomes["new"] += 1
        else:
            mixed += 1
            near = min(wholes, key=lambda w: len(set(w.items()) ^ set(listing.items())))
            mixed_details.append({"slot": slot, "error": listing.get("error"),
                                  "differs": sorted(set(near) ^ set(listing) | {p for p in near if near.get(p) != listing.get(p)})[:5]})
    report.update({"cuts": cuts, "mixed": mixed, "cut_runs_completed": completed, "cut_outcomes": outcomes,
                   "cuts_after_switch": after_switch, "mixed_details": mixed_details})


def measure_parallel(boards, report):
    one = boards.start()
    single = timed_tool("scanmail", ["flash", "--port", one.port, "-q", "--no-reset", "--json"])
    one.stop()
    four = [boards.start() for _ in range(4)]
    argv = ["flash", "-q", "--no-reset", "--json"]
    for board in four:
        argv += ["--port", board.port]
    together = timed_tool("scanmail", argv)
    for board in four:
        board.stop()
    report.update({"single_s": single, "four_s": together, "parallel_ratio": together / single})


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--cuts", type=int, default=50)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--cuts-only", action="store_true", help="only the cut campaign (after one full flash)")
    args = parser.parse_args()
    from scanmail.host_tools.flash_agent import BOOT_PY

    image = image_files()
    boot_py = BOOT_PY.encode()
    report = {"profile": "esp32-devkitc", "runtime": "micropython", "baud": 115200,
              "load_average": os.getloadavg()[0]}
    with tempfile.TemporaryDirectory() as work:
        files_dir = os.path.join(work, "files")
        lay_out(image, boot_py, files_dir)
        boards = Boards(os.path.join(work, "boards"))
        try:
            if args.cuts_only:
                ours = boards.start()
                report["full_s"] = timed_tool("scanmail", ["flash", "--port", ours.port, "-q", "--no-reset", "--json"])
                measure_cuts(ours, image, args.cuts, args.seed, report["full_s"], report)
                print(json.dumps(report, indent=2))
                return 0
            ours = measure_full_and_nochange(boards, files_dir, image, boot_py, report)
            measure_cuts(ours, image, args.cuts, args.seed, report["full_s"], report)
            ours.stop()
            measure_parallel(boards, report)
        finally:
            boards.stop_all()
    targets = {"full_ratio": ("<=", 0.4), "nochange_ratio": ("<=", 0.1), "mpytool_ratio": ("<", 1.0),
               "mixed": ("==", 0), "parallel_ratio": ("<=", 1.5)}
    verdicts = {}
    for key, (op, limit) in targets.items():
        value = report[key]
        ok = value <= limit if op == "<=" else value < limit if op == "<" else value == limit
        verdicts[key] = "PASS" if ok else "MISS"
    verdicts["cuts"] = "PASS" if report["cuts"] >= 50 else "MISS"
    report["verdicts"] = verdicts
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    print("scanmail flash vs mpremote / mpytool, esp32-devkitc (MicroPython) at 115200 baud; load %.1f"
          % report["load_average"])
    rows = [("full flash", report["full_s"], report["mpremote_full_s"], "mpremote", "full_ratio"),
            ("nothing changed", report["nochange_s"], report["mpremote_nochange_s"], "mpremote", "nochange_ratio"),
            ("full flash", report["full_s"], report["mpytool_full_s"], "mpytool", "mpytool_ratio"),
            ("4 boards at once", report["four_s"], report["single_s"], "one board", "parallel_ratio")]
    for what, ours, anchor, name, key in rows:
        print("%-18s scanmail %6.2f s   %-9s %6.2f s   ratio %.3f  target %s %s  %s" % (
            what, ours, name, anchor, report[key], targets[key][0], targets[key][1], verdicts[key]))
    print("cuts %d (%d of them after the switch; %d flashes ended before their cut), mixed %d  %s; "
          "booted release 1 %d times, release 2 %d times" % (
              report["cuts"], report["cuts_after_switch"], report["cut_runs_completed"], report["mixed"],
              verdicts["mixed"], report["cut_outcomes"]["old"], report["cut_outcomes"]["new"]))
    print("every copy verified on its board: %s; anchor runs that failed and were run again: %s"
          % (report["copies_verified"], report["anchor_failures"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
