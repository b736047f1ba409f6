# The console's commands: what a host tool may ask the running application, each with its
# refusals. Rule: a reply never holds a secret (the secret store shows only set + fingerprint, a
# send error is the mail core's text, which never holds a password or token); a refused command
# is a CommandError with a code and a line that says what to do. The OAuth commands start a
# device-code sign-in (the application's loop then polls: firmware/app/oauth_sign_in.py), show
# where it stands, and sign out; they never show a token or the device code, only the user code.
# What only the console asks for (info, status, the test message) is made here, not by the
# application, which stays loaded: this module is loaded only while a command runs.
from scanmail.firmware.app import outbox_admin
from scanmail.firmware.app.console_session import CommandError

COMMANDS = ("info", "status", "config.get", "config.set", "config.validate", "secret.set",
            "secret.status", "scan", "send-test", "outbox.list", "outbox.retry", "outbox.purge",
            "logs", "reboot", "oauth.login", "oauth.status", "oauth.refresh", "oauth.logout")


def _arg(args, name, kind, required=True):
    value = args.get(name)
    if value is None and not required:
        return None
    if not isinstance(value, kind):
        raise CommandError("bad_args", "argument %r is missing or not %s" % (
            name, "text" if kind is str else kind.__name__))
    return value


def _key_der(name, value):
    """A key given as base64 DER or as PEM text (its base64 body is the DER) -> DER bytes."""
    import binascii

    if "-----BEGIN" in value:
        if "ENCRYPTED" in value:
            raise CommandError("bad_args", "%s is encrypted: export the key without a passphrase" % name)
        value = "".join(line for line in value.replace("\r", "").split("\n") if line and "-----" not in line)
    try:
        return binascii.a2b_base64(value)
    except ValueError:
        raise CommandError("bad_args", "%s is the DER key in base64, or the PEM file's text" % name)


class Commands:
    def __init__(self, app, reboot=None):
        self.app = app
        self._reboot = reboot
        self.session = None          # set by the loop, for after_reply

    def __call__(self, cmd, args):
        if cmd not in COMMANDS:
            raise CommandError("unknown_command", "unknown command %r; the commands: %s"
                               % (cmd, ", ".join(COMMANDS)))
        return getattr(self, "cmd_" + cmd.replace(".", "_").replace("-", "_"))(args)

    def cmd_info(self, args):
        import sys

        from scanmail.firmware.app.application import FIRMWARE_VERSION
        from scanmail.firmware.compat import free_heap

        app = self.app
        out = {"firmware": FIRMWARE_VERSION, "runtime": sys.implementation.name,
               "version": ".".join(str(v) for v in sys.implementation.version[:3]),
               "mpy_abi": getattr(sys.implementation, "_mpy", None), "profile": app.profile,
               "name": app.board.name, "heap_free": free_heap()}
        try:
            import os

            st = os.statvfs(app.board.storage_root)
            out["flash_free"] = st[0] * st[4]
            out["flash_size"] = st[0] * st[2]
        except (OSError, AttributeError):
            out["flash_free"] = None
        return out

    def cmd_status(self, args):
        return status(self.app)

    def cmd_config_get(self, args):
        from scanmail.firmware.app.config_schema import ConfigError

        key = _arg(args, "key", str, required=False)
        try:
            value = self.app.config.get(key)
        except ConfigError as err:
            raise CommandError("unknown_key", str(err))
        return {"value": value, "hash": self.app.config.hash()}

    def _changes(self, args):
        changes = args.get("changes")
        if changes is None and "key" in args:
            changes = {args["key"]: args.get("value")}
        if not isinstance(changes, dict):
            raise CommandError("bad_args", 'give "key" and "value", or "changes": {key: value, ...}')
        return changes

    def cmd_config_set(self, args):
        from scanmail.firmware.app.config_schema import ConfigError

        changes = self._changes(args)
        try:
            new_hash = self.app.config.update(changes)
        except ConfigError as err:
            raise CommandError("refused", str(err))
        self.app.log("config: %s changed (hash %s)" % (", ".join(sorted(changes)), new_hash))
        self._network_may_change(changes)
        return {"hash": new_hash}

    def _network_may_change(self, names):
        from scanmail.firmware.app.network_setup import KEYS

        for name in names:
            if name in KEYS or name == "wifi_password":
                self.app.network_changed = True

    def cmd_config_validate(self, args):
        from scanmail.firmware.app.config_schema import ConfigError

        try:
            self.app.config.validate(self._changes(args))
        except ConfigError as err:
            return {"valid": False, "key": err.key, "text": str(err)}
        return {"valid": True}

    def cmd_secret_set(self, args):
        from scanmail.firmware.app.secret_store import SecretError

        if self.app.secrets is None:
            raise CommandError("no_nvs", "this board has no NVS for secrets")
        name = _arg(args, "name", str)
        value = args.get("value")
        if value is not None and not isinstance(value, str):
            raise CommandError("bad_args", "argument 'value' must be text (base64 for a key file)")
        if name in ("client_key", "oauth_key") and value:
            value = _key_der(name, value)
        try:
            self.app.secrets.set(name, value)
        except SecretError as err:
            raise CommandError("refused", str(err))
        status = self.app.secrets.status()[name]
        self.app.log("secret %s %s" % (name, "set (fingerprint %s)" % status["fingerprint"]
                                              if status["set"] else "cleared"))
        self._network_may_change((name,))
        return status

    def cmd_secret_status(self, args):
        if self.app.secrets is None:
            raise CommandError("no_nvs", "this board has no NVS for secrets")
        return self.app.secrets.status()

    def cmd_scan(self, args):
        from scanmail.firmware.app.outbox import OutboxError

        try:
            return self.app.scan(_arg(args, "to", str, required=False))
        except OutboxError as err:
            raise CommandError(err.code, str(err))

    def cmd_send_test(self, args):
        from scanmail.firmware.mail import SMTPError

        try:
            return {"reply": send_test(self.app, _arg(args, "to", str, required=False))}
        except SMTPError as err:
            cause, what_to_do = err.diagnosis()
            raise CommandError("send_failed", "%s; %s" % (err, what_to_do))

    def cmd_outbox_list(self, args):
        from scanmail.firmware.app.console_session import Streamed

        return Streamed(self._job_summaries())

    def _job_summaries(self):
        """One summary per job, read from flash as the reply streams (hundreds of jobs never sit
        in the heap together)."""
        for job in self.app.outbox.each():
            last = job["last"] or {}
            yield {"id": job["id"], "state": job["state"], "attempts": job["attempts"],
                   "to": job["to"], "size": job["size"], "created": job["created"],
                   "next_at": job["next_at"], "reply": job["reply"], "error": last.get("text"),
                   "stage": last.get("stage"), "code": last.get("code"),
                   "server_text": last.get("server_text"),
                   "enhanced": last.get("enhanced"), "cause": last.get("cause"),
                   "what_to_do": last.get("what_to_do"), "subject": job["subject"]}

    def cmd_outbox_retry(self, args):
        from scanmail.firmware.app.outbox import OutboxError

        try:
            return {"id": outbox_admin.retry(self.app.outbox, _arg(args, "id", str), self.app.now() or 0)["id"],
                    "state": "queued"}
        except OutboxError as err:
            raise CommandError(err.code, str(err))

    def cmd_outbox_purge(self, args):
        from scanmail.firmware.app.outbox import OutboxError

        try:
            return {"purged": outbox_admin.purge(self.app.outbox, _arg(args, "id", str, required=False))}
        except OutboxError as err:
            raise CommandError(err.code, str(err))

    def cmd_logs(self, args):
        count = args.get("count", 50)
        if not isinstance(count, int) or not 0 < count <= 200:
            raise CommandError("bad_args", "count is 1..200 lines")
        return self.app.log.lines(count)

    def _sign_in(self):
        sign_in = self.app.sign_in()
        if sign_in is None or sign_in.session() is None:
            raise CommandError("not_configured", "OAuth is not configured: set auth to xoauth2, oauth_tenant "
                                                 "and oauth_client_id (config.set) first")
        return sign_in

    def cmd_oauth_login(self, args):
        from scanmail.firmware.mail import SMTPError

        sign_in = self._sign_in()
        if sign_in.session().mode != "device":
            raise CommandError("not_device", "oauth_mode is app: the app signs in with its own credential, "
                                             "no person needed (oauth.status shows it)")
        now = self.app.now()
        if now is None:
            raise CommandError("clock_unset", "the clock is not set yet (no NTP): try again once the network is up")
        try:
            return sign_in.start(now)
        except SMTPError as err:
            cause, what_to_do = err.diagnosis()
            raise CommandError("sign_in_failed", "%s; %s" % (err, what_to_do))

    def cmd_oauth_status(self, args):
        sign_in = self.app.sign_in()
        if sign_in is None:
            return {"state": "not_configured",
                    "what_to_do": "set auth to xoauth2, oauth_tenant and oauth_client_id to send with OAuth"}
        return sign_in.status(self.app.now())

    def cmd_oauth_refresh(self, args):
        """Get a new access token now, `count` times (1..100): checks that the sign-in still works
        (and soaks it: every refresh rotates the refresh token)."""
        from scanmail.firmware.mail import SMTPError

        count = args.get("count", 1)
        if not isinstance(count, int) or not 0 < count <= 100:
            raise CommandError("bad_args", "count is 1..100 refreshes")
        sign_in = self._sign_in()
        session = sign_in.session()
        try:
            for n in range(count):
                self.app.log("oauth: refresh %d of %d" % (n + 1, count))
                session.token_refused()
                session.access_token()
        except SMTPError as err:
            sign_in.failed(err)
            raise CommandError("sign_in_failed", "%s; %s" % (err, sign_in.error["what_to_do"]))
        return {"state": session.state, "user": session.user, "refreshes": count}

    def cmd_oauth_logout(self, args):
        self._sign_in().sign_out()
        return {"state": "signed_out"}

    def cmd_reboot(self, args):
        if self._reboot is None:
            raise CommandError("not_here", "this board cannot reset itself: power-cycle it")
        self.app.log("console: reboot")
        if self.session is not None:
            self.session.after_reply = self._reboot
        return {"rebooting": True}


def status(app):
    """Network, clock, outbox counts, configuration hash, the last result, and the OAuth sign-in."""
    now = app.now()
    address = None
    try:
        address = app.board.net.address()
    except Exception:
        pass
    out = {"network": app.network, "address": address, "clock": now,
           "clock_set": now is not None, "outbox": app.outbox.counts(),
           "config_hash": app.config.hash(), "last": app.last}
    sign_in = app.sign_in()
    if sign_in is not None:
        out["oauth"] = sign_in.status(now)
    return out


def send_test(app, to=None):
    """A small message, now, without the outbox; -> the server's reply. Raises SMTPError."""
    from scanmail.firmware.app.outbox_worker import settings_for
    from scanmail.firmware.mail import Message, send_mail

    values = app.config.values
    to = to or values["address_book"].get(values["default_destination"])
    sender = values["sender"] or values["username"]
    msg = Message(sender, [to] if to else [], [], "scanmail test from %s" % app.board.name,
                  "This is a test message from the scanner %s." % app.board.name, [])
    app.light("busy")
    sign_in = app.sign_in()
    try:
        settings = settings_for(values, app.secrets, None, app.board.storage_root)
        session = sign_in.session() if sign_in is not None else None
        if session is None:
            result = send_mail(settings, msg, app.board)
        else:
            from scanmail.firmware.oauth_send import send_signed_in

            settings.pop("password", None)
            result = send_signed_in(settings, msg, app.board, session)
    except Exception as err:
        if getattr(err, "kind", None) == "sign_in_needed":
            sign_in.failed(err)
        app.light("error")
        raise
    app.light("ok")
    app.log("send-test to %s: %s" % (to, result["reply"]))
    return result["reply"]


def handle(app, session, reboot, cmd, args):
    """One request (the loop calls this through call_once, so this module is loaded only while a
    command runs); -> its result, or CommandError."""
    commands = Commands(app, reboot)
    commands.session = session
    return commands(cmd, args)
