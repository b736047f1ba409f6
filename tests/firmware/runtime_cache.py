# Run a batch of firmware cases once per runtime and hand each test its own result, so that
# table-driven tests cost one interpreter start per runtime instead of one per case.
import json
import os

from tests import runtimes

ON_RUNTIME = os.path.join(os.path.dirname(os.path.abspath(__file__)), "on_runtime")
_cache = {}


def run_json(runtime, code, heap_bytes=None, timeout=120):
    """Run `code` (which prints one JSON document) on `runtime`; return the decoded document."""
    proc = runtimes.run_code(runtime, code, heap_bytes, timeout, extra_paths=(ON_RUNTIME,))
    out = proc.stdout.decode("utf-8", "replace")
    if proc.returncode != 0:
        raise AssertionError("%s exited %d:\n%s%s" % (
            runtime, proc.returncode, out, proc.stderr.decode("utf-8", "replace")))
    return json.loads(out.strip().splitlines()[-1])


def batch(runtime, name, code):
    """The result of `code` on `runtime`, computed once per test session."""
    key = (runtime, name)
    if key not in _cache:
        _cache[key] = run_json(runtime, code)
    return _cache[key]
