# Where accepted mail lands: Maildir folders readable with Python's `mailbox` module,
# `<mail>/<address>/{Inbox,Junk Email,Sent Items}` for tenant mailboxes and `<mail>/internet/` for
# everything relayed outside the tenant. Rule: all or nothing. DATA is spooled as it arrives into
# the `tmp/` folder of the message's first destination (the Maildir protocol's own spool); a
# refused or interrupted message is unlinked from tmp/. An accepted message for one folder is
# renamed into `new/` (atomic); for several, a journal naming the spool file and every target is
# written first (atomically, under `<mail>/.journal/`), then the message is hard-linked into every
# other folder's `new/` and renamed into the first's last, then the journal is removed. A server
# killed at any instant finishes what a journal names when it starts again (roll forward), and
# deletes every spool file no journal names: a message is in all its folders or in none. Files have
# LF line ends and the exact bytes stay available (line_ends.py), placed before each message.
import email.parser
import email.policy
import errno
import json
import logging
import mailbox
import os
import shutil
import socket
import threading
import time
import uuid

from scanmail.emulator.tenant.line_ends import EXACT_FOLDER, LfSpool

log = logging.getLogger("scanmail.tenant")

FOLDERS = ("Inbox", "Junk Email", "Sent Items")
INTERNET = "internet"
JOURNAL = ".journal"


class MailStore:
    def __init__(self, root):
        self.root = root
        os.makedirs(root, exist_ok=True)
        self._lock = threading.Lock()
        self._host = socket.gethostname().replace("/", "_").replace(":", "_")
        self._counter = 0
        self._made = set()          # Maildir folders known to exist (forgotten by clear())
        self.journal_dir = os.path.join(root, JOURNAL)
        self.recovered = self._roll_forward()
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
        `destinations`, all or none, even if the process dies half-way (see the header). Raises
        OSError when the spool file is gone (the store was reset under the message)."""
        if not os.path.exists(spool_path):
            raise FileNotFoundError(errno.ENOENT, "the spool file is gone (the store was reset)", spool_path)
        name = os.path.basename(spool_path)
        targets = []
        for address, folder in destinations:
            path = self.folder_path(address, folder)
            self._ensure_maildir(path)
            targets.append(os.path.join(path, "new", name))
        if len(targets) == 1:
            _place(spool_path, targets)     # one rename (and the exact bytes): atomic without a journal
            return
        os.makedirs(self.journal_dir, exist_ok=True)
        journal = os.path.join(self.journal_dir, name + ".json")
        with open(journal + ".tmp", "w", encoding="utf-8") as f:
            json.dump({"spool": os.path.relpath(spool_path, self.root),
                       "targets": [os.path.relpath(t, self.root) for t in targets]}, f)
        os.rename(journal + ".tmp", journal)
        _place(spool_path, targets)
        os.unlink(journal)

    def _roll_forward(self):
        """Finish every delivery a journal names (a server killed half-way). Returns how many."""
        done = 0
        try:
            names = sorted(os.listdir(self.journal_dir))
        except FileNotFoundError:
            return 0
        for name in names:
            path = os.path.join(self.journal_dir, name)
            if name.endswith(".unreadable"):
                continue
            if not name.endswith(".json"):
                os.unlink(path)         # a journal never completed: its delivery never started
                continue
            try:
                with open(path, encoding="utf-8") as f:
                    entry = json.load(f)
                _place(os.path.join(self.root, entry["spool"]),
                       [os.path.join(self.root, t) for t in entry["targets"]])
            except (OSError, ValueError, KeyError, TypeError) as exc:
                # Not one of ours (edited, or another program's): set aside, never lost, never half-done.
                os.replace(path, path + ".unreadable")
                log.warning("fake tenant: set aside delivery journal %s, which cannot be completed (%s)", path, exc)
                continue
            os.unlink(path)
            done += 1
        return done

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
        # cur/ is made last (_ensure_maildir): a folder without it is still being made by a first
        # delivery, and holds nothing yet; reading it would race that delivery
        if not os.path.isdir(os.path.join(path, "cur")):
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

    def journal_files(self):
        try:
            return sorted(os.path.join(self.journal_dir, n) for n in os.listdir(self.journal_dir))
        except FileNotFoundError:
            return []

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


def _place(spool_path, targets):
    """Link the spool file into targets[1:] (those not there yet), then rename it to targets[0].
    Repeatable: after a crash at any point, running it again completes the delivery."""
    if not os.path.exists(spool_path):
        return                          # renamed into place last: everything else was done before
    exact = LfSpool.exact_name_of(spool_path)
    if os.path.exists(exact):           # exact bytes first, in every folder, before any message appears
        for target in targets:
            folder = os.path.dirname(os.path.dirname(target))
            if not os.path.exists(os.path.join(folder, EXACT_FOLDER, os.path.basename(target))):
                _place_exact(exact, folder, os.path.basename(target), os.link)
    for target in targets[1:]:
        if os.path.exists(target):
            continue
        try:
            os.link(spool_path, target)
        except FileExistsError:
            pass
        except OSError:                 # no hard links here: copy beside it, then rename (atomic)
            tmp = os.path.join(os.path.dirname(os.path.dirname(target)), "tmp", os.path.basename(target) + ".copy")
            shutil.copyfile(spool_path, tmp)
            os.rename(tmp, target)
    os.rename(spool_path, targets[0])
    try:
        os.unlink(exact)                # (a leftover one is removed with the stale spool files)
    except FileNotFoundError:
        pass
