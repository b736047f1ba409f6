# ESP32 flash images for the download-mode tests, laid out as a MicroPython ESP32 release's
# firmware.bin (written at 0x1000): second-stage bootloader, partition table at 0x8000, the
# application at 0x10000 with its ESP-IDF application description. Rule: byte layouts follow
# ESP-IDF's structures (esp_image_header_t, esp_partition_info_t, esp_app_desc_t), so what esptool
# and the virtual board read from them is what they would read from a real image.
import struct

FIRMWARE_OFFSET = 0x1000
PARTITION_TABLE_AT = 0x8000
APP_AT = 0x10000


def _image(entry, payload, desc=b""):
    """One ESP32 app/bootloader image: header, one segment, checksum byte padded to 16."""
    body = desc + payload
    body += b"\0" * (-len(body) % 4)
    header = struct.pack("<BBBBI", 0xE9, 1, 2, 0x20, entry)       # magic, segments, DIO, 4MB/40MHz
    # wp_pin, spi drive x3, chip_id (ESP32 = 0), min_rev, min_rev_full, max_rev_full, reserved, hash
    header += struct.pack("<BBBBHBHH4sB", 0xEE, 0, 0, 0, 0, 0, 0, 399, b"\0" * 4, 0)
    segment = struct.pack("<II", 0x3F400020, len(body)) + body
    check = 0xEF
    for b in body:
        check ^= b
    out = header + segment
    out += b"\0" * (15 - len(out) % 16) + bytes([check])
    return out


def app_description(version, project=b"micropython"):
    desc = struct.pack("<II8x", 0xABCD5432, 0)
    desc += version.encode().ljust(32, b"\0") + project.ljust(32, b"\0")
    desc += b"10:00:00".ljust(16, b"\0") + b"Aug  9 2025".ljust(16, b"\0")
    desc += b"v5.4.2".ljust(32, b"\0") + bytes(range(32))
    return desc + b"\0" * (256 - len(desc))


def partition_table(app_at=APP_AT, app_size=0x1F0000):
    entries = [
        struct.pack("<HBBII16sI", 0x50AA, 1, 2, 0x9000, 0x6000, b"nvs", 0),
        struct.pack("<HBBII16sI", 0x50AA, 1, 1, 0xF000, 0x1000, b"phy_init", 0),
        struct.pack("<HBBII16sI", 0x50AA, 0, 0, app_at, app_size, b"factory", 0),
    ]
    table = b"".join(entries)
    return table + b"\xff" * (0xC00 - len(table))


def micropython_firmware(version, app_bytes=8192):
    """A firmware.bin for 0x1000 whose application says `version` (e.g. "v1.26.0")."""
    bootloader = _image(0x40080400, bytes((i * 7) & 0xFF for i in range(4096)))
    app = _image(0x400D1000, bytes((i * 13 + 5) & 0xFF for i in range(app_bytes)), app_description(version))
    out = bytearray(b"\xff" * (APP_AT - FIRMWARE_OFFSET + len(app)))
    out[0:len(bootloader)] = bootloader
    table_at = PARTITION_TABLE_AT - FIRMWARE_OFFSET
    out[table_at:table_at + 0xC00] = partition_table()
    out[APP_AT - FIRMWARE_OFFSET:] = app
    return bytes(out)
