# Renders the pictures of the README: every docs/pictures/*.dot to the .svg beside it, with
# Graphviz's `dot` (Debian: apt-get install graphviz). Rule: an SVG is only ever written by this
# script, and it carries the SHA-256 of the source it was made from, in the comment
# `<!-- source: NAME.dot sha256 HEX -->` (of the source with CRLF read as LF), so that a test can
# tell a stale picture without Graphviz installed (tests/docs/test_pictures.py).
#   python docs/pictures/render.py           render every picture whose source changed
#   python docs/pictures/render.py --all     render them all again
#   python docs/pictures/render.py --check   only say which pictures are stale (exit 1 if any)
import glob
import hashlib
import os
import re
import shutil
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
MARKER = "<!-- source: %s sha256 %s -->"
MARKER_RE = re.compile(r"<!-- source: (\S+) sha256 ([0-9a-f]{64}) -->")


def source_hash(dot_path):
    with open(dot_path, "rb") as f:
        return hashlib.sha256(f.read().replace(b"\r\n", b"\n")).hexdigest()


def recorded_hash(svg_path):
    """(source name, hash) recorded in an SVG, or None when it has no marker or does not exist."""
    if not os.path.exists(svg_path):
        return None
    with open(svg_path, encoding="utf-8") as f:
        found = MARKER_RE.search(f.read())
    return (found.group(1), found.group(2)) if found else None


def stale(dot_path):
    name = os.path.basename(dot_path)
    return recorded_hash(dot_path[:-4] + ".svg") != (name, source_hash(dot_path))


def render(dot_path):
    dot = shutil.which("dot")
    if dot is None:
        raise SystemExit("render.py: Graphviz's `dot` is not installed; on Debian or Ubuntu: "
                         "apt-get install graphviz")
    proc = subprocess.run([dot, "-Tsvg", dot_path], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit("render.py: dot failed on %s:\n%s" % (dot_path, proc.stderr.strip()))
    svg = proc.stdout
    marker = MARKER % (os.path.basename(dot_path), source_hash(dot_path))
    head, sep, rest = svg.partition("<svg")   # the marker goes before the root element
    with open(dot_path[:-4] + ".svg", "w", encoding="utf-8", newline="\n") as f:
        f.write(head + marker + "\n" + sep + rest)


def main(argv):
    sources = sorted(glob.glob(os.path.join(HERE, "*.dot")))
    if "--check" in argv:
        old = [os.path.basename(p) for p in sources if stale(p)]
        for name in old:
            print("stale: %s (run python docs/pictures/render.py)" % name)
        return 1 if old else 0
    for path in sources:
        if "--all" in argv or stale(path):
            render(path)
            print("rendered %s" % os.path.relpath(path[:-4] + ".svg"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
