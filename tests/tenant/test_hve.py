# High Volume Email (smtp.hve.mx.microsoft:587): STARTTLS and AUTH with the HVE account, mail to
# tenant mailboxes only, and the HVE limits of 50 recipients and 10 MB per message.
import smtplib

import pytest

from scanmail.emulator.tenant import replies
from tests.tenant.helpers import HVE, SCANNER, Client, message, reply_line

HVE_HOST = "HV1PR80CA0042.hve.outlook.office365.com"


def test_the_hve_account_sends_to_a_tenant_mailbox_over_starttls(tenant):
    with Client(tenant, "hve") as smtp:
        smtp.secure().login_as(HVE)
        assert smtp.sendmail("hve-scanner@contoso.com", ["alice@contoso.com"],
                             message(sender="hve-scanner@contoso.com")) == {}
    stored, = tenant.messages("alice@contoso.com")
    assert stored["X-MS-Exchange-Organization-AuthAs"] == "Internal"
    assert tenant.trace()[-1]["method"] == "hve"
    assert tenant.messages("hve-scanner@contoso.com", "Sent Items") == []


def test_hve_refuses_mail_before_starttls_with_5_7_3(tenant):
    with Client(tenant, "hve") as smtp:
        smtp.ehlo()
        assert reply_line(smtp.mail("hve-scanner@contoso.com")).startswith("451 5.7.3 STARTTLS is required to send mail [")


def test_hve_refuses_outside_recipients(tenant):
    with Client(tenant, "hve") as smtp:
        smtp.secure().login_as(HVE)
        smtp.mail("hve-scanner@contoso.com")
        assert reply_line(smtp.rcpt("partner@fabrikam.com")) == replies.RELAY_DENIED.format(host=HVE_HOST)


@pytest.mark.parametrize("endpoint,account", [("hve", SCANNER), ("submission", HVE)],
                         ids=["a mailbox on HVE", "the HVE account on submission"])
def test_accounts_sign_in_only_where_they_belong(tenant, endpoint, account):
    with Client(tenant, endpoint) as smtp:
        smtp.secure()
        with pytest.raises(smtplib.SMTPAuthenticationError) as refused:
            smtp.login(*account)
    assert refused.value.smtp_code == 535
    assert refused.value.smtp_error.startswith(b"5.7.3 Authentication unsuccessful [")


def test_hve_allows_50_recipients_per_message(tenant):
    with Client(tenant, "hve") as smtp:
        smtp.secure().login_as(HVE)
        smtp.mail("hve-scanner@contoso.com")
        for _ in range(50):
            assert smtp.rcpt("alice@contoso.com")[0] == 250
        assert reply_line(smtp.rcpt("alice@contoso.com")) == replies.TOO_MANY_RECIPIENTS
