# Short seeded slices of bench/hostile.py's campaign: hostile sessions of every kind, malformed tenant
# files and CLI mistakes. Rule: nothing a client or a user can send ends in a traceback or a leak; a
# good client is still served afterwards; a bad file or flag gets one line naming it and writes nothing.
import argparse
import asyncio
import logging
import os
import random
import ssl
import subprocess
import sys
import time

import pytest

from bench.hostile_kinds import KINDS, bad_tenant_files, hostile_session
from scanmail.emulator.tenant.config import TenantFileError, load_tenant
from tests.tenant.helpers import SCANNER, Client, leftover_files, message
from tests.tenant.test_bad_input import settled
from tests.tenant.test_session_limits import live_sessions

SCANMAIL = [sys.executable, "-c", "import sys; from scanmail.host_tools.cli import main; sys.exit(main(sys.argv[1:]))"]


def run_kinds(tenant, kinds, seed):
    contexts = {"wrong": ssl.create_default_context(), "right": ssl.create_default_context(cafile=tenant.ca_pem_path)}
    rng = random.Random(seed)

    async def one(i, kind):
        endpoint = "mx" if kind.startswith("mx_") else "submission"
        return await asyncio.wait_for(hostile_session(tenant.address(endpoint), "127.0.2.%d" % (i % 20 + 1), kind,
                                                      random.Random(rng.randrange(1 << 30)), contexts,
                                                      [tenant.mint_token("scanner@contoso.com")]), 60)

    async def main():
        return await asyncio.gather(*(one(i, kind) for i, kind in enumerate(kinds)))

    return asyncio.run(main())


def test_every_hostile_kind_twice_ends_without_a_traceback_or_a_leak_and_a_good_client_is_served(tenant, caplog):
    caplog.set_level(logging.WARNING, logger="scanmail.tenant")
    kinds = list(KINDS) * 2
    random.Random(14).shuffle(kinds)
    outcomes = run_kinds(tenant, kinds, 14)
    assert "handshake passed (unexpected)" not in outcomes and "TLS failed" not in outcomes, outcomes
    assert settled(tenant)
    deadline = time.monotonic() + 30
    while live_sessions() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert live_sessions() == []
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info] == []
    assert leftover_files(tenant) == []
    with Client(tenant, "submission") as client:
        client.secure().login_as(SCANNER)
        assert client.sendmail(SCANNER[0], ["alice@contoso.com"], message()) == {}


@pytest.mark.parametrize("label,data", bad_tenant_files(), ids=[label for label, _ in bad_tenant_files()])
def test_a_malformed_tenant_file_is_refused_in_one_line_naming_the_file(tmp_path, label, data):
    path = tmp_path / "x.toml"
    path.write_bytes(data)
    with pytest.raises(TenantFileError) as refused:
        load_tenant(str(path))
    text = str(refused.value)
    assert text.startswith("tenant file x.toml: ") and "\n" not in text and len(text) < 400, text


def test_serve_refuses_a_malformed_tenant_file_in_one_line_and_writes_nothing(tmp_path):
    (tmp_path / "t.toml").write_bytes(dict(bad_tenant_files())["not utf-8"])
    state = tmp_path / "state"
    result = subprocess.run(SCANMAIL + ["o365", "serve", "--tenant", str(tmp_path / "t.toml"), "--state", str(state)],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr == "scanmail: tenant file t.toml: not UTF-8 text (byte 1); save it as UTF-8\n"
    assert sorted(os.listdir(tmp_path)) == ["t.toml"]


def serve(args, capsys):
    from scanmail.host_tools.cli import main

    status = main(["o365", "serve"] + args)
    return status, capsys.readouterr()


@pytest.mark.parametrize("label", ["deep arrays", "nan size", "space in domain", "path name"])
def test_serve_refuses_the_files_that_used_to_end_in_a_traceback(tmp_path, capsys, label):
    (tmp_path / "t.toml").write_bytes(dict(bad_tenant_files())[label])
    status, out = serve(["--tenant", str(tmp_path / "t.toml"), "--state", str(tmp_path / "state")], capsys)
    assert status == 2 and out.out == ""
    assert out.err.startswith("scanmail: tenant file t.toml: ") and out.err.count("\n") == 1
    assert sorted(os.listdir(tmp_path)) == ["t.toml"]


@pytest.mark.parametrize("args,expected", [
    (["--bind", "127.999.1.1"], "scanmail: --bind 127.999.1.1: not an IPv4 address"),
    (["--bind", "localhost"], "scanmail: --bind localhost: not an IPv4 address"),
    (["--port", "mx=\u0663"], "scanmail: --port mx=\u0663: expected NAME=PORT"),
    (["--port", "mx="], "scanmail: --port mx=: expected NAME=PORT"),
    (["--state", "{file}/below"], "scanmail: --state {file}/below: cannot use it as the state folder (Not a directory: "),
])
def test_a_cli_refusal_names_its_flag_in_one_line(tmp_path, capsys, args, expected):
    afile = tmp_path / "afile"
    afile.write_text("")
    args = [a.replace("{file}", str(afile)) for a in args]
    status, out = serve(args, capsys)
    assert status == 2
    assert out.err.startswith(expected.replace("{file}", str(afile))) and out.err.count("\n") == 1, out.err


def test_every_fault_option_has_help_text():
    from scanmail.emulator.tenant import cli

    parser = argparse.ArgumentParser()
    cli.register(parser)
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    fault = commands.choices["fault"]
    actions = next(a for a in fault._actions if isinstance(a, argparse._SubParsersAction))
    for name, sub in actions.choices.items():
        for action in sub._actions:
            if action.dest != "help":
                assert action.help, "scanmail o365 fault %s %s has no help text" % (name, action.option_strings)
    assert "examples:" in fault.epilog


def test_fault_commands_without_a_running_tenant_name_the_state_flag(tmp_path, capsys):
    from scanmail.host_tools.cli import main

    assert main(["o365", "fault", "list", "--state", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("scanmail: --state %s: no running fake tenant found there" % tmp_path) and err.count("\n") == 1
