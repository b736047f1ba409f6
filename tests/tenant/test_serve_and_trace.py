# `scanmail o365 serve` and `scanmail o365 trace` as a user runs them: the server writes
# endpoints.json once every listener is up, pins a port on request, answers on its HTTP API, stops
# cleanly on SIGTERM and SIGINT; the trace prints as an aligned table or JSON, while running or after.
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.tenant.helpers import SCANNER_IP, message

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Exactly what the `scanmail` console script runs: host_tools.cli:main.
SCANMAIL = [sys.executable, "-c", "import sys; from scanmail.host_tools.cli import main; sys.exit(main(sys.argv[1:]))"]


def scanmail(*args, **kwargs):
    return subprocess.run(SCANMAIL + list(args), cwd=REPO, capture_output=True,
                          text=True, timeout=60, **kwargs)


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Served:
    """A `scanmail o365 serve` process that is always stopped."""

    def __init__(self, state, *extra):
        self.state = state
        self.proc = subprocess.Popen(SCANMAIL + ["o365", "serve", "--state", str(state)]
                                     + list(extra), cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.endpoints_path = os.path.join(str(state), "endpoints.json")
        while not os.path.exists(self.endpoints_path):
            assert self.proc.poll() is None, self.proc.communicate()
            time.sleep(0.02)
        with open(self.endpoints_path) as f:
            self.endpoints = json.load(f)

    def stop(self, signum=signal.SIGTERM):
        if self.proc.poll() is None:
            self.proc.send_signal(signum)
        out, err = self.proc.communicate(timeout=30)
        return self.proc.returncode, out, err

    def api(self, method, path):
        request = urllib.request.Request(self.endpoints["api"] + path, method=method, data=b"" if method == "POST" else None)
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.load(response)


@pytest.fixture
def served(tmp_path):
    started = []

    def start(*extra):
        server = Served(tmp_path / "state", *extra)
        started.append(server)
        return server

    yield start
    for server in started:
        if server.proc.poll() is None:
            server.proc.kill()
            server.proc.communicate()


def direct_send(endpoints, to="alice@contoso.com"):
    import smtplib
    mx = endpoints["endpoints"]["mx"]
    with smtplib.SMTP(mx["host"], mx["port"], source_address=(SCANNER_IP, 0), timeout=20) as smtp:
        return smtp.sendmail("scanner@contoso.com", [to], message(to=to))


def test_serve_writes_endpoints_json_with_absolute_paths_and_a_pinned_port_then_stops_on_sigterm(served, tmp_path):
    port = free_port()
    server = served("--port", "submission=%d" % port)
    e = server.endpoints
    assert e["tenant"] == "contoso.com"
    assert e["endpoints"]["submission"] == {"hostname": "smtp.office365.com", "host": "127.0.0.1", "port": port}
    assert e["endpoints"]["mx"]["hostname"] == "contoso-com.mail.protection.outlook.com"
    assert e["endpoints"]["hve"]["hostname"] == "smtp.hve.mx.microsoft"
    assert all(os.path.isabs(p) and os.path.exists(p) for p in (e["ca"]["pem"], e["ca"]["der"]))
    assert os.path.isabs(e["mail"]) and e["api"].startswith("http://127.0.0.1:")
    ports = {v["port"] for v in e["endpoints"].values()}
    assert len(ports) == 3 and 465 not in ports
    code, out, err = server.stop(signal.SIGTERM)
    assert (code, err) == (0, "")
    assert "stopped" in out
    assert not os.path.exists(server.endpoints_path)


def test_the_trace_prints_while_running_and_after_a_ctrl_c(served):
    server = served()
    direct_send(server.endpoints)
    running = scanmail("o365", "trace", "--state", server.state)
    assert running.returncode == 0
    header, row = running.stdout.splitlines()
    assert header.split()[:4] == ["Time", "Endpoint", "Method", "Client"]
    assert row.index("direct_send") == header.index("Method")             # aligned columns
    assert row.index("Delivered") == header.index("Status")
    assert "250 2.6.0 <" in row
    code, out, _err = server.stop(signal.SIGINT)
    assert code == 0
    # serve itself printed the workbench's address and one line for the message, as it happened
    assert "workbench  %s/" % server.endpoints["api"] in out
    outcome, = [line for line in out.splitlines() if "direct_send" in line]
    assert outcome.split()[1:6] == ["direct_send", SCANNER_IP, "scanner@contoso.com", "->", "alice@contoso.com"]
    assert outcome.split()[6:9] == ["Delivered", "250", "2.6.0"]
    after = scanmail("o365", "trace", "--state", server.state, "--json")
    record, = json.loads(after.stdout)
    assert (record["endpoint"], record["method"], record["client_ip"], record["tls"], record["sender"],
            record["recipients"], record["status"]) == (
        "mx", "direct_send", SCANNER_IP, "none", "scanner@contoso.com", ["alice@contoso.com"], "Delivered")


def test_the_http_api_serves_trace_and_messages_and_resets(served):
    server = served()
    direct_send(server.endpoints)
    trace = server.api("GET", "/api/trace")
    assert [r["status"] for r in trace] == ["Delivered"]
    stored, = server.api("GET", "/api/messages?mailbox=alice@contoso.com&folder=Inbox")
    assert stored["subject"] == "Scan 0001" and stored["from"] == "scanner@contoso.com"
    assert server.api("POST", "/api/reset") == {"reset": True}
    assert server.api("GET", "/api/trace") == []
    assert server.api("GET", "/api/messages?mailbox=alice@contoso.com") == []
    assert server.stop()[0] == 0


def test_a_wrong_tenant_file_stops_serve_with_the_key_named(tmp_path):
    bad = tmp_path / "x.toml"
    bad.write_text('[tenant]\nname = "contoso.com"\nbasic_auth = "off"\n')
    result = scanmail("o365", "serve", "--tenant", str(bad), "--state", str(tmp_path / "s"))
    assert result.returncode == 2
    assert result.stderr.strip() == ('scanmail: tenant file x.toml: tenant.basic_auth: expected one of "enabled", '
                                     '"disabled", "retired", got "off"')


def test_a_folder_given_as_the_tenant_file_stops_serve_with_one_line(tmp_path):
    result = scanmail("o365", "serve", "--tenant", str(tmp_path), "--state", str(tmp_path / "s"))
    assert result.returncode == 2
    assert result.stderr.strip() == ("scanmail: tenant file %s: cannot read it (Is a directory); give the path "
                                     "of a TOML tenant file" % tmp_path)


@pytest.mark.parametrize("endpoint", ["mx", "api"])
def test_a_busy_pinned_port_is_reported_naming_the_endpoint_and_its_flag(tmp_path, endpoint):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        result = scanmail("o365", "serve", "--state", str(tmp_path / "s"), "--port", "%s=%d" % (endpoint, port))
    assert result.returncode == 2
    assert result.stderr.startswith("scanmail: cannot listen on 127.0.0.1:%d for the %s endpoint" % (port, endpoint)), \
        result.stderr
    assert "another scanmail o365 serve" in result.stderr and "--port %s=PORT" % endpoint in result.stderr
    assert "Errno" not in result.stderr and "Traceback" not in result.stderr


def test_a_second_serve_on_the_state_folder_of_a_running_tenant_is_refused_and_the_first_keeps_serving(served):
    first = served()
    with open(first.endpoints_path) as f:
        before = f.read()
    ca_before = open(first.endpoints["ca"]["der"], "rb").read()
    result = scanmail("o365", "serve", "--state", str(first.state))
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("scanmail: --state ")
    assert "already runs there" in result.stderr and first.endpoints["api"] in result.stderr
    with open(first.endpoints_path) as f:
        assert f.read() == before
    assert open(first.endpoints["ca"]["der"], "rb").read() == ca_before
    direct_send(first.endpoints)
    assert [r["status"] for r in first.api("GET", "/api/trace")] == ["Delivered"]
    assert first.stop()[0] == 0


def test_a_tenant_killed_without_cleaning_up_does_not_block_the_next_serve(tmp_path):
    state = tmp_path / "state"
    state.mkdir()
    stale_api = "http://127.0.0.1:%d" % free_port()      # nothing listens there any more
    (state / "endpoints.json").write_text('{"api": "%s"}' % stale_api)
    proc = subprocess.Popen(SCANMAIL + ["o365", "serve", "--state", str(state)], cwd=REPO,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for line in proc.stdout:
            if line.startswith("ready"):
                break
        assert proc.poll() is None, proc.communicate()
        endpoints = json.loads((state / "endpoints.json").read_text())
        assert endpoints["api"] != stale_api and "mx" in endpoints["endpoints"]
    finally:
        proc.terminate()
        proc.communicate(timeout=30)
    assert proc.returncode == 0


def test_trace_lines_that_are_not_records_are_skipped_with_a_warning_naming_them(tmp_path):
    good = {"time": "2026-11-28T08:00:00Z", "endpoint": "mx", "status": "delivered",
            "sender": "scanner@contoso.com", "recipients": ["alice@contoso.com"], "reply": "250 ok"}
    (tmp_path / "trace.jsonl").write_text(json.dumps(good) + "\nnot json\n" + json.dumps(good)
                                          + "\n[1, 2]\n" + '{"time": "torn')
    result = scanmail("o365", "trace", "--state", str(tmp_path))
    assert result.returncode == 0
    assert result.stdout.count("alice@contoso.com") == 2          # both records still shown
    assert result.stderr.startswith("scanmail: warning: skipped 3 line(s) of ")
    assert "(line 2, 4, 5)" in result.stderr
    as_json = scanmail("o365", "trace", "--state", str(tmp_path), "--json")
    assert len(json.loads(as_json.stdout)) == 2 and "skipped 3" in as_json.stderr


def test_trace_of_a_state_dir_that_does_not_exist_says_how_to_start_one(tmp_path):
    result = scanmail("o365", "trace", "--state", str(tmp_path / "nothing"))
    assert result.returncode == 2 and "scanmail o365 serve --state" in result.stderr


def test_listening_beyond_loopback_needs_an_explicit_allow_lan_and_says_why(tmp_path):
    # Nothing is bound here: the refusal comes before any listener starts.
    result = scanmail("o365", "serve", "--state", str(tmp_path / "s"), "--bind", "0.0.0.0")
    assert result.returncode == 2
    assert "--allow-lan" in result.stderr and "reachable from your network" in result.stderr
    assert not (tmp_path / "s" / "endpoints.json").exists()
