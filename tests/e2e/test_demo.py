# The demo is the whole story: the fake tenant, virtual boards running the real firmware, every
# Microsoft 365 method of sending. Run it as a user does (`scanmail demo --json`) on both runtimes and check
# each outcome against Microsoft's comparison of the methods (docs/exchange-online.md),
# independently of the demo's own verdict, and where each scan landed against the tenant's own
# Maildir files.
import email
import email.policy
import json
import os
import subprocess
import sys

import pytest

from tests.runtimes import REPO_ROOT


def run_demo(runtime, state):
    proc = subprocess.run(
        [sys.executable, "-m", "scanmail.host_tools.cli", "demo", "--runtime", runtime, "--json",
         "--state", str(state)],
        cwd=REPO_ROOT, capture_output=True, text=True, timeout=180,
    )
    assert proc.stdout.strip(), "the demo printed nothing; stderr:\n" + proc.stderr[-3000:]
    return proc, json.loads(proc.stdout)


def deliveries(mail_root):
    """Subject -> where each stored message lies ('owner/Folder', or 'internet'), read from the
    tenant's Maildir files with the email parser, apart from the demo's own reading of them."""
    found = {}
    for folder, _dirs, files in os.walk(mail_root):
        if os.path.basename(folder) not in ("new", "cur"):
            continue
        where = os.path.relpath(os.path.dirname(folder), mail_root).replace(os.sep, "/")
        for name in files:
            with open(os.path.join(folder, name), "rb") as f:
                subject = email.message_from_binary_file(f, policy=email.policy.default)["Subject"]
            found.setdefault(str(subject), []).append(where)
    return found


def case(report, method, recipient, board=None):
    matches = [c for c in report["cases"] if c["method"] == method and c["recipient"] == recipient
               and (board is None or c["board"] == board) and not c["power_cut"]]
    assert len(matches) == 1, (method, recipient, board)
    return matches[0]


@pytest.mark.parametrize("runtime", ["micropython", "cpython"])
def test_the_demo_sends_a_scan_through_every_method_as_microsoft_describes(runtime, tmp_path):
    proc, report = run_demo(runtime, tmp_path)
    assert report["runtime"] == runtime
    # Where each scan landed, as the demo reports it, is where the tenant's files say it lies;
    # client submission also files a copy in the sender's Sent Items, which is no delivery.
    stored = deliveries(tmp_path / "tenant" / "mail")
    for c in report["cases"]:
        subject = "Scan demo-%d-%s from %s" % (c["case"], c["method"], c["board"])
        where = stored.pop(subject, [])
        assert c["landed"] == [w for w in where if not w.endswith("/Sent Items")], (subject, where)
        if c["method"] == "submission" and c["landed"]:    # a refused send files no copy
            assert "%s/Sent Items" % c["sender"] in where
    assert stored == {}, "stored by no case of the demo: %r" % stored
    # Option 1, client submission: inside and outside recipients both reached.
    assert case(report, "submission", "alice@contoso.com")["landed"] == ["alice@contoso.com/Inbox"]
    assert case(report, "submission", "someone@fabrikam.com")["landed"] == ["internet"]
    # Option 2, direct send: inside only; an IP outside the SPF record lands in Junk Email.
    assert case(report, "direct_send", "alice@contoso.com", "lobby")["landed"] == ["alice@contoso.com/Inbox"]
    refused = case(report, "direct_send", "someone@fabrikam.com")
    assert refused["landed"] == []
    assert refused["result"]["ok"] is False
    assert refused["result"]["code"] == 550 and refused["result"]["enhanced"] == "5.7.64"
    assert refused["result"]["text"].startswith("5.7.64 TenantAttribution; Relay Access Denied") or \
        "TenantAttribution; Relay Access Denied" in refused["result"]["text"]
    assert "connector" in (refused["result"]["todo"] + refused["result"]["cause"]).lower()
    assert case(report, "direct_send", "alice@contoso.com", "annex")["landed"] == ["alice@contoso.com/Junk Email"]
    # Option 3, relay through the connector that knows the print room's IP: outside reached.
    assert case(report, "relay", "someone@fabrikam.com")["landed"] == ["internet"]
    # High Volume Email to an inside mailbox.
    assert case(report, "hve", "bob@contoso.com")["landed"] == ["bob@contoso.com/Inbox"]
    # Every scan the application sent is the scanner's multi-page PDF
    assert all(c["pages"] == 3 for c in report["cases"] if c["landed"] and not c.get("auth"))
    # The power cut while the board waited on the server: delivered once after the restart
    (cut,) = [c for c in report["cases"] if c["power_cut"]]
    assert cut["landed"] == ["alice@contoso.com/Inbox"] and cut["result"]["ok"] is True
    # After December 2026: the password is refused, the lobby signs in by device code through the
    # sign-in page and sends over OAuth, and still sends once its access token has expired (the
    # server refuses it, the board refreshes once; once more only if an attempt was cut short, its
    # heap too small that moment, and made again: then the job counts that attempt too).
    after = {c["auth"]: c for c in report["cases"] if c.get("auth")}
    assert after["password"]["result"]["enhanced"] == "5.7.139" and after["password"]["landed"] == []
    assert "basic authentication is disabled" in after["password"]["result"]["text"]
    assert after["OAuth"]["landed"] == ["bob@contoso.com/Inbox"] and after["OAuth"]["result"]["refreshes"] == 0, after["OAuth"]["result"]
    assert after["OAuth, 2 h later"]["landed"] == ["bob@contoso.com/Inbox"], after["OAuth, 2 h later"]["result"]
    later = after["OAuth, 2 h later"]["result"]
    assert 1 <= later["refreshes"] <= later["attempts"], later
    assert report["all_matched"] is True
    # The exit status follows the outcomes and the demo's 30 s limit (a limit the demo reports; the
    # test asserts no timing of its own: a slow CI machine must not fail it).
    assert proc.returncode == (0 if report["within_time_limit"] else 1), proc.stderr[-3000:]
    # No password ever appears in what the demo shows.
    for secret in ("Scanner-Pass-1", "Hve-Pass-1"):
        assert secret not in proc.stdout and secret not in proc.stderr


def test_a_second_demo_on_the_state_folder_of_a_running_one_stops_with_one_line_and_leaves_it_alone(tmp_path):
    from scanmail.emulator.tenant import FakeTenant
    with FakeTenant(state_dir=tmp_path / "tenant") as running:
        before = (tmp_path / "tenant" / "endpoints.json").read_text()
        proc = subprocess.run([sys.executable, "-m", "scanmail.host_tools.cli", "demo", "--state", str(tmp_path)],
                              cwd=REPO_ROOT, capture_output=True, text=True, timeout=180)
        assert proc.returncode == 2
        errors = [line for line in proc.stderr.splitlines() if not line.startswith("[")]   # not progress lines
        assert len(errors) == 1 and errors[0].startswith("scanmail: --state "), proc.stderr
        assert "already runs there" in proc.stderr and "Traceback" not in proc.stderr
        assert (tmp_path / "tenant" / "endpoints.json").read_text() == before
        assert running.address("mx")[1] == json.loads(before)["endpoints"]["mx"]["port"]


def test_a_kept_demo_stopped_by_sigterm_stops_its_boards_and_tenant_as_ctrl_c_does(tmp_path):
    import glob
    import signal
    proc = subprocess.Popen([sys.executable, "-m", "scanmail.host_tools.cli", "demo", "--keep", "--state", str(tmp_path)],
                            cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        for line in proc.stdout:
            if line.startswith("Still running"):
                break
        assert glob.glob(str(tmp_path / "boards" / "*" / "board.json")), "the demo's boards never ran"
        proc.send_signal(signal.SIGTERM)
        output = proc.communicate(timeout=60)[0]
        assert "Traceback" not in output
        # board.json exists only while a board's supervisor runs; endpoints.json only while the tenant does.
        assert glob.glob(str(tmp_path / "boards" / "*" / "board.json")) == []
        assert not (tmp_path / "tenant" / "endpoints.json").exists()
        assert (tmp_path / "tenant" / "trace.jsonl").exists()      # state kept, as with Ctrl-C
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        for board_json in glob.glob(str(tmp_path / "boards" / "*" / "board.json")):
            subprocess.run([sys.executable, "-m", "scanmail.host_tools.cli", "board", "stop", "--state",
                            os.path.dirname(board_json)], cwd=REPO_ROOT, capture_output=True, timeout=60)


def test_a_demo_given_a_file_as_its_state_folder_stops_with_one_line_and_leaves_the_file_alone(tmp_path):
    not_a_folder = tmp_path / "notes.txt"
    not_a_folder.write_text("keep me")
    proc = subprocess.run([sys.executable, "-m", "scanmail.host_tools.cli", "demo", "--state", str(not_a_folder)],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert proc.stderr.strip() == "scanmail: --state %s: cannot keep the demo's state there (File exists); give a folder" % not_a_folder
    assert not_a_folder.read_text() == "keep me"
