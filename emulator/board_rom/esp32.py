# `esp32` for a virtual board: NVS, the key-value store that survives reflashing. Rule: as on the
# esp32 port, only i32 and blob values and keys of at most 15 characters; each set or erase is
# stored when it returns, one key at a time, as ESP-IDF's NVS writes every change to flash at once
# (its nvs_commit writes nothing): a power cut between two sets keeps the first. commit() is still
# what the API asks for, and fails as a set would on a board with no store. It lives in the
# board's state folder (<state>/nvs.json), not on its flash, so copying files or wiping the flash
# keeps it; deleting the state folder is `erase_flash`.
import _vboard_host

_ESP_ERR_NVS_NOT_FOUND = -0x1102
_ESP_ERR_NVS_TYPE_MISMATCH = -0x1103
_ESP_ERR_NVS_KEY_TOO_LONG = -0x1109
_ESP_ERR_NVS_INVALID_LENGTH = -0x110c
_MAX_KEY = 15


def _store_path():
    return _vboard_host.config().get("nvs")


def _load():
    return _vboard_host.read_json(_store_path(), {}) or {}


class NVS:
    def __init__(self, namespace):
        if not namespace or len(namespace) > _MAX_KEY:
            raise OSError(_ESP_ERR_NVS_KEY_TOO_LONG, "ESP_ERR_NVS_KEY_TOO_LONG")
        self._namespace = namespace

    def _check_key(self, key):
        if not key or len(key) > _MAX_KEY:
            raise OSError(_ESP_ERR_NVS_KEY_TOO_LONG, "ESP_ERR_NVS_KEY_TOO_LONG")

    def _get(self, key, kind):
        entry = self._get_any(key)
        if entry[0] != kind:
            raise OSError(_ESP_ERR_NVS_TYPE_MISMATCH, "ESP_ERR_NVS_TYPE_MISMATCH")
        return entry[1]

    def _get_any(self, key):
        self._check_key(key)
        entry = _load().get(self._namespace, {}).get(key)
        if entry is None:
            raise OSError(_ESP_ERR_NVS_NOT_FOUND, "ESP_ERR_NVS_NOT_FOUND")
        return entry

    def _put(self, key, entry):
        """Store one key's entry (["i32", int] or ["blob", hex]; None erases it) at once."""
        path = _store_path()
        if not path:
            raise OSError(_ESP_ERR_NVS_NOT_FOUND, "this virtual board has no NVS store")
        store = _load()
        space = store.setdefault(self._namespace, {})
        if entry is None:
            space.pop(key, None)
        else:
            space[key] = entry
        _vboard_host.write_json(path, store)

    def set_i32(self, key, value):
        self._check_key(key)
        value = int(value)
        if not -0x80000000 <= value <= 0x7FFFFFFF:
            raise OverflowError("i32 value out of range")
        self._put(key, ["i32", value])

    def get_i32(self, key):
        return self._get(key, "i32")

    def set_blob(self, key, value):
        self._check_key(key)
        self._put(key, ["blob", bytes(value).hex()])

    def get_blob(self, key, buffer):
        """Copy the blob into `buffer`; return its length. A buffer shorter than the blob is
        ESP-IDF's ESP_ERR_NVS_INVALID_LENGTH, with nothing copied (as the esp32 port raises it)."""
        data = bytes.fromhex(self._get(key, "blob"))
        if len(data) > len(buffer):
            raise OSError(_ESP_ERR_NVS_INVALID_LENGTH, "ESP_ERR_NVS_INVALID_LENGTH")
        buffer[:len(data)] = data
        return len(data)

    def erase_key(self, key):
        self._get_any(key)
        self._put(key, None)

    def commit(self):
        if not _store_path():
            raise OSError(_ESP_ERR_NVS_NOT_FOUND, "this virtual board has no NVS store")
