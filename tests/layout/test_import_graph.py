# No import cycle between scanmail's own modules: a module's imports are read from its source (at
# module level, inside functions, and names handed to importlib.import_module or __import__), and
# the graph over every module of the installed package must have no cycle. A cycle is named in
# full, so the one who made it sees which import to move.
import ast
import os

import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PARTS = {"firmware": "scanmail.firmware", "emulator": "scanmail.emulator",
         "host_tools": "scanmail.host_tools", "hardware": "scanmail.hardware"}
BOARD_ROM = "scanmail.emulator.board_rom"


def project_modules():
    """{module name: source path} for every module the package installs."""
    modules = {}
    for folder, package in PARTS.items():
        for root, dirs, files in os.walk(os.path.join(REPO_ROOT, folder)):
            dirs[:] = [d for d in dirs if not d.startswith((".", "__pycache__"))]
            rel = os.path.relpath(root, os.path.join(REPO_ROOT, folder))
            prefix = package if rel == "." else package + "." + rel.replace(os.sep, ".")
            for name in files:
                if name.endswith(".py"):
                    module = prefix if name == "__init__.py" else prefix + "." + name[:-3]
                    modules[module] = os.path.join(root, name)
    return modules


def imported_names(path):
    """Every module the source at `path` imports, wherever the import statement is: a name, or
    for `from X import Y` the pair (X, X.Y), which is X.Y when that is a module, else X."""
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    names = set()
    dynamic = False
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from package import module` imports the module; `from module import name`, the module
            for alias in node.names:
                names.add((node.module, node.module + "." + alias.name))
        elif isinstance(node, ast.Call):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            dynamic = dynamic or called in ("import_module", "__import__")
    if dynamic:  # names given to importlib as strings count as imports too
        names.update(node.value for node in ast.walk(tree)
                     if isinstance(node, ast.Constant) and isinstance(node.value, str))
    return names


def import_graph():
    modules = project_modules()
    graph = {}
    for module, path in modules.items():
        edges = set()
        for name in imported_names(path):
            if isinstance(name, tuple):
                name = name[1] if name[1] in modules else name[0]
            if module.startswith(BOARD_ROM + ".") and BOARD_ROM + "." + name in modules:
                name = BOARD_ROM + "." + name   # the ROM's modules import each other top-level
            if name in modules and name != module:
                edges.add(name)
        graph[module] = sorted(edges)
    return graph


def find_cycle(graph):
    """One cycle as a list of module names (first == last), or None."""
    state = {}

    def visit(node, path):
        state[node] = "open"
        for nxt in graph.get(node, ()):
            if state.get(nxt) == "open":
                return path[path.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt, path + [nxt])
                if found:
                    return found
        state[node] = "done"
        return None

    for start in sorted(graph):
        if start not in state:
            found = visit(start, [start])
            if found:
                return found
    return None


def test_scanmail_has_no_import_cycle():
    graph = import_graph()
    assert len(graph) > 50            # the walk found the package, not an empty folder
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


@pytest.mark.parametrize("sources, cycle", [
    ({"a": ["b"], "b": ["c"], "c": ["a"]}, ["a", "b", "c", "a"]),
    ({"a": ["b"], "b": [], "c": ["c"]}, ["c", "c"]),
    ({"a": ["b", "c"], "b": ["c"], "c": []}, None),
])
def test_the_cycle_finder_names_the_cycle_it_finds(sources, cycle):
    assert find_cycle(sources) == cycle


def test_imports_inside_functions_and_by_importlib_are_edges(tmp_path):
    source = tmp_path / "m.py"
    source.write_text("import importlib\n"
                      "def later():\n    from scanmail.host_tools import cli\n"
                      "def by_name():\n    return importlib.import_module('scanmail.emulator.demo')\n")
    names = imported_names(str(source))
    assert ("scanmail.host_tools", "scanmail.host_tools.cli") in names
    assert "scanmail.emulator.demo" in names
