# The commands that need no board: `scanmail diagnose`, `advise` and `spf` answer an IT person
# from the firmware's own diagnosis table and Microsoft's comparison of methods, and every wrong
# input is one line that says what to do (exit 2), never a traceback.
import json

import pytest

from scanmail.host_tools import cli, spf_record
from scanmail.host_tools.advice import recommend


def run(capsys, *argv):
    status = cli.main(list(argv))
    out, err = capsys.readouterr()
    return status, out, err


# -- diagnose --------------------------------------------------------------------------------------
def test_diagnose_tells_direct_send_users_why_outside_recipients_fail(capsys):
    status, out, _ = run(capsys, "diagnose", "550 5.7.64 TenantAttribution; Relay Access Denied [x]",
                         "--method", "direct_send")
    assert status == 0
    assert "direct send delivers only to mailboxes in your organization" in out
    assert "client submission or a connector" in out


def test_diagnose_reads_the_mailbox_switch_from_the_reply_text(capsys):
    reply = ("535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for the "
             "Mailbox. Visit https://aka.ms/smtp_auth_disabled for more information.")
    status, out, _ = run(capsys, "diagnose", reply, "--json")
    answer = json.loads(out)
    assert status == 0 and answer["enhanced"] == "5.7.139" and answer["stage"] == "auth"
    assert "Set-CASMailbox" in answer["what_to_do"]


def test_diagnose_answers_what_the_firmware_answers(capsys):
    # The same table: a reply the firmware diagnoses as a wrong password is one here too.
    from scanmail.firmware.errors import SMTPError

    board = SMTPError("auth", "Authentication unsuccessful", code=535, enhanced="5.7.3").diagnosis()
    _, out, _ = run(capsys, "diagnose", "535 5.7.3 Authentication unsuccessful", "--json")
    assert (json.loads(out)["cause"], json.loads(out)["what_to_do"]) == board


def test_diagnose_refuses_text_that_is_not_a_reply_in_one_line(capsys):
    status, out, err = run(capsys, "diagnose", "the scanner says error")
    assert status == 2 and out == ""
    assert err.count("\n") == 1 and "paste the server's reply" in err


# -- advise ----------------------------------------------------------------------------------------
BASE = dict(tls12=True, oauth=True, outside=False, static_ip=False, licensed_mailbox=True, per_day=100)


def test_outside_recipients_with_a_mailbox_get_client_submission():
    answer = recommend(dict(BASE, outside=True), "contoso.com")
    assert answer["method"] == "submission"
    assert answer["settings"]["auth"] == "xoauth2"
    assert "direct_send" in answer["ruled_out"]


def test_an_old_device_with_a_static_ip_and_outside_recipients_gets_a_relay_connector():
    answer = recommend(dict(BASE, tls12=False, outside=True, static_ip=True), "contoso.com", "203.0.113.7")
    assert answer["method"] == "relay"
    assert answer["settings"]["host"] == "contoso-com.mail.protection.outlook.com"
    steps = " ".join(answer["admin_steps"])
    assert "inbound connector" in steps and "203.0.113.7" in steps
    assert "scanmail spf --domain contoso.com --ip 203.0.113.7" in steps
    assert "submission" in answer["ruled_out"]


def test_internal_mail_without_a_mailbox_gets_direct_send_and_an_spf_step():
    answer = recommend(dict(BASE, licensed_mailbox=False, static_ip=True), "contoso.com", "203.0.113.7")
    assert answer["method"] == "direct_send"
    assert any("SPF" in step for step in answer["admin_steps"])


def test_more_than_ten_thousand_a_day_rules_out_client_submission():
    answer = recommend(dict(BASE, per_day=20000))
    assert answer["method"] != "submission"
    assert "10,000" in answer["ruled_out"]["submission"][0]


def test_password_sign_in_is_warned_about_before_december_2026():
    answer = recommend(dict(BASE, oauth=False))
    assert answer["method"] == "submission"
    assert any("December 2026" in reason for reason in answer["reasons"])


def test_a_site_no_method_fits_is_told_to_use_a_local_relay(capsys):
    status, out, _ = run(capsys, "advise", "--no-tls12", "--no-oauth", "--outside", "--no-static-ip",
                         "--licensed-mailbox", "--per-day", "10")
    assert status == 1
    assert "none of the four fits" in out and "local relay" in out


def test_advise_in_a_script_names_the_missing_flag(capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin.isatty", lambda: False, raising=False)
    status, _, err = run(capsys, "advise", "--tls12", "--per-day", "5")
    assert status == 2 and "--oauth or --no-oauth" in err


def test_advise_json_has_settings_the_firmware_accepts(capsys):
    from scanmail.firmware.methods import fill

    status, out, _ = run(capsys, "advise", "--tls12", "--no-oauth", "--no-outside", "--static-ip",
                         "--no-licensed-mailbox", "--per-day", "300", "--domain", "contoso.com", "--json")
    answer = json.loads(out)
    assert status == 0 and answer["method"] == "direct_send"
    assert fill(answer["settings"])["port"] == 25


# -- spf ---------------------------------------------------------------------------------------------
def test_spf_merges_the_address_before_the_includes():
    merged = spf_record.merge("203.0.113.7", "v=spf1 include:spf.protection.outlook.com -all")
    assert merged == "v=spf1 ip4:203.0.113.7 include:spf.protection.outlook.com -all"
    assert spf_record.merge("203.0.113.7", "v=spf1 ip4:203.0.113.0/24 -all") == "v=spf1 ip4:203.0.113.0/24 -all"


def test_spf_counts_the_lookups_inside_included_records():
    dns = {"spf.protection.outlook.com": ["v=spf1 include:a.example include:b.example -all"],
           "a.example": ["v=spf1 a mx -all"], "b.example": ["v=spf1 ip4:192.0.2.1 -all"]}
    record = spf_record.merge("203.0.113.7", "v=spf1 include:spf.protection.outlook.com mx ~all")
    assert spf_record.count_lookups(record, lambda d: dns.get(d, []))[0] == 6


def test_spf_over_ten_lookups_is_refused_with_what_to_do(capsys):
    many = "v=spf1 " + " ".join("include:s%d.example" % i for i in range(11)) + " -all"
    status, out, err = run(capsys, "spf", "--domain", "contoso.com", "--ip", "203.0.113.7",
                           "--existing", many, "--offline")
    assert status == 2 and "11 of 10" in out
    assert "more than SPF's limit of 10" in err and err.count("\n") == 1


@pytest.mark.parametrize("argv, says", [
    (["--ip", "1.2.3"], "is not an IP address"),
    (["--ip", "203.0.113.7", "--existing", "include:x -all"], "must start with v=spf1"),
])
def test_spf_bad_input_is_one_line(capsys, argv, says):
    status, _, err = run(capsys, "spf", "--domain", "contoso.com", "--offline", *argv)
    assert status == 2 and says in err and "Traceback" not in err
