# The fake tenant's HTTP API (stdlib http.server, in its own thread): the message trace, stored
# messages, faults, tokens and reset, as JSON. Rule: every answer is JSON; a bad request gets 400
# with {"error": "<what was wrong and what is allowed>"}; the API never returns a password, and a
# token only to the caller who asked `POST /api/tokens` for one (a test helper, like mint_token).
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

from scanmail.emulator.tenant.faults import FaultError
from scanmail.emulator.tenant.mail_store import FOLDERS

MAX_BODY = 64 * 1024


class ApiError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


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
        body = json.dumps(payload, indent=1).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

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
        try:
            if handler is None:
                raise ApiError(404, "no such endpoint %s %s; try GET /api/trace, GET /api/messages, "
                                    "POST /api/reset, GET|POST|DELETE /api/faults, POST /api/tokens"
                               % (method, url.path))
            query = {k: v[-1] for k, v in parse_qs(url.query).items()}
            body = self._body() if method == "POST" else {}
            status, payload = handler(self.tenant_server.world, query, body)
        except ApiError as exc:
            status, payload = exc.status, {"error": str(exc)}
        except FaultError as exc:
            status, payload = 400, {"error": str(exc)}
        self._send(status, payload)

    def do_GET(self):
        self._dispatch("GET")

    def do_POST(self):
        self._dispatch("POST")

    def do_DELETE(self):
        self._dispatch("DELETE")


def get_trace(world, query, body):
    return 200, world.trace.records()


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
    return 201, {"access_token": world.tokens.mint(address, lifetime), "token_type": "Bearer",
                 "expires_in": lifetime}


ROUTES = {
    ("GET", "/api/trace"): get_trace,
    ("GET", "/api/messages"): get_messages,
    ("POST", "/api/reset"): post_reset,
    ("GET", "/api/faults"): get_faults,
    ("POST", "/api/faults"): post_faults,
    ("DELETE", "/api/faults"): delete_faults,
    ("POST", "/api/tokens"): post_tokens,
}


class ApiServer:
    def __init__(self, tenant_server, host, port):
        handler = type("BoundHandler", (_Handler,), {"tenant_server": tenant_server})
        self.httpd = ThreadingHTTPServer((host, port), handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        # A short poll interval: shutdown() waits for the serve loop to notice, and tests stop many tenants.
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-o365-api", daemon=True)

    def start(self):
        self._thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join(5)
