# The fake Microsoft Entra ID over HTTPS (`login` in endpoints.json, a trustme certificate for
# login.microsoftonline.com and the address it listens on): OpenID discovery, the JWKS, the device
# authorization and token endpoints under `<login>/<tenant>/oauth2/v2.0/`, and the sign-in pages at
# `<login>/devicelogin`. Rules: the tenant segment is the tenant's domain, its id GUID, `common` or
# `organizations`; token endpoints take form posts and answer JSON as Entra does (entra.py decides,
# entra_errors.py words the refusals); the TLS handshake runs in the request's own thread, so a
# slow client never holds up the others; nothing here logs a request body.
import json
import ssl
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlparse

from scanmail.emulator.tenant import entra_errors as errors
from scanmail.emulator.tenant import sign_in_page as pages

MAX_BODY = 64 * 1024


class _Handler(BaseHTTPRequestHandler):
    server_version = "scanmail-fake-entra/1"
    entra = None        # set on the subclass made per server
    base = None
    flows = None

    def log_message(self, fmt, *args):
        pass

    def _send(self, status, payload, content_type="application/json; charset=utf-8"):
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def _page(self, body, status=200):
        self._send(status, body, "text/html; charset=utf-8")

    def _form(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            return None
        raw = self.rfile.read(length).decode("utf-8", "replace") if length else ""
        return dict(parse_qsl(raw, keep_blank_values=True))

    def do_GET(self):
        path = urlparse(self.path).path.rstrip("/")
        parts = path.strip("/").split("/")
        if path == "/devicelogin":
            return self._page(pages.enter_code())
        if len(parts) >= 2 and not self.entra.knows_tenant(parts[0]):
            return self._send(*errors.body(errors.UNKNOWN_TENANT, self.entra.clock.now(), tenant=parts[0]))
        if len(parts) == 4 and parts[1:] == ["v2.0", ".well-known", "openid-configuration"]:
            return self._send(200, self.discovery(parts[0]))
        if len(parts) == 4 and parts[1:] == ["discovery", "v2.0", "keys"]:
            return self._send(200, self.entra.key.jwks())
        self._send(404, {"error": "not_found", "error_description": "no such page %s; the discovery document "
                         "is <login>/<tenant>/v2.0/.well-known/openid-configuration" % path})

    def do_POST(self):
        path = urlparse(self.path).path.rstrip("/")
        parts = path.strip("/").split("/")
        form = self._form()
        if form is None:
            return self._send(413, {"error": "invalid_request", "error_description": "request body too large"})
        if path.startswith("/devicelogin"):
            return self.sign_in_step(path, form)
        if len(parts) == 4 and parts[1:3] == ["oauth2", "v2.0"] and parts[3] in ("devicecode", "token"):
            if not self.entra.knows_tenant(parts[0]):
                return self._send(*errors.body(errors.UNKNOWN_TENANT, self.entra.clock.now(), tenant=parts[0]))
            if parts[3] == "devicecode":
                return self._send(*self.entra.device_authorization(form, self.base + "/devicelogin"))
            return self._send(*self.entra.token(form, self.base + path, self.base))
        self._send(404, {"error": "not_found", "error_description": "no such endpoint %s; POST "
                         "<login>/<tenant>/oauth2/v2.0/devicecode or .../token" % path})

    def discovery(self, segment):
        authority = "%s/%s" % (self.base, segment)
        tid = self.entra.tenant.id
        return {
            "token_endpoint": authority + "/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "jwks_uri": "%s/%s/discovery/v2.0/keys" % (self.base, tid),
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": "%s/%s/v2.0" % (self.base, tid),
            "request_uri_parameter_supported": False,
            "authorization_endpoint": authority + "/oauth2/v2.0/authorize",
            "device_authorization_endpoint": authority + "/oauth2/v2.0/devicecode",
            "http_logout_supported": True, "frontchannel_logout_supported": True,
            "end_session_endpoint": authority + "/oauth2/v2.0/logout",
            "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time", "acr", "nonce",
                                 "preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"],
            "tenant_region_scope": "EU", "cloud_instance_name": "microsoftonline.com",
            "cloud_graph_host_name": "graph.windows.net", "msgraph_host": "graph.microsoft.com",
        }

    def sign_in_step(self, path, form):
        entra, flows = self.entra, self.flows
        if path == "/devicelogin":
            record = entra.pending(form.get("otc"))
            if record is None:
                return self._page(pages.enter_code("That code didn't work. Check the code and try again."))
            app = entra.tenant.app(record.client_id)
            return self._page(pages.sign_in(flows.start(record.user_code), app.name))
        flow = flows.get(form.get("flow"))
        record = entra.pending(flow["code"]) if flow else None
        if record is None:
            return self._page(pages.enter_code("This sign-in has expired or was already used. Enter the "
                                               "code shown on your device now."))
        app = entra.tenant.app(record.client_id)
        if path == "/devicelogin/signin":
            address = (form.get("login") or "").strip().lower()
            if not entra.check_password(address, form.get("passwd")):
                return self._page(pages.sign_in(form["flow"], app.name, "Your account or password is "
                                                                         "incorrect. (AADSTS50126)"))
            flow["user"] = address
            return self._page(pages.consent(form["flow"], app.name, address))
        if path == "/devicelogin/consent" and flow["user"]:
            approved = "accept" in form and "cancel" not in form
            flows.end(form["flow"])
            why = entra.approve(flow["code"], flow["user"]) if approved else entra.decline(flow["code"])
            if why:
                return self._page(pages.enter_code(why))
            return self._page(pages.finished(app.name, approved))
        return self._page(pages.enter_code("Start again: enter the code shown on your device."))


class _TlsServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address, handler, context):
        self.context = context
        super().__init__(address, handler)

    def finish_request(self, request, client_address):
        try:
            request.settimeout(30)
            request = self.context.wrap_socket(request, server_side=True)
        except (ssl.SSLError, OSError):
            request.close()
            return
        super().finish_request(request, client_address)

    def handle_error(self, request, client_address):
        # A client that went away mid-answer (a board whose power was cut) is not the server's
        # error; anything else is printed as the standard library does.
        error = sys.exc_info()[1]
        if isinstance(error, (ConnectionError, ssl.SSLError, TimeoutError)):
            return
        super().handle_error(request, client_address)


class EntraServer:
    """The HTTPS listener; `url` is what endpoints.json calls `login`."""

    def __init__(self, entra, host, port, tls_context, public_host=None):
        self.flows = pages.Flows()
        handler = type("EntraHandler", (_Handler,), {"entra": entra, "flows": self.flows})
        self.httpd = _TlsServer((host, port), handler, tls_context)
        self.port = self.httpd.server_address[1]
        self.url = "https://%s:%d" % (public_host or host, self.port)
        handler.base = self.url
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-entra", daemon=True)

    def start(self):
        self._thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(5)
