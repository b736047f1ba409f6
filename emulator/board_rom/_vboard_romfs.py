# A virtual board's ROMFS partition, for boards started with one (`romfs_bytes` in the supervisor's
# configuration): what MicroPython's esp32 port gives a board with a "romfs" partition. The
# supervisor's launcher maps `<state>/romfs.bin` into the runtime's process, outside the GC heap, as
# flash is memory-mapped on an ESP32, and passes its address; this module makes `vfs.rom_ioctl`
# answer over it (the calls mpremote's `romfs deploy` and scanmail flash make) and, as the port does
# at boot, mounts a valid image at /rom with /rom and /rom/lib on sys.path before /lib.
# Rule: the runtime's own `vfs` module is builtin and cannot grow a function, so a module object
# that holds everything `vfs` has plus rom_ioctl takes its place in sys.modules.
import sys
import uctypes
import vfs as _vfs

from board_link import ROMFS_ENV
ROMFS_HEADER = b"\xd2\xcd\x31"
BLOCK = 4096                          # the ESP32's flash erase sector
_IOCTL_SEGMENTS, _IOCTL_SEGMENT, _IOCTL_PREPARE, _IOCTL_WRITE, _IOCTL_COMPLETE, _IOCTL_BLOCK = 1, 2, 3, 4, 5, 6
_ENOENT, _EINVAL = -2, -22


class _Module:
    pass


def _partition(env):
    try:
        address, size = env.split(":")
        return uctypes.bytearray_at(int(address), int(size))
    except (ValueError, AttributeError):
        return None


def install(env_value):
    """Put the wrapper in place and mount the image; returns True when the board has a partition."""
    part = _partition(env_value) if env_value else None
    if part is None:
        return False
    segment = memoryview(part)

    def rom_ioctl(op, *args):
        if op == _IOCTL_SEGMENTS:
            return 1
        if args and args[0] != 0:
            return _ENOENT
        if op == _IOCTL_SEGMENT:
            return segment
        if op == _IOCTL_BLOCK:
            return BLOCK
        if op == _IOCTL_PREPARE:
            # (id, length) or (id, offset, length): erase whole blocks, as esp_partition_erase_range
            offset, length = (0, args[1]) if len(args) == 2 else (args[1], args[2])
            end = min(len(part), (offset + length + BLOCK - 1) // BLOCK * BLOCK)
            if offset % BLOCK or offset < 0 or end <= offset:
                return _EINVAL
            for at in range(offset, end, BLOCK):
                part[at:min(end, at + BLOCK)] = b"\xff" * (min(end, at + BLOCK) - at)
            return 4  # the smallest write the partition takes
        if op == _IOCTL_WRITE:
            offset, data = args[1], args[2]
            if offset < 0 or offset + len(data) > len(part):
                return _EINVAL
            part[offset:offset + len(data)] = data
            return 0
        if op == _IOCTL_COMPLETE:
            return 0
        return _EINVAL

    wrapper = _Module()
    for name in dir(_vfs):
        if not name.startswith("__"):
            setattr(wrapper, name, getattr(_vfs, name))
    wrapper.rom_ioctl = rom_ioctl
    sys.modules["vfs"] = wrapper
    mount()
    return True


def mount():
    """Mount a valid image at /rom, /rom and /rom/lib on sys.path in front of /lib (the port's boot)."""
    import vfs

    seg = vfs.rom_ioctl(_IOCTL_SEGMENT, 0)
    if bytes(seg[:3]) != ROMFS_HEADER:
        return False
    try:
        vfs.mount(vfs.VfsRom(seg), "/rom")
    except OSError:
        return False
    at = sys.path.index("/lib") if "/lib" in sys.path else len(sys.path)
    sys.path[at:at] = ["/rom", "/rom/lib"]
    return True
