# The ROM loader's protocol core without a port (emulator/boards/rom_loader.py): requests built
# and replies read with esptool's own framing and checksum, fed whole and one byte at a time. What
# the ROM refuses it refuses with the error codes esptool names, and a refused block writes nothing.
import struct
import zlib

import pytest
from esptool.loader import ESPLoader

from scanmail.emulator.boards import rom_loader
from scanmail.emulator.boards.spi_flash import SpiFlash

MAC = bytes([0x24, 0x0A, 0xC4, 0x00, 0x00, 0x14])


def request(op, data=b"", chk=0):
    packet = struct.pack("<BBHI", 0x00, op, len(data), chk) + data
    return rom_loader.slip_encode(packet)


def replies(raw):
    """[(op, value, data, status, error)] from SLIP-framed bytes."""
    out = []
    for frame in raw.split(b"\xc0"):
        if not frame:
            continue
        packet = frame.replace(b"\xdb\xdc", b"\xc0").replace(b"\xdb\xdd", b"\xdb")
        direction, op, size, value = struct.unpack_from("<BBHI", packet)
        assert direction == 1 and size == len(packet) - 8
        body = packet[8:]
        out.append((op, value, body[:-4], body[-4], body[-3]))
    return out


@pytest.fixture
def loader(tmp_path):
    return rom_loader.RomLoader(SpiFlash(str(tmp_path), 4 << 20), MAC)


def test_sync_is_answered_eight_times_with_the_roms_value(loader):
    answer = replies(loader.feed(request(ESPLoader.ESP_CMDS["SYNC"], rom_loader.SYNC_PAYLOAD)))
    assert answer == [(0x08, 0x20120707, b"", 0, 0)] * 8


def test_a_conversation_fed_one_byte_at_a_time_gets_the_same_replies(tmp_path):
    conversation = (request(0x08, rom_loader.SYNC_PAYLOAD) + b"noise"
                    + request(0x0A, struct.pack("<I", ESPLoader.CHIP_DETECT_MAGIC_REG_ADDR))
                    + request(0x02, struct.pack("<IIII", 0x1000, 1, 0x400, 0x1000)))
    block = bytes([0xC0, 0xDB]) * 512   # every byte that needs SLIP escaping
    conversation += request(0x03, struct.pack("<IIII", len(block), 0, 0, 0) + block, ESPLoader.checksum(block))
    whole = rom_loader.RomLoader(SpiFlash(str(tmp_path / "a"), 4 << 20), MAC)
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    bytewise = rom_loader.RomLoader(SpiFlash(str(tmp_path / "b"), 4 << 20), MAC)
    expected = whole.feed(conversation)
    assert b"".join(bytewise.feed(conversation[i:i + 1]) for i in range(len(conversation))) == expected
    assert replies(expected)[8] == (0x0A, 0x00F01D83, b"", 0, 0)    # ESP32's chip magic
    assert whole.flash.read(0x1000, len(block)) == block == bytewise.flash.read(0x1000, len(block))


def test_a_block_with_a_wrong_checksum_is_refused_and_writes_nothing(loader):
    loader.feed(request(0x02, struct.pack("<IIII", 0x1000, 1, 0x400, 0x2000)))
    block = b"\x12" * 0x400
    answer = replies(loader.feed(request(0x03, struct.pack("<IIII", len(block), 0, 0, 0) + block,
                                         ESPLoader.checksum(block) ^ 1)))
    assert answer == [(0x03, 0, b"", 1, rom_loader.ERR_BAD_CHECKSUM)]
    assert loader.flash.read(0x2000, 4) == b"\xff" * 4


def test_a_deflated_write_lands_inflated_and_its_md5_is_the_images(loader):
    image = bytes(range(256)) * 40
    packed = zlib.compress(image, 9)
    loader.feed(request(0x10, struct.pack("<IIII", 0x3000, 1, 0x400, 0x10000)))
    for seq, at in enumerate(range(0, len(packed), 0x400)):
        piece = packed[at:at + 0x400]
        assert replies(loader.feed(request(0x11, struct.pack("<IIII", len(piece), seq, 0, 0) + piece,
                                           ESPLoader.checksum(piece))))[0][3] == 0
    [(_op, _value, digest, status, _error)] = replies(loader.feed(request(0x13, struct.pack("<IIII", 0x10000, len(image), 0, 0))))
    import hashlib

    assert status == 0 and digest.decode() == hashlib.md5(image).hexdigest()


def test_stub_only_commands_are_an_invalid_message_and_the_loader_stays(loader):
    erase_flash = ESPLoader.ESP_CMDS["ERASE_FLASH"]
    assert replies(loader.feed(request(erase_flash))) == [(erase_flash, 0, b"", 1, rom_loader.ERR_INVALID_MESSAGE)]
    assert loader.leave is None


def test_flash_end_after_an_empty_begin_runs_the_application(loader):
    # esptool's --after soft-reset; after a real write, FLASH_END(1) keeps the loader for the verify
    loader.feed(request(0x02, struct.pack("<IIII", 0x1000, 1, 0x400, 0x1000)))
    loader.feed(request(0x04, struct.pack("<I", 1)))
    assert loader.leave is None
    loader.feed(request(0x02, struct.pack("<IIII", 0, 0, 0x400, 0)))
    loader.feed(request(0x04, struct.pack("<I", 1)))
    assert loader.leave == "run"
