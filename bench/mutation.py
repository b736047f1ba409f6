# Mutation testing of the firmware's protocol and safety modules with cosmic-ray: each mutant (one
# small change to the code: an operator, a comparison, a number, a condition negated) is put in a
# copy of the repository and that module's tests are run on CPython; a mutant the tests do not
# notice "survives". Rule: a survivor is killed by a test of behaviour a user cares about, or listed
# in bench/mutation_equivalents.toml with the reason it cannot change behaviour; the figure is
# killed / (mutants - equivalent). Nothing is printed as a figure from a run where anything
# failed (a baseline test run that fails, a mutant the tool could not run): the run says what
# failed and exits 1. Not a test: the whole run takes long; tests/test_mutation_bench.py runs a
# small seeded slice of it.
#
#   .venv/bin/python bench/mutation.py                        # every module, table on stdout
#   .venv/bin/python bench/mutation.py --json                 # {"modules": {...}, "killed_ratio": r}
#   .venv/bin/python bench/mutation.py --module errors --module tls_setup --jobs 2
#   .venv/bin/python bench/mutation.py --sample 5 --seed 1    # five mutants per module, seeded
#   .venv/bin/python bench/mutation.py --survivors            # also print each survivor's diff
#
#   .venv/bin/python bench/mutation.py --every-test ...      # no selection: each mutant runs all
#                                                             # its module's tests (the old way)
#
# Each module runs in its own copy of the repository (under --work-dir), where cosmic-ray mutates
# the file in place; PYTHONPATH points `scanmail.firmware` at the copy, so the tests (and the
# CPython children they start) import the mutant while the checkout stays untouched. Before its
# mutants run, each module's tests run once under coverage.py (bench/mutation_coverage.py: this is
# also the run that proves they pass without a mutant); each mutant then runs only the test units
# that execute the statement it changed (bench/mutation_select.py). The figures are the same as
# with --every-test; only the time differs ("mutants_per_minute" in --json).
import argparse
import json
import os
import random
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

try:
    import tomllib
except ImportError:                       # Python 3.10
    import tomli as tomllib

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
EQUIVALENTS = os.path.join(REPO_ROOT, "bench", "mutation_equivalents.toml")
COPIED = ("firmware", "tests", "emulator", "host_tools", "hardware", "pyproject.toml")
PACKAGES = ("firmware", "emulator", "host_tools", "hardware")

# module -> (file, the tests that prove it: pytest arguments, run on CPython only)
CPYTHON_ONLY = ("not micropython and not both_runtimes_hold and not both_runtimes_write "
                "and not unix_port and not all_day and not heap_use")
MODULES = {
    "smtp_protocol": ("firmware/smtp_protocol.py", [
        "tests/firmware/test_smtp_conversation.py", "tests/firmware/test_smtp_client.py",
        "tests/firmware/test_long_replies.py"]),
    "mime_headers": ("firmware/mime_headers.py", [
        "tests/firmware/test_mime_writer.py", "tests/firmware/test_mime_header_edges.py",
        "tests/firmware/test_methods_and_diagnosis.py::test_dates_match_the_email_package_on_both_runtimes"]),
    "message": ("firmware/message.py", [
        "tests/firmware/test_mime_writer.py", "tests/firmware/test_message_refusals.py",
        "tests/firmware/test_declared_size.py",
        "tests/firmware/test_send_e2e.py::test_a_scan_cut_short_while_it_goes_by_bdat_is_not_delivered_and_says_so",
        "tests/firmware/test_send_e2e.py::test_a_scan_cut_short_while_it_goes_by_data_is_not_delivered_and_says_so"]),
    "methods": ("firmware/methods.py", [
        "tests/firmware/test_methods_and_diagnosis.py::test_settings",
        "tests/firmware/test_methods_and_diagnosis.py::test_ehlo_uses_the_board_name_or_an_address_literal_never_a_bare_ip",
        "tests/firmware/test_settings_refusals.py", "tests/firmware/test_secret_forms.py"]),
    "errors": ("firmware/errors.py", [
        "tests/firmware/test_secret_masking_edges.py", "tests/firmware/test_smtp_conversation.py", "tests/firmware/test_smtp_client.py",
        "tests/firmware/test_settings_refusals.py", "tests/firmware/test_tls_setup.py"]),
    "tls_setup": ("firmware/tls_setup.py", [
        "tests/firmware/test_tls_setup.py"]),
    "message_checks": ("firmware/message_checks.py", [
        "tests/firmware/test_message_refusals.py"]),
    # OAuth 2.0 on the board: the sign-in and token cache, the token requests, the JSON reader of
    # their answers and the signed client assertion.
    "oauth": ("firmware/oauth.py", [
        "tests/firmware/test_oauth_session.py", "tests/firmware/test_oauth.py"]),
    "token_request": ("firmware/token_request.py", [
        "tests/firmware/test_token_request.py", "tests/firmware/test_oauth.py",
        "tests/firmware/test_client_assertion.py"]),
    "json_fields": ("firmware/json_fields.py", [
        "tests/firmware/test_json_fields.py", "tests/firmware/test_oauth.py"]),
    "client_assertion": ("firmware/client_assertion.py", [
        "tests/firmware/test_client_assertion.py"]),
    # The application's modules (firmware/app/).
    "app.outbox": ("firmware/app/outbox.py", [
        "tests/app/test_outbox_states.py", "tests/app/test_outbox.py", "tests/app/test_console.py"]),
    "app.outbox_intake": ("firmware/app/outbox_intake.py", [
        "tests/app/test_outbox_states.py", "tests/app/test_outbox.py", "tests/app/test_console.py"]),
    "app.outbox_admin": ("firmware/app/outbox_admin.py", [
        "tests/app/test_outbox_states.py", "tests/app/test_outbox.py", "tests/app/test_console.py"]),
    "app.config_store": ("firmware/app/config_store.py", [
        "tests/app/test_config_store_and_fingerprints.py", "tests/app/test_config_and_secrets.py",
        "tests/app/test_console.py"]),
    "app.config_schema": ("firmware/app/config_schema.py", [
        "tests/app/test_config_schema_limits.py", "tests/app/test_config_and_secrets.py",
        "tests/app/test_console.py"]),
    "app.console_protocol": ("firmware/app/console_protocol.py", [
        "tests/app/test_console_frames.py", "tests/app/test_console.py"]),
    "app.secret_store": ("firmware/app/secret_store.py", [
        "tests/app/test_config_store_and_fingerprints.py", "tests/app/test_config_and_secrets.py"]),
    "app.log_ring": ("firmware/app/log_ring.py", [
        "tests/app/test_log_ring.py", "tests/app/test_console.py"]),
}

# Test units run for every mutant whose statement any unit runs: coverage.py cannot see what
# their children ran, since each test kills its child (SIGKILL) before the child could save it.
ALWAYS_RUN = ("tests/app/test_console.py",)

# Each module's mutants are split into this many shards, each run in its own copy, so that the
# big modules do not keep one job busy while the others are done (a performance knob only).
SHARDS = {"smtp_protocol": 8, "mime_headers": 7, "methods": 3, "message": 2, "app.outbox": 4,
          "app.config_schema": 4, "app.console_protocol": 2}

# The security checks: every mutant inside these functions must be killed; one that cannot change
# behaviour is listed as equivalent like any other, and the report counts those apart.
SECURITY = {
    "smtp_protocol": ("receive_data", "_on_ehlo", "_after_security", "_send_line"),  # STARTTLS
                                                                  # injection, downgrade
    "tls_setup": ("check_clock", "configure", "failure_kind", "handshake_failed"),  # certificates
    "methods": ("_secret_forms",),                                 # every form of a secret, masked
    "message_checks": ("check_address", "_check_text", "check"),  # header injection
    "message": ("dot_stuff",),                                    # dot-stuffing
    "errors": ("__init__",),                                      # secret masking
    "app.secret_store": ("fingerprint", "status"),                # secrets shown only masked
}

# One replacement per operator, as a careful reviewer would try (< for <=, - for +, ...), instead
# of cosmic-ray's every-operator-for-every-operator (twelve replacements per "+", most of them
# the same test): fewer, more telling mutants. VariableReplacer/-Inserter are random: left out.
KEPT_REPLACEMENTS = ("Add_Sub", "Sub_Add", "Mul_Div", "Div_Mul", "FloorDiv_Mul", "Mod_FloorDiv",
                     "Pow_Mul", "BitAnd_BitOr", "BitOr_BitAnd", "BitXor_BitOr", "LShift_RShift",
                     "RShift_LShift", "Eq_NotEq", "NotEq_Eq", "Lt_LtE", "LtE_Lt", "Gt_GtE",
                     "GtE_Gt", "Is_IsNot", "IsNot_Is")
EXCLUDED_OPERATORS = [
    r"core/Replace(Binary|Comparison)Operator_(?!(%s)$)" % "|".join(KEPT_REPLACEMENTS),
    r"core/Variable(Replacer|Inserter)",
]


def bench_module(name):
    """A module of bench/ (bench/ is not a package, nor on the path of a test that loads this)."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(
        "bench_" + name, os.path.join(REPO_ROOT, "bench", name + ".py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_copy(work_dir, name):
    """A copy of the repository for one module, and the folder to put on PYTHONPATH."""
    root = os.path.join(work_dir, name)
    if os.path.exists(root):
        shutil.rmtree(root)
    repo = os.path.join(root, "repo")
    os.makedirs(repo)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".hypothesis", ".pytest_cache")
    for item in COPIED:
        source = os.path.join(REPO_ROOT, item)
        if os.path.isdir(source):
            shutil.copytree(source, os.path.join(repo, item), ignore=ignore)
        else:
            shutil.copy(source, repo)
    imports = os.path.join(root, "import")
    os.makedirs(os.path.join(imports, "scanmail"))
    for package in PACKAGES:
        os.symlink(os.path.join(repo, package), os.path.join(imports, "scanmail", package))
    return root, repo, imports


def pytest_arguments():
    return [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", "-k", CPYTHON_ONLY]


def test_command(tests):
    return " ".join(shlex.quote(a) for a in pytest_arguments() + list(tests))


def measure(name, work_dir):
    """Run the module's tests once, under coverage.py, in a copy of their own: -> {"baseline_s",
    "lines": {line: [unit, ...]}} (the units that ran each line of the module; "" for a line run
    before any test, at import), or {"error"} when the tests fail without a mutant."""
    import coverage

    path, tests = MODULES[name]
    root, repo, imports = make_copy(work_dir, "%s-coverage" % name)
    measuring = os.path.join(root, "coverage-import")
    os.makedirs(measuring)
    shutil.copy(os.path.join(REPO_ROOT, "bench", "mutation_coverage.py"), measuring)
    with open(os.path.join(measuring, "sitecustomize.py"), "w") as f:
        f.write("import mutation_coverage\nmutation_coverage.start_in_child()\n")
    mutation_coverage = bench_module("mutation_coverage")
    rc = os.path.join(root, "coverage.rc")
    data_file = os.path.join(root, "coverage-data", ".coverage")
    os.makedirs(os.path.dirname(data_file))
    with open(rc, "w") as f:
        f.write(mutation_coverage.rc_text(data_file, "*/" + path))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([measuring, imports]), CI="true",
               PYTHONDONTWRITEBYTECODE="1")
    env[mutation_coverage.RC_VARIABLE] = rc
    env[mutation_coverage.UNITS_VARIABLE] = "\n".join(tests)
    env[mutation_coverage.ALWAYS_VARIABLE] = "\n".join(ALWAYS_RUN)
    env.pop(mutation_coverage.UNIT_VARIABLE, None)
    # the units always run are not measured (what they run is not needed, and tracing slows the
    # board children their tests stop and wait for): they only show they pass without a mutant
    measured_units = [t for t in tests if t not in ALWAYS_RUN]
    plain_units = [t for t in tests if t in ALWAYS_RUN]
    started = time.monotonic()
    for units, extra, run_env in ((measured_units, ["-p", "mutation_coverage"], env),
                                  (plain_units, [], dict(env, PYTHONPATH=imports))):
        if not units:
            continue
        run_env = dict(run_env)
        if not extra:
            run_env.pop(mutation_coverage.RC_VARIABLE, None)
        proc = subprocess.run(pytest_arguments() + extra + units, cwd=repo, env=run_env,
                              capture_output=True, text=True)
        if proc.returncode != 0:
            return {"error": "the tests fail without any mutant (%s):\n%s" % (
                test_command(units), (proc.stdout + proc.stderr)[-3000:])}
    baseline_s = time.monotonic() - started
    lines = {}
    for name_of_file in os.listdir(os.path.dirname(data_file)):   # one per process measured
        data = coverage.CoverageData(os.path.join(os.path.dirname(data_file), name_of_file))
        data.read()
        for measured in data.measured_files():
            if not measured.replace(os.sep, "/").endswith("/" + path):
                continue
            for line, contexts in data.contexts_by_lineno(measured).items():
                lines.setdefault(str(line), set()).update(contexts)
    if not lines:
        return {"error": "coverage.py saw no line of %s run by its tests" % path}
    return {"baseline_s": baseline_s, "lines": dict((k, sorted(v)) for k, v in lines.items())}


def tool(name):
    return os.path.join(os.path.dirname(sys.executable), name)


def compile_copy(repo, env, path, tests):
    """Write the bytecode of everything in the copy but the mutated module, so that each mutant's
    test run (which writes none: PYTHONDONTWRITEBYTECODE, as cosmic-ray sets it) compiles only
    that module: pytest's rewritten test modules by collecting them once, the rest by compileall.
    The mutated module keeps none, so a mutant can never be run from a stale one."""
    writing = dict(env)
    writing.pop("PYTHONDONTWRITEBYTECODE", None)
    subprocess.run([sys.executable, "-m", "compileall", "-q"] + [p for p in PACKAGES + ("tests",)],
                   cwd=repo, env=writing, capture_output=True)
    subprocess.run(pytest_arguments() + ["--collect-only"] + list(tests), cwd=repo, env=writing,
                   capture_output=True)
    folder, module = os.path.split(os.path.join(repo, path))
    cache = os.path.join(folder, "__pycache__")
    for name in os.listdir(cache) if os.path.isdir(cache) else ():
        if name.split(".")[0] == module[:-3]:
            os.remove(os.path.join(cache, name))


def run_module(name, work_dir, sample, seed, log, shard=0, shards=1, measured=None):
    """Mutate one module (its shard-th of `shards` parts) in its own copy; -> dict with the
    outcome of every mutant, or "error". `measured` (from measure()) selects each mutant's tests;
    without it every mutant runs all the module's tests."""
    path, tests = MODULES[name]
    root, repo, imports = make_copy(work_dir, "%s-%d" % (name, shard))
    env = dict(os.environ, PYTHONPATH=imports, CI="true", PYTHONDONTWRITEBYTECODE="1")
    started = time.monotonic()
    if measured is None:
        command = test_command(tests)
        baseline = subprocess.run(shlex.split(command), cwd=repo, env=env, capture_output=True,
                                  text=True)
        baseline_s = time.monotonic() - started
        if baseline.returncode != 0:
            return {"error": "the tests fail without any mutant (%s):\n%s" % (
                command, (baseline.stdout + baseline.stderr)[-3000:])}
    else:
        baseline_s = measured["baseline_s"]
        compile_copy(repo, env, path, tests)
        selection = os.path.join(root, "selection.json")
        with open(os.path.join(repo, path)) as f:
            source = f.read()
        server_path = os.path.join(root, "pytest.sock")
        server = start_server(repo, env, server_path, log)
        if server and bench_module("mutation_select").ask_server(
                server_path, pytest_arguments()[3:] + list(tests))[0] != 0:
            log("the pytest server of %s fails the tests without a mutant: not used" % repo)
            server.kill()
            server.wait()
            server = None
        with open(selection, "w") as f:
            json.dump({"path": path, "source": source, "units": list(tests),
                       "lines": measured["lines"], "pytest": pytest_arguments(),
                       "always": [t for t in tests if t in ALWAYS_RUN],
                       "server": server_path if server else None}, f)
        command = " ".join(shlex.quote(a) for a in (
            sys.executable, os.path.join(REPO_ROOT, "bench", "mutation_select.py"), selection))
    result = mutate(name, path, root, repo, env, command, baseline_s, started, sample, seed,
                    shard, shards, log)
    if measured is not None and server:
        server.kill()
        result["mutants_cpu_s"] = result.get("mutants_cpu_s", 0) + reap(server)[1]
    return result


def reap(proc):
    """Wait for `proc` (a Popen) -> (exit status, CPU seconds of it and all it waited for)."""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, usage.ru_utime + usage.ru_stime


def start_server(repo, env, path, log):
    """bench/mutation_server.py for this copy, once it says it is ready; None if it will not
    serve (each mutant's run then starts its own pytest)."""
    server = subprocess.Popen([sys.executable, os.path.join(REPO_ROOT, "bench", "mutation_server.py"),
                               path], cwd=repo, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    if server.stdout.readline().strip() == "ready":
        return server
    server.kill()
    log("no pytest server for %s: %s" % (repo, server.communicate()[1][-500:]))
    return None


def mutate(name, path, root, repo, env, command, baseline_s, started, sample, seed, shard, shards,
           log):
    config = os.path.join(root, "cosmic-ray.toml")
    with open(config, "w") as f:
        f.write("[cosmic-ray]\nmodule-path = %s\ntimeout = %.1f\nexcluded-modules = []\n"
                "test-command = %s\n\n[cosmic-ray.distributor]\nname = \"local\"\n\n"
                "[cosmic-ray.filters.operators-filter]\nexclude-operators = %s\n" % (
                    json.dumps(path), 3 * baseline_s + 15, json.dumps(command),
                    json.dumps(EXCLUDED_OPERATORS)))
    session = os.path.join(root, "session.sqlite")
    for step in ([tool("cosmic-ray"), "init", config, session],
                 [tool("cr-filter-operators"), session, config]):
        proc = subprocess.run(step, cwd=repo, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            return {"error": "%s failed:\n%s" % (" ".join(step), proc.stderr[-3000:])}
    if sample:
        keep_sample(session, sample, seed, name)
    if shards > 1:
        keep_shard(session, shard, shards)
    log("%s (part %d of %d): baseline %.1f s, running its mutants" % (name, shard + 1, shards,
                                                                      baseline_s))
    exec_started = time.monotonic()
    with open(os.path.join(root, "exec.err"), "w+") as errors:
        proc = subprocess.Popen([tool("cosmic-ray"), "exec", config, session], cwd=repo, env=env,
                                stdout=subprocess.DEVNULL, stderr=errors)
        code, mutants_cpu_s = reap(proc)
        errors.seek(0)
        if code != 0:
            return {"error": "cosmic-ray exec failed:\n%s" % errors.read()[-3000:]}
    seconds = time.monotonic() - started
    with open(os.path.join(root, "unit.json"), "w") as f:
        json.dump({"seconds": seconds, "baseline_s": baseline_s,
                   "mutants_s": time.monotonic() - exec_started}, f)
    return dict(collect(root, path), mutants_cpu_s=mutants_cpu_s)


def collect(root, path):
    """The outcome of every mutant of one finished part (its copy under `root`)."""
    repo = os.path.join(root, "repo")
    dump = subprocess.run([tool("cosmic-ray"), "dump", os.path.join(root, "session.sqlite")],
                          cwd=repo, capture_output=True, text=True, check=True).stdout
    with open(os.path.join(repo, path)) as f:     # the copy, put back as it was after each mutant
        source_lines = f.read().splitlines()
    mutants = []
    for line in dump.splitlines():
        item, result = json.loads(line)
        if result is None or result["worker_outcome"] == "skipped":
            if result is None:                     # never run: the part did not finish
                return {"error": "%s: a mutant was never run" % root}
            continue
        mutation = item["mutations"][0]
        mutants.append({"operator": mutation["operator_name"], "line": mutation["start_pos"][0],
                        "function": mutation.get("definition_name") or "",
                        "source": source_lines[mutation["start_pos"][0] - 1].strip(),
                        "mutant": mutated_line(result.get("diff") or ""),
                        "worker": result["worker_outcome"], "test": result.get("test_outcome"),
                        "diff": result.get("diff") or "", "output": result.get("output") or ""})
    seconds = None
    if os.path.exists(os.path.join(root, "unit.json")):
        with open(os.path.join(root, "unit.json")) as f:
            seconds = json.load(f)["seconds"]
    return {"mutants": mutants, "seconds": seconds}


def collected(names, work_dir):
    """--report: module -> merged result, read back from the parts of a finished run."""
    results = {}
    for name in names:
        parts = sorted(d for d in os.listdir(work_dir)
                       if d.rsplit("-", 1)[0] == name and d.rsplit("-", 1)[-1].isdigit())
        if not parts:
            results[name] = {"error": "no part of %s in %s" % (name, work_dir)}
            continue
        merged = results.setdefault(name, {"mutants": [], "seconds": 0.0})
        for part in parts:
            got = collect(os.path.join(work_dir, part), MODULES[name][0])
            if "error" in got:
                merged["error"] = got["error"]
                break
            merged["mutants"] += got["mutants"]
            merged["seconds"] = (None if got["seconds"] is None or merged["seconds"] is None
                                 else merged["seconds"] + got["seconds"])
    return results


def keep_sample(session, sample, seed, name):
    """Mark all but `sample` seeded-random mutants of the session as skipped."""
    from cosmic_ray.work_db import use_db
    from cosmic_ray.work_item import WorkerOutcome, WorkResult

    with use_db(session) as db:
        pending = sorted(db.pending_work_items, key=lambda item: item.job_id)
        pending.sort(key=lambda item: (item.mutations[0].operator_name, item.mutations[0].occurrence))
        chosen = set(item.job_id for item in random.Random("%s-%s" % (seed, name)).sample(
            pending, min(sample, len(pending))))
        for item in pending:
            if item.job_id not in chosen:
                db.set_result(item.job_id, WorkResult(output="not in the sample",
                                                      worker_outcome=WorkerOutcome.SKIPPED))


def keep_shard(session, shard, shards):
    """Mark as skipped every pending mutant but the shard-th of each `shards` in a fixed order."""
    from cosmic_ray.work_db import use_db
    from cosmic_ray.work_item import WorkerOutcome, WorkResult

    with use_db(session) as db:
        pending = sorted(db.pending_work_items, key=lambda item: (
            item.mutations[0].operator_name, item.mutations[0].occurrence))
        for index, item in enumerate(pending):
            if index % shards != shard:
                db.set_result(item.job_id, WorkResult(output="in another shard",
                                                      worker_outcome=WorkerOutcome.SKIPPED))


def run_all(names, work_dir, sample, seed, jobs, log, every_test=False):
    """Every module, its shards spread over `jobs` workers; -> module -> merged result."""
    started = time.monotonic()
    units = [(name, shard, 1 if sample else SHARDS.get(name, 1))
             for name in names for shard in range(1 if sample else SHARDS.get(name, 1))]
    with ThreadPoolExecutor(max(1, jobs)) as pool:
        measured = {}
        if not every_test:
            log("measuring which tests run each line: %s" % " ".join(names))
            measured = dict(zip(names, pool.map(lambda name: measure(name, work_dir), names)))
        parts = list(pool.map(lambda unit: (
            measured[unit[0]] if "error" in measured.get(unit[0], {}) else
            run_module(unit[0], work_dir, sample, seed, log, unit[1], unit[2],
                       measured.get(unit[0]))), units))
    results = {}
    for (name, _, _), part in zip(units, parts):
        merged = results.setdefault(name, {"mutants": [], "seconds": 0.0})
        if "error" in part:
            merged["error"] = part["error"]
        else:
            merged["mutants"] += part["mutants"]
            merged["seconds"] += part["seconds"]
            merged["mutants_cpu_s"] = merged.get("mutants_cpu_s", 0) + part.get("mutants_cpu_s", 0)
    with open(os.path.join(work_dir, "run.json"), "w") as f:
        json.dump({"seconds": time.monotonic() - started, "jobs": jobs, "every_test": every_test}, f)
    return results


def mutated_line(diff):
    """The mutated source line of a unified diff, stripped."""
    for line in diff.splitlines():
        if line.startswith("+") and not line.startswith("+++"):
            return line[1:].strip()
    return ""


def load_equivalents():
    with open(EQUIVALENTS, "rb") as f:
        entries = tomllib.load(f).get("equivalent", [])
    for entry in entries:
        for key in ("module", "source", "mutant", "reason"):
            if not entry.get(key):
                raise SystemExit("mutation: %s: an entry lacks %r: %r" % (EQUIVALENTS, key, entry))
    return entries


def classify(name, mutants, equivalents):
    """-> (figures for the module, survivors, equivalents that no longer match a survivor)."""
    listed = [(e["source"], e["mutant"], e.get("function", "")) for e in equivalents
              if e["module"] == name]
    counts = {"mutants": len(mutants), "killed": 0, "equivalent": 0}
    survivors, matched = [], set()
    for m in mutants:
        key = (m["source"], m["mutant"], m["function"])
        if m["test"] in ("killed", "incompetent"):
            counts["killed"] += 1
        elif key in listed:
            counts["equivalent"] += 1
            matched.add(key)
        else:
            survivors.append(m)
    return counts, survivors, [key[:2] for key in listed if key not in matched]


def is_security(name, mutant):
    return mutant["function"] in SECURITY.get(name, ())


def main(argv=None):
    # A shell starts a background job with SIGINT ignored, and an ignored signal stays ignored in
    # every program started below: the console tests' board children would then not stop on the
    # Ctrl-C their test sends. Their tests must see the signal as a user's terminal delivers it.
    import signal
    signal.signal(signal.SIGINT, signal.default_int_handler)
    parser = argparse.ArgumentParser(
        description="Mutation testing of the firmware's protocol and safety modules (cosmic-ray).",
        epilog="examples:\n  .venv/bin/python bench/mutation.py --json\n"
               "  .venv/bin/python bench/mutation.py --module tls_setup --survivors\n"
               "  .venv/bin/python bench/mutation.py --sample 3 --seed 7",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", action="store_true", help="print the result as JSON only")
    parser.add_argument("--module", action="append", choices=sorted(MODULES),
                        help="only this module (repeatable; default: all)")
    parser.add_argument("--jobs", type=int, default=2,
                        help="module parts mutated at once (default 2)")
    parser.add_argument("--sample", type=int, default=0,
                        help="run only this many mutants per module, chosen with --seed")
    parser.add_argument("--seed", default="0", help="seed of --sample (default 0)")
    parser.add_argument("--work-dir", help="where the copies go (default: a temporary folder)")
    parser.add_argument("--survivors", action="store_true", help="print each survivor's diff")
    parser.add_argument("--every-test", action="store_true",
                        help="run all of a module's tests for each mutant, not only those that "
                             "run the changed line (same figures, slower: the anchor of the "
                             "selection's speed-up)")
    parser.add_argument("--report", action="store_true",
                        help="run nothing: report the finished run in --work-dir again (after "
                             "bench/mutation_equivalents.toml changed)")
    args = parser.parse_args(argv)
    names = args.module or list(MODULES)
    equivalents = load_equivalents()
    work_dir = os.path.abspath(args.work_dir or tempfile.mkdtemp(prefix="scanmail-mutation-"))
    os.makedirs(work_dir, exist_ok=True)

    def log(text):
        print("mutation: " + text, file=sys.stderr, flush=True)

    if args.report:
        if not args.work_dir or not os.path.isdir(work_dir):
            parser.error("--report needs the --work-dir of a finished run")
        results = collected(names, work_dir)
        seconds, jobs, cpu_seconds = None, None, None
        if os.path.exists(os.path.join(work_dir, "run.json")):
            with open(os.path.join(work_dir, "run.json")) as f:
                run = json.load(f)
            seconds, jobs = run["seconds"], run["jobs"]
            args.every_test = run.get("every_test", False)
            cpu_seconds = run.get("cpu_seconds")
    else:
        started = time.monotonic()
        import resource
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        results = run_all(names, work_dir, args.sample, args.seed, args.jobs, log,
                          args.every_test)
        seconds, jobs = time.monotonic() - started, args.jobs
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu_seconds = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        with open(os.path.join(work_dir, "run.json")) as f:
            run = json.load(f)
        run["cpu_seconds"] = cpu_seconds
        with open(os.path.join(work_dir, "run.json"), "w") as f:
            json.dump(run, f)
        if not args.work_dir:
            shutil.rmtree(work_dir, ignore_errors=True)

    failures = ["%s: %s" % (n, r["error"]) for n, r in results.items() if "error" in r]
    for name, result in results.items():
        for m in result.get("mutants", []):
            if m["worker"] not in ("normal",) or m["test"] is None:
                failures.append("%s: a mutant at line %d (%s) did not run: %s\n%s" % (
                    name, m["line"], m["operator"], m["worker"], m["output"][-1500:]))
    if failures:
        print("mutation: no figures: the run did not complete\n" + "\n".join(failures),
              file=sys.stderr)
        return 1

    modules, all_survivors, stale = {}, [], []
    security = {"mutants": 0, "killed": 0, "equivalent": 0, "survived": 0}
    for name in names:
        mutants = results[name]["mutants"]
        counts, survivors, unmatched = classify(name, mutants, equivalents)
        modules[name] = counts
        all_survivors += [dict(m, module=name) for m in survivors]
        if not args.sample:
            stale += ["%s: %s -> %s" % (name, s, m) for s, m in unmatched]
        survived = [(m["source"], m["mutant"]) for m in survivors]
        for m in mutants:
            if is_security(name, m):
                security["mutants"] += 1
                if m["test"] in ("killed", "incompetent"):
                    security["killed"] += 1
                elif (m["source"], m["mutant"]) in survived:
                    security["survived"] += 1
                else:
                    security["equivalent"] += 1
    total = sum(c["mutants"] for c in modules.values())
    killed = sum(c["killed"] for c in modules.values())
    equivalent = sum(c["equivalent"] for c in modules.values())
    ratio = round(killed / (total - equivalent), 4) if total > equivalent else None
    out = {"modules": modules, "killed_ratio": ratio, "security_checks": security,
           "survivors": ["%s:%d %s: %s -> %s" % (m["module"], m["line"], m["function"],
                                                   m["source"], m["mutant"]) for m in all_survivors],
           "stale_equivalents": stale, "seconds": None if seconds is None else round(seconds, 1),
           "jobs": jobs, "mutants_per_minute": None if not seconds else round(total * 60 / seconds, 2),
           # CPU time of every process the run started, per mutant: the machine's other load
           # does not change it, as it does the wall-clock rate above
           "cpu_seconds_per_mutant": None if not cpu_seconds or not total else round(cpu_seconds / total, 2),
           # the same without what each module's copy costs once (measuring, compiling, a
           # baseline): what one more mutant costs
           "mutant_cpu_seconds_per_mutant": round(sum(r.get("mutants_cpu_s", 0) for r in results.values())
                                                  / total, 2) if total and not args.report else None,
           "tests_per_mutant": "all" if args.every_test else "those running the changed line",
           "sample": args.sample or None}
    if args.json:
        print(json.dumps(out, indent=1))
        return 0
    print("mutation testing of the firmware (cosmic-ray, tests on CPython), %s s on %s jobs, "
          "%s mutants a minute (%s)" % ("?" if seconds is None else "%.0f" % seconds, jobs,
                                        out["mutants_per_minute"], out["tests_per_mutant"]))
    print("%-16s %8s %8s %11s %9s %8s" % ("module", "mutants", "killed", "equivalent", "survived",
                                           "job-s"))
    for name in names:
        c = modules[name]
        print("%-16s %8d %8d %11d %9d %8s" % (name, c["mutants"], c["killed"], c["equivalent"],
                                              c["mutants"] - c["killed"] - c["equivalent"],
                                              "?" if results[name]["seconds"] is None
                                              else "%.0f" % results[name]["seconds"]))
    print("killed ratio (equivalents excluded): %s   target >= 0.9   %s" % (
        ratio, "PASS" if ratio is not None and ratio >= 0.9 else "MISS"))
    print("security checks: %d mutants, %d killed, %d equivalent, %d survived   target: none "
          "survives   %s" % (security["mutants"], security["killed"], security["equivalent"],
                            security["survived"], "PASS" if security["survived"] == 0 else "MISS"))
    for m in all_survivors:
        print("survived: %s:%d (%s) %s  ->  %s" % (m["module"], m["line"], m["function"],
                                                   m["source"], m["mutant"]))
        if args.survivors:
            print(m["diff"])
    for entry in stale:
        print("listed as equivalent but no longer a survivor (remove it): " + entry)
    return 0


if __name__ == "__main__":
    sys.exit(main())
