# The `scanmail` commands a technician runs against a running scanner over its serial port (config,
# secret, status, info, send-test, outbox, logs, reboot, advise --port), against virtual boards on
# both runtimes with the application installed as a user installs it: each command does its job,
# every refusal is one line that says what to do (exit 2, no traceback), and a secret never shows
# on stdout, stderr, the board's log or its flash.
import io
import json
import os
import subprocess
import sys
import threading
import time

try:
    import tomllib
except ImportError:                 # Python 3.10
    import tomli as tomllib

import pytest

from scanmail.emulator.boards import BoardHandle
from scanmail.emulator.tenant import FakeTenant
from scanmail.host_tools import app_install, cli, firmware_build
from scanmail.host_tools.console_client import ConsoleClient
from scanmail.host_tools.raw_repl import RawRepl
from tests import runtimes

PASSWORD = "Scanner-Pass-1"
BASE_SETTINGS = ["username=scanner@contoso.com", "sender=scanner@contoso.com",
                 "address_book=alice:alice@contoso.com,bob:bob@contoso.com", "default_destination=alice",
                 "ca_path=/ca.der", "timeout_s=10"]


@pytest.fixture(scope="module")
def tenant(tmp_path_factory):
    with FakeTenant(state_dir=tmp_path_factory.mktemp("o365")) as t:
        yield t


def _install(board, tenant, main=True):
    """Firmware, application, boot.py, main.py (unless main=False) and the tenant's CA, over the
    board's port as a user installs them."""
    with RawRepl(board.port, read_timeout_s=60) as repl:
        repl.enter()
        with open(tenant.ca_der_path, "rb") as f:
            app_install.install(repl, extra=[(f.read(), "/ca.der")])
        if not main:
            repl.exec("import os\nos.remove('/main.py')")


def start_app(tenant, runtime, state_dir, ip, install=True):
    """A virtual board with scanmail installed over its port, running the application."""
    board = BoardHandle("esp32-devkitc", runtime, str(state_dir), ip, tenant_state=str(tenant.state_dir), fast=True)
    board.start()
    if install:
        _install(board, tenant)
        with ConsoleClient(board.port, timeout_s=30) as console:
            board.reset()
            console.wait_for_log("started on")
    return board


@pytest.fixture(scope="module", params=runtimes.RUNTIMES)
def board(request, tenant, tmp_path_factory):
    """One running scanner per runtime, shared by the tests that leave it running."""
    ip = "127.0.0.%d" % (221 + runtimes.RUNTIMES.index(request.param))
    b = start_app(tenant, request.param, tmp_path_factory.mktemp("board"), ip)
    try:
        yield b
    finally:
        b.stop()


@pytest.fixture
def fresh_board(tenant, tmp_path, runtime):
    """A board of the test's own (it gets stopped, reflashed or left at the prompt)."""
    started = []

    def start(install=True):
        b = start_app(tenant, runtime, tmp_path / ("board-%d" % len(started)), "127.0.0.%d" % (231 + len(started)
                      + 4 * runtimes.RUNTIMES.index(runtime)), install)
        started.append(b)
        return b

    try:
        yield start
    finally:
        for b in started:
            b.stop()


def run(capsys, *argv, stdin=None, monkeypatch=None):
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    capsys.readouterr()                 # what starting a board printed is not the command's output
    status = cli.main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return status, out, err


def refused(status, out, err):
    """A refusal as a user sees it: exit 2, one line on stderr, nothing half-printed on stdout."""
    assert status == 2, (out, err)
    assert err.startswith("scanmail: ") and err.count("\n") == 1 and "Traceback" not in err, err
    return err


def configure(capsys, board):
    status, out, err = run(capsys, "config", "set", *BASE_SETTINGS, "--port", board.port)
    assert status == 0, err


def until(check, what, tries=600):
    for _ in range(tries):
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("never happened: " + what)


# -- info, status, config ----------------------------------------------------------------------------
def test_info_and_status_name_the_board_and_what_it_is_doing(capsys, board):
    status, out, _ = run(capsys, "info", "--port", board.port, "--json")
    info = json.loads(out)
    assert status == 0 and info["runtime"] == board.runtime and info["profile"] == "esp32-devkitc"
    status, out, _ = run(capsys, "status", "--port", board.port, "--json")
    state = json.loads(out)
    assert status == 0 and state["address"] == board.info["ip"] and set(state["outbox"]) >= {"queued", "sent"}
    status, out, _ = run(capsys, "status", "--port", board.port)
    assert status == 0 and state["config_hash"] in out and board.info["ip"] in out
    assert out.count(board.info["ip"]) == 1, out                 # the address once, not twice


def test_config_set_prints_the_hash_the_board_returns_and_show_and_get_agree(capsys, board):
    status, out, err = run(capsys, "config", "set", *BASE_SETTINGS, "subject=Scan {date}", "--port", board.port)
    assert status == 0, err
    _, shown, _ = run(capsys, "config", "show", "--port", board.port, "--json")
    shown = json.loads(shown)
    assert "configuration hash %s" % shown["hash"] in out or "already has these settings (hash %s)" % shown["hash"] in out
    assert shown["settings"]["address_book"] == {"alice": "alice@contoso.com", "bob": "bob@contoso.com"}
    assert shown["settings"]["timeout_s"] == 10 and shown["settings"]["subject"] == "Scan {date}"
    status, out, _ = run(capsys, "config", "get", "default_destination", "--port", board.port)
    assert status == 0 and out == "alice\n"
    _, out, _ = run(capsys, "status", "--port", board.port, "--json")
    assert json.loads(out)["config_hash"] == shown["hash"]
    status, out, _ = run(capsys, "config", "show", "--port", board.port)
    assert status == 0 and "bob@contoso.com" in out and shown["hash"] in out


def test_a_bad_value_is_refused_on_the_host_before_any_port_is_opened(capsys):
    # The port does not exist: the answer is about the value, so nothing was tried on a board.
    err = refused(*run(capsys, "config", "set", "port=99999", "--port", "/dev/ttyUSB-nothing-here"))
    assert "port refused; allowed: an integer 0..65535; you gave 99999" in err
    err = refused(*run(capsys, "config", "set", "method=carrier-pigeon", "--port", "/dev/ttyUSB-nothing-here"))
    assert "method refused" in err and "direct_send" in err
    err = refused(*run(capsys, "config", "set", "timeout_s=soon", "--port", "/dev/ttyUSB-nothing-here"))
    assert "timeout_s takes an integer 5..300, not 'soon'" in err
    err = refused(*run(capsys, "config", "set", "password=Hunter-2-Secret", "--port", "/dev/ttyUSB-nothing-here"))
    assert "scanmail secret set password" in err and "Hunter-2-Secret" not in err


def test_a_rule_between_keys_is_checked_against_the_boards_own_settings(capsys, board):
    configure(capsys, board)
    _, before, _ = run(capsys, "status", "--port", board.port, "--json")
    err = refused(*run(capsys, "config", "set", "method=direct_send", "--port", board.port))
    assert "host: the direct_send method needs host" in err
    err = refused(*run(capsys, "config", "set", "default_destination=carol", "--port", board.port))
    assert "not a name in address_book (names: alice, bob)" in err
    _, after, _ = run(capsys, "status", "--port", board.port, "--json")
    assert json.loads(after)["config_hash"] == json.loads(before)["config_hash"]   # nothing changed


def test_export_then_import_sends_only_what_changed_and_holds_no_secret(capsys, monkeypatch, board, tmp_path):
    configure(capsys, board)
    run(capsys, "secret", "set", "password", "--port", board.port, stdin=PASSWORD + "\n", monkeypatch=monkeypatch)
    exported = tmp_path / "lobby.toml"
    status, out, _ = run(capsys, "config", "export", exported, "--port", board.port)
    assert status == 0 and "wrote %s" % exported in out
    text = exported.read_text()
    assert PASSWORD not in text and "password" not in text.replace("scanmail secret set", "")
    settings = tomllib.loads(text)                              # a TOML reader other than ours
    assert settings["address_book"] == {"alice": "alice@contoso.com", "bob": "bob@contoso.com"}
    assert settings["keep_sent"] is False and settings["ntp_servers"] == ["pool.ntp.org"]

    status, out, _ = run(capsys, "config", "import", exported, "--port", board.port)
    assert status == 0 and out.startswith("nothing to change")
    exported.write_text(text.replace('subject = "', 'subject = "Lobby: '))
    status, out, _ = run(capsys, "config", "import", exported, "--port", board.port)
    assert status == 0 and out.startswith("changed subject; configuration hash ")
    _, got, _ = run(capsys, "config", "get", "subject", "--port", board.port)
    assert got.startswith("Lobby: ")
    logs = ConsoleClient(board.port).request("logs", count=5)
    assert any("config: subject changed" in line for line in logs)

    as_json = tmp_path / "lobby.json"
    status, _, _ = run(capsys, "config", "export", as_json, "--port", board.port)
    assert status == 0 and json.loads(as_json.read_text())["subject"].startswith("Lobby: ")
    status, out, _ = run(capsys, "config", "import", as_json, "--port", board.port)
    assert status == 0 and out.startswith("nothing to change")
    status, out, _ = run(capsys, "config", "set", "quality=75", "keep_sent=yes", "--port", board.port, "--json")
    answer = json.loads(out)
    _, shown, _ = run(capsys, "config", "show", "--port", board.port, "--json")
    assert status == 0 and answer == {"changed": ["keep_sent", "quality"], "hash": json.loads(shown)["hash"]}
    run(capsys, "config", "import", exported, "--port", board.port)             # as it was


def test_a_file_naming_a_secret_is_refused_with_the_command_that_sets_it(capsys, tmp_path):
    bad = tmp_path / "site.json"
    bad.write_text(json.dumps({"method": "submission", "password": "Hunter-2-Secret"}))
    status, out, err = run(capsys, "config", "validate", bad)
    refused(status, out, err)
    assert "password is a secret" in err and "scanmail secret set password" in err
    assert "Hunter-2-Secret" not in out + err
    broken = tmp_path / "site.toml"
    broken.write_text('method = "submission\n')
    assert "is not valid TOML" in refused(*run(capsys, "config", "validate", broken))


def test_validate_checks_a_file_against_the_defaults_or_a_boards_settings(capsys, board, tmp_path):
    site = tmp_path / "site.toml"
    site.write_text('method = "direct_send"\nhost = "contoso-com.mail.protection.outlook.com"\n')
    status, out, _ = run(capsys, "config", "validate", site)
    assert status == 0 and out.startswith("valid (against the defaults")
    status, out, _ = run(capsys, "config", "validate", site, "--port", board.port)
    assert status == 0 and "would change host, method" in out
    err = refused(*run(capsys, "config", "validate", "method=relay", "--port", board.port))
    assert "the relay method needs host" in err


def test_a_long_import_reaches_a_board_paced_at_115200_baud_whole(capsys, runtime, tenant, tmp_path):
    # Installed at full speed, then started again as the profile's UART bridge really is: 115200
    # baud, and what overflows the ESP32's 260-byte input buffer is dropped.
    state = tmp_path / "paced"
    board = start_app(tenant, runtime, state, "127.0.0.%d" % (241 + runtimes.RUNTIMES.index(runtime)), install=False)
    _install(board, tenant, main=False)                # without main.py yet: the restart gets to its prompt
    board.stop()
    board = BoardHandle("esp32-devkitc", runtime, str(state), tenant_state=str(tenant.state_dir), fast=False)
    board.start()
    try:
        with RawRepl(board.port, read_timeout_s=60) as repl:
            repl.enter()
            repl.put_file(open(os.path.join(app_install.BOARD_FILES, "main.py"), "rb").read(), "/main.py")
        with ConsoleClient(board.port, timeout_s=60) as console:
            board.reset()
            console.wait_for_log("started on")
        book = {"person%02d" % i: "person%02d@contoso.com" % i for i in range(30)}
        site = tmp_path / "site.json"
        site.write_text(json.dumps({"address_book": book, "default_destination": "person29"}))
        status, out, err = run(capsys, "config", "import", site, "--port", board.port, "--timeout", "60")
        assert status == 0 and out.startswith("changed address_book, default_destination; configuration hash "), err
        _, got, _ = run(capsys, "config", "get", "address_book", "--port", board.port, "--json", "--timeout", "60")
        assert json.loads(got)["value"] == book
    finally:
        board.stop()


# -- secrets -----------------------------------------------------------------------------------------
def test_a_secret_from_stdin_is_set_and_shown_nowhere(capsys, monkeypatch, board):
    status, out, err = run(capsys, "secret", "set", "password", "--port", board.port,
                           stdin=PASSWORD + "\n", monkeypatch=monkeypatch)
    assert status == 0 and out.startswith("password set on the board (fingerprint ")
    fingerprint = out.split("fingerprint ")[1].rstrip(")\n")
    status, table, _ = run(capsys, "secret", "status", "--port", board.port)
    assert status == 0 and fingerprint in table
    status, listed, _ = run(capsys, "secret", "status", "--port", board.port, "--json")
    assert json.loads(listed)["password"] == {"set": True, "fingerprint": fingerprint}
    _, logs, _ = run(capsys, "logs", "--port", board.port, "--count", "200")
    flash_logs = b"".join(open(os.path.join(board.flash_dir, name), "rb").read()
                          for name in os.listdir(board.flash_dir) if name.startswith("log."))
    for seen in (out, err, table, listed, logs, flash_logs.decode("utf-8", "replace")):
        assert PASSWORD not in seen
    err = refused(*run(capsys, "secret", "set", "password", "--port", board.port, stdin="\n", monkeypatch=monkeypatch))
    assert "no value given for password (to clear it say --clear)" in err
    err = refused(*run(capsys, "secret", "set", "pin", "--port", board.port, stdin="1234\n", monkeypatch=monkeypatch))
    assert "unknown secret 'pin'" in err and "1234" not in err


def test_a_secret_piped_into_the_command_never_reaches_its_output(board, tenant):
    proc = subprocess.run([sys.executable, "-m", "scanmail.host_tools.cli", "secret", "set", "password",
                           "--port", board.port], input=(PASSWORD + "\n").encode(), capture_output=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert PASSWORD.encode() not in proc.stdout + proc.stderr and b"fingerprint" in proc.stdout


def test_a_secret_typed_at_a_terminal_is_not_echoed(board):
    import pty

    pid, terminal_fd = pty.fork()
    if pid == 0:                                                  # the child: scanmail on a terminal
        os.execv(sys.executable, [sys.executable, "-m", "scanmail.host_tools.cli", "secret", "set", "password",
                                  "--port", board.port])
    seen = bytearray()

    def read_until(text):
        while text not in seen:
            try:
                chunk = os.read(terminal_fd, 1024)
            except OSError:                                       # the child has gone: EIO
                chunk = b""
            if not chunk:
                raise AssertionError("the terminal never showed %r; it showed %r" % (text, bytes(seen)))
            seen.extend(chunk)

    read_until(b"password (not shown): ")
    os.write(terminal_fd, PASSWORD.encode() + b"\r")
    read_until(b"fingerprint")
    read_until(b"\n")
    _, status = os.waitpid(pid, 0)
    os.close(terminal_fd)
    assert os.waitstatus_to_exitcode(status) == 0
    assert PASSWORD.encode() not in seen


# -- sending, the outbox, logs -----------------------------------------------------------------------
def test_send_test_delivers_and_a_refusal_says_what_to_do(capsys, monkeypatch, board, tenant):
    configure(capsys, board)
    run(capsys, "config", "set", "method=submission", "--port", board.port)
    run(capsys, "secret", "set", "password", "--port", board.port, stdin=PASSWORD + "\n", monkeypatch=monkeypatch)
    tenant.reset()
    status, out, err = run(capsys, "send-test", "--to", "bob@contoso.com", "--port", board.port)
    assert status == 0 and out.startswith("sent: 250 "), err
    assert len(tenant.messages("bob@contoso.com", "Inbox")) == 1
    run(capsys, "secret", "set", "password", "--port", board.port, stdin="Wrong-Pass\n", monkeypatch=monkeypatch)
    err = refused(*run(capsys, "send-test", "--port", board.port))
    assert "535 5.7.3" in err and "check the sign-in credentials" in err and "Wrong-Pass" not in err
    run(capsys, "secret", "set", "password", "--port", board.port, stdin=PASSWORD + "\n", monkeypatch=monkeypatch)


def test_the_outbox_lists_a_failed_scan_with_what_to_do_retries_and_purges_it(capsys, monkeypatch, board, tenant):
    configure(capsys, board)
    run(capsys, "config", "set", "method=submission", "--port", board.port)
    run(capsys, "secret", "set", "password", "--port", board.port, stdin="Wrong-Pass\n", monkeypatch=monkeypatch)
    run(capsys, "outbox", "purge", "--port", board.port)
    board.press("scan")

    def failed_job():
        _, out, _ = run(capsys, "outbox", "list", "--port", board.port, "--json")
        return [j for j in json.loads(out) if j["state"] == "failed"]

    (job,) = until(failed_job, "the scan fails at sign-in")
    status, table, _ = run(capsys, "outbox", "list", "--port", board.port)
    assert status == 0 and job["id"] in table and "failed" in table and "535 5.7.3" in table
    assert "alice@contoso.com" in table

    run(capsys, "secret", "set", "password", "--port", board.port, stdin=PASSWORD + "\n", monkeypatch=monkeypatch)
    tenant.reset()
    status, out, _ = run(capsys, "outbox", "retry", job["id"], "--port", board.port)
    assert status == 0 and out == "job %s queued again\n" % job["id"]
    until(lambda: tenant.messages("alice@contoso.com", "Inbox"), "the retried scan arrives")
    err = refused(*run(capsys, "outbox", "retry", "999999", "--port", board.port))
    assert "999999" in err
    until(lambda: "sent" in run(capsys, "outbox", "list", "--port", board.port)[1], "the job is marked sent")
    status, out, _ = run(capsys, "outbox", "purge", "--port", board.port)
    assert status == 0 and out.startswith("purged 1 job(s)")
    assert run(capsys, "outbox", "list", "--port", board.port)[1] == "the outbox is empty\n"


def test_logs_show_the_boards_kept_lines(capsys, board):
    run(capsys, "config", "set", "quality=70", "--port", board.port)
    run(capsys, "config", "set", "quality=80", "--port", board.port)
    status, out, _ = run(capsys, "logs", "--port", board.port, "--count", "3", "--json")
    lines = json.loads(out)
    assert status == 0 and len(lines) == 3 and "config: quality changed" in lines[-1]
    assert "--count is 1..200" in refused(*run(capsys, "logs", "--port", board.port, "--count", "0"))


def test_advise_writes_the_advised_settings_to_the_board(capsys, board):
    configure(capsys, board)
    status, out, err = run(capsys, "advise", "--tls12", "--no-oauth", "--no-outside", "--static-ip",
                           "--per-day", "50", "--no-licensed-mailbox", "--domain", "contoso.com",
                           "--ip", "127.0.0.20", "--port", board.port)
    assert status == 0, err
    assert "method: direct_send" in out and "written to the board on %s: changed " % board.port in out
    _, got, _ = run(capsys, "config", "get", "host", "--port", board.port)
    assert got == "contoso-com.mail.protection.outlook.com\n"
    status, out, _ = run(capsys, "advise", "--tls12", "--no-oauth", "--outside", "--no-static-ip",
                         "--per-day", "50", "--licensed-mailbox", "--domain", "contoso.com",
                         "--port", board.port, "--json")
    written = json.loads(out)["written"]
    assert status == 0 and written["then"] == ["scanmail secret set password --port %s" % board.port]
    _, got, _ = run(capsys, "config", "get", "method", "--port", board.port)
    assert got == "submission\n"
    assert "say --domain" in refused(*run(capsys, "advise", "--tls12", "--port", board.port))


# -- reboot and the board's states -------------------------------------------------------------------
def test_reboot_resets_the_board_and_waits_for_scanmail(capsys, board):
    name = json.loads(run(capsys, "info", "--port", board.port, "--json")[1])["name"]
    status, out, err = run(capsys, "reboot", "--port", board.port)
    assert status == 0, err
    assert "asked of the application" in out and "started on %s" % name in out
    logs = json.loads(run(capsys, "logs", "--port", board.port, "--count", "5", "--json")[1])
    assert any("console: reboot" in line for line in logs)


def test_a_board_at_the_prompt_is_named_and_reboot_brings_scanmail_back(capsys, fresh_board):
    board = fresh_board()
    with ConsoleClient(board.port) as console:
        board.reset()
        console.wait_for_log("started on")
        console.serial.write(b"\x03")                      # Ctrl-C at once: the application stops, the REPL is up
        console.wait_for_log("stopped (Ctrl-C)")
    err = refused(*run(capsys, "status", "--port", board.port))
    assert "at the MicroPython prompt" in err and "scanmail reboot --port %s" % board.port in err
    # left in the raw REPL by another tool: silent, found by a look after the timeout
    repl = RawRepl(board.port)
    repl.enter()
    repl.serial.close()                                    # gone without Ctrl-B
    err = refused(*run(capsys, "info", "--port", board.port, "--timeout", "1"))
    assert "at the MicroPython prompt" in err
    status, out, _ = run(capsys, "reboot", "--port", board.port)
    assert status == 0 and "asked of the MicroPython prompt" in out and "started on" in out
    status, _, _ = run(capsys, "status", "--port", board.port)
    assert status == 0


def test_mpremote_reaches_the_repl_of_a_board_running_the_application(fresh_board):
    # mpremote writes its Ctrl-C and the Ctrl-A that asks for the raw REPL without waiting between
    # them: the application stops at the Ctrl-C and leaves what follows it to the REPL
    board = fresh_board()
    with ConsoleClient(board.port) as console:
        board.reset()
        console.wait_for_log("started on")
        console.request("status")                         # the application answers: it runs
    mpremote = os.path.join(os.path.dirname(sys.executable), "mpremote")
    ran = subprocess.run([mpremote, "connect", board.port, "exec", "print(6 * 7)"],
                         capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0 and ran.stdout.strip() == "42", ran.stdout + ran.stderr


def test_micropython_without_scanmail_is_told_to_flash(capsys, fresh_board):
    board = fresh_board(install=False)
    err = refused(*run(capsys, "status", "--port", board.port))
    assert "runs MicroPython without scanmail" in err and "scanmail flash --port %s" % board.port in err


def test_a_wrong_port_and_a_busy_port_are_one_line_each(capsys, board):
    err = refused(*run(capsys, "status", "--port", "/dev/ttyUSB-nothing-here"))
    assert "cannot open serial port /dev/ttyUSB-nothing-here" in err and "check the cable" in err
    holder = ConsoleClient(board.port, exclusive=True)            # another tool holds the port
    try:
        err = refused(*run(capsys, "config", "show", "--port", board.port))
        assert "is busy" in err and "close that program" in err
    finally:
        holder.close()


def test_a_board_speaking_another_protocol_version_is_refused_with_what_to_update(capsys, runtime, fresh_board, tmp_path):
    board = fresh_board()
    source = os.path.join(firmware_build.FIRMWARE_DIR, "app", "console_protocol.py")
    newer = tmp_path / "console_protocol.py"
    newer.write_text(open(source).read().replace("VERSION = 1\n", "VERSION = 2\n"))
    with RawRepl(board.port, read_timeout_s=60) as repl:
        repl.enter()
        if runtime == "micropython":
            repl.put_file(firmware_build.compile_module(str(newer), "scanmail.firmware.app.console_protocol"),
                          "/lib/scanmail/firmware/app/console_protocol.mpy")
        else:
            repl.put_file(newer.read_bytes(), "/lib/scanmail/firmware/app/console_protocol.py")
    with ConsoleClient(board.port, timeout_s=30) as console:
        board.reset()
        console.wait_for_log("started on")
    err = refused(*run(capsys, "status", "--port", board.port))
    assert "the board speaks console protocol 2, this scanmail 1" in err and "scanmail flash" in err


def _cli_process(*argv):
    return subprocess.Popen([sys.executable, "-m", "scanmail.host_tools.cli"] + [str(a) for a in argv],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_a_cable_pulled_mid_request_and_a_request_timeout_are_one_line_each(capsys, monkeypatch, fresh_board, tenant):
    board = fresh_board()
    configure(capsys, board)
    run(capsys, "secret", "set", "password", "--port", board.port, stdin=PASSWORD + "\n", monkeypatch=monkeypatch)
    tenant.clear_faults()
    # The server holds the board at RCPT; the board answers the console only after the send.
    tenant.add_fault(stage="rcpt", action="delay", delay_s=8, nth=1)
    err = refused(*run(capsys, "send-test", "--port", board.port, "--timeout", "1"))
    assert "did not answer within 1 s" in err and "--timeout 60" in err
    tenant.clear_faults()
    tenant.add_fault(stage="rcpt", action="delay", delay_s=30, nth=1)
    proc = _cli_process("send-test", "--port", board.port)
    until(lambda: any(f["fired"] for f in tenant.faults()), "the board reaches RCPT")
    board.stop()                                                  # the port goes away mid-request
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 2 and out == b"", err
    assert err.count(b"\n") == 1 and b"went away in the middle of a request" in err and b"check the cable" in err
    tenant.clear_faults()


# -- help --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("command", [["config"], ["config", "set"], ["config", "import"], ["secret"],
                                     ["secret", "set"], ["status"], ["info"], ["monitor"], ["send-test"],
                                     ["outbox"], ["outbox", "retry"], ["logs"], ["reboot"], ["advise"]])
def test_every_command_shows_examples_in_its_help(capsys, command):
    with pytest.raises(SystemExit) as done:
        cli.main(command + ["--help"])
    out, _ = capsys.readouterr()
    assert done.value.code == 0 and "examples:\n  scanmail %s" % command[0] in out


# -- monitor -----------------------------------------------------------------------------------------
class UsbPort:
    """The board's port seen through a second pty under a fixed name, as a native-USB port is: after
    unplug() the name is gone and a reader gets an I/O error; plug() brings it back, same name."""

    def __init__(self, board_port, path):
        import tty

        self.path = path
        self.board_fd = os.open(board_port, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(self.board_fd)
        self.master = self.slave = None
        self.stop = threading.Event()
        self.thread = None

    def plug(self):
        import tty

        self.master, self.slave = os.openpty()
        tty.setraw(self.slave)
        os.symlink(os.ttyname(self.slave), self.path)
        self.stop.clear()
        self.thread = threading.Thread(target=self._relay, daemon=True)
        self.thread.start()

    def _relay(self):
        import select

        while not self.stop.is_set():
            ready, _, _ = select.select([self.board_fd, self.master], [], [], 0.05)
            for fd in ready:
                try:
                    data = os.read(fd, 4096)
                except OSError:
                    continue
                os.write(self.master if fd == self.board_fd else self.board_fd, data)

    def unplug(self):
        self.stop.set()
        self.thread.join()
        os.unlink(self.path)
        os.close(self.master)
        os.close(self.slave)

    def close(self):
        if not self.stop.is_set():
            self.unplug()
        os.close(self.board_fd)


class Lines:
    """A process's output, line by line, as it comes; wait_for() returns at the line that has `text`."""

    def __init__(self, stream):
        self.lines = []
        self.changed = threading.Condition()
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream):
        for raw in stream:
            with self.changed:
                self.lines.append(raw.decode("utf-8", "replace"))
                self.changed.notify_all()

    def wait_for(self, text, after=0, timeout_s=60):
        with self.changed:
            found = self.changed.wait_for(lambda: any(text in line for line in self.lines[after:]), timeout_s)
            if not found:
                raise AssertionError("never printed %r; printed:\n%s" % (text, "".join(self.lines)))
            return next(i for i in range(after, len(self.lines)) if text in self.lines[i])


def test_monitor_follows_the_log_in_colour_across_resets_and_a_port_that_comes_back(capsys, board, tmp_path):
    usb = UsbPort(board.port, str(tmp_path / "ttyACM0"))
    usb.plug()
    proc = subprocess.Popen([sys.executable, "-m", "scanmail.host_tools.cli", "monitor", "--port", usb.path,
                             "--color", "always"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        out = Lines(proc.stdout)
        at = out.wait_for("-- monitoring %s (Ctrl-] leaves) --" % usb.path)
        board.reset()
        at = out.wait_for("started on", at)
        assert "\x1b[32m" in out.lines[at]                        # a start is green
        usb.unplug()                                              # the port vanishes, as on a reset of native USB
        at = out.wait_for("went away", at)
        usb.plug()
        at = out.wait_for("-- %s is back --" % usb.path, at)
        board.reset()
        at = out.wait_for("started on", at)
        at = out.wait_for("network up", at)                      # the application's loop runs
        os.write(usb.board_fd, b"\x03")                          # Ctrl-C from elsewhere: the REPL
        at = out.wait_for(">>> ", at)                             # a prompt ends no line, and shows
        assert not any("#SM1" in line for line in out.lines)
        proc.stdin.write(b"\x1d")                                 # Ctrl-]
        proc.stdin.flush()
        assert proc.wait(timeout=30) == 0
        assert proc.stderr.read() == b""
    finally:
        if proc.poll() is None:
            proc.kill()
        usb.close()
    assert run(capsys, "reboot", "--port", board.port)[0] == 0    # scanmail again, for the tests after


def test_monitor_ends_when_a_virtual_boards_pty_goes_and_leaves_its_next_owner_alone():
    import pty

    import tty

    master, slave = pty.openpty()           # a virtual board's port: a pty
    tty.setraw(slave)
    path = os.ttyname(slave)
    proc = subprocess.Popen([sys.executable, "-m", "scanmail.host_tools.cli", "monitor", "--port", path,
                             "--color", "never"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        out = Lines(proc.stdout)
        out.wait_for("-- monitoring %s" % path)
        opened = "/proc/%d/fd" % proc.pid           # pyserial empties the input as it opens: wait
        for _ in range(3000):
            if any(os.path.realpath(os.path.join(opened, fd)) == path for fd in os.listdir(opened)):
                break
            time.sleep(0.01)
        os.write(master, b"1796195574 scanner started on scanner-3f2a\r\n>>> ")
        out.wait_for("started on")
        os.close(master)                     # the board stops: its pty is gone for good
        os.close(slave)
        at = out.wait_for("went away")
        assert "does not come back" in out.lines[at] and "scanmail ports" in out.lines[at]
        assert proc.wait(timeout=30) == 1
        assert any(">>> " in line for line in out.lines)     # what came last was shown, not lost
        assert proc.stderr.read() == b""
        # the name goes to the next program that opens a terminal: the monitor never takes it
        stranger = pty.openpty()
        os.write(stranger[0], b"typed into a shell\n")
        os.set_blocking(stranger[1], False)
        assert os.read(stranger[1], 100) == b"typed into a shell\n"
        for fd in stranger:
            os.close(fd)
    finally:
        if proc.poll() is None:
            proc.kill()


def test_monitor_on_a_port_that_does_not_exist_is_one_line(capsys):
    err = refused(*run(capsys, "monitor", "--port", "/dev/ttyUSB-nothing-here"))
    assert "cannot open serial port /dev/ttyUSB-nothing-here" in err


def test_log_levels_colour_errors_warnings_and_sends():
    from scanmail.host_tools.log_levels import level

    assert level("1796195574 outbox: job 000003 failed: auth failed: 535 5.7.3 ...") == "error"
    assert level("- clock: NTP failed (timed out); TLS waits for the clock") == "warning"
    assert level("1796195574 outbox: job 000004 queued: 451 4.7.500 Server busy") == "warning"
    assert level("1796195574 outbox: job 000004 sent: 250 2.0.0 OK") == "ok"
    assert level("1796195574 scan: job 000005 queued, 3 page(s), 20480 bytes, to alice@contoso.com") == "info"
