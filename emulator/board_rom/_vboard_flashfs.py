# The board's flash as MicroPython's root filesystem: a VFS, written in Python, over a host folder.
# Rule: every device path ("/x.py", "lib/a.py", "../..") resolves inside the flash folder and never
# outside it, as on a real board where "/" is the flash; and the flash answers as an ESP32's
# LittleFS partition of the profile's size does: os.statvfs in 4096-byte blocks of that partition,
# os.stat modes 0x8000 (file) / 0x4000 (directory) with sizes and whole-second times, and a write
# or mkdir that needs a block the partition does not have fails with OSError(ENOSPC). Why not the
# unix port's own vfs.VfsPosix(root)? It formats absolute paths into one shared buffer, so
# os.rename("/a", "/b") renames "/b" to itself and fails with ENOENT (MicroPython 1.29-preview);
# mpremote and host_tools rename with absolute paths. This VFS hands only full host paths to an
# unrooted VfsPosix, which uses them as given.
import sys

from board_link import FS_BLOCK_BYTES, FS_INLINE_MAX

_S_IFDIR = 0x4000
_S_IFREG = 0x8000
_ENOTDIR = 20
_ENOSPC = 28
_DEFAULT_CAPACITY = 2 * 1024 * 1024
_NAME_MAX = 255
_METADATA_PAIR = 2  # blocks of a directory (the root's pair also holds the superblock)


def file_blocks(size):
    """Blocks a LittleFS file of `size` bytes takes: none while it fits inline in its directory,
    else a CTZ skip-list, where block i > 0 gives 4 bytes per pointer (ctz(i) + 1 of them)."""
    if size <= FS_INLINE_MAX:
        return 0
    blocks = 1
    room = FS_BLOCK_BYTES
    while room < size:
        ctz = 0
        while not (blocks >> ctz) & 1:
            ctz += 1
        room += FS_BLOCK_BYTES - 4 * (ctz + 1)
        blocks += 1
    return blocks


if sys.implementation.name == "micropython":
    from io import IOBase as _FileBase  # so the stream protocol (json.dump, import) uses it

    def _no_space():
        return OSError(_ENOSPC)  # prints as "OSError: [Errno 28] ENOSPC"
else:
    _FileBase = object

    def _no_space():
        return OSError(_ENOSPC, "ENOSPC")  # CPython sets .errno only with two arguments


class FlashFS:
    def __init__(self, host_vfs, root, capacity_bytes=None):
        self._host = host_vfs  # an unmounted vfs.VfsPosix() of the host's "/"
        self._root = root.rstrip("/")
        self._cwd = "/"
        self.blocks = (capacity_bytes or _DEFAULT_CAPACITY) // FS_BLOCK_BYTES

    def __repr__(self):  # what `mpremote df` shows for the mount, as on an ESP32
        return "<VfsLfs2>"

    # -- the VFS protocol ------------------------------------------------------------------------
    def mount(self, readonly, mkfs):
        pass

    def umount(self):
        pass

    def open(self, path, mode):
        host_path = self.host_path(path)
        if not ("w" in mode or "a" in mode or "+" in mode or "x" in mode):
            return self._host.open(host_path, mode)
        used = self.used_blocks()
        f = self._host.open(host_path, mode)
        size = 0
        if "w" not in mode:
            size = self._host.stat(host_path)[6]
        return _BudgetedFile(f, size, "a" in mode, self.blocks - (used - file_blocks(size)))

    def ilistdir(self, path):
        # (name, type, inode, size) as LittleFS on an ESP32 gives it: no inode, the size of files
        base = self.host_path(path).rstrip("/") + "/"
        for entry in self._host.ilistdir(self.host_path(path)):
            size = 0
            if not entry[1] & _S_IFDIR:
                try:
                    size = self._host.stat(base + entry[0])[6]
                except OSError:
                    pass
            yield (entry[0], entry[1], 0, size)

    def stat(self, path):
        st = self._host.stat(self.host_path(path))
        if st[0] & _S_IFDIR:
            return (_S_IFDIR, 0, 0, 0, 0, 0, 0, int(st[8]), int(st[8]), int(st[8]))
        return (_S_IFREG, 0, 0, 0, 0, 0, st[6], int(st[8]), int(st[8]), int(st[8]))

    def statvfs(self, path):
        free = max(0, self.blocks - self.used_blocks())
        return (FS_BLOCK_BYTES, FS_BLOCK_BYTES, self.blocks, free, free, 0, 0, 0, 0, _NAME_MAX)

    def used_blocks(self):
        """Blocks in use now: the root's metadata pair, a pair per directory, each file's blocks."""
        used = _METADATA_PAIR
        folders = [self._root]
        while folders:
            folder = folders.pop()
            for entry in self._host.ilistdir(folder):
                if entry[0] in (".", ".."):
                    continue
                if entry[1] & _S_IFDIR:
                    used += _METADATA_PAIR
                    folders.append(folder + "/" + entry[0])
                else:
                    try:
                        used += file_blocks(self._host.stat(folder + "/" + entry[0])[6])
                    except OSError:
                        pass
        return used

    def mkdir(self, path):
        if self.used_blocks() + _METADATA_PAIR > self.blocks:
            raise _no_space()
        self._host.mkdir(self.host_path(path))

    def rmdir(self, path):
        self._host.rmdir(self.host_path(path))

    def remove(self, path):
        self._host.remove(self.host_path(path))

    def rename(self, old_path, new_path):
        self._host.rename(self.host_path(old_path), self.host_path(new_path))

    def chdir(self, path):
        device_path = self.device_path(path)
        if not self._host.stat(self._root + device_path)[0] & _S_IFDIR:
            raise OSError(_ENOTDIR)
        self._cwd = device_path

    def getcwd(self):
        return self._cwd

    # -- paths ----------------------------------------------------------------------------------------
    def device_path(self, path):
        """The absolute, normalised device path; ".." never climbs above "/". A host path inside the
        flash (board.storage_root + name on the CPython runtime) means that file."""
        if path == self._root or path.startswith(self._root + "/"):
            path = path[len(self._root):] or "/"
        elif not path.startswith("/"):
            path = self._cwd + "/" + path
        parts = []
        for part in path.split("/"):
            if part == "" or part == ".":
                continue
            if part == "..":
                if parts:
                    parts.pop()
                continue
            parts.append(part)
        return "/" + "/".join(parts)

    def host_path(self, path):
        return self._root + self.device_path(path)


class _BudgetedFile(_FileBase):
    """A file open for writing on the flash: a write that would need more blocks than the
    partition has left raises OSError(ENOSPC) and writes nothing, as LittleFS fails the write."""

    def __init__(self, f, size, append, budget_blocks):
        self._f = f
        self._size = size
        self._append = append
        self._budget = budget_blocks

    def write(self, data, *limits):
        count = len(data)
        if len(limits) == 1:
            count = min(count, limits[0])
        elif len(limits) == 2:
            count = limits[1]
        end = (self._size if self._append else self._f.tell()) + count
        if end > self._size:
            if file_blocks(end) > self._budget:
                raise _no_space()
            self._size = end
        return self._f.write(data, *limits)

    def read(self, *args):
        return self._f.read(*args)

    def readinto(self, *args):
        return self._f.readinto(*args)

    def readline(self, *args):
        return self._f.readline(*args)

    def seek(self, *args):
        return self._f.seek(*args)

    def tell(self):
        return self._f.tell()

    def flush(self):
        return self._f.flush()

    def close(self):
        return self._f.close()

    def ioctl(self, request, arg):
        if request == 1:  # flush
            self._f.flush()
            return 0
        if request == 4:  # close
            self._f.close()
            return 0
        return -1

    def __getattr__(self, name):  # name, mode, fileno, closed ... of the file itself
        return getattr(self._f, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._f.close()

    def __iter__(self):
        return iter(self._f)
