# The board's streaming PDF writer, on both runtimes: JPEG pages of a generated sample document
# become a PDF that pypdf opens with the right page count, image sizes and the JPEG bytes intact,
# written in a heap far smaller than one page, each page read once from a stream that cannot seek
# (as a scanner gives it); the PDF renders with poppler's pdftoppm; bad input gets one clear error.
import io
import json
import re
import subprocess

import pypdf
import pytest
from PIL import Image

from scanmail.emulator.boards.sample_document import write_pages


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pages")
    paths = write_pages(str(folder), count=3, dpi=100)
    # one colour page of another size, as a camera board gives
    colour = folder / "page-04.jpg"
    Image.new("RGB", (640, 480), (200, 30, 30)).save(colour, "JPEG")
    return paths + [str(colour)]


def test_pages_become_a_pdf_with_each_jpeg_as_its_image(run_firmware, runtime, pages, tmp_path):
    out = tmp_path / "scan.pdf"
    # 48 KB of heap on MicroPython: each page is ~90 KB, so a page held in RAM would not fit
    run_firmware(
        "from scanmail.firmware.app.pdf_writer import write_pdf\n"
        "print(write_pdf(%r, %r, bytearray(512)))\n" % (str(out), pages),
        heap_bytes=48 * 1024)
    reader = pypdf.PdfReader(str(out))
    assert len(reader.pages) == 4
    for page, path in zip(reader.pages, pages):
        with Image.open(path) as original:
            size = original.size
        images = page.images
        assert len(images) == 1
        image = images[0]
        assert image.image.size == size
        stream = page["/Resources"]["/XObject"]["/Im0"].get_object()
        assert stream["/Filter"] == "/DCTDecode"
        assert stream._data == open(path, "rb").read()      # the JPEG's bytes unchanged
        box = page.mediabox
        assert (float(box.width), float(box.height)) == (595, 842)
    # the cross-reference table is right (strict parsing finds every object where xref says)
    strict = pypdf.PdfReader(str(out), strict=True)
    assert len(strict.pages) == 4
    # and a page renders: pypdf decodes the image the page draws
    assert strict.pages[3].images[0].image.getpixel((10, 10))[0] > 150
    # each image's length is an object written after its bytes (the writer streams the page once)
    lengths = re.findall(rb"/DCTDecode(?:/Decode\[[^]]*\])?/Length (\d+) 0 R>>\nstream\n", out.read_bytes())
    assert [strict.get_object(int(n)) for n in lengths] == [len(open(p, "rb").read()) for p in pages]


def test_a_standard_viewer_renders_every_page(run_firmware, pages, tmp_path):
    out = tmp_path / "scan.pdf"
    run_firmware("from scanmail.firmware.app.pdf_writer import write_pdf\n"
                 "write_pdf(%r, %r, bytearray(1024))\n" % (str(out), pages))
    proc = subprocess.run(["pdftoppm", "-r", "20", "-png", str(out), str(tmp_path / "page")],
                          capture_output=True, text=True)
    assert proc.returncode == 0 and not proc.stderr, proc.stderr
    rendered = sorted(tmp_path.glob("page-*.png"))
    assert len(rendered) == 4
    with Image.open(rendered[3]) as red:            # the colour page: red, drawn to fit the page
        r, g, b = red.convert("RGB").getpixel((red.width // 2, red.height // 2))
        assert r > 150 and g < 100 and b < 100


def test_pages_stream_from_a_scanner_that_cannot_seek(run_firmware, runtime, pages, tmp_path):
    out = tmp_path / "streamed.pdf"
    files = tmp_path / "files.pdf"
    text = run_firmware(
        "from scanmail.firmware.app.pdf_writer import PdfWriter, write_pdf\n"
        # a scanner's page: short reads, no seek, no size up front
        "class Page:\n"
        "    def __init__(self, path):\n"
        "        self.f = open(path, 'rb')\n"
        "    def readinto(self, buf):\n"
        "        return self.f.readinto(memoryview(buf)[:300])\n"
        "    def close(self):\n"
        "        self.f.close()\n"
        "out = open(%r, 'wb')\n"
        "w = PdfWriter(out, bytearray(1024))\n"
        "sizes = []\n"
        "for path in %r:\n"
        "    page = Page(path)\n"
        "    sizes.append(w.add_page(page))\n"
        "    page.close()\n"
        "print(w.close())\n"
        "out.close()\n"
        "print(write_pdf(%r, %r, bytearray(1024)))\n"
        % (str(out), pages, str(files), pages), heap_bytes=48 * 1024)
    streamed, from_files = text.strip().splitlines()[-2:]
    # the same bytes whichever way the pages come
    assert streamed == from_files and out.read_bytes() == files.read_bytes()
    assert len(pypdf.PdfReader(str(out), strict=True).pages) == 4


def test_letter_pages_and_refusals(run_firmware, pages, tmp_path):
    out = tmp_path / "letter.pdf"
    not_jpeg = tmp_path / "note.txt"
    not_jpeg.write_bytes(b"hello")
    text = run_firmware(
        "from scanmail.firmware.app.pdf_writer import write_pdf\n"
        "from scanmail.firmware.app.jpeg_info import JpegError\n"
        "import json\n"
        "write_pdf(%r, %r, bytearray(256), 'letter')\n"
        "errors = []\n"
        "for args in ((%r, [%r], bytearray(256)), (%r, [], bytearray(256)), (%r, [%r], bytearray(256), 'a5')):\n"
        "    try:\n"
        "        write_pdf(*args)\n"
        "    except ValueError as e:\n"
        "        errors.append(str(e))\n"
        "print(json.dumps(errors))\n"
        % (str(out), pages[:1], str(tmp_path / "x.pdf"), str(not_jpeg), str(tmp_path / "y.pdf"),
           str(tmp_path / "z.pdf"), pages[0]))
    errors = json.loads(text.strip().splitlines()[-1])
    assert errors == ["not a JPEG (no start-of-image marker)", "a PDF needs at least one page",
                      "page size 'a5'; allowed: a4, legal, letter"]
    page = pypdf.PdfReader(str(out)).pages[0]
    assert (float(page.mediabox.width), float(page.mediabox.height)) == (612, 792)


def test_a_scan_in_a_heap_in_pieces_copies_through_a_smaller_buffer(run_firmware, runtime):
    # The free heap counts every free block; one bytearray needs one run. With the heap filled by
    # 2 KB blocks and every other one freed, the buffer an eighth of the free heap would ask for
    # cannot be had, and the scan must still get a buffer (smaller) instead of refusing the scan.
    out = run_firmware(
        "import gc, sys\n"
        "from scanmail.firmware.app import scan\n"
        "from scanmail.firmware.compat import free_heap\n"
        "blocks = [None] * 100\n"                 # made first: no list grows later
        "try:\n"
        "    for i in range(100 if sys.implementation.name == 'micropython' else 0):\n"
        "        blocks[i] = bytearray(2000)\n"
        "except MemoryError:\n"
        "    pass\n"
        "for i in range(0, 100, 2):\n"
        "    blocks[i] = None\n"
        "gc.collect()\n"
        "wanted = max(1024, min(16384, free_heap() // 8))\n"
        "buf = scan.copy_buffer()\n"
        "print(wanted, len(buf))\n",
        heap_bytes=160 * 1024)
    wanted, got = (int(x) for x in out.split())
    assert 1024 <= got <= 16384
    if runtime == "micropython":
        assert wanted > 4096          # the heap was in pieces: an eighth of it is more than a hole
        assert got < wanted           # ... so the buffer came smaller, and the scan goes on
