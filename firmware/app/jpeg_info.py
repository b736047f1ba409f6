# Reads what a PDF needs to know about a JPEG (width, height, colour components) from its SOF
# marker, without decoding the image, in the first bytes of the JPEG as they came from the scanner.
# Rule: only the marker headers are read, in the caller's buffer (the page is not kept anywhere
# else), so a page of any size costs no heap here; the frame header must lie within that buffer,
# as it does in what cameras and scanners write (a few hundred bytes of tables come before it).

# SOF0..SOF15 carry the frame size; C4 (DHT), C8 (JPG) and CC (DAC) share the range but do not.
_NOT_SOF = (0xC4, 0xC8, 0xCC)


class JpegError(ValueError):
    """Not a JPEG a PDF can show; the text says what was found."""


def jpeg_info(data, whole=False):
    """(width, height, components) of the JPEG whose first bytes are `data` (bytes-like); `whole`:
    `data` is the entire JPEG (a page shorter than the buffer)."""
    n = len(data)
    if n < 2 or data[0] != 0xFF or data[1] != 0xD8:
        raise JpegError("not a JPEG (no start-of-image marker)")
    at = 2
    while True:
        if at + 4 > n:
            break
        if data[at] != 0xFF:
            raise JpegError("a JPEG without a frame header (SOF marker)")
        kind = data[at + 1]
        if kind == 0xFF:                          # fill bytes before a marker
            at += 1
            continue
        at += 2
        if kind == 0xD8 or 0xD0 <= kind <= 0xD7 or kind == 0x01:
            continue                              # markers without a length
        if kind == 0xD9 or kind == 0xDA:
            raise JpegError("a JPEG without a frame header (SOF marker)")
        if 0xC0 <= kind <= 0xCF and kind not in _NOT_SOF:
            if at + 8 > n:
                break
            height = (data[at + 3] << 8) | data[at + 4]
            width = (data[at + 5] << 8) | data[at + 6]
            components = data[at + 7]
            if not width or not height or components not in (1, 3, 4):
                raise JpegError("a JPEG frame of %dx%d with %d components" % (width, height, components))
            return width, height, components
        at += (data[at] << 8) | data[at + 1]
    if whole:
        raise JpegError("a truncated JPEG (no frame header)")
    raise JpegError("the JPEG's frame header (SOF) is not within its first %d bytes" % n)
