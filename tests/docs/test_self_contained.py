# The repository cites only itself and public sources: no path into the machine it was written on,
# no design notes or drafts that are not in it, no "issue N" of a tracker a reader cannot see.
# Facts about Exchange Online are cited as docs/exchange-online.md. Rule: a reader with nothing but
# a clone can follow every reference; the failure names the file, the line and what to cite instead.
import os
import re

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SKIP_DIRS = {".git", ".venv", "build", "dist", "__pycache__", ".pytest_cache", ".hypothesis", ".state"}
TEXT_SUFFIXES = (".py", ".md", ".toml", ".txt", ".json", ".ini", ".cfg", ".dot", ".yml", ".yaml", ".sh")
OUTSIDE = [
    (re.compile(r"/work/|\bshared/(reference|seed|design)\b", re.I), "a path outside the repository"),
    (re.compile(r"\bseed(?:'s)? (?:document|table|comparison)|\bthe seed's\b|[(\"]the seed[)\"]", re.I), "an unpublished draft (\"the seed\")"),
    (re.compile(r"\bissue \d+\b", re.I), "an issue of a tracker that is not public"),
    (re.compile(r"\bthe reference (says|gives|lists|shows|it follows)|\breference sections? \d", re.I),
     "a reference document that is not in the repository"),
    (re.compile(r"micropython-boards\.md|architecture-and-style\.md", re.I), "a design note outside the repository"),
    (re.compile(r"(?<![\w/])exchange-online\.md", re.I), "exchange-online.md without its folder (docs/)"),
]


def repository_text_files():
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if d not in SKIP_DIRS and not d.endswith(".egg-info")]
        for name in files:
            if name.endswith(TEXT_SUFFIXES) or name in ("dev", "run"):
                yield os.path.join(folder, name)


def test_nothing_cites_a_document_outside_the_repository():
    this_file = os.path.abspath(__file__)
    found = []
    for path in repository_text_files():
        if path == this_file:
            continue
        with open(path, encoding="utf-8", errors="replace") as f:
            for number, line in enumerate(f, 1):
                for pattern, what in OUTSIDE:
                    if pattern.search(line):
                        found.append("%s:%d: %s: %s" % (os.path.relpath(path, ROOT), number, what, line.strip()[:120]))
    assert not found, ("cite docs/exchange-online.md (or a public source) instead of:\n  " + "\n  ".join(found))


def test_the_check_above_sees_what_it_looks_for():
    samples = ["see /work/shared/reference/exchange-online.md", "as the seed's table says", "(the seed)", "(issue 3)",
               "reference section 4", "Protocol facts: micropython-boards.md", "from exchange-online.md section 1"]
    for sample in samples:
        assert any(pattern.search(sample) for pattern, _ in OUTSIDE), sample
    for fine in ["docs/exchange-online.md", "[docs](../../docs/exchange-online.md)", "random.Random(seed)",
                 "micropython/micropython issue #12237", "the fuzz seed 20261128",
                 "prints the seed and the session transcript"]:
        assert not any(pattern.search(fine) for pattern, _ in OUTSIDE), fine
