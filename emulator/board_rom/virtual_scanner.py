# The virtual board's scanner: each scan feeds the pages of a sample document (JPEG files the host
# drew when the board was made, emulator/boards/sample_document.py) one by one, as a sheet feeder
# does. Rule: the scanner contract of the application (firmware/board.py): `next_page()` gives the
# next page as a stream of its JPEG bytes (`readinto(buffer)`, `close()`), None when the feeder is
# empty, and then the same document is ready again; the page is read from the host as the
# application asks for it, so it never sits whole in the board's heap.
import os

import _vboard_host


def page_names(folder):
    """The JPEG page files in `folder` (a host path), sorted; [] when there is none."""
    host = _vboard_host.host_vfs()
    try:
        names = os.listdir(folder) if host is None else [e[0] for e in host.ilistdir(folder)]
    except OSError:
        return []
    return sorted(n for n in names if n.endswith(".jpg"))


class VirtualScanner:
    def __init__(self, pages_dir):
        self.pages_dir = pages_dir
        self._next = 0
        self.scans = 0

    def pages(self):
        return [self.pages_dir + "/" + n for n in page_names(self.pages_dir)]

    def next_page(self):
        pages = self.pages()
        if self._next >= len(pages):
            self._next = 0
            self.scans += 1
            return None
        self._next += 1
        return _vboard_host.open_host(pages[self._next - 1], "rb")
