# The README's pictures are made from source in the repository: every docs/pictures/*.dot has the
# SVG beside it, rendered from exactly that source (the SVG records the SHA-256 of the .dot it was
# made from; docs/pictures/render.py writes it), and the README shows every one. Rule: no Graphviz
# needed here, so the check runs everywhere; a stale picture fails with the command that fixes it.
import glob
import hashlib
import os
import re
import xml.etree.ElementTree as ElementTree

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PICTURES = os.path.join(ROOT, "docs", "pictures")
SOURCES = sorted(glob.glob(os.path.join(PICTURES, "*.dot")))


def test_there_are_pictures_of_the_methods_and_of_the_parts():
    assert {os.path.basename(p) for p in SOURCES} >= {"methods.dot", "parts.dot"}


def test_every_svg_was_rendered_from_its_dot_source_as_it_is_now():
    stale = []
    for source in SOURCES:
        with open(source, "rb") as f:
            digest = hashlib.sha256(f.read().replace(b"\r\n", b"\n")).hexdigest()
        svg = source[:-4] + ".svg"
        text = open(svg, encoding="utf-8").read() if os.path.exists(svg) else ""
        if "<!-- source: %s sha256 %s -->" % (os.path.basename(source), digest) not in text:
            stale.append(os.path.basename(svg))
    assert not stale, "stale or missing pictures %s: run python docs/pictures/render.py" % stale


def test_every_svg_is_a_picture_with_the_labels_of_its_source():
    for source in SOURCES:
        root = ElementTree.parse(source[:-4] + ".svg").getroot()
        assert root.tag == "{http://www.w3.org/2000/svg}svg"
        words = lambda text: " ".join(text.split())  # noqa: E731 (dot writes spaces as &#160;)
        texts = {words("".join(t.itertext())) for t in root.iter("{http://www.w3.org/2000/svg}text")}
        with open(source, encoding="utf-8") as f:
            bold = {words(label) for label in re.findall(r"<b>([^<]+)</b>", f.read())}
        assert bold and bold <= texts, (os.path.basename(source), sorted(bold - texts))


def test_the_readme_shows_every_picture():
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    for source in SOURCES:
        svg = "docs/pictures/" + os.path.basename(source)[:-4] + ".svg"
        assert "](%s)" % svg in readme, "README.md does not show " + svg
