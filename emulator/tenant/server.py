# The running fake tenant: its world (tenant facts, clock, mail store, trace, faults, limits, Entra
# ID, DNS, certificates) and its listeners (submission, mx and hve SMTP, Entra ID's HTTPS sign-in
# endpoint `login`, plus the HTTP API). Rule: bind
# every socket ourselves (port 0 picks a free one; aiosmtpd's Controller(port=0) does not work),
# and write `<state>/endpoints.json` (Contract 3 in docs/architecture.md) only once every listener is
# up, atomically, so a reader never sees a half-written file. Nothing listens on 465.
import asyncio
import errno
import itertools
import json
import os
import socket

from scanmail.emulator.tenant.certs import CertificateAuthority
from scanmail.emulator.tenant.clock import WallClock
from scanmail.emulator.tenant.config import load_tenant
from scanmail.emulator.tenant.connection_limits import ConnectionLimits, LoopErrorLog
from scanmail.emulator.tenant.faults import FaultRegistry
from scanmail.emulator.tenant.heap_release import HeapRelease
from scanmail.emulator.tenant.mail_store import MailStore
from scanmail.emulator.tenant.sender_limits import SenderLimits
from scanmail.emulator.tenant.smtp_session import TenantSmtp
from scanmail.emulator.tenant.spf_check import check_spf, world_dns
from scanmail.emulator.tenant.entra import Entra
from scanmail.emulator.tenant.trace_log import TraceLog

ENDPOINT_NAMES = ("submission", "mx", "hve")
# Back-end server names in replies, shaped like the real ones (docs/exchange-online.md, "Endpoints").
SERVER_NAMES = {
    "submission": "SC1PR80CA0174.outlook.office365.com",
    "mx": "AMS0EPF0000019A.mail.protection.outlook.com",
    "hve": "HV1PR80CA0042.hve.outlook.office365.com",
}
STORE_HOST = "SYBP282MB2635.AUSP282.PROD.OUTLOOK.COM"


class PortSpecError(ValueError):
    pass


class Endpoint:
    def __init__(self, name, hostname, server_name, tls_context):
        self.name = name
        self.hostname = hostname
        self.server_name = server_name
        self.tls_context = tls_context
        self.host = None
        self.port = None


class TenantWorld:
    """Everything a session reads or changes, shared by all listeners of one fake tenant."""

    idle_timeout_s = 300

    def __init__(self, tenant, state_dir, clock):
        self.tenant = tenant
        self.state_dir = state_dir
        self.clock = clock
        self.mail_dir = os.path.join(state_dir, "mail")
        self.store = MailStore(self.mail_dir)
        self.trace = TraceLog(os.path.join(state_dir, "trace.jsonl"))
        self.faults = FaultRegistry()
        self.limits = SenderLimits(tenant.limits, clock)
        self.entra = Entra(tenant, clock)
        self.certs = CertificateAuthority(state_dir)
        self.store_host = STORE_HOST
        self._internal_ids = itertools.count(33998961543173)
        self.dns = None
        self.sessions = set()       # open SMTP sessions, closed on stop
        self.heap = HeapRelease()
        self.connections = ConnectionLimits(tenant.limits["connections"], tenant.limits["connections_per_address"])

    def check_spf(self, client_ip, mail_from, helo):
        return check_spf(self.dns, client_ip, mail_from, helo)

    def match_connector(self, client_ip, cert_names):
        for connector in self.tenant.connectors:
            if connector.matches_ip(client_ip) or connector.matches_certificate(cert_names):
                return connector
        return None

    def next_internal_id(self):
        return next(self._internal_ids)

    def reset(self):
        """Empty every mailbox, the trace, the faults and the limit counters."""
        self.store.clear()
        self.trace.clear()
        self.faults.clear()
        self.limits.reset()


def parse_port_specs(specs):
    """['submission=587'] -> {'submission': 587}."""
    ports = {}
    for spec in specs or []:
        name, sep, value = spec.partition("=")
        if not sep or name not in ENDPOINT_NAMES + ("login", "api") or not (value.isascii() and value.isdigit()) \
                or len(value) > 5 or not 0 <= int(value) < 65536:
            raise PortSpecError("--port %s: expected NAME=PORT with NAME one of %s and PORT 0-65535"
                                % (spec, ", ".join(ENDPOINT_NAMES + ("login", "api"))))
        ports[name] = int(value)
    return ports


def running_tenant_api(state_dir):
    """The API address of a fake tenant still serving from state_dir, or None.

    endpoints.json exists only while a tenant runs (a killed one may leave it behind): the tenant
    counts as running when its HTTP API still accepts a connection."""
    try:
        with open(os.path.join(state_dir, "endpoints.json")) as f:
            api = json.load(f)["api"]
        host, _, port = api.rpartition("//")[2].rpartition(":")
        with socket.create_connection((host, int(port)), timeout=2):
            return api
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


class ListenError(OSError):
    """A listener that cannot be opened; `endpoint` names it (submission, mx, hve or api)."""

    def __init__(self, errno_, text, endpoint):
        super().__init__(errno_, text)
        self.endpoint = endpoint


def bind_socket(host, port, endpoint="submission"):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ListenError(exc.errno, "cannot listen on %s:%d for the %s endpoint: %s"
                          % (host, port, endpoint, exc.strerror or exc), endpoint)
    sock.listen(128)
    sock.setblocking(False)
    return sock


class TenantServer:
    """Start with `await start()`, stop with `await stop()`. The HTTP API runs in its own thread."""

    def __init__(self, tenant=None, state_dir=".state", bind="127.0.0.1", ports=None, clock=None):
        if tenant is None or isinstance(tenant, (str, os.PathLike)):
            tenant = load_tenant(tenant)
        self.state_dir = os.path.abspath(state_dir)
        # A second tenant on the same folder would replace the first one's endpoints.json (and
        # delete it on stop), cutting the running tenant off from its boards and tools.
        api = running_tenant_api(self.state_dir)
        if api is not None:
            raise OSError(errno.EBUSY, "a fake tenant already runs there (API %s); stop it first (Ctrl-C where it "
                                       "runs) or give another state folder" % api)
        os.makedirs(self.state_dir, exist_ok=True)
        self.bind = bind
        self.ports = dict(ports or {})
        self.world = TenantWorld(tenant, self.state_dir, clock or WallClock())
        self.endpoints = {}
        self.servers = []
        self.http = None
        self.login = None
        self.endpoints_json = None

    async def start(self):
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(LoopErrorLog())
        world, tenant = self.world, self.world.tenant
        hostnames = {"submission": tenant.submission_host, "mx": tenant.mx_host, "hve": tenant.hve_host}
        try:
            for name in ENDPOINT_NAMES:
                context = world.certs.server_context(name, hostnames[name], request_client_cert=(name == "mx"))
                endpoint = Endpoint(name, hostnames[name], SERVER_NAMES[name], context)
                sock = bind_socket(self.bind, self.ports.get(name, 0), name)
                endpoint.host, endpoint.port = sock.getsockname()[:2]
                if endpoint.host == "0.0.0.0":
                    # Listening on every interface (a real board on the LAN): local clients, the
                    # virtual network and endpoints.json use loopback.
                    endpoint.host = "127.0.0.1"
                server = await loop.create_server(
                    lambda endpoint=endpoint: TenantSmtp(world, endpoint, loop), sock=sock)
                self.servers.append(server)
                self.endpoints[name] = endpoint
            world.dns = world_dns(tenant, self.endpoints["mx"].host)
            from scanmail.emulator.tenant.http_api import ApiServer
            # The HTTP API (reset, faults, tokens) stays on loopback whatever the mail listeners do.
            self.api_host = self.bind if self.bind.startswith("127.") else "127.0.0.1"
            api_port = self.ports.get("api", 0)
            try:
                self.http = ApiServer(self, self.api_host, api_port)
            except OSError as exc:
                raise ListenError(exc.errno, "cannot listen on %s:%d for the api endpoint (the HTTP API): %s"
                                  % (self.api_host, api_port, exc.strerror or exc), "api")
            self.http.start()
            from scanmail.emulator.tenant.entra_http import EntraServer
            login_host = self.endpoints["submission"].host
            context = world.certs.server_context("login", "login.microsoftonline.com", addresses=[login_host])
            self.login = EntraServer(world.entra, self.bind, self.ports.get("login", 0), context, login_host)
            self.login.start()
        except BaseException:
            await self.stop()
            raise
        self.endpoints_json = self._write_endpoints_json()
        return self.endpoints_json

    def _write_endpoints_json(self):
        data = {
            "tenant": self.world.tenant.name,
            "endpoints": {name: {"hostname": e.hostname, "host": e.host, "port": e.port}
                          for name, e in self.endpoints.items()},
            "ca": {"pem": self.world.certs.pem_path, "der": self.world.certs.der_path},
            "api": "http://%s:%d" % (self.api_host, self.http.port),
            "login": self.login.url,
            "tenant_id": self.world.tenant.id,
            "mail": self.world.mail_dir,
        }
        path = os.path.join(self.state_dir, "endpoints.json")
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            json.dump(data, f, indent=2)
            f.write("\n")
        os.replace(tmp, path)
        return data

    async def stop(self):
        if self.endpoints_json is not None:
            try:
                os.unlink(os.path.join(self.state_dir, "endpoints.json"))
            except FileNotFoundError:
                pass
            self.endpoints_json = None
        if self.http is not None:
            self.http.stop()
            self.http = None
        if self.login is not None:
            self.login.stop()
            self.login = None
        for server in self.servers:
            server.close()
        for session in list(self.world.sessions):
            session._abort()
        for server in self.servers:
            await server.wait_closed()
        self.servers = []
        self.world.heap.close()
        self.world.trace.close()
