# FakeTenant: the Python API of the fake tenant (Contract 3 in docs/architecture.md) for tests and
# scripts. Rule: `with FakeTenant(...) as t:` runs the server's asyncio loop in a background thread
# and returns only once every listener is up and endpoints.json is written; leaving the block stops
# the listeners and joins the thread, even when the body failed.
import asyncio
import tempfile
import threading

from scanmail.emulator.tenant.server import TenantServer


class FakeTenant:
    def __init__(self, tenant=None, state_dir=None, bind="127.0.0.1", ports=None, clock=None):
        self._own_dir = None
        if state_dir is None:
            self._own_dir = tempfile.TemporaryDirectory(prefix="fake-o365-")
            state_dir = self._own_dir.name
        self._server = TenantServer(tenant=tenant, state_dir=str(state_dir), bind=bind, ports=ports,
                                    clock=clock)
        self.world = self._server.world
        self.clock = self.world.clock
        self.state_dir = self._server.state_dir
        self.endpoints = None
        self._loop = None
        self._thread = None

    # -- lifecycle --
    def start(self):
        ready = threading.Event()
        failure = []

        def run():
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                self.endpoints = loop.run_until_complete(self._server.start())
            except BaseException as exc:
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(self._server.stop())
                _cancel_remaining(loop)
                loop.close()

        self._thread = threading.Thread(target=run, name="fake-o365", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            self._thread.join()
            raise failure[0]
        return self

    def stop(self):
        if self._thread is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(30)
        self._thread = None
        if self._own_dir is not None:
            self._own_dir.cleanup()
            self._own_dir = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- Contract 3 --
    def address(self, endpoint):
        e = self.endpoints["endpoints"][endpoint]
        return (e["host"], e["port"])

    def hostname(self, endpoint):
        return self.endpoints["endpoints"][endpoint]["hostname"]

    @property
    def ca_pem_path(self):
        return self.endpoints["ca"]["pem"]

    @property
    def ca_der_path(self):
        return self.endpoints["ca"]["der"]

    @property
    def api_url(self):
        return self.endpoints["api"]

    @property
    def mail_dir(self):
        return self.endpoints["mail"]

    def messages(self, address, folder="Inbox"):
        return self.world.store.messages(address, folder)

    def internet_messages(self):
        return self.world.store.messages("internet")

    def trace(self):
        return self.world.trace.records()

    def add_fault(self, stage, action="reply", reply=None, nth=None, probability=None, seed=None,
                  endpoint="all", delay_s=None):
        return self.world.faults.add(stage=stage, action=action, reply=reply, nth=nth, probability=probability,
                                     seed=seed, endpoint=endpoint, delay_s=delay_s)

    def faults(self):
        return self.world.faults.list()

    def clear_faults(self):
        self.world.faults.clear()

    def mint_token(self, address, lifetime_s=3600, padding=0):
        """Test helper: an access token for `address` as the fake's Entra ID issues it after an
        approved device-code sign-in of the built-in public client (emulator/tenant/entra.py)."""
        return self.world.entra.mint_access_token(address, lifetime_s, padding)

    @property
    def login_url(self):
        """The fake Entra ID's base URL; the authority is `<login_url>/<tenant domain or id>`."""
        return self.endpoints["login"]

    @property
    def tenant_id(self):
        return self.world.tenant.id

    def authority(self, by_id=False):
        return "%s/%s" % (self.login_url, self.world.tenant.id if by_id else self.world.tenant.name)

    def approve_device_code(self, user_code, address):
        """What a person does at the sign-in page, in one call. Raises ValueError saying why not."""
        why = self.world.entra.approve(user_code, address)
        if why:
            raise ValueError(why)

    def pending_device_codes(self):
        """User codes of device-code sign-ins waiting for a person."""
        return self.world.entra.pending_codes()

    def decline_device_code(self, user_code):
        why = self.world.entra.decline(user_code)
        if why:
            raise ValueError(why)

    def revoke_sign_ins(self, address):
        """Revoke-MgUserSignInSession: the user's refresh tokens and access tokens stop working."""
        why = self.world.entra.revoke(address)
        if why:
            raise ValueError(why)

    def add_app_certificate(self, client_id):
        """Register a new certificate on an app registration (client assertions); returns
        {"cert_pem", "key_pem", "thumbprint"} (thumbprint: SHA-1 hex, as MSAL takes it)."""
        certificate, paths = self.world.certs.issue_app_certificate(client_id)
        paths["thumbprint"] = self.world.entra.add_certificate(client_id, certificate)
        return paths

    def issue_client_cert(self, name):
        """Test helper: a client certificate for `name` signed by the fake CA (relay by certificate)."""
        return self.world.certs.issue_client_cert(name)

    def reset(self):
        self.world.reset()

    def spool_files(self):
        """Files left in the DATA spool (empty unless a message is arriving right now)."""
        return self.world.store.spool_files()


def _cancel_remaining(loop):
    tasks = [t for t in asyncio.all_tasks(loop) if not t.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
