# The virtual scanner's paper: a multi-page sample document drawn with Pillow and saved as the
# JPEG pages a scanner board produces. Rule: generated on the host when a board is made (nothing
# binary in the repository), deterministic for a given seed, and sized like a real scan: `dpi`
# and `quality` set the bytes per page (A4 at 300 dpi and quality 90 is about 1 MB of JPEG).
import os
import random

A4_INCHES = (8.27, 11.69)


def _page_image(number, count, dpi, rng):
    from PIL import Image, ImageDraw

    width, height = int(A4_INCHES[0] * dpi), int(A4_INCHES[1] * dpi)
    image = Image.new("L", (width, height), 245)
    draw = ImageDraw.Draw(image)
    unit = max(1, dpi // 50)
    margin = dpi
    draw.rectangle([margin, margin, width - margin, margin + 6 * unit], fill=40)
    draw.text((margin, margin + 10 * unit), "Contoso Ltd - scanned document, page %d of %d" % (number, count),
              fill=0)
    y = margin + 30 * unit
    while y < height - margin:
        words = rng.randint(4, 12)
        x = margin
        for _ in range(words):
            w = rng.randint(3, 14) * unit * 2
            if x + w > width - margin:
                break
            draw.rectangle([x, y, x + w, y + 3 * unit], fill=rng.randint(20, 90))
            x += w + 3 * unit
        y += 9 * unit
    # paper grain: what makes a real scan's JPEG large
    grain = Image.effect_noise((width, height), 6 + rng.random())
    return Image.blend(image, grain.point(lambda v: v // 8 + 230), 0.15)


def write_pages(folder, count=3, dpi=100, quality=85, seed=1):
    """Write `count` JPEG pages into `folder` as page-01.jpg, page-02.jpg, ...; return their paths."""
    os.makedirs(folder, exist_ok=True)
    rng = random.Random(seed)
    paths = []
    for number in range(1, count + 1):
        path = os.path.join(folder, "page-%02d.jpg" % number)
        _page_image(number, count, dpi, rng).save(path, "JPEG", quality=quality)
        paths.append(path)
    return paths


if __name__ == "__main__":
    import sys

    for p in write_pages(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 3,
                         int(sys.argv[3]) if len(sys.argv) > 3 else 100):
        print(p, os.path.getsize(p))
