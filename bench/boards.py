#!/usr/bin/env python3
# Benchmark: how long a virtual board takes to answer its first prompt, and how long the demo takes.
# Anchors, measured in the same run:
#   - board start: the bare MicroPython unix port started on a pseudo-terminal until its `>>> `
#     prompt (no supervisor, no relay, no shims): what a virtual board costs on top of the binary;
#   - demo: the demo's own limit of 30 s, and the CPython-runtime demo beside the MicroPython one.
# Run:  .venv/bin/python bench/boards.py [--repeat 5] [--skip-demo]
import argparse
import json
import os
import pty
import select
import statistics
import subprocess
import sys
import tempfile
import time

from scanmail.emulator.boards import runtimes

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO_ROOT)


def bare_unix_port_to_prompt():
    master, slave = pty.openpty()
    t0 = time.perf_counter()
    proc = subprocess.Popen([runtimes.micropython_executable()], stdin=slave, stdout=slave, stderr=slave, close_fds=True)
    seen = b""
    try:
        while not seen.endswith(b">>> "):
            ready, _, _ = select.select([master], [], [], 10)
            if not ready:
                raise RuntimeError("the unix port gave no prompt within 10 s")
            seen += os.read(master, 4096)
        return time.perf_counter() - t0
    finally:
        proc.kill()
        proc.wait()
        os.close(master)
        os.close(slave)


def virtual_board_to_prompt(runtime):
    from scanmail.emulator.boards import BoardHandle

    with tempfile.TemporaryDirectory() as state:
        t0 = time.perf_counter()
        board = BoardHandle("esp32-devkitc", runtime=runtime, state_dir=state, ip="127.0.0.41", fast=True)
        board.__enter__()  # returns once the board has printed its first prompt
        elapsed = time.perf_counter() - t0
        board.__exit__(None, None, None)
        return elapsed


def demo_wall_time(runtime):
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "scanmail.host_tools.cli", "demo", "--runtime", runtime, "--json"],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)
    elapsed = time.perf_counter() - t0
    try:
        report = json.loads(proc.stdout)
    except ValueError:
        raise RuntimeError("the demo printed no JSON (exit %d):\n%s" % (proc.returncode, proc.stderr[-2000:]))
    return elapsed, report


def median_of(fn, repeat):
    return statistics.median(fn() for _ in range(repeat))


def main():
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=5, help="runs per start-time figure (median is shown)")
    parser.add_argument("--skip-demo", action="store_true", help="only the board start times")
    args = parser.parse_args()

    print("virtual boards: start to first prompt, median of %d runs" % args.repeat)
    bare = median_of(bare_unix_port_to_prompt, args.repeat)
    print("  %-44s %7.3f s   (anchor)" % ("bare MicroPython unix port on a pty", bare))
    for runtime in ("micropython", "cpython"):
        t = median_of(lambda: virtual_board_to_prompt(runtime), args.repeat)
        print("  %-44s %7.3f s   %5.1fx the anchor" % ("virtual esp32-devkitc, %s runtime" % runtime, t, t / bare))
    if args.skip_demo:
        return 0
    print("\nscanmail demo --json: wall time (limit 30 s, the anchor)")
    for runtime in ("micropython", "cpython"):
        elapsed, report = demo_wall_time(runtime)
        matched = sum(1 for case in report["cases"] if case["matches"])
        if matched != len(report["cases"]):     # a failed demo's time is no figure
            print("boards: no figure for the %s demo: %d of %d outcomes as expected" % (
                runtime, matched, len(report["cases"])), file=sys.stderr)
            return 1
        print("  %-44s %7.2f s   %5.2fx the 30 s limit   %d/%d outcomes as expected"
              % ("demo, %s boards" % report["runtime"], elapsed, elapsed / 30.0, matched, len(report["cases"])))
    return 0


if __name__ == "__main__":
    sys.exit(main())
