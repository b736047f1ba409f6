# The board's flash as MicroPython's root filesystem: a VFS, written in Python, over a host folder.
# Rule: every device path ("/x.py", "lib/a.py", "../..") resolves inside the flash folder and never
# outside it, as on a real board where "/" is the flash. Why not the unix port's own
# vfs.VfsPosix(root)? It formats absolute paths into one shared buffer, so os.rename("/a", "/b")
# renames "/b" to itself and fails with ENOENT (MicroPython 1.29-preview); mpremote and
# host_tools rename with absolute paths. This VFS hands only full host paths to an unrooted VfsPosix,
# which uses them as given.
_S_IFDIR = 0x4000
_ENOTDIR = 20


class FlashFS:
    def __init__(self, host_vfs, root):
        self._host = host_vfs  # an unmounted vfs.VfsPosix() of the host's "/"
        self._root = root.rstrip("/")
        self._cwd = "/"

    # -- the VFS protocol ------------------------------------------------------------------------
    def mount(self, readonly, mkfs):
        pass

    def umount(self):
        pass

    def open(self, path, mode):
        return self._host.open(self.host_path(path), mode)

    def ilistdir(self, path):
        # (name, type, inode, size) as LittleFS on an ESP32 gives it; VfsPosix leaves out the size
        base = self.host_path(path).rstrip("/") + "/"
        for entry in self._host.ilistdir(self.host_path(path)):
            size = 0
            if not entry[1] & _S_IFDIR:
                try:
                    size = self._host.stat(base + entry[0])[6]
                except OSError:
                    pass
            yield (entry[0], entry[1], entry[2], size)

    def stat(self, path):
        return self._host.stat(self.host_path(path))

    def statvfs(self, path):
        return self._host.statvfs(self._root + "/")

    def mkdir(self, path):
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
