# A pytest that is already started, for the mutants of one module's copy (bench/mutation.py):
# each pytest run of a mutant spent most of its CPU importing pytest, its plugins and the suite's
# conftest before any test ran. This server imports them once, then for each request forks a child
# that runs pytest.main() with the request's arguments. Rule: nothing of the firmware is imported
# before the fork (the server checks, and refuses to serve otherwise), so every child imports the
# module as cosmic-ray has just mutated it on disk; a child runs in its own session and is killed
# with all it started when the client that asked for it goes (cosmic-ray's timeout kills the
# client), so no run outlives its mutant.
#
#   python bench/mutation_server.py SOCKET     # cwd: the copy; environment: the test run's
#   (bench/mutation_select.py is the client)
import json
import os
import select
import signal
import socket
import sys
import tempfile

FIRMWARE = "scanmail.firmware"


def preload():
    """Import what every pytest start imports: pytest, its plugins (entry points), the suite's
    conftest. -> None, or what was imported that must not be (a firmware module)."""
    sys.path.insert(0, os.getcwd())
    import pytest  # noqa: F401
    from importlib.metadata import entry_points

    for entry in entry_points(group="pytest11"):
        entry.load()
    import tests.conftest  # noqa: F401
    sys.path.pop(0)
    loaded = sorted(m for m in sys.modules if m == FIRMWARE or m.startswith(FIRMWARE + "."))
    return ", ".join(loaded) or None


def run_child(args, output_path):
    os.setsid()
    out = os.open(output_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(out, 1)
    os.dup2(out, 2)
    code = 3
    try:
        import pytest

        # (the plugins were imported before pytest could rewrite their asserts: it warns, rightly)
        code = int(pytest.main(["-W", "ignore::pytest.PytestAssertRewriteWarning"] + args))
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def serve_one(server, conn):
    request = b""
    while not request.endswith(b"\n"):
        chunk = conn.recv(65536)
        if not chunk:
            return
        request += chunk
    args = json.loads(request.decode())["args"]
    fd, output_path = tempfile.mkstemp(prefix="mutant-", suffix=".out")
    os.close(fd)
    pid = os.fork()
    if pid == 0:
        conn.close()
        server.close()
        run_child(args, output_path)
    code = None
    while code is None:
        ready, _, _ = select.select([conn], [], [], 0.1)
        if ready and not conn.recv(1):          # the client went: its mutant's time is over
            os.killpg(pid, signal.SIGKILL)
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            code = os.waitstatus_to_exitcode(status)
    try:
        os.killpg(pid, signal.SIGKILL)          # whatever the tests left running
    except OSError:
        pass
    with open(output_path, "rb") as f:
        output = f.read()[-20000:]
    os.remove(output_path)
    try:
        conn.sendall(json.dumps({"code": code, "output": output.decode("utf-8", "replace")})
                     .encode() + b"\n")
    except OSError:
        pass


def main(argv):
    path = argv[1]
    refused = preload()
    if refused:
        sys.stderr.write("mutation_server: the firmware was imported before any mutant (%s); "
                         "not serving\n" % refused)
        return 1
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(4)
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    while True:
        conn, _ = server.accept()
        with conn:
            serve_one(server, conn)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
