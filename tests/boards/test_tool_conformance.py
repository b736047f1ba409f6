# The tools people point at a real ESP32 take a virtual board for one, on both runtimes: mpremote,
# rshell and mpytool run as real subprocesses, each command they offer for files, code, the REPL,
# resets and the filesystem, against one board per runtime (--fast: pacing is not under test here).
# Binary bytes, including 0x03, cross the link untouched through `mpremote mount`, and the flash
# answers as the profile's 2 MB LittleFS partition, ENOSPC included.
import hashlib
import os
import pty
import re
import select
import subprocess
import sys
import termios
import time

import pytest

from tests.boards.targets import open_tool_board, tool_target_ids

BIN = os.path.dirname(sys.executable)
MPREMOTE, RSHELL, MPYTOOL = (os.path.join(BIN, tool) for tool in ("mpremote", "rshell", "mpytool"))
PARTITION = 2 * 1024 * 1024  # filesystem_bytes of esp32-devkitc
BLOCK = 4096


def pytest_generate_tests(metafunc):
    # `board`: the board given by --port, else a virtual board per runtime; `virtual_board`: the
    # checks that need what only the emulator has (its supervisor's log, its network switches, a
    # filler that knows the virtual flash) run on a virtual board whether or not --port is given.
    for name, virtual_only in (("tool_target_id", False), ("virtual_tool_target_id", True)):
        chosen = [m for m in metafunc.definition.iter_markers("parametrize") if m.args[0] == name]
        if name in metafunc.fixturenames and not chosen:
            metafunc.parametrize(name, tool_target_ids(metafunc.config, virtual_only), scope="module")


@pytest.fixture(scope="module")
def boards(request, tmp_path_factory):
    """target id -> its board, each opened once for the module."""
    opened = {}

    def open_board(target_id):
        if target_id not in opened:
            index = len(opened)
            state = str(tmp_path_factory.mktemp("conformance") / "board")
            opened[target_id] = open_tool_board(request, target_id, state, "127.0.0.%d" % (60 + index))
        return opened[target_id]

    try:
        yield open_board
    finally:
        for board in opened.values():
            board.close()


@pytest.fixture
def board(boards, tool_target_id):
    return boards(tool_target_id)


@pytest.fixture
def virtual_board(boards, virtual_tool_target_id):
    return boards(virtual_tool_target_id)


def run(tool, *args, timeout=60, cwd=None):
    proc = subprocess.run([tool] + list(args), capture_output=True, text=True, timeout=timeout, cwd=cwd)
    assert proc.returncode == 0, "%s %s failed (%d):\n%s%s" % (
        os.path.basename(tool), " ".join(args), proc.returncode, proc.stdout, proc.stderr)
    return proc.stdout


def mpremote(board, *args, **kw):
    return run(MPREMOTE, "connect", board.port, *args, **kw)


def hard_boot_count(board):
    """How many times the supervisor started the runtime after a hard reset (its log says so)."""
    with open(os.path.join(board.state_dir, "supervisor.log")) as f:
        return f.read().count("started (hard, hard)")


def wait_for(condition, what, limit_s=60):
    """Poll an event the board reports (not a timing): fail naming it if it never comes."""
    deadline = time.monotonic() + limit_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("the board never reported " + what)
        time.sleep(0.05)


def sha256(data):
    return hashlib.sha256(data).hexdigest()


# -- mpremote ------------------------------------------------------------------------------------------
def test_mpremote_file_commands(board, tmp_path):
    data = bytes(range(256)) * 12 + b"\r\n\x03\x04 end"
    (tmp_path / "up.bin").write_bytes(data)
    out = mpremote(board, "mkdir", ":docs", "+", "cp", str(tmp_path / "up.bin"), ":docs/up.bin",
                   "+", "touch", ":docs/empty.txt", "+", "ls", ":docs", "+", "sha256sum", ":docs/up.bin",
                   "+", "tree", ":", "+", "cp", ":docs/up.bin", str(tmp_path / "down.bin"))
    assert board.file_sha256("docs/up.bin") == sha256(data)      # as the board holds it
    assert (tmp_path / "down.bin").read_bytes() == data
    listing = {line.split()[-1]: int(line.split()[0]) for line in out.splitlines() if re.match(r"^\s+\d+ ", line)}
    assert listing == {"up.bin": len(data), "empty.txt": 0}
    assert hashlib.sha256(data).hexdigest() in out
    assert "├── docs" in out or "└── docs" in out

    (tmp_path / "note.txt").write_text("first line\nsecond line\n")
    mpremote(board, "cp", str(tmp_path / "note.txt"), ":note.txt")
    # cat prints what the board's print() sends: an ESP32 console turns "\n" into "\r\n"
    assert mpremote(board, "cat", ":note.txt").replace("\r\n", "\n") == "first line\nsecond line\n"

    mpremote(board, "rm", ":docs/up.bin", "+", "rm", ":docs/empty.txt", "+", "rmdir", ":docs", "+", "rm", ":note.txt")
    assert not board.exists("docs")
    assert "note.txt" not in mpremote(board, "ls", ":")


def test_mpremote_df_shows_the_profiles_partition(virtual_board):
    out = mpremote(virtual_board, "df")
    root = [line.split() for line in out.splitlines() if line.endswith(" /")][0]
    size, used, avail = int(root[1]), int(root[2]), int(root[3])
    assert size == PARTITION and used + avail == size and used % BLOCK == 0 and 0 < used < 16 * BLOCK


def test_mpremote_exec_eval_and_run_answer_as_an_esp32(board, tmp_path):
    out = mpremote(board, "exec", "import os, sys\nprint(sys.platform, os.uname().sysname, os.uname().machine)\n"
                                  "print(os.stat('/'), hex(os.stat('boot.py' if 'boot.py' in os.listdir() else '/')[0]))")
    first, second = out.splitlines()[:2]
    assert first == "esp32 esp32 Generic ESP32 module with ESP32"
    assert second.startswith("(16384, 0, 0, 0, 0, 0, 0,")
    script = tmp_path / "script.py"
    script.write_text("import os\nf = open('s.txt', 'w')\nf.write('x' * 300)\nf.close()\n"
                      "st = os.stat('s.txt')\nprint(hex(st[0]), st[6], type(st[8]).__name__)\nos.remove('s.txt')\n")
    assert mpremote(board, "eval", "6 * 7", "+", "run", str(script)).split() == ["42", "0x8000", "300", "int"]
    # every line the board prints ends in "\r\n", as an ESP32's console does
    raw = subprocess.run([MPREMOTE, "connect", board.port, "exec", "print('a')\nprint('b')"],
                         capture_output=True, timeout=60).stdout
    assert raw == b"a\r\nb\r\n"


def test_mpremote_mount_carries_every_byte_value_both_ways(board, tmp_path):
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    blob = bytes(range(256)) * 256  # 64 KB, every byte value 256 times, 0x03 included
    (checkout / "blob.bin").write_bytes(blob)
    (checkout / "check_blob.py").write_text(
        "import hashlib\n"
        "def check(name):\n"
        "    h = hashlib.sha256()\n"
        "    n = 0\n"
        "    src = open(name, 'rb')\n"
        "    dst = open('copy.bin', 'wb')\n"
        "    while True:\n"
        "        chunk = src.read(4096)\n"
        "        if not chunk:\n"
        "            break\n"
        "        h.update(chunk)\n"
        "        n += len(chunk)\n"
        "        dst.write(chunk)\n"
        "    src.close()\n"
        "    dst.close()\n"
        "    return n, h.digest()\n")
    # a timestamp whose bytes are 0x03 crosses the link on every stat (what hung firmware imports)
    stamp = 0x63030303
    os.utime(checkout / "check_blob.py", (stamp, stamp))
    out = mpremote(board, "mount", str(checkout), "exec",
                   "import check_blob\nn, digest = check_blob.check('blob.bin')\n"
                   "print(n, digest == %r)" % hashlib.sha256(blob).digest())
    assert out.splitlines()[-1] == "65536 True"
    assert (checkout / "copy.bin").read_bytes() == blob  # written by the board through the mount
    assert mpremote(board, "eval", "1 + 1").strip() == "2"  # the board answers afterwards


def _read_pty(fd, until, timeout_s=20):
    seen = b""
    deadline = time.monotonic() + timeout_s
    while until not in seen:
        ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
        assert ready, "no %r from mpremote repl; saw %r" % (until, seen)
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    return seen


def _wait_until_raw(fd):
    """mpremote switches its terminal to raw mode (dropping what was typed before) after printing
    its greeting: type only once the terminal's ICANON flag is off (an event; pytest-timeout
    bounds the wait, so a slow machine is not taken for a broken tool)."""
    while termios.tcgetattr(fd)[3] & termios.ICANON:
        select.select([], [], [], 0.01)


def test_mpremote_repl_driven_through_a_terminal(board):
    pid, fd = pty.fork()
    if pid == 0:  # the child: mpremote on a terminal, as a person runs it
        os.execv(MPREMOTE, [MPREMOTE, "connect", board.port, "repl"])
    try:
        _read_pty(fd, b"exit this shell")
        _wait_until_raw(fd)
        os.write(fd, b"\r")
        _read_pty(fd, b">>> ")
        os.write(fd, b"print(6 * 7)\r")
        assert b"42\r\n" in _read_pty(fd, b"42\r\n>>> ")
        os.write(fd, b"\x1d")  # Ctrl-] leaves mpremote's repl
        _, status = os.waitpid(pid, 0)
        assert os.WEXITSTATUS(status) == 0
    finally:
        os.close(fd)


def test_mpremote_soft_reset_reset_and_romfs_query(virtual_board):
    board = virtual_board
    out = mpremote(board, "exec", "import builtins\nbuiltins.marker = 1", "+", "soft-reset",
                   "+", "eval", "hasattr(__import__('builtins'), 'marker')")
    assert out.strip() == "False"
    hard_boots = hard_boot_count(board)
    mpremote(board, "reset")
    # mpremote's reset sleeps 100 ms on the board before machine.reset() and exits at once; a
    # next mpremote that connects before the reset happened would interrupt it with its Ctrl-C
    # (on a real ESP32 too). Wait for the board's own word that it rebooted.
    wait_for(lambda: hard_boot_count(board) > hard_boots, "the hard reset")
    out = mpremote(board, "eval", "__import__('machine').reset_cause()", "+", "romfs", "query")
    # SOFT_RESET, as esp_restart() reports; the unix port has no ROMFS partition
    assert out.splitlines() == ["5", "ROMFS is not enabled on this device"]


# -- rshell ----------------------------------------------------------------------------------------------
def test_rshell_ls_cp_cat_rm_and_repl(board, tmp_path):
    (tmp_path / "r.txt").write_text("from rshell\n")
    # one rshell session runs a file of commands (each rshell start costs a connection handshake)
    (tmp_path / "commands").write_text(
        "cp %s /pyboard/r.txt\nls /pyboard\ncat /pyboard/r.txt\nrm /pyboard/r.txt\nls /pyboard\n" % (tmp_path / "r.txt"))
    (tmp_path / "keep.txt").write_text("stays")
    mpremote(board, "cp", str(tmp_path / "keep.txt"), ":keep.txt")
    out = run(RSHELL, "--quiet", "-p", board.port, "-f", str(tmp_path / "commands"))
    mpremote(board, "rm", ":keep.txt")
    first_ls, cat, second_ls = [line.split() for line in out.splitlines() if line.strip()][-3:]
    assert sorted(first_ls) == ["keep.txt", "r.txt"] and cat == ["from", "rshell"] and second_ls == ["keep.txt"]
    assert not board.exists("r.txt")
    assert re.search(r">>> print\(1\) *\n1\n>>> ", run(RSHELL, "--quiet", "-p", board.port, "repl", "~ print(1) ~"))


# -- mpytool ---------------------------------------------------------------------------------------------
def test_mpytool_ls_cp_mkdir_mv_rm_info_and_reset(board, tmp_path):
    (tmp_path / "m.txt").write_text("from mpytool\n")
    # one session, commands chained with "--" as mpytool's help shows
    out = run(MPYTOOL, "-p", board.port, "cp", str(tmp_path / "m.txt"), ":/m.txt", "--", "mkdir", ":/box", "--",
              "mv", ":/m.txt", ":/box/", "--", "ls", ":/box")
    assert board.file_sha256("box/m.txt") == sha256(b"from mpytool\n")
    assert re.search(r"\d+B m\.txt", out)
    info = run(MPYTOOL, "-p", board.port, "rm", ":/box", "--", "info")
    assert not board.exists("box")
    assert re.search(r"Platform:\s+esp32", info) and re.search(r"Machine:\s+Generic ESP32 module with ESP32", info)
    assert re.search(r"Flash:\s+[\d.]+K / 2.00M", info)
    run(MPYTOOL, "-q", "-p", board.port, "reset", "--machine")
    assert mpremote(board, "eval", "1").strip() == "1"


# -- the flash fills up as an ESP32's does ---------------------------------------------------------------
FILLER = """
import os
def fill(root, statvfs):
    # as the application writes a scan: a file under board.storage_root, 4 KB at a time
    st = statvfs('/')
    path = root.rstrip('/') + '/fill.bin'
    chunk = b'\\xa5' * 4096
    written = 0
    f = open(path, 'wb')
    try:
        while written < 8 * 1024 * 1024:  # never fill the host's disk if the limit is missing
            f.write(chunk)
            written += len(chunk)
    except OSError as exc:
        print('errno', exc.errno if hasattr(exc, 'errno') else exc.args[0])
    f.close()
    print(st[0], st[2], st[0] * st[3], written, statvfs('/')[3])
    os.remove(path)
"""


def test_filling_the_flash_ends_in_enospc_where_statvfs_said(virtual_board):
    board = virtual_board
    with open(os.path.join(board.flash_dir, "filler.py"), "w") as f:
        f.write(FILLER)
    try:
        out = mpremote(board, "exec", "import filler, os, virtual_board\n"
                       "filler.fill(virtual_board.VirtualBoard().storage_root, os.statvfs)",
                       timeout=120)
    finally:
        os.remove(os.path.join(board.flash_dir, "filler.py"))
    errno_line, figures = out.splitlines()[-2:]
    assert errno_line == "errno 28"
    bsize, blocks, free, written, left = (int(x) for x in figures.split())
    assert bsize * blocks == PARTITION
    assert free - bsize <= written <= free and left <= 1


# -- the network: everything goes through the virtual network ---------------------------------------
NET_PROBE = """
import socket, network
def attempt(what, call):
    try:
        call()
        print(what, 'ok')
    except OSError as exc:
        print(what, exc)
def connect():
    s = socket.socket()
    s.settimeout(5)
    try:
        s.connect(socket.getaddrinfo('127.0.0.1', %(port)d)[0][-1])
        s.write(b'from the board')
    finally:
        s.close()
attempt('down-lookup', lambda: socket.getaddrinfo('127.0.0.1', %(port)d))
attempt('down-connect', lambda: socket.socket().connect(('127.0.0.1', %(port)d)))
wlan = network.WLAN(network.STA_IF)
wlan.active(True)
wlan.connect('office', 'secret')
attempt('up-unknown-name', lambda: socket.getaddrinfo('micropython.org', 443))
attempt('up-connect', connect)
"""


def test_sockets_on_the_board_use_the_virtual_network_and_fail_as_an_esp32(virtual_board):
    board = virtual_board
    import socket

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(2)
    server.settimeout(20)
    port = server.getsockname()[1]
    try:
        out = mpremote(board, "exec", NET_PROBE % {"port": port})
        conn, peer = server.accept()
        with conn:
            assert conn.recv(100) == b"from the board"
        assert peer[0] == board.info["ip"]  # the board's own address, not the host's
        assert out.splitlines()[:4] == ["down-lookup -202", "down-connect [Errno 113] EHOSTUNREACH",
                                         "up-unknown-name -202", "up-connect ok"]
        board.set_network(block_ports=[port])
        try:
            out = mpremote(board, "exec", NET_PROBE % {"port": port})
        finally:
            board.set_network(block_ports=None)
        assert out.splitlines()[3] == "up-connect [Errno 111] ECONNREFUSED"
    finally:
        server.close()


@pytest.mark.parametrize("virtual_tool_target_id", ["virtual-micropython"], scope="module")  # mip: MicroPython only
def test_mip_fails_as_on_an_esp32_without_a_route(virtual_board):
    board = virtual_board
    proc = subprocess.run([MPREMOTE, "connect", board.port, "exec",
                           "import network\nw = network.WLAN(network.STA_IF)\nw.active(True)\nw.connect('office', 'x')\n"
                           "import mip\nmip.install('aioble')"], capture_output=True, text=True, timeout=60)
    lines = (proc.stdout + proc.stderr).replace("\r\n", "\n").splitlines()
    assert lines[0].startswith("Installing aioble")
    frames = [line for line in lines if line.startswith("  File")]
    assert frames and all('"<stdin>"' in f or '"mip/' in f or '"requests/' in f for f in frames), frames
    assert lines[-1] == "OSError: -202"
