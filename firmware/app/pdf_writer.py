# A streaming PDF writer: each scanned JPEG page goes into the PDF as a DCTDecode image (the JPEG
# bytes unchanged, which every viewer decodes), drawn to fit the page. Rule: never a page in RAM,
# and each page's bytes pass once, from the scanner straight into the PDF: the image's size comes
# from its SOF marker in the first buffer read (jpeg_info), its bytes are copied through one small
# buffer the caller owns, and its length, known only at its end, is an object of its own written
# after the image (`/Length 7 0 R`, PDF 1.4 section 3.2.7); the writer keeps only the byte offset
# of each object it wrote (for the cross-reference table at the end), counted as it goes.
from scanmail.firmware.app.jpeg_info import jpeg_info

# Page sizes in points (1/72 inch).
PAGE_SIZES = {"a4": (595, 842), "letter": (612, 792), "legal": (612, 1008)}
_COLOUR_SPACES = {1: "/DeviceGray", 3: "/DeviceRGB", 4: "/DeviceCMYK"}


def _points(hundredths):
    return b"%d.%02d" % (hundredths // 100, hundredths % 100)


class PdfWriter:
    """write_pdf's engine: `add_jpeg(path)` per page, then `close()`. Writes to the binary file
    `out` (open for writing, at its start); `buffer` is the bytearray pages are copied through."""

    def __init__(self, out, buffer, page_size="a4"):
        if page_size not in PAGE_SIZES:
            raise ValueError("page size %r; allowed: %s" % (page_size, ", ".join(sorted(PAGE_SIZES))))
        self._out = out
        self._buffer = buffer
        self._view = memoryview(buffer)
        self._page = PAGE_SIZES[page_size]
        self._pos = 0
        self._offsets = []        # byte offset of objects 3, 4, 5, ... (object 1 and 2 come last)
        self.pages = 0
        # a binary comment on line 2 tells transfer tools the file is binary
        self._write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")

    def _write(self, data):
        self._out.write(data)
        self._pos += len(data)

    def _begin_object(self, number):
        self._offsets.append(self._pos)
        self._write(b"%d 0 obj\n" % number)

    def add_page(self, page):
        """Append the JPEG that `page` reads out (`readinto(buffer)` -> bytes, 0 at its end) as the
        next page; -> its size in bytes."""
        view = self._view
        have = _fill(page, view)
        width, height, components = jpeg_info(view[:have], have < len(view))
        first = 3 + 4 * self.pages             # page, content stream, image, image length
        page_w, page_h = self._page
        # fit the image to the page, in integer hundredths of a point: the same bytes on every
        # runtime (float formatting differs between MicroPython and CPython)
        if width * page_h <= height * page_w:
            draw_h = page_h * 100
            draw_w = width * page_h * 100 // height
        else:
            draw_w = page_w * 100
            draw_h = height * page_w * 100 // width
        content = b"q %s 0 0 %s %s %s cm /Im0 Do Q\n" % (
            _points(draw_w), _points(draw_h), _points((page_w * 100 - draw_w) // 2),
            _points((page_h * 100 - draw_h) // 2))
        self._begin_object(first)
        self._write(b"<</Type/Page/Parent 2 0 R/MediaBox[0 0 %d %d]/Contents %d 0 R"
                    b"/Resources<</XObject<</Im0 %d 0 R>>>>>>\nendobj\n"
                    % (page_w, page_h, first + 1, first + 2))
        self._begin_object(first + 1)
        self._write(b"<</Length %d>>\nstream\n" % len(content))
        self._write(content)
        self._write(b"endstream\nendobj\n")
        self._begin_object(first + 2)
        decode = b"/Decode[1 0 1 0 1 0 1 0]" if components == 4 else b""
        self._write(b"<</Type/XObject/Subtype/Image/Width %d/Height %d/ColorSpace %s"
                    b"/BitsPerComponent 8/Filter/DCTDecode%s/Length %d 0 R>>\nstream\n"
                    % (width, height, _COLOUR_SPACES[components].encode(), decode, first + 3))
        size = 0
        while have:
            self._write(view[:have])
            size += have
            have = page.readinto(view)
        self._write(b"\nendstream\nendobj\n")
        self._begin_object(first + 3)
        self._write(b"%d\nendobj\n" % size)
        self.pages += 1
        return size

    def add_jpeg(self, path):
        """Append the JPEG file at `path` as the next page."""
        f = open(path, "rb")
        try:
            return self.add_page(f)
        finally:
            f.close()

    def close(self):
        """Write the page tree, the catalog, the cross-reference table and the trailer; return the
        PDF's size in bytes. The caller closes `out`."""
        if not self.pages:
            raise ValueError("a PDF needs at least one page")
        pages_at = self._pos
        self._write(b"2 0 obj\n<</Type/Pages/Count %d/Kids[" % self.pages)
        for i in range(self.pages):
            self._write(b"%d 0 R " % (3 + 4 * i))
        self._write(b"]>>\nendobj\n")
        catalog_at = self._pos
        self._write(b"1 0 obj\n<</Type/Catalog/Pages 2 0 R>>\nendobj\n")
        xref_at = self._pos
        count = len(self._offsets) + 3
        self._write(b"xref\n0 %d\n0000000000 65535 f \n%010d 00000 n \n%010d 00000 n \n"
                    % (count, catalog_at, pages_at))
        for offset in self._offsets:
            self._write(b"%010d 00000 n \n" % offset)
        self._write(b"trailer\n<</Size %d/Root 1 0 R>>\nstartxref\n%d\n%%%%EOF\n" % (count, xref_at))
        return self._pos


def _fill(page, view):
    """Read from `page` until `view` is full or the page ends; -> the bytes read."""
    have = 0
    while have < len(view):
        n = page.readinto(view[have:])
        if not n:
            break
        have += n
    return have


def write_pdf(path, page_paths, buffer, page_size="a4"):
    """Write the JPEG files `page_paths` as one PDF at `path`, one page each; return its size."""
    out = open(path, "wb")
    try:
        writer = PdfWriter(out, buffer, page_size)
        for page in page_paths:
            writer.add_jpeg(page)
        return writer.close()
    finally:
        out.close()
