# How bench/mutation.py picks the tests a mutant runs (bench/mutation_select.py) and runs them in a
# started pytest (bench/mutation_server.py). Rule of both: they may only make the run cheaper, never
# change its figures: a test file is left out only when it was seen not to run the changed
# statement, and a run in the started pytest that neither passes nor fails is not taken as a kill.
import importlib.util
import json
import os
import subprocess
import sys

from tests.runtimes import REPO_ROOT


def bench(name):
    spec = importlib.util.spec_from_file_location("bench_" + name,
                                                  os.path.join(REPO_ROOT, "bench", name + ".py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SOURCE = '''import os

LIMIT = 3


def check(value):
    if (value > LIMIT
            and value < 10):
        return "big"
    total = sum([value,
                 LIMIT])
    return total


def unused():
    return 1
'''
UNITS = ["tests/a.py", "tests/b.py", "tests/c.py"]
LINES = {"1": [""], "3": [""], "6": [""], "15": [""],             # run at import
         "7": ["tests/a.py", "tests/b.py"], "9": ["tests/a.py"], "10": ["tests/b.py"],
         "12": ["tests/b.py"]}


def selection(**extra):
    return dict({"path": "m.py", "source": SOURCE, "units": UNITS, "lines": LINES}, **extra)


def mutated(old, new):
    assert SOURCE.count(old) == 1
    return SOURCE.replace(old, new)


def test_a_mutant_runs_the_test_files_that_ran_its_statement_and_no_other():
    select = bench("mutation_select")
    assert select.units_for(selection(), mutated('return "big"', 'return "bog"')) == ["tests/a.py"]
    # a change on the second line of a statement counts the lines of the whole statement
    assert select.units_for(selection(), mutated("value < 10", "value <= 10")) == \
        ["tests/a.py", "tests/b.py"]
    assert select.units_for(selection(), mutated("LIMIT])", "LIMIT + 1])")) == ["tests/b.py"]
    # run at import (a constant, a signature): every file imports it
    assert select.units_for(selection(), mutated("LIMIT = 3", "LIMIT = 4")) == UNITS
    # a statement no file was seen to run: every file, as without selection
    assert select.units_for(selection(), mutated("return 1", "return 2")) == UNITS
    # a file whose children cannot report what they ran is always among them, in listed order
    assert select.units_for(selection(always=["tests/c.py"]),
                            mutated('return "big"', 'return "bog"')) == ["tests/a.py", "tests/c.py"]
    assert select.units_for(selection(), SOURCE) == UNITS


def test_a_run_in_the_started_pytest_that_neither_passes_nor_fails_is_run_afresh(tmp_path):
    # a pytest that could not even start (here: an option it does not know) exits with 4: that
    # must not count as a kill, so the mutant's tests run again in a pytest of their own
    test = tmp_path / "tests" / "test_one.py"
    test.parent.mkdir()
    test.write_text("def test_one():\n    assert True\n")
    (tmp_path / "m.py").write_text(SOURCE)
    spec = {"path": "m.py", "source": SOURCE, "units": ["tests/test_one.py"], "lines": {},
            "pytest": [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
            "server": str(tmp_path / "no-server.sock")}
    (tmp_path / "selection.json").write_text(json.dumps(spec))
    select = os.path.join(REPO_ROOT, "bench", "mutation_select.py")
    proc = subprocess.run([sys.executable, select, str(tmp_path / "selection.json")], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "1 passed" in proc.stdout, proc.stdout + proc.stderr
    # with a server that answers 4, the same: the tests run afresh and pass
    import socket
    import threading

    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(spec["server"])
    server.listen(1)

    def answer_broken():
        conn, _ = server.accept()
        with conn:
            while not conn.recv(65536).endswith(b"\n"):
                pass
            conn.sendall(json.dumps({"code": 4, "output": "usage error"}).encode() + b"\n")

    thread = threading.Thread(target=answer_broken)
    thread.start()
    proc = subprocess.run([sys.executable, select, str(tmp_path / "selection.json")], cwd=tmp_path,
                          capture_output=True, text=True, timeout=120)
    thread.join()
    server.close()
    assert proc.returncode == 0 and "1 passed" in proc.stdout and "usage error" not in proc.stdout


def test_the_started_pytest_refuses_to_serve_once_the_firmware_is_imported(tmp_path):
    # a conftest that imports the firmware would leave every fork the module as it was before the
    # mutant: the server must say so and not serve (each mutant then starts its own pytest)
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "__init__.py").write_text("")
    (tmp_path / "tests" / "conftest.py").write_text("import scanmail.firmware.errors\n")
    proc = subprocess.run([sys.executable, os.path.join(REPO_ROOT, "bench", "mutation_server.py"),
                           str(tmp_path / "s.sock")], cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 1 and "scanmail.firmware.errors" in proc.stderr
    assert not os.path.exists(tmp_path / "s.sock")
