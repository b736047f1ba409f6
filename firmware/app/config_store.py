# The scanner's configuration on flash: one versioned JSON file (`/config.json`), written
# atomically, read into the schema's defaults, migrated when an older version is found. Rule:
# a change is checked in full (each key, then the rules between keys) before anything is written,
# so a refused change leaves both memory and flash as they were; each accepted change returns the
# configuration's hash, which the console shows so a host tool can tell which configuration a
# board runs. Secrets are never here (secret_store.py). The schema (config_schema.py) is loaded for
# each read, check or change and let go after it (call_once): between changes only the values stay.
import json

from scanmail.firmware import call_once
from scanmail.firmware.app import atomic_file

VERSION = 2


class ConfigError(ValueError):
    """A refused value: `key`, `allowed` (words) and `current` (the value kept)."""

    def __init__(self, key, allowed, current):
        super().__init__("%s refused; allowed: %s; kept: %s" % (key, allowed, json.dumps(current)))
        self.key = key
        self.allowed = allowed
        self.current = current


def _schema(function, *args):
    return call_once("app.config_schema", function, *args)


def _kept(values):
    """A copy of `values`, made once the schema is let go: the configuration lives as long as the
    application, and made while the schema's objects were in the heap it would stay stranded above
    them, splitting the free space they leave (a heap is never compacted)."""
    out = {}
    for key in values:
        out[key] = values[key]
    return out


def _canonical(value, out):
    """`value` as JSON with keys sorted at every level (so the hash does not depend on dict
    order), handed to out() piece by piece: no copy of the whole configuration is ever made, for
    in a fragmented heap one string that long may find no free run."""
    if isinstance(value, dict):
        out("{")
        first = True
        for key in sorted(value):
            out(("" if first else ",") + json.dumps(key) + ":")
            _canonical(value[key], out)
            first = False
        out("}")
    elif isinstance(value, list):
        out("[")
        for i, item in enumerate(value):
            if i:
                out(",")
            _canonical(item, out)
        out("]")
    else:
        out(json.dumps(value))


def stored_value(path, key):
    """`key` as the configuration file at `path` holds it, or None: read before the application
    is built, to choose what to load (app_loop.main), without the schema."""
    data = atomic_file.read_atomic(path)
    try:
        return json.loads(data)["settings"].get(key) if data is not None else None
    except (ValueError, KeyError, TypeError, AttributeError):
        return None


class ConfigStore:
    """`values` (every key, defaults filled in), `get`, `set`, `update`, `validate`, `hash`."""

    def __init__(self, path):
        self.path = path
        self.values = _kept(_schema("defaults"))
        self.migrated_from = None
        self.dropped = []
        data = atomic_file.read_atomic(path)
        if data is not None:
            self._load(data)

    def _load(self, data):
        try:
            doc = json.loads(data)
            version = doc["version"]
            stored = doc["settings"]
        except (ValueError, KeyError, TypeError):
            raise ValueError("%s is not a configuration file this firmware wrote: fix or remove "
                             "it (the defaults apply without it)" % self.path)
        if version != VERSION:
            stored, self.dropped = call_once("app.config_migrations", "migrate", version, stored)
            self.migrated_from = version
        # a key this version does not know, or a value it no longer allows: the default stays
        self.dropped.extend(_schema("checked", stored, self.values))
        self.values = _kept(self.values)
        if self.migrated_from is not None:
            self._save()

    def _save(self):
        atomic_file.write_atomic(self.path, json.dumps({"version": VERSION, "settings": self.values}).encode())

    def hash(self):
        import binascii
        import hashlib

        digest = hashlib.sha256()
        _canonical(self.values, lambda text: digest.update(text.encode()))
        return binascii.hexlify(digest.digest()[:6]).decode()

    def get(self, key=None):
        if key is None:
            return dict(self.values)
        if key not in self.values:
            _schema("check", key, None)       # raises the unknown-key error with the key list
        return self.values[key]

    def validate(self, changes):
        """The changed configuration, or ConfigError for the first refused key (nothing kept)."""
        return _schema("validated", self.values, changes)

    def update(self, changes):
        """Check and store `changes` (all or nothing); return the new hash."""
        self.values = _kept(self.validate(changes))
        self._save()
        return self.hash()

    def set(self, key, value):
        return self.update({key: value})
