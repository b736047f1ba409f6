# The reference host tool drives a virtual board as it drives a real one: `mpremote connect <pty>`
# lists, copies and runs files, over the paced UART link with its 260-byte buffer (not --fast),
# and what lands on the board's flash is byte for byte what was copied.
import os
import subprocess
import sys

import pytest

MPREMOTE = os.path.join(os.path.dirname(sys.executable), "mpremote")


def mpremote(port, *args):
    proc = subprocess.run([MPREMOTE, "connect", port] + list(args), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, "mpremote %s failed:\n%s%s" % (" ".join(args), proc.stdout, proc.stderr)
    return proc.stdout


@pytest.mark.parametrize("runtime", ["micropython", "cpython"])
def test_mpremote_lists_copies_and_runs_files_on_a_virtual_board(start_board, runtime, tmp_path):
    board = start_board(runtime)
    script = tmp_path / "hello.py"
    script.write_text("def greet(name):\n    return 'hello ' + name\nprint(greet('board'))\n")
    # Text with quotes, backslashes and CRLFs, larger than the input buffer many times over.
    data = ("line %d: quotes ' \" and a backslash \\ and a CRLF\r\n" * 120) % tuple(range(120))
    (tmp_path / "notes.txt").write_text(data, newline="")

    out = mpremote(board.port, "fs", "mkdir", ":lib", "+", "fs", "cp", str(script), ":lib/hello.py",
                   "+", "fs", "cp", str(tmp_path / "notes.txt"), ":/notes.txt", "+", "fs", "ls", ":")
    listing = {line.split()[-1]: line.split()[0] for line in out.splitlines() if line.startswith(" ")}
    assert listing["lib/"] == "0" and listing["notes.txt"] == str(len(data.encode()))

    assert mpremote(board.port, "exec", "import hello").strip() == "hello board"
    assert mpremote(board.port, "run", str(script)).strip() == "hello board"
    with open(os.path.join(board.flash_dir, "notes.txt"), "rb") as f:
        assert f.read() == data.encode()
    with open(os.path.join(board.flash_dir, "lib", "hello.py")) as f:
        assert f.read() == script.read_text()


def test_device_paths_outside_the_flash_stay_inside_it(start_board, tmp_path):
    board = start_board("micropython", fast=True)
    out = mpremote(board.port, "exec",
                   "import os\nf = open('/../../../escape.txt', 'w'); f.write('x'); f.close()\n"
                   "print(os.listdir('/'), os.getcwd())")
    assert out.split() == ["['escape.txt']", "/"]
    assert os.path.exists(os.path.join(board.flash_dir, "escape.txt"))
