# The ESP32 ROM's serial download protocol, as much of it as esptool uses without its stub
# (`esptool --no-stub`): chip detection, flash attach and parameters, FLASH_BEGIN/DATA/END (plain and
# deflated), SPI_FLASH_MD5, READ_FLASH_SLOW, CHANGE_BAUDRATE, and the SPI controller's user
# commands that esptool reads the flash chip's id and SFDP signature with. Sans-I/O: feed() takes
# the bytes the host wrote and returns the bytes the ROM answers; the supervisor moves them.
# Rule: every reply is the one the ESP32 ROM sends, byte for byte as esptool's loader.py and
# targets/esp32.py read it (SLIP frames; header direction 1, command, size, value; then the data
# and four status bytes: status, error, 0, 0). A command this ROM does not know is answered
# "invalid message" (status 1, error 5), as the real one answers the stub-only commands.
import struct
import zlib

SLIP_END, SLIP_ESC, SLIP_ESC_END, SLIP_ESC_ESC = 0xC0, 0xDB, 0xDC, 0xDD

# Command numbers (esptool's ESPLoader.ESP_CMDS).
FLASH_BEGIN, FLASH_DATA, FLASH_END = 0x02, 0x03, 0x04
SYNC, WRITE_REG, READ_REG = 0x08, 0x09, 0x0A
SPI_SET_PARAMS, SPI_ATTACH, READ_FLASH_SLOW, CHANGE_BAUDRATE = 0x0B, 0x0D, 0x0E, 0x0F
FLASH_DEFL_BEGIN, FLASH_DEFL_DATA, FLASH_DEFL_END, SPI_FLASH_MD5 = 0x10, 0x11, 0x12, 0x13

# Error codes in the second status byte (the ROM's, as esptool's FatalError.WithResult names them).
ERR_INVALID_MESSAGE = 0x05
ERR_FAILED = 0x06
ERR_BAD_CHECKSUM = 0x07
ERR_DEFLATE = 0x0B

CHECKSUM_SEED = 0xEF
SYNC_PAYLOAD = b"\x07\x07\x12\x20" + 32 * b"\x55"
SYNC_VALUE = 0x20120707      # the ROM's value in its eight SYNC replies; the stub answers 0
SYNC_REPLIES = 8
READ_SLOW_BLOCK = 64         # READ_FLASH_SLOW always answers 64 bytes

# Registers esptool reads on an ESP32 (targets/esp32.py); everything else reads 0.
CHIP_DETECT_MAGIC_REG = 0x40001000
ESP32_MAGIC = 0x00F01D83
EFUSE_BASE = 0x3FF5A000
APB_CTL_DATE = 0x3FF6607C
UART_CLKDIV_REG = 0x3FF40014
RTCCALICFG1 = 0x3FF5F06C
SPI_BASE = 0x3FF42000
SPI_CMD_REG, SPI_ADDR_REG = SPI_BASE + 0x00, SPI_BASE + 0x04
SPI_USR2_REG, SPI_W0_REG = SPI_BASE + 0x24, SPI_BASE + 0x80
SPI_CMD_USR = 1 << 18
XTAL_HZ = 40000000
# RTC calibration value x 8 MHz clock eFuse that make esptool's ROM crystal estimate 40 MHz:
# cali * 15625 * ck8m / 40 = 40e6 (targets/esp32.py get_rom_cal_crystal_freq).
CK8M_EFUSE = 0x80
RTC_CALI = 800

# An ESP32-D0WD-V3 revision v3.1, dual core, 240 MHz, no security eFuses burnt.
EFUSE_WORD3 = (1 << 9) | (1 << 13) | (1 << 15)      # package D0WD, CPU rated 240 MHz, rev bit 0
EFUSE_WORD4 = CK8M_EFUSE
EFUSE_WORD5 = (1 << 20) | (1 << 24)                 # rev bit 1, minor revision 1

# SPI flash chip commands esptool sends through the controller's user command.
FLASH_RDID, FLASH_RDSFDP, FLASH_RDSR, FLASH_RDSR2 = 0x9F, 0x5A, 0x05, 0x35
SFDP_SIGNATURE = 0x50444653
# JEDEC id by flash size: a GigaDevice GD25Q-series part (manufacturer 0xC8), as DevKitC modules carry.
JEDEC_CAPACITY = {1 << 20: 0x14, 2 << 20: 0x15, 4 << 20: 0x16, 8 << 20: 0x17, 16 << 20: 0x18}


def slip_encode(packet):
    return (b"\xc0" + packet.replace(b"\xdb", b"\xdb\xdd").replace(b"\xc0", b"\xdb\xdc") + b"\xc0")


def checksum(data):
    state = CHECKSUM_SEED
    for b in data:
        state ^= b
    return state


def mac_efuse_words(mac):
    """eFuse words 1 and 2 holding `mac` (6 bytes) as esptool's read_mac unpacks them."""
    word2 = (0 << 16) | (mac[0] << 8) | mac[1]   # top 16 bits: the MAC's CRC, which esptool trims
    word1 = struct.unpack(">I", bytes(mac[2:6]))[0]
    return word1, word2


class RomLoader:
    """One download-mode session. feed(bytes) -> bytes to send back. After a reply, `leave` is
    None while the ROM stays in the loader, or "reboot" / "run" when it left it."""

    def __init__(self, flash, mac, baud=115200):
        self.flash = flash
        self.baud = self.sync_baud = baud
        self.leave = None
        self.frame = None      # bytearray while inside a SLIP frame
        self.escaped = False
        self.registers = {}
        word1, word2 = mac_efuse_words(mac)
        self.efuse = {1: word1, 2: word2, 3: EFUSE_WORD3, 4: EFUSE_WORD4, 5: EFUSE_WORD5}
        self.spi_params_size = flash.size
        self.attached = False
        self.write = None      # the flash write in progress: dict(offset, size, seq, inflate, at)
        self.last_begin_size = None

    # -- framing ------------------------------------------------------------------------------------
    def feed(self, data):
        out = []
        for byte in data:
            if self.frame is None:
                if byte == SLIP_END:
                    self.frame = bytearray()
                continue  # the ROM ignores what is outside a frame (noise, a terminal's keys)
            if self.escaped:
                self.escaped = False
                self.frame.append({SLIP_ESC_END: SLIP_END, SLIP_ESC_ESC: SLIP_ESC}.get(byte, byte))
            elif byte == SLIP_ESC:
                self.escaped = True
            elif byte == SLIP_END:
                packet, self.frame = bytes(self.frame), bytearray()
                if packet:
                    out.append(self.on_packet(packet))
                    if self.leave:
                        self.frame = None
                        break
            else:
                self.frame.append(byte)
        return b"".join(out)

    # -- commands -------------------------------------------------------------------------------------
    def on_packet(self, packet):
        if len(packet) < 8 or packet[0] != 0x00:
            return b""  # not a request: the ROM answers nothing
        _direction, op, size, chk = struct.unpack_from("<BBHI", packet, 0)
        data = packet[8:8 + size]
        if len(data) != size:
            return self.reply(op, error=ERR_INVALID_MESSAGE)
        handler = self.HANDLERS.get(op)
        if handler is None:
            return self.reply(op, error=ERR_INVALID_MESSAGE)
        try:
            return handler(self, op, data, chk)
        except struct.error:
            return self.reply(op, error=ERR_INVALID_MESSAGE)

    def reply(self, op, value=0, data=b"", error=0):
        body = data + bytes([1 if error else 0, error, 0, 0])
        return slip_encode(struct.pack("<BBHI", 0x01, op, len(body), value) + body)

    def do_sync(self, op, data, chk):
        if data != SYNC_PAYLOAD:
            return self.reply(op, error=ERR_INVALID_MESSAGE)
        # The 0x55 bytes are for the ROM's baud detection: a host that connects again after a
        # CHANGE_BAUDRATE is heard at its own rate (a pty carries every rate alike).
        self.baud = self.sync_baud
        return self.reply(op, SYNC_VALUE) * SYNC_REPLIES

    def read_register(self, addr):
        if addr == CHIP_DETECT_MAGIC_REG:
            return ESP32_MAGIC
        if EFUSE_BASE <= addr < EFUSE_BASE + 0x100 and addr % 4 == 0:
            return self.efuse.get((addr - EFUSE_BASE) // 4, 0)
        if addr == APB_CTL_DATE:
            return 1 << 31      # revision 3 silicon
        if addr == UART_CLKDIV_REG:
            return int(round(XTAL_HZ / float(self.baud)))
        if addr == RTCCALICFG1:
            return RTC_CALI << 7
        return self.registers.get(addr, 0)

    def do_read_reg(self, op, data, chk):
        (addr,) = struct.unpack_from("<I", data, 0)
        return self.reply(op, self.read_register(addr))

    def do_write_reg(self, op, data, chk):
        # one or more (address, value, mask, delay_us) quadruples
        if len(data) % 16:
            return self.reply(op, error=ERR_INVALID_MESSAGE)
        for at in range(0, len(data), 16):
            addr, value, mask, _delay = struct.unpack_from("<IIII", data, at)
            old = self.registers.get(addr, 0)
            self.registers[addr] = (old & ~mask) | (value & mask)
            if addr == SPI_CMD_REG and value & SPI_CMD_USR:
                self.run_spi_user_command()
        return self.reply(op)

    def run_spi_user_command(self):
        """The SPI controller runs the command in USR2 against the flash chip, leaves the answer in
        W0 and clears the USR bit (what esptool polls for)."""
        command = self.registers.get(SPI_USR2_REG, 0) & 0xFF
        answer = 0
        if command == FLASH_RDID:
            capacity = JEDEC_CAPACITY.get(self.flash.size, 0x16)
            answer = 0xC8 | (0x40 << 8) | (capacity << 16)
        elif command == FLASH_RDSFDP:
            answer = SFDP_SIGNATURE if self.registers.get(SPI_ADDR_REG, 0) == 0 else 0
        elif command in (FLASH_RDSR, FLASH_RDSR2):
            answer = 0
        self.registers[SPI_W0_REG] = answer
        self.registers[SPI_CMD_REG] = self.registers.get(SPI_CMD_REG, 0) & ~SPI_CMD_USR

    def do_spi_attach(self, op, data, chk):
        self.attached = True
        return self.reply(op)

    def do_spi_set_params(self, op, data, chk):
        _id, total, _block, _sector, _page, _mask = struct.unpack_from("<IIIIII", data, 0)
        self.spi_params_size = total
        return self.reply(op)

    def do_change_baudrate(self, op, data, chk):
        new, _old = struct.unpack_from("<II", data, 0)
        reply = self.reply(op)   # sent at the old rate, then the UART switches
        self.baud = new
        return reply

    def do_flash_begin(self, op, data, chk):
        erase_size, blocks, block_size, offset = struct.unpack_from("<IIII", data, 0)
        self.last_begin_size = erase_size
        if not self.flash.check_range(offset, erase_size) or block_size == 0:
            return self.reply(op, error=ERR_FAILED)
        self.flash.erase(offset, erase_size)  # the ROM erases up front
        inflate = zlib.decompressobj() if op == FLASH_DEFL_BEGIN else None
        self.write = {"offset": offset, "blocks": blocks, "block_size": block_size, "seq": 0,
                      "at": offset, "inflate": inflate}
        return self.reply(op)

    def do_flash_data(self, op, data, chk):
        size, seq, _r1, _r2 = struct.unpack_from("<IIII", data, 0)
        payload = data[16:16 + size]
        write = self.write
        if write is None or (op == FLASH_DEFL_DATA) != (write["inflate"] is not None):
            return self.reply(op, error=ERR_FAILED)
        if len(payload) != size or checksum(payload) != chk & 0xFF:
            return self.reply(op, error=ERR_BAD_CHECKSUM)
        if seq != write["seq"]:
            return self.reply(op, error=ERR_FAILED)
        if write["inflate"] is not None:
            try:
                payload = write["inflate"].decompress(payload)
            except zlib.error:
                return self.reply(op, error=ERR_DEFLATE)
        if not self.flash.check_range(write["at"], len(payload)):
            return self.reply(op, error=ERR_FAILED)
        self.flash.write(write["at"], payload)
        write["at"] += len(payload)
        write["seq"] += 1
        return self.reply(op)

    def do_flash_end(self, op, data, chk):
        (stay,) = struct.unpack_from("<I", data, 0) if len(data) >= 4 else (0,)
        reply = self.reply(op)
        self.write = None
        # 0: reboot (the chip resets and boots from flash). 1: "run user code", which esptool asks
        # for after an empty FLASH_BEGIN (its `run` and --after soft-reset); after a real write it
        # sends 1 too and goes on to verify, so the loader stays then.
        if not stay:
            self.leave = "reboot"
        elif self.last_begin_size == 0:
            self.leave = "run"
        return reply

    def do_md5(self, op, data, chk):
        addr, size, _r1, _r2 = struct.unpack_from("<IIII", data, 0)
        if not self.flash.check_range(addr, size):
            return self.reply(op, error=ERR_FAILED)
        return self.reply(op, data=self.flash.md5(addr, size).encode("ascii"))

    def do_read_flash_slow(self, op, data, chk):
        addr, length = struct.unpack_from("<II", data, 0)
        if length > READ_SLOW_BLOCK or not self.flash.check_range(addr, length):
            return self.reply(op, error=ERR_FAILED)
        block = self.flash.read(addr, length)
        return self.reply(op, data=block + b"\0" * (READ_SLOW_BLOCK - len(block)))

    HANDLERS = {
        SYNC: do_sync, READ_REG: do_read_reg, WRITE_REG: do_write_reg,
        SPI_ATTACH: do_spi_attach, SPI_SET_PARAMS: do_spi_set_params, CHANGE_BAUDRATE: do_change_baudrate,
        FLASH_BEGIN: do_flash_begin, FLASH_DATA: do_flash_data, FLASH_END: do_flash_end,
        FLASH_DEFL_BEGIN: do_flash_begin, FLASH_DEFL_DATA: do_flash_data, FLASH_DEFL_END: do_flash_end,
        SPI_FLASH_MD5: do_md5, READ_FLASH_SLOW: do_read_flash_slow,
    }
