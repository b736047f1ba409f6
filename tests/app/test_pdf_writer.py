# The board's streaming PDF writer, on both runtimes: JPEG pages of a generated sample document
# become a PDF that pypdf opens with the right page count, image sizes and the JPEG bytes intact,
# written in a heap far smaller than one page; bad input gets one clear error.
import io
import json

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
