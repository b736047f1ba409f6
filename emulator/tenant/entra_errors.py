# Every error the fake Microsoft Entra ID's token endpoints answer, shaped as Entra shapes them:
# {"error", "error_description": "AADSTSnnnn: text\r\nTrace ID: ...\r\nCorrelation ID: ...\r\n
# Timestamp: ...", "error_codes": [nnnn], "timestamp", "trace_id", "correlation_id", "error_uri"}.
# Rule: the texts live here and only here; tests import these constants. Texts marked [INF] are
# sensible defaults where Microsoft's error code reference gives no exact wording; the error names
# (authorization_pending, slow_down, ...) are RFC 6749 and RFC 8628's.
import datetime
import uuid

# (HTTP status, error, AADSTS code or None, text)
AUTHORIZATION_PENDING = (400, "authorization_pending", 70016,
                         "OAuth 2.0 device flow error. Authorization is pending. Continue polling.")
SLOW_DOWN = (400, "slow_down", None, "Polling too fast: wait the interval (now {interval} seconds) "
                                     "between requests.")                                   # [INF]
AUTHORIZATION_DECLINED = (400, "authorization_declined", 70000,
                          "The user has declined to authorize the application.")            # [INF]
EXPIRED_TOKEN = (400, "expired_token", 70019, "Verification code expired.")
BAD_DEVICE_CODE = (400, "invalid_grant", 70000,
                   "The provided value for the input parameter 'device_code' is not valid.")
DEVICE_CODE_REDEEMED = (400, "invalid_grant", 70000,
                        "The provided value for the input parameter 'device_code' is not valid. The "
                        "device code has already been redeemed.")                          # [INF]
BAD_REFRESH_TOKEN = (400, "invalid_grant", 9002313,
                     "Invalid request. Request is malformed or invalid.")
REFRESH_TOKEN_REPLACED = (400, "invalid_grant", 70000,
                          "The provided value for the 'refresh_token' is not valid. It has been replaced by a "
                          "newer refresh token.")                                          # [INF]
REFRESH_TOKEN_EXPIRED = (400, "invalid_grant", 700082,
                         "The refresh token has expired due to inactivity. The token was issued on {issued} "
                         "and was inactive for 90.00:00:00.")
GRANT_REVOKED = (400, "invalid_grant", 50173,
                 "The provided grant has expired due to it being revoked, a fresh auth token is needed. The "
                 "user might have changed or reset their password.")
REFRESH_TOKEN_OTHER_CLIENT = (400, "invalid_grant", 70000,
                              "Provided grant is invalid or malformed. The refresh token was issued to a "
                              "different client.")                                        # [INF]
UNKNOWN_APP = (400, "unauthorized_client", 700016,
               "Application with identifier '{client_id}' was not found in the directory '{tenant}'. This can "
               "happen if the application has not been installed by the administrator of the tenant or "
               "consented to by any user in the tenant. You may have sent your authentication request to the "
               "wrong tenant.")
NEED_CLIENT_SECRET = (401, "invalid_client", 7000218,
                      "The request body must contain the following parameter: 'client_assertion' or "
                      "'client_secret'.")
BAD_CLIENT_SECRET = (401, "invalid_client", 7000215,
                     "Invalid client secret provided. Ensure the secret being sent in the request is the client "
                     "secret value, not the client secret ID, for a secret added to app '{client_id}'.")
PUBLIC_CLIENT_SECRET = (400, "invalid_client", 700025,
                        "Client is public so neither 'client_assertion' nor 'client_secret' should be "
                        "presented.")
BAD_ASSERTION_SIGNATURE = (401, "invalid_client", 700027,
                           "Client assertion failed signature validation.")
UNKNOWN_CERTIFICATE = (401, "invalid_client", 700027,
                       "The certificate with identifier used to sign the client assertion is not registered "
                       "on application. [Reason - The key was not found.]")
ASSERTION_TIME = (401, "invalid_client", 700024, "Client assertion is not within its valid time range.")
ASSERTION_AUDIENCE = (401, "invalid_client", 700021,
                      "Client assertion application identifier doesn't match 'client_id' parameter, or its "
                      "audience is not this token endpoint.")                                # [INF]
BAD_SCOPE = (400, "invalid_scope", 70011,
             "The provided value for the input parameter 'scope' is not valid. The scope {scope} is not valid.")
NOT_CONSENTED = (400, "invalid_grant", 65001,
                 "The user or administrator has not consented to use the application with ID '{client_id}' "
                 "named '{name}'. Send an interactive authorization request for this user and resource.")
UNSUPPORTED_GRANT = (400, "unsupported_grant_type", 70003,
                     "The app requested an unsupported grant type '{grant_type}'.")
MISSING_PARAMETER = (400, "invalid_request", 900144,
                     "The request body must contain the following parameter: '{name}'.")
UNKNOWN_TENANT = (400, "invalid_tenant", 90002,
                  "Tenant '{tenant}' not found. Check to make sure you have the correct tenant ID and are "
                  "signing into the correct cloud.")


def body(entry, now, **values):
    """(status, JSON body) for one of the entries above, with fresh trace and correlation ids."""
    status, error, code, text = entry
    moment = datetime.datetime.fromtimestamp(now, datetime.timezone.utc)
    stamp = moment.strftime("%Y-%m-%d %H:%M:%SZ")
    trace_id, correlation_id = str(uuid.uuid4()), str(uuid.uuid4())
    text = text.format(**values)
    description = ("AADSTS%d: %s" % (code, text) if code else text) + (
        "\r\nTrace ID: %s\r\nCorrelation ID: %s\r\nTimestamp: %s" % (trace_id, correlation_id, stamp))
    payload = {"error": error, "error_description": description,
               "error_codes": [code] if code else [], "timestamp": stamp,
               "trace_id": trace_id, "correlation_id": correlation_id}
    if code:
        payload["error_uri"] = "https://login.microsoftonline.com/error?code=%d" % code
    return status, payload
