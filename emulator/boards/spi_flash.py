# A virtual ESP32's SPI flash chip, as its ROM loader writes it and its second-stage bootloader reads
# it: one file `<state>/spi_flash.bin` of the profile's flash size, 0xFF where nothing was written
# (what an erased NOR flash reads). Rule: this holds the bytes esptool writes and nothing else; what
# the board boots is still the MicroPython unix port (or CPython), and the image only decides what
# the board says about itself after a reset (its ESP-IDF application description: project name and
# version), as an ESP32 reads them from the app partition the partition table names.
import hashlib
import os
import struct

FILE_NAME = "spi_flash.bin"
SECTOR = 0x1000
ERASED = 0xFF

# ESP-IDF's layout, read as its bootloader reads it.
PARTITION_TABLE_OFFSET = 0x8000
PARTITION_MAGIC = 0x50AA
PARTITION_TYPE_APP = 0x00
DEFAULT_APP_OFFSET = 0x10000
IMAGE_MAGIC = 0xE9
IMAGE_HEADER_BYTES = 24       # esp_image_header_t
SEGMENT_HEADER_BYTES = 8      # esp_image_segment_header_t
APP_DESC_MAGIC = 0xABCD5432   # esp_app_desc_t.magic_word, first in the first segment


class SpiFlash:
    """The chip's contents in a file; read(), write(), erase(), md5() by flash address."""

    def __init__(self, state_dir, size):
        self.path = os.path.join(state_dir, FILE_NAME)
        self.size = int(size)

    def _open(self):
        if not os.path.exists(self.path):
            # A fresh chip reads erased everywhere; written once, sector by sector.
            with open(self.path + ".tmp", "wb") as f:
                blank = bytes([ERASED]) * (1 << 16)
                for _ in range(self.size // len(blank)):
                    f.write(blank)
                f.write(bytes([ERASED]) * (self.size % len(blank)))
            os.replace(self.path + ".tmp", self.path)
        return open(self.path, "r+b")

    def written(self):
        return os.path.exists(self.path)

    def check_range(self, offset, length):
        return 0 <= offset and length >= 0 and offset + length <= self.size

    def read(self, offset, length):
        if not self.written():
            return bytes([ERASED]) * length
        with open(self.path, "rb") as f:
            f.seek(offset)
            return f.read(length)

    def write(self, offset, data):
        with self._open() as f:
            f.seek(offset)
            f.write(data)

    def erase(self, offset, length):
        """Erase whole sectors covering [offset, offset + length), as the ROM does at FLASH_BEGIN."""
        start = offset - offset % SECTOR
        end = min(self.size, -(-(offset + length) // SECTOR) * SECTOR)
        if end > start:
            self.write(start, bytes([ERASED]) * (end - start))

    def md5(self, offset, length):
        digest = hashlib.md5()
        at = offset
        while at < offset + length:
            n = min(1 << 16, offset + length - at)
            digest.update(self.read(at, n))
            at += n
        return digest.hexdigest()

    def app_description(self):
        """The booting application's ESP-IDF description, or None when no app image is written:
        {"project": ..., "version": ..., "time": ..., "date": ..., "idf": ..., "offset": ...}."""
        if not self.written():
            return None
        return parse_app_description(self.read, self._app_offset())

    def _app_offset(self):
        table = self.read(PARTITION_TABLE_OFFSET, 0xC00)
        for at in range(0, len(table) - 31, 32):
            magic, kind, _subtype, offset, _size = struct.unpack_from("<HBBII", table, at)
            if magic != PARTITION_MAGIC:
                break
            if kind == PARTITION_TYPE_APP:
                return offset  # the first app partition (factory, or ota_0): what boots
        return DEFAULT_APP_OFFSET


def parse_app_description(read, offset):
    head = read(offset, IMAGE_HEADER_BYTES + SEGMENT_HEADER_BYTES + 256)
    if len(head) < IMAGE_HEADER_BYTES + SEGMENT_HEADER_BYTES + 256 or head[0] != IMAGE_MAGIC:
        return None
    desc = head[IMAGE_HEADER_BYTES + SEGMENT_HEADER_BYTES:]
    magic, _secure_version = struct.unpack_from("<II", desc, 0)
    if magic != APP_DESC_MAGIC:
        return None

    def text(start, length):
        return desc[start:start + length].split(b"\0", 1)[0].decode("ascii", "replace")

    # esp_app_desc_t: magic, secure_version, reserv1[2], version[32], project_name[32],
    # time[16], date[16], idf_ver[32], app_elf_sha256[32]
    return {"version": text(16, 32), "project": text(48, 32), "time": text(80, 16), "date": text(96, 16),
            "idf": text(112, 32), "offset": offset}
