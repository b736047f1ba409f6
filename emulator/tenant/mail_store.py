# Where accepted mail lands: Maildir folders readable with Python's `mailbox` module,
# `<mail>/<address>/{Inbox,Junk Email,Sent Items}` for tenant mailboxes and `<mail>/internet/` for
# everything relayed outside the tenant. Rule: never half-stored. DATA is spooled as it arrives
# into the `tmp/` folder of the message's first destination (the Maildir protocol's own spool);
# only an accepted message is renamed into `new/` there and hard-linked (tmp/ then new/) into every
# other destination. A refused or interrupted message is unlinked from tmp/. Files have LF line
# ends and the exact bytes stay available (line_ends.py).
import email.parser
import email.policy
import mailbox
import os
import shutil
import socket
import threading
import time
import uuid

from scanmail.emulator.tenant.line_ends import EXACT_FOLDER, LfSpool

FOLDERS = ("Inbox", "Junk Email", "Sent Items")
INTERNET = "internet"


class MailStore:
    def __init__(self, root):
        self.root = root
        os.makedirs(root, exist_ok=True)
        self._lock = threading.Lock()
        self._host = socket.gethostname().replace("/", "_").replace(":", "_")
        self._counter = 0
        self._made = set()          # Maildir folders known to exist (forgotten by clear())
        for stale in self.spool_files():
            os.unlink(stale)        # half-written by a server that was killed: never delivered

    def new_spool_file(self, first_destination, binary=False):
        """An open binary file in the tmp/ folder of (address, folder); the caller writes DATA into
        it as it arrives (stored with LF line ends, or as received when `binary`: BODY=BINARYMIME)
        and later passes its name to deliver() or the file to discard()."""
        path = self.folder_path(*first_destination)
        self._ensure_maildir(path)
        return LfSpool(os.path.join(path, "tmp", self._unique_name()), binary)

    @staticmethod
    def discard(spool_file):
        try:
            spool_file.close()
        finally:
            for name in (spool_file.name, getattr(spool_file, "exact_name", None)):
                try:
                    if name:
                        os.unlink(name)
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
        """Place the message spooled in destinations[0]'s tmp/ into every (address, folder) of
        `destinations`. Each copy appears atomically (rename from tmp/ to new/); the first one last,
        so that a failure on the way leaves the spool file to be discarded, not a partial delivery."""
        exact = LfSpool.exact_name_of(spool_path) if os.path.exists(LfSpool.exact_name_of(spool_path)) else None
        for address, folder in destinations[1:]:
            path = self.folder_path(address, folder)
            self._ensure_maildir(path)
            name = self._unique_name()
            tmp = os.path.join(path, "tmp", name)
            try:
                os.link(spool_path, tmp)
            except OSError:
                shutil.copyfile(spool_path, tmp)
            if exact:
                _place_exact(exact, path, name, os.link)
            os.rename(tmp, os.path.join(path, "new", name))
        first_tmp, name = os.path.split(spool_path)
        if exact:
            _place_exact(exact, os.path.dirname(first_tmp), name, os.rename)
        os.rename(spool_path, os.path.join(os.path.dirname(first_tmp), "new", name))

    def message_files(self, address, folder="Inbox"):
        """Paths of the stored messages, oldest first (new/ and cur/ alike)."""
        path = self.folder_path(address, folder)
        found = []
        for sub in ("new", "cur"):
            try:
                found.extend((name, os.path.join(path, sub, name)) for name in os.listdir(os.path.join(path, sub)))
            except FileNotFoundError:
                pass
        return [full for _name, full in sorted(found)]

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
        """Files in any Maildir tmp/ folder: messages arriving right now (or half-written ones)."""
        found = []
        for folder, _dirs, files in os.walk(self.root):
            if os.path.basename(folder) == "tmp":
                found.extend(os.path.join(folder, name) for name in files)
        return sorted(found)

    def clear(self):
        self._made = set()
        for name in os.listdir(self.root):
            path = os.path.join(self.root, name)
            shutil.rmtree(path, ignore_errors=True)


def _place_exact(exact, folder_path, name, place):
    """The exact bytes of the message `name` in a Maildir folder, in place before the message is."""
    os.makedirs(os.path.join(folder_path, EXACT_FOLDER), exist_ok=True)
    target = os.path.join(folder_path, EXACT_FOLDER, name)
    try:
        place(exact, target)
    except OSError:
        shutil.copyfile(exact, target)
