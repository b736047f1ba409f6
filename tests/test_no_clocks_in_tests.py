# Tests never assert on wall-clock time: a slow CI machine must not fail them and a fast one must
# not let them pass without doing their work (figures come from bench/). This reads every test
# file's syntax tree and fails naming each place where an assertion compares a clock reading
# (time.time(), monotonic(), perf_counter(), ticks_ms() ...) or a duration made from one (a
# difference, ticks_diff, a sleep timed) against a threshold; code that tests run on a board, kept
# in strings, is read too (its print() stands for the assertion). Reading a clock is allowed,
# and so is checking that a clock value lies between two readings of the host's clock.
import ast
import os

TESTS = os.path.dirname(os.path.abspath(__file__))
CLOCKS = {"time", "monotonic", "perf_counter", "time_ns", "monotonic_ns", "perf_counter_ns",
          "process_time", "ticks_ms", "ticks_us", "ticks_cpu"}


def _is_clock_call(node):
    if not isinstance(node, ast.Call):
        return False
    func = node.func
    if isinstance(func, ast.Attribute) and func.attr in CLOCKS:
        return func.attr != "time" or (isinstance(func.value, ast.Name) and func.value.id == "time")
    return isinstance(func, ast.Name) and func.id in CLOCKS - {"time"}


_WRAPPERS = {"int", "float", "round", "abs", "max", "min"}


class _Scope:
    """What one scope knows: names holding a clock reading, names holding a duration."""

    def __init__(self, clocks=(), durations=()):
        self.clocks = set(clocks)
        self.durations = set(durations)

    def kind(self, node):
        """'duration' (a difference of clock readings, ticks_diff of one, a name holding one),
        'clock' (a reading, maybe passed through int() or the like) or None for an expression."""
        if _is_clock_call(node) or (isinstance(node, ast.Name) and node.id in self.clocks):
            return "clock"
        if isinstance(node, ast.Name) and node.id in self.durations:
            return "duration"
        if isinstance(node, ast.BinOp):
            kinds = (self.kind(node.left), self.kind(node.right))
            if "duration" in kinds or (isinstance(node.op, (ast.Add, ast.Sub)) and "clock" in kinds):
                return "duration"
            return None
        if isinstance(node, ast.Call):
            name = getattr(node.func, "attr", getattr(node.func, "id", None))
            kinds = [self.kind(arg) for arg in node.args]
            if name == "ticks_diff" and "clock" in kinds:
                return "duration"
            if name in _WRAPPERS:
                return "duration" if "duration" in kinds else ("clock" if "clock" in kinds else None)
        return None

    def learn(self, statement):
        targets = statement.targets if isinstance(statement, ast.Assign) else [statement.target]
        kind = self.kind(statement.value) if statement.value is not None else None
        if isinstance(statement, ast.AugAssign) and kind:
            kind = "duration"
        for target in targets:
            if isinstance(target, ast.Name) and kind:
                (self.durations if kind == "duration" else self.clocks).add(target.id)


def _is_number(node):
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        node = node.operand
    return (isinstance(node, ast.Constant) and isinstance(node.value, (int, float))
            and not isinstance(node.value, bool))


def _timed_comparisons(expression, scope):
    """Comparisons in `expression` of a duration, or of a clock reading against a number."""
    for node in ast.walk(expression):
        if not isinstance(node, ast.Compare):
            continue
        operands = [node.left] + list(node.comparators)
        kinds = [scope.kind(operand) for operand in operands]
        if "duration" in kinds or ("clock" in kinds and any(_is_number(o) for o in operands)):
            yield node


def timed_assertions(source, filename="<test>"):
    """(line, text) of every assertion on wall-clock time in a test module's source."""
    found = []
    tree = ast.parse(source, filename)

    def visit(body, scope):
        for statement in body:
            for node in ast.walk(statement):
                if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
                    scope.learn(node)
            for node in ast.walk(statement):
                checked = []
                if isinstance(node, ast.Assert):
                    checked.append(node.test)
                elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                      and node.func.id == "print"):
                    checked.extend(node.args)    # board code: what it prints is then asserted
                for expression in checked:
                    for compare in _timed_comparisons(expression, scope):
                        found.append((compare.lineno, ast.get_source_segment(source, compare)))
            if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                visit(statement.body, _Scope(scope.clocks, scope.durations))

    visit(tree.body, _Scope())
    for node in ast.walk(tree):                  # code kept in strings, run on a board
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and "\n" in node.value:
            try:
                inner = ast.parse(node.value)
            except SyntaxError:
                continue
            for line, text in timed_assertions(ast.unparse(inner), filename):
                found.append((node.lineno, "in code run on a board: " + text))
    return sorted(set(found))


def test_no_test_asserts_on_wall_clock_time():
    places = []
    for root, _dirs, files in os.walk(TESTS):
        for name in sorted(files):
            if not name.endswith(".py") or name == os.path.basename(__file__):
                continue                       # (this file's examples are timed on purpose)
            path = os.path.join(root, name)
            with open(path, encoding="utf-8") as f:
                source = f.read()
            for line, text in timed_assertions(source, path):
                places.append("%s:%d: %s" % (os.path.relpath(path, os.path.dirname(TESTS)), line, text))
    assert not places, ("tests must not assert on wall-clock time (synchronise on events; figures "
                        "belong in bench/):\n" + "\n".join(places))


TIMED = {
    "an elapsed time against a limit": (
        "import time\ndef test_x():\n    t0 = time.monotonic()\n    work()\n"
        "    assert time.monotonic() - t0 < 2\n"),
    "an elapsed time kept in a name": (
        "import time\ndef test_x():\n    start = time.time()\n    work()\n"
        "    elapsed = time.time() - start\n    assert elapsed <= 5, elapsed\n"),
    "a clock reading against a number": (
        "from time import monotonic\ndef test_x():\n    assert monotonic() > 100\n"),
    "a tolerance around the host's clock": (
        "import time\ndef test_x(board):\n    assert abs(board.now() - time.time()) < 120\n"),
    "a sleep timed on a board": (
        "def test_x(run):\n    out = run('''\nimport time\nt0 = time.ticks_ms()\n"
        "time.sleep_ms(20)\nprint(time.ticks_diff(time.ticks_ms(), t0) >= 15)\n''')\n"),
}
NOT_TIMED = {
    "a clock read and passed on": (
        "import time\nNOW = int(time.time())\ndef test_x():\n    assert send(now=NOW) == 'ok'\n"),
    "a value between two host readings": (
        "import time\ndef test_x(board):\n    before = int(time.time())\n    now = board.now()\n"
        "    after = int(time.time())\n    assert before <= now <= after\n"),
    "ticks arithmetic on numbers": (
        "def test_x(c):\n    assert c.ticks_diff(1020, 1000) == 20\n"),
    "a deadline to wait for an event": (
        "import time\ndef test_x():\n    end = time.monotonic() + 5\n"
        "    while not ready() and time.monotonic() < end:\n        pass\n    assert ready()\n"),
}


def test_the_check_finds_each_kind_of_timed_assertion_and_nothing_else():
    for name, source in TIMED.items():
        assert timed_assertions(source), name
    for name, source in NOT_TIMED.items():
        assert timed_assertions(source) == [], (name, timed_assertions(source))
