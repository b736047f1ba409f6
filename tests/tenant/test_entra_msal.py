# Microsoft's own client library, MSAL for Python, against the fake Entra ID: the device flow, the
# refresh and the client credentials flow (secret and certificate), with nothing but the authority
# pointed at the fake (instance discovery off: MSAL would otherwise ask the real
# login.microsoftonline.com whether the host is a Microsoft cloud) and the fake's CA trusted. Every
# token MSAL gets must then be accepted by the fake's submission endpoint for XOAUTH2.
import msal
import pytest

from tests.tenant.helpers import SCANNER, Client, message, reply_line, xoauth2
from scanmail.emulator.tenant import replies

SCANNER_APP = "5ca9a11e-0000-4000-8000-000000000001"
SENDER_APP = "5ca9a11e-0000-4000-8000-000000000002"
SMTP_SCOPE = ["https://outlook.office.com/SMTP.Send"]
APP_SCOPE = ["https://outlook.office365.com/.default"]


@pytest.fixture(autouse=True)
def no_ca_bundle_from_the_environment(monkeypatch):
    # requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override a session's own `verify` (the
    # fake's CA, given to MSAL below); a machine that sets them would otherwise trust only its own.
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)


def public_app(tenant, by_id=False):
    return msal.PublicClientApplication(SCANNER_APP, authority=tenant.authority(by_id), instance_discovery=False,
                                        verify=tenant.ca_pem_path)


def sends_with(tenant, address, token):
    """Sign in over XOAUTH2 at submission and send one message; the AUTH reply."""
    with Client(tenant, "submission") as smtp:
        smtp.secure()
        reply = reply_line(smtp.raw("AUTH XOAUTH2 " + xoauth2(address, token)))
        if reply == replies.AUTH_OK:
            assert smtp.sendmail(address, ["alice@contoso.com"], message(sender=address)) == {}
        return reply


@pytest.mark.parametrize("by_id", [False, True], ids=["authority-by-domain", "authority-by-tenant-id"])
def test_msal_device_flow_and_refresh_give_tokens_submission_accepts(tenant, by_id):
    app = public_app(tenant, by_id)
    flow = app.initiate_device_flow(scopes=SMTP_SCOPE)
    assert flow["expires_in"] == 900 and flow["interval"] == 5 and flow["user_code"] in flow["message"]
    assert flow["verification_uri"] == tenant.login_url + "/devicelogin"
    tenant.approve_device_code(flow["user_code"], SCANNER[0])
    first = app.acquire_token_by_device_flow(flow)
    assert "access_token" in first, first.get("error_description")
    assert first["id_token_claims"]["preferred_username"] == SCANNER[0]
    assert 3600 <= first["expires_in"] <= 5400
    assert len(first["access_token"]) > 1024 and len(first["refresh_token"]) > 700
    assert sends_with(tenant, SCANNER[0], first["access_token"]) == replies.AUTH_OK

    (account,) = app.get_accounts()
    assert account["username"] == SCANNER[0]
    refreshed = app.acquire_token_silent(SMTP_SCOPE, account=account, force_refresh=True)
    assert refreshed and "access_token" in refreshed, refreshed
    assert refreshed["token_source"] == "identity_provider"
    assert refreshed["access_token"] != first["access_token"]
    (stored,) = list(app.token_cache.search(msal.TokenCache.CredentialType.REFRESH_TOKEN))
    assert stored["secret"] != first["refresh_token"]        # rotated, and MSAL kept the new one
    assert sends_with(tenant, SCANNER[0], refreshed["access_token"]) == replies.AUTH_OK
    # The token is for this user only.
    assert sends_with(tenant, "alice@contoso.com", refreshed["access_token"]) == replies.AUTH_FAILED.format(
        host="SC1PR80CA0174.outlook.office365.com")


def test_msal_client_credentials_with_secret_sends_as_the_granted_mailbox(tenant):
    app = msal.ConfidentialClientApplication(SENDER_APP, client_credential="Scanner-App-Secret-1",
                                             authority=tenant.authority(), instance_discovery=False,
                                             verify=tenant.ca_pem_path)
    result = app.acquire_token_for_client(scopes=APP_SCOPE)
    assert "access_token" in result, result.get("error_description")
    assert sends_with(tenant, SCANNER[0], result["access_token"]) == replies.AUTH_OK
    # The service principal has no permission on Alice's mailbox.
    assert sends_with(tenant, "alice@contoso.com", result["access_token"]).startswith("535 5.7.3 ")

    wrong = msal.ConfidentialClientApplication(SENDER_APP, client_credential="not-the-secret",
                                               authority=tenant.authority(), instance_discovery=False,
                                               verify=tenant.ca_pem_path).acquire_token_for_client(APP_SCOPE)
    assert wrong["error"] == "invalid_client" and wrong["error_codes"] == [7000215]
    assert wrong["error_description"].startswith("AADSTS7000215: Invalid client secret provided.")
    assert wrong["correlation_id"]


def test_msal_client_credentials_with_a_certificate_assertion(tenant):
    cert = tenant.add_app_certificate(SENDER_APP)
    with open(cert["key_pem"]) as f:
        key = f.read()
    app = msal.ConfidentialClientApplication(
        SENDER_APP, client_credential={"private_key": key, "thumbprint": cert["thumbprint"]},
        authority=tenant.authority(by_id=True), instance_discovery=False, verify=tenant.ca_pem_path)
    result = app.acquire_token_for_client(scopes=APP_SCOPE)
    assert "access_token" in result, result.get("error_description")
    assert sends_with(tenant, SCANNER[0], result["access_token"]) == replies.AUTH_OK
