# Reads what a PDF needs to know about a JPEG (width, height, colour components) from its SOF
# marker, without decoding the image. Rule: reads only the marker headers (a few bytes each, seeking
# past every segment's body), so a page of any size costs a handful of bytes of heap.

# SOF0..SOF15 carry the frame size; C4 (DHT), C8 (JPG) and CC (DAC) share the range but do not.
_NOT_SOF = (0xC4, 0xC8, 0xCC)


class JpegError(ValueError):
    """Not a JPEG a PDF can show; the text says what was found."""


def jpeg_info(f):
    """(width, height, components) of the JPEG open in binary file `f` (read from where it is)."""
    head = f.read(2)
    if head != b"\xff\xd8":
        raise JpegError("not a JPEG (no start-of-image marker)")
    while True:
        marker = f.read(2)
        if len(marker) < 2 or marker[0] != 0xFF:
            raise JpegError("a JPEG without a frame header (SOF marker)")
        kind = marker[1]
        while kind == 0xFF:                       # fill bytes before a marker
            kind = f.read(1)[0]
        if kind == 0xD8 or 0xD0 <= kind <= 0xD7 or kind == 0x01:
            continue                              # markers without a length
        if kind == 0xD9:
            raise JpegError("a JPEG without a frame header (SOF marker)")
        size = f.read(2)
        if len(size) < 2:
            raise JpegError("a truncated JPEG")
        length = (size[0] << 8) | size[1]
        if 0xC0 <= kind <= 0xCF and kind not in _NOT_SOF:
            frame = f.read(6)
            if len(frame) < 6:
                raise JpegError("a truncated JPEG frame header")
            height = (frame[1] << 8) | frame[2]
            width = (frame[3] << 8) | frame[4]
            components = frame[5]
            if not width or not height or components not in (1, 3, 4):
                raise JpegError("a JPEG frame of %dx%d with %d components" % (width, height, components))
            return width, height, components
        f.seek(length - 2, 1)
