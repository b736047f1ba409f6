# Which of a module's test units (the test files or test ids bench/mutation.py lists for it) run
# each line of the module: measured once per module with coverage.py, before its mutants run, so
# that each mutant runs only the units that execute the line it changed. Rule: a unit is counted
# for a line whether the line ran in the pytest process or in any CPython child a test started
# (the firmware tests run most cases in children), so leaving the other units out cannot let a
# mutant survive that they would have killed; a line no unit is seen to run falls back to them all,
# and a unit whose children are killed before they can save what they ran is always run.
#
# This file is copied next to a sitecustomize.py into a folder put first on PYTHONPATH for the
# measuring run only: as a pytest plugin (-p mutation_coverage) it measures the pytest process and
# names each test's unit in the environment; in every CPython child the sitecustomize calls
# start_in_child(), which measures the child under the unit of the test that started it.
import os

UNIT_VARIABLE = "SCANMAIL_MUTATION_UNIT"
RC_VARIABLE = "COVERAGE_PROCESS_START"
UNITS_VARIABLE = "SCANMAIL_MUTATION_UNITS"      # the units, one a line, in the order given
ALWAYS_VARIABLE = "SCANMAIL_MUTATION_ALWAYS"    # units always run: their children not measured


def rc_text(data_file, include):
    """The coverage.py configuration of the measuring run (the child's context comes from the
    environment, which coverage.py expands in its configuration file)."""
    return ("[run]\ndata_file = %s\nparallel = true\ninclude = %s\ncontext = ${%s}\n"
            "sigterm = true\n" % (data_file, include, UNIT_VARIABLE))


def start_in_child():
    if not os.environ.get(RC_VARIABLE):
        return
    import coverage
    coverage.process_startup()      # saved at exit (and on SIGTERM); a child killed with SIGKILL
                                    # saves nothing: bench/mutation.py runs such units always


def unit_of(nodeid, units):
    """The listed unit a test belongs to: its own id, or the file (or id prefix) listed."""
    for unit in units:
        if nodeid == unit or nodeid.startswith(unit + "::") or nodeid.startswith(unit + "["):
            return unit
    return ""


_cov = None
_rc = None


def pytest_configure(config):
    global _cov, _rc
    import coverage
    _rc = os.environ[RC_VARIABLE]
    _cov = coverage.Coverage(config_file=_rc)
    _cov.start()


def pytest_runtest_protocol(item, nextitem):
    units = os.environ[UNITS_VARIABLE].splitlines()
    unit = unit_of(item.nodeid, units)
    os.environ[UNIT_VARIABLE] = unit
    # the children of a unit that is always run are not measured: what they ran is not needed,
    # and measuring slows a child that its test stops and waits for (a console told Ctrl-C)
    if unit in os.environ.get(ALWAYS_VARIABLE, "").splitlines():
        os.environ.pop(RC_VARIABLE, None)
    else:
        os.environ[RC_VARIABLE] = _rc
    _cov.switch_context(unit)


def pytest_unconfigure(config):
    if _cov is not None:
        _cov.stop()
        _cov.save()
