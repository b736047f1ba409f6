# Files that a power cut never leaves half-written: the new content goes to `<path>.tmp`, is
# flushed, and then renamed over `<path>`. Rule: a reader sees the old content or the new, never a
# mix; where a filesystem cannot rename over an existing file, the old one is removed first and a
# reader that finds only the complete `.tmp` takes it (write_atomic marks completeness with a
# trailing line the reader checks).
import os

_END = b"\n#end\n"


def _exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def write_atomic(path, data):
    """Replace the file at `path` with the bytes `data`, all or nothing."""
    temp = path + ".tmp"
    f = open(temp, "wb")
    try:
        f.write(data)
        f.write(_END)
        if hasattr(f, "flush"):
            f.flush()
        if hasattr(os, "fsync"):
            os.fsync(f.fileno())
    finally:
        f.close()
    try:
        os.rename(temp, path)
    except OSError:
        # a filesystem that refuses to rename over a file (FAT): the complete .tmp stands in
        # for `path` until the rename below is done
        os.remove(path)
        os.rename(temp, path)


def _complete(path):
    try:
        f = open(path, "rb")
    except OSError:
        return None
    try:
        data = f.read()
    finally:
        f.close()
    if not data.endswith(_END):
        return None
    return data[:-len(_END)]


def read_atomic(path):
    """The bytes last written to `path` by write_atomic, or None when there are none."""
    data = _complete(path)
    if data is None:
        data = _complete(path + ".tmp")
        if data is not None and not _exists(path):
            os.rename(path + ".tmp", path)      # finish what a power cut interrupted
    return data


def remove(path):
    for name in (path, path + ".tmp"):
        try:
            os.remove(name)
        except OSError:
            pass
