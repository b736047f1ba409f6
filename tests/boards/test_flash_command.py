# `scanmail flash` against virtual boards on both runtimes: a first flash puts the firmware in an
# application slot that boot.py selects, a second sends nothing, a change sends only what changed,
# a cut at any moment leaves a whole application (old or new), and what a user can get wrong
# (wrong port, busy port, no MicroPython, the cable pulled) is one line, never a traceback.
import json
import os
import random
import threading

import pytest
import serial

from scanmail.host_tools import cli
from scanmail.host_tools.flash import BoardFlash, FlashError, build_image, check_abi
from scanmail.host_tools.flash_plan import sha256_hex
from scanmail.host_tools.raw_repl import RawRepl

BOOTED_SLOT = (
    "import sys\n"
    "import scanmail.firmware.errors as m\n"
    "f = getattr(m, '__file__', '')\n"
    "print(f[f.find('/app/'):].split('/')[2] if '/app/' in f else 'none')\n"
)
SLOT_HASHES = (
    "import os, hashlib, binascii\n"
    "def _h(p):\n"
    "    f = open(p, 'rb'); d = f.read(); f.close()\n"
    "    return binascii.hexlify(hashlib.sha256(d).digest()).decode()\n"
    "def _w(d, pre):\n"
    "    for e in list(os.ilistdir(d)):\n"
    "        if e[1] & 0x4000:\n"
    "            _w(d + '/' + e[0], pre + e[0] + '/')\n"
    "        else:\n"
    "            print(pre + e[0], _h(d + '/' + e[0]))\n"
    "_w('/app/%s', '')\n"
)


def booted_application(port):
    """(slot, {path: sha}) of the application the board runs after its last reset."""
    with RawRepl(port, read_timeout_s=30) as repl:
        repl.enter()
        slot = repl.exec(BOOTED_SLOT).strip()
        if slot == "none":
            return slot, {}
        listing = dict(line.split() for line in repl.exec(SLOT_HASHES % slot).splitlines() if line.strip())
    return slot, listing


def hashes(image):
    return {path: sha256_hex(data) for path, data in image.items()}


def release(info, number):
    """The firmware image as release `number`: release 1 carries release.txt; release 2 changes
    it, adds notes.txt and drops a module (diagnosis, loaded only on demand)."""
    image = dict(build_image(info, "product"))
    image["lib/scanmail/release.txt"] = b"release %d\n" % number
    if number == 2:
        image["lib/scanmail/notes.txt"] = b"what changed\n"
        image = {p: d for p, d in image.items() if "/diagnosis." not in p}
    return image


def variant(info):
    return release(info, 2)


def test_first_flash_boots_the_slot_and_a_second_sends_nothing(start_board, runtime, capsys):
    board = start_board(runtime, fast=True)
    with RawRepl(board.port) as repl:  # the site's configuration and outbox, before scanmail arrives
        repl.exec("f = open('/config.json', 'w'); f.write('{\"method\": \"relay\"}'); f.close()\n"
                  "import os\nos.mkdir('/outbox')\nf = open('/outbox/job1', 'w'); f.write('scan'); f.close()")
    assert cli.main(["flash", "--port", board.port, "-q"]) == 0
    assert "flashed, slot a" in capsys.readouterr().out
    slot, listing = booted_application(board.port)
    assert slot == "a" and "lib/scanmail/firmware/errors.%s" % ("mpy" if runtime == "micropython" else "py") in listing

    again = BoardFlash(board.port).run()
    assert again["status"] == "up to date" and again["sent"] == 0 and again["wire_bytes"] == 0
    with RawRepl(board.port) as repl:
        kept = repl.exec("print(open('/config.json').read()); print(open('/outbox/job1').read())")
    assert kept.split() == ['{"method":', '"relay"}', "scan"]


def test_a_new_release_sends_only_what_changed_and_removes_stale_files(start_board, runtime):
    board = start_board(runtime, fast=True)
    images = {}
    one = BoardFlash(board.port, reset=False, image=lambda info: images.setdefault(1, release(info, 1))).run()
    with RawRepl(board.port) as repl:  # an install from before slots existed
        repl.makedirs("/lib/scanmail/firmware")
        repl.put_file(b"stale = 1\n", "/lib/scanmail/firmware/old.py")
    two = BoardFlash(board.port, image=lambda info: images.setdefault(2, release(info, 2))).run()
    assert (one["slot"], two["slot"]) == ("a", "b")
    assert two["sent"] == 2  # release.txt changed, notes.txt new; the rest copied on the board
    assert two["copied"] == two["files"] - 2
    slot, listing = booted_application(board.port)
    assert slot == "b" and listing == hashes(images[2])
    with RawRepl(board.port) as repl:
        assert "gone" in repl.exec("import os\ntry:\n    os.stat('/lib/scanmail')\nexcept OSError:\n    print('gone')")
    # Back to the plain image: slot a holds release 1, whose release.txt is now stale there.
    plain = BoardFlash(board.port, image=lambda info: build_image(info, "product")).run()
    assert (plain["slot"], plain["sent"], plain["removed"]) == ("a", 0, 1)
    slot, listing = booted_application(board.port)
    assert slot == "a" and "lib/scanmail/release.txt" not in listing


def test_a_flash_cut_at_random_moments_always_leaves_a_whole_application(start_board, runtime):
    from scanmail.host_tools import firmware_build

    board = start_board(runtime, fast=True)
    compiled = runtime == "micropython"
    images = {"old": {p: d for d, p in firmware_build.firmware_image(compiled=compiled)}}
    images["new"] = variant({"runtime": runtime, "mpy": 0x0B06, "version": "?"}) if compiled else dict(
        images["old"], **{"lib/scanmail/release.txt": b"release 2\n"})
    assert BoardFlash(board.port, reset=False, image=images["old"]).run()["status"] == "flashed"
    rng = random.Random(12)
    for cut in range(4):
        # Alternate between two releases so every transfer has something to send; close the port
        # at a seeded instant of it (some land after the switch: then the new one must boot).
        flasher = BoardFlash(board.port, reset=False, image=images["new" if cut % 2 == 0 else "old"])
        timer = threading.Timer(rng.uniform(0.0, 0.5), lambda f=flasher: f.repl and f.repl.serial.close())
        timer.start()
        try:
            flasher.run()
        except FlashError as err:
            assert "\n" not in str(err) and "run the flash again" in str(err)
        timer.join()
        board.reset()
        slot, listing = booted_application(board.port)
        assert listing in (hashes(images["old"]), hashes(images["new"]))


def test_flash_errors_a_user_can_cause_are_one_line(start_board, capsys):
    board = start_board("micropython", fast=True)
    holder = serial.Serial(board.port, exclusive=True)  # a serial monitor left open
    try:
        assert cli.main(["flash", "--port", board.port, "-q"]) == 2
    finally:
        holder.close()
    err = capsys.readouterr().err
    assert "is busy" in err and "Traceback" not in err and err.count("\n") == 1
    assert cli.main(["flash", "--port", "/dev/ttyUSB-none", "-q"]) == 2
    assert "check the cable" in capsys.readouterr().err
    assert cli.main(["flash", "-q"]) == 2
    assert "--port" in capsys.readouterr().err


def test_a_board_that_is_not_micropython_is_named_as_such():
    with pytest.raises(FlashError) as err:
        BoardFlash("loop://", read_timeout_s=0.5).run()
    assert "does not answer as a MicroPython board" in str(err.value)


def test_a_board_running_an_application_is_interrupted_and_flashed(start_board):
    board = start_board("micropython", fast=True)
    repl = RawRepl(board.port)
    repl.enter()
    # A loop that never returns, left running as the scanner application's loop runs.
    repl._send_raw_paste(b"import time\nwhile True:\n    time.sleep(0.01)\n")
    repl.serial.close()
    assert BoardFlash(board.port).run()["status"] == "flashed"


def test_the_cable_pulled_mid_transfer_is_one_line(start_board):
    board = start_board("micropython")
    flasher = BoardFlash(board.port, read_timeout_s=3)
    stopped = []

    def pull(done, total):
        if done > 2000 and not stopped:
            stopped.append(threading.Thread(target=board.stop))
            stopped[0].start()

    flasher.progress = pull
    with pytest.raises(FlashError) as err:
        flasher.run()
    stopped[0].join()
    assert "lost the board" in str(err.value) and "check the cable" in str(err.value)


def test_a_board_that_reads_other_mpy_files_is_refused_before_anything_is_sent():
    sample = b"M\x06\x00\x1f"
    with pytest.raises(FlashError) as err:
        check_abi({"runtime": "micropython", "version": "1.18.0", "mpy": 5}, sample)
    assert "reads .mpy 5.0" in str(err.value) and "esptool write-flash" in str(err.value)
    check_abi({"runtime": "micropython", "version": "1.29.0", "mpy": 0x0B06}, sample)  # bytecode: any arch


def test_a_paced_board_behind_a_uart_bridge_loses_no_byte(start_board):
    # 115200 baud and a 260-byte input buffer that drops what overflows: the window keeps the
    # flash inside it, so the board's log shows no drop and every file verifies.
    board = start_board("micropython")
    summary = BoardFlash(board.port, reset=False).run()
    assert summary["status"] == "flashed" and summary["sent"] == summary["files"]
    with open(os.path.join(board.state_dir, "supervisor.log")) as log:
        assert "dropped" not in log.read()


@pytest.mark.parametrize("runtime", ("micropython", "cpython"))
def test_the_flash_puts_the_sites_files_in_place_after_the_switch(start_board, runtime):
    # main.py (what starts the application) and a CA beside the slots: written after the switch,
    # verified, and not sent again while their hash is the same.
    from scanmail.host_tools.app_install import BOARD_FILES
    from scanmail.host_tools.flash_agent import BOOT_PY

    with open(os.path.join(BOARD_FILES, "main.py"), "rb") as f:
        main_py = f.read()
    files = {"/main.py": main_py, "/ca.der": b"\x30\x82 a CA"}
    board = start_board(runtime, fast=True)
    first = BoardFlash(board.port, reset=False, files=files).run()
    assert first["site_files"] == 2
    with RawRepl(board.port) as repl:
        on_board = repl.exec("for p in ('/boot.py', '/main.py', '/ca.der'):\n"
                             "    f = open(p, 'rb'); print(repr(f.read())); f.close()")
    boot, main, ca = [eval(line) for line in on_board.splitlines() if line.strip()]
    assert boot == BOOT_PY.encode() and main == main_py and ca == b"\x30\x82 a CA"
    board.reset()                                   # boot.py picks the slot, main.py starts the application
    slot, listing = booted_application(board.port)
    assert slot == "a" and len(listing) == first["files"]
    again = BoardFlash(board.port, reset=False, files=files).run()
    assert again["status"] == "up to date" and again["wire_bytes"] == 0 and again["site_files"] == 0


def test_scanmail_flash_installs_main_py_and_the_profiles_board_file_and_the_application_starts(start_board, capsys):
    # a person flashing a board expects a scanner: after `scanmail flash` the board starts the
    # application at boot, and with --profile the firmware finds the board's hardware (its pins)
    from scanmail.hardware import profiles
    from scanmail.host_tools.console_client import ConsoleClient

    board = start_board("micropython", fast=True)
    assert cli.main(["flash", "--port", board.port, "--profile", "nothing-like-it", "-q"]) == 2
    refused = capsys.readouterr().err.strip().splitlines()
    assert len(refused) == 1 and "known boards: " in refused[0] and "wt32-eth01" in refused[0]
    assert cli.main(["flash", "--port", board.port, "--profile", "wt32-eth01", "-q", "--json"]) == 0
    [result] = json.loads(capsys.readouterr().out)
    assert result["error"] is None and result["site_files"] == 2
    with RawRepl(board.port) as repl:
        repl.enter()
        on_board = repl.exec("for p in ('/board.json', '/main.py'):\n"
                             "    f = open(p); print(repr(f.read())); f.close()")
    board_file, main_py = [eval(line) for line in on_board.splitlines() if line.strip()]
    assert json.loads(board_file) == profiles.board_config("wt32-eth01")
    assert "app_loop import main" in main_py
    with ConsoleClient(board.port) as console:
        board.reset()
        assert "started on" in console.wait_for_log("started on")
        assert console.request("info")["firmware"]


def test_flash_with_a_ca_lets_the_application_trust_a_server_of_a_private_ca(start_board, capsys, tmp_path):
    # a site's own mail server (here the fake tenant, whose certificates come from its own CA): the
    # person hands that CA to `scanmail flash --ca`, is told the one setting that uses it, and the
    # board then sends; a file that is no certificate, or holds several, is one line
    from scanmail.emulator.tenant import FakeTenant
    from scanmail.host_tools.console_client import ConsoleClient

    with FakeTenant(state_dir=str(tmp_path / "o365")) as tenant:
        board = start_board("micropython", fast=True, tenant_state=str(tenant.state_dir))
        (tmp_path / "notes.txt").write_text("not a certificate\n")
        with open(tenant.ca_pem_path) as f:
            pem = f.read()
        (tmp_path / "two.pem").write_text(pem + pem)
        for bad, says in (("notes.txt", "is not a certificate (PEM or DER)"), ("two.pem", "holds 2 certificates"),
                          ("absent.pem", "No such file")):
            assert cli.main(["flash", "--port", board.port, "--ca", str(tmp_path / bad), "-q"]) == 2
            refused = capsys.readouterr().err.strip().splitlines()
            assert len(refused) == 1 and says in refused[0], refused
        assert cli.main(["flash", "--port", board.port, "--ca", tenant.ca_pem_path, "-q"]) == 0
        out = capsys.readouterr().out
        assert "scanmail config set ca_path=/ca.der --port %s" % board.port in out
        with RawRepl(board.port) as repl:
            repl.enter()
            on_board = eval(repl.exec("f = open('/ca.der', 'rb'); print(repr(f.read())); f.close()").strip())
        with open(tenant.ca_der_path, "rb") as f:
            assert on_board == f.read()
        with ConsoleClient(board.port, timeout_s=30) as console:
            board.reset()
            console.wait_for_log("started on")
        assert cli.main(["config", "set", "ca_path=/ca.der", "username=scanner@contoso.com",
                         "sender=scanner@contoso.com", "--port", board.port]) == 0
        with ConsoleClient(board.port, timeout_s=30) as console:
            console.request("secret.set", name="password", value="Scanner-Pass-1")
            assert console.request("send-test", to="alice@contoso.com")["reply"].startswith("250")
        assert len(tenant.messages("alice@contoso.com", "Inbox")) == 1
    # the same CA again changes nothing; another CA is a site file written, not a new slot
    import trustme

    trustme.CA().cert_pem.write_to_path(str(tmp_path / "other.pem"))
    capsys.readouterr()
    for ca, status, sent in ((tenant.ca_pem_path, "up to date", 0), (str(tmp_path / "other.pem"), "site files written", 1)):
        assert cli.main(["flash", "--port", board.port, "--ca", ca, "--json", "-q", "--no-reset"]) == 0
        summary = json.loads(capsys.readouterr().out)[0]
        assert (summary["status"], summary["sent"] + summary["site_files"]) == (status, sent), summary
