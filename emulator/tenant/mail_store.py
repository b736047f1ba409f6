# Where accepted mail lands: Maildir folders readable with Python's `mailbox` module,
# `<mail>/<address>/{Inbox,Junk Email,Sent Items}` for tenant mailboxes and `<mail>/internet/` for
# everything relayed outside the tenant. Rule: never half-stored. DATA is spooled into
# `<mail>/.spool/` as it arrives; only an accepted message is hard-linked into each Maildir's `tmp/`
# and renamed into `new/` (the Maildir protocol), and the spool file is always removed.
import email.parser
import email.policy
import mailbox
import os
import shutil
import socket
import threading
import time
import uuid

FOLDERS = ("Inbox", "Junk Email", "Sent Items")
INTERNET = "internet"


class MailStore:
    def __init__(self, root):
        self.root = root
        self.spool_dir = os.path.join(root, ".spool")
        os.makedirs(self.spool_dir, exist_ok=True)
        self._lock = threading.Lock()
        self._host = socket.gethostname().replace("/", "_").replace(":", "_")
        self._counter = 0
        self._made = set()          # Maildir folders known to exist (forgotten by clear())

    def new_spool_file(self):
        """An open binary file in the spool; the caller writes DATA into it as it arrives."""
        path = os.path.join(self.spool_dir, uuid.uuid4().hex + ".eml")
        return open(path, "wb", buffering=0)

    @staticmethod
    def discard(spool_file):
        try:
            spool_file.close()
        finally:
            try:
                os.unlink(spool_file.name)
            except FileNotFoundError:
                pass

    def folder_path(self, address, folder):
        if address == INTERNET:
            return os.path.join(self.root, INTERNET)
        if folder not in FOLDERS:
            raise ValueError("folder must be one of %s, got %r" % (", ".join(FOLDERS), folder))
        return os.path.join(self.root, address.lower(), folder)

    def _ensure_maildir(self, path):
        if path in self._made:
            return
        for sub in ("tmp", "new", "cur"):
            os.makedirs(os.path.join(path, sub), exist_ok=True)
        self._made.add(path)

    def _unique_name(self):
        with self._lock:
            self._counter += 1
            counter = self._counter
        return "%020d.P%dQ%010d_%s.%s" % (time.time_ns(), os.getpid(), counter, uuid.uuid4().hex[:8],
                                          self._host)

    def deliver(self, spool_path, destinations):
        """Place the spooled message into every (address, folder) of `destinations`, then remove the
        spool file. Each copy appears atomically (rename from tmp/ to new/)."""
        try:
            for address, folder in destinations:
                path = self.folder_path(address, folder)
                self._ensure_maildir(path)
                name = self._unique_name()
                tmp = os.path.join(path, "tmp", name)
                try:
                    os.link(spool_path, tmp)
                except OSError:
                    shutil.copyfile(spool_path, tmp)
                os.rename(tmp, os.path.join(path, "new", name))
        finally:
            try:
                os.unlink(spool_path)
            except FileNotFoundError:
                pass

    def messages(self, address, folder="Inbox"):
        """Stored messages, oldest first, as email.message.EmailMessage."""
        path = self.folder_path(address, folder)
        if not os.path.isdir(path):
            return []
        box = mailbox.Maildir(path, factory=None, create=False)
        parser = email.parser.BytesParser(policy=email.policy.default)
        found = []
        for key in sorted(box.keys()):  # names start with the delivery time in nanoseconds
            with box.get_file(key) as f:
                found.append(parser.parse(f))
        return found

    def spool_files(self):
        return sorted(os.listdir(self.spool_dir))

    def clear(self):
        self._made = set()
        for name in os.listdir(self.root):
            path = os.path.join(self.root, name)
            if name == ".spool":
                continue
            shutil.rmtree(path, ignore_errors=True)
