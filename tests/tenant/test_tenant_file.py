# Tenant files: the built-in tenant carries exactly the facts other parts rely on, and a wrong file
# is refused with one message naming the key, what is allowed and what was found.
import pytest

from scanmail.emulator.tenant.config import TenantFileError, load_tenant


def test_the_builtin_tenant_has_the_facts_the_rest_of_scanmail_relies_on():
    t = load_tenant()
    assert (t.name, t.accepted_domains, t.mx_host, t.submission_host, t.hve_host) == (
        "contoso.com", ["contoso.com"], "contoso-com.mail.protection.outlook.com", "smtp.office365.com",
        "smtp.hve.mx.microsoft")
    passwords = {a: m.password for a, m in t.mailboxes.items()}
    assert passwords == {"scanner@contoso.com": "Scanner-Pass-1", "frontdesk@contoso.com": None,
                         "alice@contoso.com": "Alice-Pass-1", "bob@contoso.com": "Bob-Pass-1",
                         "nosmtp@contoso.com": "NoSmtp-Pass-1", "hve-scanner@contoso.com": "Hve-Pass-1"}
    assert t.mailbox("scanner@contoso.com").send_as == ["frontdesk@contoso.com"]
    assert t.mailbox("frontdesk@contoso.com").kind == "shared"
    assert t.mailbox("hve-scanner@contoso.com").kind == "hve"
    assert t.mailbox("nosmtp@contoso.com").smtp_auth is False
    assert all(m.licensed for m in t.mailboxes.values())
    connector, = t.connectors
    assert connector.name == "office-printers" and connector.matches_ip("127.0.0.30")
    assert not connector.matches_ip("127.0.0.31")
    assert t.spf["contoso.com"] == "v=spf1 ip4:127.0.0.20 ip4:127.0.0.30 include:spf.protection.outlook.com ~all"
    assert (t.smtp_auth, t.basic_auth, t.reject_direct_send, t.min_tls) == (True, "enabled", False, "1.2")
    assert t.limits["messages_per_minute"] == 30 and t.limits["recipients_per_day"] == 10000
    assert t.mailbox("alice@contoso.com").send_size_limit == 35 * 1024 * 1024


GOOD = '[tenant]\nname = "fabrikam.com"\n\n[[mailboxes]]\naddress = "a@fabrikam.com"\npassword = "p"\n'

BAD_FILES = [
    (GOOD + '\n[[mailboxes]]\naddress = "b@fabrikam.com"\npassword = "p"\n\n[[mailboxes]]\n'
            'address = "c@fabrikam.com"\npassword = "p"\nsmtp_auth = "yes"\n',
     'tenant file x.toml: mailboxes[2].smtp_auth: expected true or false, got "yes"'),
    (GOOD.replace('name = "fabrikam.com"', 'name = "fabrikam.com"\nbasic_auth = "off"'),
     'tenant file x.toml: tenant.basic_auth: expected one of "enabled", "disabled", "retired", got "off"'),
    (GOOD.replace('name = "fabrikam.com"', 'name = "fabrikam.com"\nmin_tls = 1.2'),
     'tenant file x.toml: tenant.min_tls: expected a non-empty string, got 1.2'),
    (GOOD.replace('[tenant]\nname = "fabrikam.com"', '[tenant]'),
     'tenant file x.toml: tenant.name: expected a string (this key is required)'),
    (GOOD + '\n[[connectors]]\nname = "printers"\nsource_ips = ["10.0.0.300"]\n',
     'tenant file x.toml: connectors[0].source_ips: expected IP addresses or ranges like "127.0.0.30/32", '
     'got "10.0.0.300"'),
    (GOOD + '\n[[connectors]]\nname = "printers"\n',
     'tenant file x.toml: connectors[0]: expected source_ips or certificate_domain'),
    (GOOD + '\n[[connectors]]\ncertificate_domain = "contoso.com"\n',
     'tenant file x.toml: connectors[0].certificate_domain: expected one of the accepted domains '
     '(fabrikam.com), got "contoso.com"'),
    (GOOD + '\n[spf]\n"fabrikam.com" = "ip4:1.2.3.4"\n',
     'tenant file x.toml: spf.fabrikam.com: expected an SPF record starting with "v=spf1", got "ip4:1.2.3.4"'),
    (GOOD + '\n[limits]\nmessages_per_minute = 0\n',
     'tenant file x.toml: limits.messages_per_minute: expected a positive whole number, got 0'),
    (GOOD + '\n[limits]\nmessages_per_hour = 5\n',
     'tenant file x.toml: limits.messages_per_hour: expected one of the keys '),
    (GOOD.replace('password = "p"', 'password = "p"\npasword = "q"'),
     'tenant file x.toml: mailboxes[0].pasword: expected one of the keys address, kind, licensed, mfa_required, '
     'password, send_as, send_size_limit_mb, smtp_auth'),
    (GOOD.replace('password = "p"\n', ''),
     'tenant file x.toml: mailboxes[0].password: expected a password for a user mailbox (only shared mailboxes '
     'have none)'),
    (GOOD.replace('address = "a@fabrikam.com"', 'address = "not an address"'),
     'tenant file x.toml: mailboxes[0].address: expected an e-mail address like "scanner@contoso.com", '
     'got "not an address"'),
    ('[tenant\nname = "x"\n', 'tenant file x.toml: not valid TOML: '),
]


@pytest.mark.parametrize("text,expected", BAD_FILES, ids=[e[1].split(": ")[1] for e in BAD_FILES])
def test_a_wrong_tenant_file_names_the_key_and_what_is_allowed(tmp_path, text, expected):
    path = tmp_path / "x.toml"
    path.write_text(text)
    with pytest.raises(TenantFileError) as refused:
        load_tenant(str(path))
    assert str(refused.value).startswith(expected)


def test_a_password_is_never_echoed_in_a_tenant_file_error(tmp_path):
    path = tmp_path / "x.toml"
    path.write_text(GOOD.replace('password = "p"', 'password = 12345678'))
    with pytest.raises(TenantFileError) as refused:
        load_tenant(str(path))
    assert "12345678" not in str(refused.value) and "mailboxes[0].password" in str(refused.value)


def test_a_missing_tenant_file_says_what_to_give():
    with pytest.raises(TenantFileError, match="not found"):
        load_tenant("/nonexistent/tenant.toml")
