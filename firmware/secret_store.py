# Where the board keeps secrets by name (the OAuth refresh token, a client secret): the small
# interface the sign-in code uses, `get(name) -> bytes or None` and `set(name, value or None)`, with
# two backings: FileSecrets (a folder on the board's filesystem; the tests and the CPython
# runtime) and NvsSecrets (the ESP32's NVS partition). Rules: a value is either the old one or the
# new one after a power cut at any instant of set() (a file is written beside and renamed over;
# NVS commits an entry whole); names are short ASCII words (NVS allows 15 characters); nothing
# here prints or logs a value.
import os


class FileSecrets:
    """One file per name in `folder` (created if missing)."""

    def __init__(self, folder):
        self.folder = folder.rstrip("/")
        try:
            os.mkdir(self.folder)
        except OSError:
            pass

    def _path(self, name):
        return "%s/%s" % (self.folder, name)

    def get(self, name):
        try:
            with open(self._path(name), "rb") as f:
                return f.read()
        except OSError:
            return None

    def set(self, name, value):
        path = self._path(name)
        if value is None:
            try:
                os.remove(path)
            except OSError:
                pass
            return
        if isinstance(value, str):
            value = value.encode()
        with open(path + ".new", "wb") as f:
            f.write(value)
            if hasattr(f, "flush"):
                f.flush()
        os.rename(path + ".new", path)       # replaces the old file in one step
        if hasattr(os, "sync"):
            os.sync()


class NvsSecrets:
    """Entries in the ESP32's NVS namespace `namespace` (blobs of at most `size` bytes), laid out as
    the application's store (firmware/app/secret_store.py) lays them out, a blob under the name and
    its length under name + "#", so the application and a REPL script see the same sign-in."""

    def __init__(self, namespace="scanmail", size=4096):
        import esp32

        self._nvs = esp32.NVS(namespace)
        self._size = size

    def get(self, name):
        try:
            size = self._nvs.get_i32(name + "#")
        except OSError:
            size = None
        buf = bytearray(size if size is not None else self._size)
        try:
            n = self._nvs.get_blob(name, buf)
        except OSError:
            return None
        if size is not None and n != size:    # cut between the blob and its length: not whole
            return None
        return bytes(buf[:n])

    def set(self, name, value):
        if value is None:
            for key in (name, name + "#"):
                try:
                    self._nvs.erase_key(key)
                except OSError:
                    pass
        else:
            if isinstance(value, str):
                value = value.encode()
            self._nvs.set_blob(name, value)
            self._nvs.set_i32(name + "#", len(value))
        self._nvs.commit()
