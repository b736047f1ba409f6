# Does firmware/ only use what a stock MicroPython ESP32 build has? Two checks, one command:
#   1. mypy against a typeshed made of the MicroPython stubs (PyPI micropython-stdlib-stubs for the
#      standard library as MicroPython has it, micropython-esp32-stubs for the port's modules), so a
#      call the board lacks (os.path, time.monotonic, socket.create_connection, str.removeprefix...)
#      or a module it lacks (dataclasses, pathlib, ...) is an error (builtins.pyi is pinned to
#      MicroPython's built-in types in the derived copy, see _pin_builtins_to_micropython);
#   2. a syntax/import rule for what the stubs must themselves contain but a board has not: typing,
#      enum, abc, types, __future__ (the stubs import them), plus the project's own bans (asyncio
#      outside the application in firmware/app/,
#      relative imports, walrus operator, f-string `=` specifiers, match statements).
# Run: `.venv/bin/python -m scanmail.hardware.firmware_check [PATH ...]` (default: firmware/). Exit 0 when
# clean; otherwise one line per problem (`file:line: error: ...`) and exit 1.
# Rule: the typeshed is derived only from the installed stub packages (rebuilt when their versions
# change); nothing here edits the stubs in place, and the mypy settings live in mypy-firmware.ini.
import ast
import os
import re
import shutil
import subprocess
import sys
import tempfile
from importlib import metadata

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MYPY_CONFIG = os.path.join(REPO_ROOT, "mypy-firmware.ini")
STDLIB_STUBS = "micropython-stdlib-stubs"
PORT_STUBS = "micropython-esp32-stubs"
TYPESHED_LAYOUT = 1  # bump when typeshed_dir() builds differently, so old copies are not reused

# Modules the stubs ship (other stubs import them) but a MicroPython board does not have, or that
# the project forbids in firmware (docs/architecture.md, "Firmware import rule").
FORBIDDEN_MODULES = {
    "typing": "MicroPython has no typing module: drop the annotations' imports",
    "typing_extensions": "MicroPython has no typing_extensions",
    "enum": "MicroPython has no enum: use const() integers or strings",
    "abc": "MicroPython has no abc: use a plain base class that raises NotImplementedError",
    "types": "MicroPython has no types module",
    "__future__": "MicroPython has no __future__ imports",
    "dataclasses": "MicroPython has no dataclasses: write a plain class",
    "asyncio": "the mail core is blocking by design (docs/architecture.md): asyncio belongs "
               "to the application (firmware/app/) only",
    "uasyncio": "the mail core is blocking by design (docs/architecture.md): asyncio belongs "
                "to the application (firmware/app/) only",
    "_typeshed": "_typeshed exists only for type checkers",
}
# Allowed in the application's modules (firmware/app/, one asyncio loop drives them; MicroPython
# has asyncio), forbidden in the mail core, which stays blocking.
APPLICATION_ONLY = ("asyncio", "uasyncio")


def _in_application(path):
    return os.sep + "app" + os.sep in os.path.abspath(path)


class CheckError(RuntimeError):
    """The checker itself cannot run (stubs or mypy missing)."""


def _distribution_files(name):
    try:
        dist = metadata.distribution(name)
    except metadata.PackageNotFoundError:
        raise CheckError(
            "%s is not installed: run ./dev test once (it installs the test extras into .venv)" % name
        ) from None
    return dist, [str(f) for f in (dist.files or [])]


def _pin_builtins_to_micropython(builtins_text):
    # mypy 2.x cannot target below Python 3.10, so the methods typeshed guards as added in 3.9 and
    # later (str.removeprefix/removesuffix, int.bit_count, dict | dict, zip(strict=)) would pass;
    # MicroPython's built-in types have none of them (they follow Python 3.4 plus a few extras
    # that typeshed no longer guards, such as bytes.hex). Inside class bodies, make every
    # "added in 3.x" branch unreachable; top-level guards (imports the stub needs) stay.
    return re.sub(
        r"^(\s+)(if|elif) sys\.version_info >= \(3, (\d+)\):",
        lambda m: "%s%s sys.version_info >= (%s, %s):"
        % (m.group(1), m.group(2), "99" if int(m.group(3)) >= 5 else "3", m.group(3)),
        builtins_text,
        flags=re.MULTILINE,
    )


def typeshed_dir(cache_root=None):
    """Build (once per stub version) a typeshed: the MicroPython stdlib plus the ESP32 port modules."""
    stdlib_dist, stdlib_files = _distribution_files(STDLIB_STUBS)
    port_dist, port_files = _distribution_files(PORT_STUBS)
    cache_root = cache_root or os.path.join(REPO_ROOT, ".mypy_cache")
    target = os.path.join(
        cache_root,
        "micropython-typeshed-%s-%s-v%d" % (stdlib_dist.version, port_dist.version, TYPESHED_LAYOUT),
    )
    if os.path.exists(os.path.join(target, "stdlib", "VERSIONS")):
        return target
    site = str(stdlib_dist.locate_file(""))  # the stubs' stdlib/ and stubs/ folders live here
    building = "%s.building-%d" % (target, os.getpid())
    shutil.rmtree(building, ignore_errors=True)
    shutil.copytree(os.path.join(site, "stdlib"), os.path.join(building, "stdlib"))
    if os.path.isdir(os.path.join(site, "stubs")):
        shutil.copytree(os.path.join(site, "stubs"), os.path.join(building, "stubs"))
    added = set()
    for dist, files in ((stdlib_dist, stdlib_files), (port_dist, port_files)):
        for rel in files:
            if not rel.endswith(".pyi") or rel.startswith(("stdlib/", "stubs/")):
                continue
            destination = os.path.join(building, "stdlib", rel)
            os.makedirs(os.path.dirname(destination), exist_ok=True)
            # copied in order, so the port's module wins over a generic one of the same name
            shutil.copyfile(str(dist.locate_file(rel)), destination)
            top = rel.split("/")[0]
            added.add(top[: -len(".pyi")] if top.endswith(".pyi") else top)
    versions_path = os.path.join(building, "stdlib", "VERSIONS")
    with open(versions_path) as f:
        listed = {line.split(":")[0].strip() for line in f if ":" in line and not line.startswith("#")}
    with open(versions_path, "a") as f:
        f.write("\n# ESP32 port modules (%s %s)\n" % (PORT_STUBS, port_dist.version))
        for module in sorted(added - listed):
            f.write("%s: 3.0-\n" % module)
    builtins_path = os.path.join(building, "stdlib", "builtins.pyi")
    with open(builtins_path) as f:
        text = f.read()
    with open(builtins_path, "w") as f:
        f.write(_pin_builtins_to_micropython(text))
    os.makedirs(cache_root, exist_ok=True)
    try:
        os.rename(building, target)
    except OSError:  # another run finished first: use its copy
        shutil.rmtree(building, ignore_errors=True)
    return target


def _python_files(paths):
    for path in paths:
        if os.path.isfile(path):
            yield path
            continue
        for folder, dirs, files in os.walk(path):
            dirs[:] = sorted(d for d in dirs if d != "__pycache__")
            for name in sorted(files):
                if name.endswith(".py"):
                    yield os.path.join(folder, name)


_FSTRING_SELF_DOCUMENTING = re.compile(r"\{[^{}!:=<>]+=\s*[!:}]")


def rule_problems(path):
    """The import and syntax rules of docs/architecture.md, as 'file:line: error: ...' lines."""
    with open(path, "rb") as f:
        source = f.read()
    problems = []
    try:
        tree = ast.parse(source, path)
    except SyntaxError as e:
        return ["%s:%s: error: not valid Python: %s  [syntax]" % (path, e.lineno, e.msg)]
    text_source = source.decode("utf-8", "replace")
    fstring_lines = set()
    for node in ast.walk(tree):
        modules = []
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [node.module]
        for module in modules:
            top = module.split(".")[0]
            if top in APPLICATION_ONLY and _in_application(path):
                continue
            if top in FORBIDDEN_MODULES:
                problems.append(
                    "%s:%d: error: import of %s: %s  [micropython-import]"
                    % (path, node.lineno, module, FORBIDDEN_MODULES[top])
                )
        if isinstance(node, ast.ImportFrom) and node.level > 0:
            problems.append(
                "%s:%d: error: relative import: firmware modules import each other absolutely"
                " (from scanmail.firmware.x import y), as /lib/scanmail/firmware on a board  [micropython-import]"
                % (path, node.lineno)
            )
        if isinstance(node, ast.NamedExpr):
            problems.append(
                "%s:%d: error: walrus operator (:=) is not allowed in firmware: assign on its own line"
                "  [micropython-syntax]" % (path, node.lineno)
            )
        if isinstance(node, ast.Match):
            problems.append(
                "%s:%d: error: match statements do not exist on MicroPython: use if/elif"
                "  [micropython-syntax]" % (path, node.lineno)
            )
        if isinstance(node, ast.JoinedStr) and node.lineno not in fstring_lines:
            # the AST of f"{x=}" equals that of f"x={x!r}": only the source text tells them apart
            text = ast.get_source_segment(text_source, node) or ""
            if _FSTRING_SELF_DOCUMENTING.search(text):
                fstring_lines.add(node.lineno)
                problems.append(
                    "%s:%d: error: f-string '=' specifier is not supported on MicroPython"
                    "  [micropython-syntax]" % (path, node.lineno)
                )
    return problems


def run_mypy(paths, cache_root=None):
    """mypy over `paths` against the MicroPython ESP32 typeshed: (exit code, output lines)."""
    typeshed = typeshed_dir(cache_root)
    inside_repo = all(
        os.path.abspath(path).startswith(REPO_ROOT + os.sep) for path in paths
    )
    # mypy's cache is keyed by module name: code from elsewhere (a scratch folder whose modules
    # share names with an earlier run's) is checked without reading or writing a cache.
    cache_dir = (
        os.path.join(cache_root or os.path.join(REPO_ROOT, ".mypy_cache"), "firmware")
        if inside_repo
        else os.devnull
    )
    # The firmware imports itself as scanmail.firmware (its name on a board and on CPython), while
    # the checkout keeps it in firmware/: mypy reads it through a view where scanmail/firmware is a
    # link to that folder, and its findings are reported under the real paths.
    view = tempfile.mkdtemp(prefix="scanmail-check-")
    firmware_dir = os.path.join(REPO_ROOT, "firmware")
    view_dir = os.path.join(view, "scanmail", "firmware")
    os.mkdir(os.path.dirname(view_dir))
    os.symlink(firmware_dir, view_dir)

    def seen_by_mypy(path):
        inside = os.path.relpath(path, firmware_dir)
        return path if inside.startswith("..") else os.path.normpath(os.path.join(view_dir, inside))

    command = [
        sys.executable, "-m", "mypy",
        "--config-file", MYPY_CONFIG,
        "--custom-typeshed-dir", typeshed,
        "--cache-dir", cache_dir,
        "--explicit-package-bases",
    ] + [seen_by_mypy(path) for path in paths]
    env = dict(os.environ, MYPYPATH=view)
    try:
        proc = subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, env=env)
    finally:
        shutil.rmtree(view, ignore_errors=True)
    real = os.path.relpath(firmware_dir, REPO_ROOT)
    proc.stdout = proc.stdout.replace(view_dir, real).replace(os.path.relpath(view_dir, REPO_ROOT), real)
    # exit 2 with "file:line: error:" lines is a blocking error in the code (a syntax error, an
    # impossible import): a finding like any other. Exit 2 without them means mypy itself failed.
    if proc.returncode not in (0, 1) and not re.search(r"^\S+:\d+: error:", proc.stdout, re.MULTILINE):
        raise CheckError("mypy could not run (exit %d):\n%s%s" % (proc.returncode, proc.stdout, proc.stderr))
    lines = [line for line in proc.stdout.splitlines() if line and not line.startswith("Success:")]
    lines = [line for line in lines if not re.match(r"^Found \d+ errors? in", line)]
    return proc.returncode, lines


def check(paths, cache_root=None):
    """Both checks over `paths`: the list of problems (empty when the code fits an ESP32)."""
    paths = [os.path.abspath(path) for path in paths]  # mypy runs from the repository root
    problems = []
    for path in _python_files(paths):
        problems.extend(rule_problems(path))
    _, mypy_lines = run_mypy(paths, cache_root)
    return problems + mypy_lines


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    paths = argv or [os.path.join(REPO_ROOT, "firmware")]
    try:
        problems = check(paths)
    except CheckError as e:
        print("firmware_check: %s" % e, file=sys.stderr)
        return 2
    for line in problems:
        print(line)
    errors = [line for line in problems if ": error:" in line]
    if errors:
        print("firmware_check: %d problem(s): this code would not run on a MicroPython ESP32 build" % len(errors))
        return 1
    print("firmware_check: ok (%s)" % ", ".join(paths))
    return 0


if __name__ == "__main__":
    sys.exit(main())
