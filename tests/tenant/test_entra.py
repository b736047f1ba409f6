# The fake Microsoft Entra ID over its HTTPS endpoint, as a client sees it: discovery, the device
# code grant with every answer a polling device meets, refresh token rotation, grace and
# revocation, client credentials, Entra-shaped errors; and the XOAUTH2 checks at submission and
# HVE (signature, expiry, audience, scope or role, user, revocation, the SMTP AUTH switches).
import json
import ssl
import urllib.error
import urllib.parse
import urllib.request

import pytest

from scanmail.emulator.tenant import entra_errors as errors
from scanmail.emulator.tenant import replies
from tests.tenant.helpers import HVE, NOSMTP, SCANNER, Client, reply_line, xoauth2

SCANNER_APP = "5ca9a11e-0000-4000-8000-000000000001"
SENDER_APP = "5ca9a11e-0000-4000-8000-000000000002"
SMTP_SCOPE = "https://outlook.office.com/SMTP.Send offline_access openid profile"
DEVICE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
SUBMISSION_HOST = "SC1PR80CA0174.outlook.office365.com"


def call(tenant, path, form=None, method=None):
    """(status, JSON) of a request to the fake Entra ID, verified against the fake's CA."""
    context = ssl.create_default_context(cafile=tenant.ca_pem_path)
    data = urllib.parse.urlencode(form).encode() if form is not None else None
    request = urllib.request.Request(tenant.login_url + path, data=data, method=method)
    try:
        with urllib.request.urlopen(request, context=context, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def api(tenant, path, body):
    request = urllib.request.Request(tenant.api_url + path, data=json.dumps(body).encode(), method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def device_code(tenant, client_id=SCANNER_APP, scope=SMTP_SCOPE):
    return call(tenant, "/contoso.com/oauth2/v2.0/devicecode", {"client_id": client_id, "scope": scope})


def poll(tenant, code, client_id=SCANNER_APP):
    return call(tenant, "/contoso.com/oauth2/v2.0/token",
                {"grant_type": DEVICE_GRANT, "client_id": client_id, "device_code": code})


def refresh(tenant, token, client_id=SCANNER_APP):
    return call(tenant, "/contoso.com/oauth2/v2.0/token",
                {"grant_type": "refresh_token", "client_id": client_id, "refresh_token": token})


def signed_in(tenant, address=SCANNER[0]):
    status, code = device_code(tenant)
    assert status == 200
    tenant.approve_device_code(code["user_code"], address)
    status, tokens = poll(tenant, code["device_code"])
    assert status == 200, tokens
    return tokens


def auth_reply(tenant, address, token, endpoint="submission"):
    with Client(tenant, endpoint) as smtp:
        smtp.secure()
        return reply_line(smtp.raw("AUTH XOAUTH2 " + xoauth2(address, token)))


def assert_entra_error(answer, entry):
    status, body = answer
    assert status == entry[0] and body["error"] == entry[1], body
    assert body["error_codes"] == ([entry[2]] if entry[2] else [])
    assert body["correlation_id"] and "Correlation ID: " + body["correlation_id"] in body["error_description"]
    if entry[2]:
        assert body["error_description"].startswith("AADSTS%d: " % entry[2])


def test_discovery_names_the_endpoints_for_the_tenant_by_domain_or_id(tenant):
    for segment in ("contoso.com", tenant.tenant_id):
        status, config = call(tenant, "/%s/v2.0/.well-known/openid-configuration" % segment)
        assert status == 200
        assert config["token_endpoint"] == "%s/%s/oauth2/v2.0/token" % (tenant.login_url, segment)
        assert config["device_authorization_endpoint"].endswith("/oauth2/v2.0/devicecode")
        assert config["issuer"] == "%s/%s/v2.0" % (tenant.login_url, tenant.tenant_id)
    status, keys = call(tenant, "/%s/discovery/v2.0/keys" % tenant.tenant_id)
    assert status == 200 and keys["keys"][0]["kty"] == "RSA"
    assert_entra_error(call(tenant, "/fabrikam.com/v2.0/.well-known/openid-configuration"), errors.UNKNOWN_TENANT)


def test_device_code_polling_meets_pending_slow_down_then_gets_tokens(tenant):
    status, code = device_code(tenant)
    assert status == 200 and code["expires_in"] == 900 and code["interval"] == 5
    assert len(code["user_code"]) == 9 and code["verification_uri"] == tenant.login_url + "/devicelogin"
    assert_entra_error(poll(tenant, code["device_code"]), errors.AUTHORIZATION_PENDING)
    assert_entra_error(poll(tenant, code["device_code"]), errors.SLOW_DOWN)   # no time passed
    tenant.clock.advance(10)                                                   # the interval grew to 10
    assert_entra_error(poll(tenant, code["device_code"]), errors.AUTHORIZATION_PENDING)
    status, answer = api(tenant, "/api/entra/device-codes/%s/approve" % code["user_code"], {"user": SCANNER[0]})
    assert status == 200, answer
    tenant.clock.advance(10)
    status, tokens = poll(tenant, code["device_code"])
    assert status == 200 and tokens["token_type"] == "Bearer" and 3600 <= tokens["expires_in"] <= 5400
    assert {"access_token", "refresh_token", "id_token"} <= set(tokens)
    assert "https://outlook.office.com/SMTP.Send" in tokens["scope"].split()
    assert auth_reply(tenant, SCANNER[0], tokens["access_token"]) == replies.AUTH_OK
    # A device code is redeemed once.
    assert_entra_error(poll(tenant, code["device_code"]), errors.DEVICE_CODE_REDEEMED)


def test_declined_expired_and_bad_device_codes(tenant):
    _, declined = device_code(tenant)
    assert api(tenant, "/api/entra/device-codes/%s/decline" % declined["user_code"], {})[0] == 200
    assert_entra_error(poll(tenant, declined["device_code"]), errors.AUTHORIZATION_DECLINED)
    _, expiring = device_code(tenant)
    tenant.clock.advance(901)
    assert_entra_error(poll(tenant, expiring["device_code"]), errors.EXPIRED_TOKEN)
    status, answer = api(tenant, "/api/entra/device-codes/%s/approve" % expiring["user_code"], {"user": SCANNER[0]})
    assert status == 404 and "expired" in answer["error"]
    assert_entra_error(poll(tenant, "not-a-device-code"), errors.BAD_DEVICE_CODE)
    # The confidential app may not use the device flow; an unknown app is named.
    assert_entra_error(device_code(tenant, SENDER_APP), errors.NEED_CLIENT_SECRET)
    status, body = device_code(tenant, "11111111-2222-3333-4444-555555555555")
    assert body["error_codes"] == [700016] and "11111111-2222-3333-4444-555555555555" in body["error_description"]
    assert_entra_error(device_code(tenant, scope="https://graph.microsoft.com/Mail.Send"), errors.BAD_SCOPE)


def test_refresh_rotates_keeps_the_old_token_for_a_grace_period_and_revocation_ends_it(tenant):
    first = signed_in(tenant)
    status, second = refresh(tenant, first["refresh_token"])
    assert status == 200 and second["refresh_token"] != first["refresh_token"]
    assert auth_reply(tenant, SCANNER[0], second["access_token"]) == replies.AUTH_OK
    # A device that lost the new token (a power cut) still gets in with the old one for a while...
    tenant.clock.advance(600)
    assert refresh(tenant, first["refresh_token"])[0] == 200
    # ...but not after the grace period.
    tenant.clock.advance(3600)
    assert_entra_error(refresh(tenant, first["refresh_token"]), errors.REFRESH_TOKEN_REPLACED)
    status, third = refresh(tenant, second["refresh_token"])
    assert status == 200
    assert_entra_error(refresh(tenant, third["refresh_token"], SENDER_APP), errors.NEED_CLIENT_SECRET)
    assert_entra_error(refresh(tenant, "1.AXoA-made-up"), errors.BAD_REFRESH_TOKEN)
    assert api(tenant, "/api/entra/revoke", {"user": SCANNER[0]})[0] == 200
    assert_entra_error(refresh(tenant, third["refresh_token"]), errors.GRANT_REVOKED)
    assert auth_reply(tenant, SCANNER[0], third["access_token"]) == replies.AUTH_FAILED.format(host=SUBMISSION_HOST)
    # Signing in again works after the revocation.
    assert auth_reply(tenant, SCANNER[0], signed_in(tenant)["access_token"]) == replies.AUTH_OK


def test_a_refresh_token_unused_for_90_days_has_expired(tenant):
    tokens = signed_in(tenant)
    tenant.clock.advance(90 * 86400)
    assert_entra_error(refresh(tenant, tokens["refresh_token"]), errors.REFRESH_TOKEN_EXPIRED)


def test_client_credentials_needs_the_right_secret_and_the_app_scope(tenant):
    path = "/%s/oauth2/v2.0/token" % tenant.tenant_id
    form = {"grant_type": "client_credentials", "client_id": SENDER_APP, "client_secret": "Scanner-App-Secret-1",
            "scope": "https://outlook.office365.com/.default"}
    status, answer = call(tenant, path, form)
    assert status == 200 and "refresh_token" not in answer
    assert auth_reply(tenant, SCANNER[0], answer["access_token"]) == replies.AUTH_OK
    assert_entra_error(call(tenant, path, dict(form, client_secret="wrong")), errors.BAD_CLIENT_SECRET)
    assert_entra_error(call(tenant, path, dict(form, scope="https://outlook.office.com/SMTP.Send")), errors.BAD_SCOPE)
    no_secret = dict(form)
    no_secret.pop("client_secret")
    assert_entra_error(call(tenant, path, no_secret), errors.NEED_CLIENT_SECRET)
    assert_entra_error(call(tenant, path, dict(no_secret, client_id=SCANNER_APP)), errors.NEED_CLIENT_SECRET)


def test_xoauth2_refuses_expired_foreign_and_wrong_audience_tokens(tenant):
    host = SUBMISSION_HOST
    tokens = signed_in(tenant)
    assert auth_reply(tenant, SCANNER[0], tokens["access_token"]) == replies.AUTH_OK
    assert auth_reply(tenant, "alice@contoso.com", tokens["access_token"]) == replies.AUTH_FAILED.format(host=host)
    claims = tenant.world.entra.key.check(tokens["access_token"])
    for change in ({"aud": "https://graph.microsoft.com"}, {"scp": "Mail.Read"}, {"tid": "someone-else"}):
        forged = tenant.world.entra.key.sign(dict(claims, **change))
        assert auth_reply(tenant, SCANNER[0], forged) == replies.AUTH_FAILED.format(host=host)
    head, body, signature = tokens["access_token"].split(".")
    assert auth_reply(tenant, SCANNER[0], head + "." + body + "." + signature[::-1]) == \
        replies.AUTH_FAILED.format(host=host)
    tenant.clock.advance(tokens["expires_in"])
    assert auth_reply(tenant, SCANNER[0], tokens["access_token"]) == replies.AUTH_FAILED.format(host=host)
    trace = [r for r in tenant.trace() if r.get("stage") == "auth"]
    assert trace[-1]["why"] == "token expired"
    assert tokens["access_token"] not in json.dumps(tenant.trace())


def test_the_mailbox_smtp_auth_switch_applies_to_oauth_and_hve_takes_tokens(tenant):
    tokens = signed_in(tenant, NOSMTP[0])
    reply = auth_reply(tenant, NOSMTP[0], tokens["access_token"])
    assert reply.startswith("535 5.7.139 Authentication unsuccessful, SmtpClientAuthentication is disabled for "
                            "the Mailbox.")
    hve = signed_in(tenant, HVE[0])
    assert auth_reply(tenant, HVE[0], hve["access_token"], "hve") == replies.AUTH_OK


def test_the_after_december_2026_preset_refuses_basic_auth_and_takes_oauth(tmp_path):
    from scanmail.emulator.tenant import FakeClock, FakeTenant
    with FakeTenant(tenant="after-december-2026", state_dir=tmp_path, clock=FakeClock()) as t:
        with Client(t, "submission") as smtp:
            smtp.secure()
            with pytest.raises(Exception) as refused:
                smtp.login(*SCANNER)
            assert "basic authentication is disabled" in str(refused.value)
        assert auth_reply(t, SCANNER[0], signed_in(t)["access_token"]) == replies.AUTH_OK


def test_a_long_running_fake_forgets_grants_nobody_can_redeem(tenant):
    entra = tenant.world.entra
    token = signed_in(tenant)["refresh_token"]
    for _ in range(300):                         # an hourly refresh for twelve days
        tenant.clock.advance(3601)
        status, answer = entra.token({"grant_type": "refresh_token", "client_id": SCANNER_APP,
                                      "refresh_token": token}, "https://login/token")
        assert status == 200
        token = answer["refresh_token"]
    assert len(entra._refresh_tokens) <= 256     # the replaced ones past their grace are gone
    assert refresh(tenant, token)[0] == 200      # the live one still works
