# The test command cosmic-ray runs for each mutant of one module (bench/mutation.py): finds the
# lines the mutant changed (the mutated file in the current directory against the module as it
# was) and runs, in their listed order, only the test units that execute those lines
# (bench/mutation_coverage.py measured them). Rule: a unit is left out only when it was seen not
# to run the changed statement; a statement no unit was seen to run (or a change the source's
# lines cannot place) runs every unit, as the run without selection would.
#
# The pytest run goes to the copy's bench/mutation_server.py when one answers (a pytest already
# started, forked for each run), else this process becomes pytest.
#
#   python bench/mutation_select.py SELECTION.json       # cwd: the module's copy of the repo
import ast
import difflib
import json
import os
import socket
import sys


def statement_lines(source):
    """line -> (first, last) line of the innermost statement holding it; for a compound
    statement only its header (an `if`'s test, a `def`'s signature), whose body is its own."""
    spans = {}
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if not isinstance(node, ast.stmt):
            continue
        first, last = node.lineno, node.end_lineno
        body = getattr(node, "body", None)
        if isinstance(body, list) and body and isinstance(body[0], ast.stmt):
            last = max(first, body[0].lineno - 1)
        for line in range(first, last + 1):
            old = spans.get(line)
            if old is None or (last - first) <= (old[1] - old[0]):
                spans[line] = (first, last)
    return spans


def changed_lines(before, after):
    """Line numbers (1-based, in `before`) that differ in `after`."""
    lines = set()
    matcher = difflib.SequenceMatcher(None, before.splitlines(), after.splitlines(), autojunk=False)
    for tag, i1, i2, _, _ in matcher.get_opcodes():
        if tag != "equal":
            lines.update(range(i1 + 1, max(i2, i1 + 1) + 1))
    return lines


def units_for(selection, mutated_source):
    """The units to run for this mutant, in their listed order."""
    units = selection["units"]
    changed = changed_lines(selection["source"], mutated_source)
    if not changed:
        return units
    spans = statement_lines(selection["source"])
    by_line = selection["lines"]              # "line" -> [unit, ...]; "" means every unit
    wanted = set()
    for line in changed:
        first, last = spans.get(line, (line, line))
        seen = [u for n in range(first, last + 1) for u in by_line.get(str(n), [])]
        if not seen or "" in seen:
            return units
        wanted.update(seen)
    wanted.update(selection.get("always", ()))
    return [u for u in units if u in wanted]


def ask_server(path, args):
    """Run pytest with `args` in bench/mutation_server.py's fork; -> (exit code, its output), or
    (None, "") when no server answers (then this process runs pytest itself)."""
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        client.connect(path)
    except OSError:
        return None, ""
    with client:
        client.sendall(json.dumps({"args": args}).encode() + b"\n")
        reply = b""
        while not reply.endswith(b"\n"):
            chunk = client.recv(65536)
            if not chunk:
                return None, ""
            reply += chunk
    answer = json.loads(reply.decode())
    return answer["code"], answer["output"]


def main(argv):
    with open(argv[1]) as f:
        selection = json.load(f)
    with open(selection["path"]) as f:
        mutated = f.read()
    units = units_for(selection, mutated)
    sys.stdout.write("mutation_select: %d of %d units: %s\n" % (len(units), len(selection["units"]),
                                                                " ".join(units)))
    sys.stdout.flush()
    if selection.get("server"):
        code, output = ask_server(selection["server"], selection["pytest"][3:] + units)
        if code in (0, 1):        # passed, or a test failed; anything else is run afresh below
            sys.stdout.write(output)
            sys.stdout.flush()
            return code
    command = selection["pytest"] + units
    os.execv(command[0], command)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
