# The fake tenant's HTTP API (stdlib http.server, in its own thread): the message trace, stored
# messages, faults, tokens, Entra ID sign-ins (approve or decline a device code, revoke a user's
# sign-ins, register an app certificate) and reset, as JSON, plus the workbench's routes and page
# (workbench_api.py; all documented in docs/tenant-api.md). Rule: every answer is JSON unless a
# route returns raw bytes or an event stream (api_answers.py); a bad request gets 400
# with {"error": "<what was wrong and what is allowed>"}; the API never returns a password, and a
# token only to the caller who asked `POST /api/tokens` for one (a test helper, like mint_token).
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

from scanmail.emulator.tenant import workbench_api
from scanmail.emulator.tenant.api_answers import ApiError, EventStream, Raw
from scanmail.emulator.tenant.faults import FaultError
from scanmail.emulator.tenant.mail_store import FOLDERS

MAX_BODY = 64 * 1024


def message_summary(message):
    return {
        "from": message.get("From", ""), "to": message.get("To", ""), "cc": message.get("Cc", ""),
        "subject": message.get("Subject", ""), "message_id": message.get("Message-ID", ""),
        "date": message.get("Date", ""),
        "attachments": [part.get_filename() for part in message.iter_attachments()]
        if message.is_multipart() else [],
        "headers": [[k, str(v)] for k, v in message.items()],
    }


class _Handler(BaseHTTPRequestHandler):
    server_version = "scanmail-fake-o365/1"
    tenant_server = None    # set on the subclass made per server

    def log_message(self, fmt, *args):  # quiet: the trace is the log
        pass

    def _send(self, status, payload):
        if isinstance(payload, EventStream):
            return self._stream(payload)
        if isinstance(payload, Raw):
            body, content_type, headers = payload.body, payload.content_type, payload.headers
        else:
            body, content_type, headers = json.dumps(payload, indent=1).encode("utf-8"), "application/json", {}
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _stream(self, stream):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        self.close_connection = True
        try:
            self.wfile.write(b": connected\n\n")
            self.wfile.flush()
            for event in stream.events:
                if event is None:
                    self.wfile.write(b": keep-alive\n\n")
                else:
                    name, data = event
                    self.wfile.write(("event: %s\ndata: %s\n\n" % (name, json.dumps(data))).encode("utf-8"))
                self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            close = getattr(stream.events, "close", None)
            if close is not None:
                close()

    def _body(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            raise ApiError(413, "request body over %d bytes" % MAX_BODY)
        raw = self.rfile.read(length) if length else b"{}"
        try:
            data = json.loads(raw or b"{}")
        except ValueError:
            raise ApiError(400, "the request body must be a JSON object")
        if not isinstance(data, dict):
            raise ApiError(400, "the request body must be a JSON object")
        return data

    def _dispatch(self, method):
        url = urlparse(self.path)
        route = (method, url.path.rstrip("/"))
        handler = ROUTES.get(route)
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        parts = route[1].split("/")
        if handler is None and method == "POST" and len(parts) == 6 and parts[1:4] == ["api", "entra", "device-codes"]:
            handler = {"approve": post_approve, "decline": post_decline}.get(parts[5])
            query["user_code"] = parts[4]
        if handler is None and method == "POST" and len(parts) == 6 and parts[1:4] == ["api", "entra", "apps"] \
                and parts[5] == "certificates":
            handler = post_app_certificate
            query["client_id"] = parts[4]
        if handler is None and method == "GET" and (url.path == "/" or url.path.startswith("/workbench/")):
            handler = lambda world, query, body: workbench_api.page_file(url.path)  # noqa: E731
        try:
            if handler is None:
                raise ApiError(404, "no such endpoint %s %s; the workbench is at GET /, the API is in "
                                    "docs/tenant-api.md (e.g. GET /api/trace, GET /api/mailboxes)"
                               % (method, url.path))
            origin = self.headers.get("Origin")
            if method != "GET" and origin and origin != "http://" + (self.headers.get("Host") or ""):
                raise ApiError(403, "requests from other web pages (Origin %s) are refused; use the "
                                    "workbench at / or a client without an Origin header" % origin)
            body = self._body() if method == "POST" else {}
            status, payload = handler(self.tenant_server.world, query, body)
        except ApiError as exc:
            status, payload = exc.status, {"error": str(exc)}
        except FaultError as exc:
            status, payload = 400, {"error": str(exc)}
        except OSError as exc:      # the store changed under the request (a reset, a delete)
            status, payload = 409, {"error": "the mail store changed while reading (%s); try again" % exc.strerror}
        self._send(status, payload)

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_DELETE(self):
        self._dispatch("DELETE")


def get_trace(world, query, body):
    """The kept trace records, oldest first; `?after=SEQ&limit=N` pages through them (each record
    has its running number `seq`: ask again with the last one seen)."""
    bounds = {}
    for key in ("after", "limit"):
        value = query.get(key)
        if value is None:
            continue
        if not (value.isascii() and value.isdigit()) or len(value) > 18:
            raise ApiError(400, "%s must be a whole number >= 0, e.g. /api/trace?after=120&limit=100, got %r"
                           % (key, value))
        bounds[key] = int(value)
    return 200, world.trace.records(after=bounds.get("after", 0), limit=bounds.get("limit"))


def get_messages(world, query, body):
    mailbox = query.get("mailbox")
    if not mailbox:
        raise ApiError(400, "give ?mailbox=ADDRESS (or ?mailbox=internet) and optionally &folder=%s"
                       % "|".join(FOLDERS))
    folder = query.get("folder", "Inbox")
    if mailbox != "internet" and folder not in FOLDERS:
        raise ApiError(400, "folder must be one of %s, got %r" % (", ".join(FOLDERS), folder))
    return 200, [message_summary(m) for m in world.store.messages(mailbox, folder)]


def post_reset(world, query, body):
    world.reset()
    workbench_api.reset_switches(world)
    return 200, {"reset": True}


def get_faults(world, query, body):
    return 200, world.faults.list()


def post_faults(world, query, body):
    allowed = {"stage", "action", "reply", "nth", "probability", "seed", "endpoint", "delay_s"}
    unknown = sorted(set(body) - allowed)
    if unknown:
        raise ApiError(400, "unknown fault field(s) %s; allowed: %s" % (", ".join(unknown), ", ".join(sorted(allowed))))
    return 201, world.faults.add(**body)


def delete_faults(world, query, body):
    world.faults.clear()
    return 200, {"cleared": True}


def post_tokens(world, query, body):
    address = body.get("address")
    lifetime = body.get("lifetime_s", 3600)
    if not isinstance(address, str) or "@" not in address:
        raise ApiError(400, "give {\"address\": \"scanner@contoso.com\"} (and optionally lifetime_s)")
    if isinstance(lifetime, bool) or not isinstance(lifetime, int):
        raise ApiError(400, "lifetime_s must be a whole number of seconds")
    return 201, {"access_token": world.entra.mint_access_token(address, lifetime), "token_type": "Bearer",
                 "expires_in": lifetime}


def post_approve(world, query, body):
    user = body.get("user")
    if not isinstance(user, str) or "@" not in user:
        raise ApiError(400, "give {\"user\": \"scanner@contoso.com\"}: the mailbox that signs in")
    why = world.entra.approve(query["user_code"], user)
    if why:
        raise ApiError(404 if "no pending" in why else 400, why)
    return 200, {"approved": query["user_code"], "user": user.lower()}


def post_decline(world, query, body):
    why = world.entra.decline(query["user_code"])
    if why:
        raise ApiError(404, why)
    return 200, {"declined": query["user_code"]}


def post_revoke(world, query, body):
    user = body.get("user")
    if not isinstance(user, str) or "@" not in user:
        raise ApiError(400, "give {\"user\": \"scanner@contoso.com\"}: whose sign-ins to revoke")
    why = world.entra.revoke(user)
    if why:
        raise ApiError(404, why)
    return 200, {"revoked": user.lower()}


def post_app_certificate(world, query, body):
    if world.tenant.app(query["client_id"]) is None:
        raise ApiError(404, "no app registration has the client id %s" % query["client_id"])
    certificate, paths = world.certs.issue_app_certificate(query["client_id"].lower())
    paths["thumbprint"] = world.entra.add_certificate(query["client_id"], certificate)
    return 201, paths


ROUTES = {
    ("GET", "/api/trace"): get_trace,
    ("GET", "/api/messages"): get_messages,
    ("POST", "/api/reset"): post_reset,
    ("GET", "/api/faults"): get_faults,
    ("POST", "/api/faults"): post_faults,
    ("DELETE", "/api/faults"): delete_faults,
    ("POST", "/api/tokens"): post_tokens,
    ("POST", "/api/entra/revoke"): post_revoke,
}
ROUTES.update(workbench_api.ROUTES)


class ApiServer:
    def __init__(self, tenant_server, host, port):
        tenant_server.world.workbench = workbench_api.Workbench(tenant_server.world)
        handler = type("BoundHandler", (_Handler,), {"tenant_server": tenant_server})
        self.tenant_server = tenant_server
        self.httpd = ThreadingHTTPServer((host, port), handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        # A short poll interval: shutdown() waits for the serve loop to notice, and tests stop many tenants.
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-o365-api", daemon=True)

    def start(self):
        self._thread.start()

    def stop(self):
        self.tenant_server.world.workbench.close()     # ends the open event streams
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(5)
