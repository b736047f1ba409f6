# The benches measure only runs that worked: a bench never prints a figure from a run where
# anything failed (bench/fake_tenant.py, bench/mutation.py), and the mutation bench's figures add
# up. The whole mutation run takes long and stays in bench/; here a seeded slice of two mutants.
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


def test_the_tenant_bench_prints_no_figure_when_a_client_failed(monkeypatch, capsys):
    fake_tenant = bench("fake_tenant")
    good = {"errors": [], "mb_per_s": 100.0}
    runs = {"fake_ingest": [good, dict(good, errors=["client 3: ConnectionResetError()"])],
            "anchor_ingest": [good], "fake_sessions": [], "anchor_sessions": []}
    assert fake_tenant.failures(runs, 10) == [
        "fake_ingest run 2: client 3: ConnectionResetError()"]
    stored_short = {"fake_ingest": [dict(good, stored=9)], "anchor_ingest": [good]}
    assert fake_tenant.failures(stored_short, 10) == [
        "fake_ingest run 1: 9 of 10 messages stored in alice's Inbox"]
    # main() with a run that failed: no table, no JSON, the failure on stderr, exit status 1.
    monkeypatch.setattr(fake_tenant, "run", lambda *args: {"errors": ["fake_ingest run 1: x"]})
    assert fake_tenant.main(["--json"]) == 1
    out, err = capsys.readouterr()
    assert out == "" and "no figures" in err and "fake_ingest run 1: x" in err


def run_mutation(*args):
    return subprocess.run([sys.executable, os.path.join(REPO_ROOT, "bench", "mutation.py")]
                          + list(args), cwd=REPO_ROOT, capture_output=True, text=True, timeout=300)


def test_the_mutation_bench_prints_no_figure_when_the_tests_fail_without_a_mutant(monkeypatch,
                                                                               tmp_path, capsys):
    mutation = bench("mutation")
    monkeypatch.setitem(mutation.MODULES, "message_checks",
                        ("firmware/message_checks.py", ["tests/firmware/no_such_test_file.py"]))
    assert mutation.main(["--module", "message_checks", "--json", "--work-dir", str(tmp_path)]) == 1
    out, err = capsys.readouterr()
    assert out == "" and "the tests fail without any mutant" in err


def test_a_seeded_slice_of_the_mutation_run_adds_up(tmp_path):
    proc = run_mutation("--module", "message_checks", "--sample", "2", "--seed", "1", "--json",
                        "--work-dir", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    figures = result["modules"]["message_checks"]
    assert figures["mutants"] == 2
    survived = len(result["survivors"])
    assert figures["killed"] + figures["equivalent"] + survived == 2
    assert result["killed_ratio"] == round(figures["killed"] / (2 - figures["equivalent"]), 4)
