# The scanner application's state and what it does, without the loop that drives it (app_loop.py)
# or the console that asks (console_commands.py): the configuration, the secrets, the outbox, the
# send limits, the log, the status light and the last result. Rule: every operation a user can
# start ends in a result or a one-line refusal that says what to do, logged without secrets; the
# status light shows busy while it works, then ok or error, then idle; it stays on error while an
# OAuth sign-in needs a person (firmware/app/oauth_sign_in.py), and the outbox waits meanwhile.
from scanmail.firmware.app.config_store import ConfigStore
from scanmail.firmware.app.log_ring import LogRing
from scanmail.firmware.app.outbox import Outbox
from scanmail.firmware.app.send_limits import SendLimits

FIRMWARE_VERSION = "0.1.0"


class Application:
    # Its parts live as long as the application: each is made after a collection (gc.collect()),
    # so that it lands where the temporaries of the part before it were, packed with the others,
    # rather than stranded among free runs that the first send then needs whole (MicroPython never
    # compacts its heap; the TLS context alone is one block of about 3 KB).
    def __init__(self, board, nvs=None, capacity=None, echo=None, profile=None):
        import gc

        root = board.storage_root.rstrip("/")
        self.board = board
        self.profile = profile or getattr(board, "profile", "unknown")
        self.log = LogRing(root if root else "/", clock=board.clock.now, echo=echo)
        gc.collect()
        self.config = ConfigStore(root + "/config.json")
        gc.collect()
        if self.config.migrated_from is not None:
            self.log("config: migrated from version %d (dropped: %s)"
                     % (self.config.migrated_from, ", ".join(self.config.dropped) or "nothing"))
        self.secrets = None
        if nvs is not None:
            from scanmail.firmware.app.secret_store import SecretStore

            self.secrets = SecretStore(nvs)
        self.outbox = Outbox(root, capacity)
        gc.collect()
        self.limits = SendLimits(root + "/outbox/limits.json")
        gc.collect()
        self.last = None
        self.network = "down"
        self._sign_in = None              # firmware/app/oauth_sign_in.SignIn, made when auth is xoauth2
        self.status_network = None        # the board's address once the network is up
        self.network_settings = None
        self.network_changed = True       # the network task (re)applies the settings when True
        from scanmail.firmware import call_once

        for job_id, note in call_once("app.outbox_admin", "recover", self.outbox):
            self.log("outbox: job %s: %s" % (job_id, note))

    def apply_network(self, values=None, wifi_password=None):
        """Hand the network settings (the configuration's, or `values` with `wifi_password` while
        Improv tries new ones) to the board's net; -> the settings. The join happens on the next
        connection (board.net.address())."""
        from scanmail.firmware import call_once

        settings = call_once("app.network_setup", "board_settings", values or self.config.values,
                             self.secrets, getattr(self.board, "network_kind", None))
        if wifi_password is not None:
            settings["wifi"]["password"] = wifi_password
        configure = getattr(self.board.net, "configure", None)
        if configure is not None:
            configure(settings)
        self.network_settings = settings
        return settings

    def now(self):
        return self.board.clock.now()

    def sign_in(self):
        """The OAuth sign-in (SignIn), or None unless the configuration says auth "xoauth2"."""
        if self._sign_in is None:
            if self.config.values["auth"] != "xoauth2":
                return None
            from scanmail.firmware.app.oauth_sign_in import SignIn

            self._sign_in = SignIn(self)
        return self._sign_in

    def light(self, state):
        """Set the status light (idle, busy, ok, error); a light that fails is no reason to stop."""
        try:
            self.board.status_light.set(state)
        except Exception:
            pass

    def _resting(self):
        """The light between operations: error while an OAuth sign-in needs a person, else idle."""
        sign_in = self._sign_in
        return "error" if sign_in is not None and sign_in.waiting_for_person() else "idle"

    def scan(self, destination=None):
        """Scan and queue; -> the job's summary. Raises OutboxError (with what to do)."""
        from scanmail.firmware import call_once
        from scanmail.firmware.app.outbox import OutboxError

        self.light("busy")
        try:
            # the scan, its PDF writer and their copy buffer are in the heap only while it runs
            job = call_once("app.scan", "scan_to_outbox", self.board, self.outbox, self.config.values,
                            None, self.now(), destination)
        except OutboxError as err:
            self.last = {"what": "scan", "ok": False, "code": err.code, "text": str(err)}
            self.log("scan refused: %s" % err)
            self.light("error")
            raise
        self.log("scan: job %s queued, %d page(s), %d bytes, to %s"
                 % (job["id"], job["pages"], job["size"], ", ".join(job["to"])))
        self.light(self._resting())
        return {"job": job["id"], "pages": job["pages"], "size": job["size"], "to": job["to"]}

    def work(self):
        """One outbox step (outbox_worker.step); -> what it did."""
        from scanmail.firmware.app.outbox_worker import step

        now = self.now()
        if now is None:
            return {"idle": None, "clock": "unset"}
        sign_in = self.sign_in()
        if sign_in is not None and sign_in.session() is not None and sign_in.poll_due(now):
            self.light("ok" if sign_in.session().usable() else "error")
        waiting = sign_in is not None and sign_in.waiting_for_person()
        busy = not waiting and self.outbox.due(now)[0] is not None
        if busy:
            self.light("busy")
        # Ctrl-C stays off while the outbox sends on its own: a web installer's Improv packet may
        # arrive at any moment, and its type byte is the Ctrl-C byte (app_loop.ctrl_c)
        result = step(self.outbox, self.limits, self.config.values, self.secrets, self.board, now, sign_in)
        if "sign_in" in result:
            if self.last is None or self.last.get("what") != "sign_in":
                self.last = {"what": "sign_in", "ok": False, "state": sign_in.session().state,
                             "text": "sending waits for an OAuth sign-in",
                             "what_to_do": sign_in.status(now).get("what_to_do")}
                self.log("outbox: waiting for an OAuth sign-in (%d job(s) queued): %s"
                         % (self.outbox.counts()["queued"], self.last["what_to_do"]))
            self.light("error")
        elif "job" in result:
            job = self.outbox.load(result["job"])
            if job["state"] == "sent":
                self.last = {"what": "send", "ok": True, "job": job["id"], "reply": job["reply"]}
                self.log("outbox: job %s sent: %s" % (job["id"], job["reply"]))
                self.light("ok")
            else:
                last = job["last"] or {}
                self.last = {"what": "send", "ok": False, "job": job["id"], "state": job["state"],
                             "text": last.get("text"), "cause": last.get("cause"),
                             "what_to_do": last.get("what_to_do")}
                self.log("outbox: job %s %s: %s" % (job["id"], job["state"], last.get("text")))
                self.light("error" if job["state"] != "queued" else self._resting())
        return result
