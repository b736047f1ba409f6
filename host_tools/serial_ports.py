# The serial ports a board may hang on: pyserial's list of USB serial ports with the USB bridge
# and a guess of the board behind it, plus the running virtual boards (their ptys). Rule: the
# guess comes from the USB vendor and product IDs only (a table below); nothing is opened, so
# listing never resets or disturbs a board.
import os

# (vid, pid) -> (bridge, board guess). pid None: any product of the vendor.
USB_IDS = {
    (0x10C4, 0xEA60): ("CP210x", "ESP32-DevKitC or another ESP32 board with a CP2102/CP2104"),
    (0x10C4, None): ("CP210x", "a board with a Silicon Labs bridge"),
    (0x1A86, 0x7523): ("CH340", "an ESP32 dev board with a CH340 (many clones)"),
    (0x1A86, 0x55D4): ("CH9102", "ESP32-DevKitC V4 (CH9102F) or a clone"),
    (0x1A86, None): ("CH34x", "a board with a WCH bridge"),
    (0x0403, 0x6001): ("FTDI FT232R", "a board with an FT232R (or a USB-serial cable)"),
    (0x0403, 0x6010): ("FTDI FT2232H", "ESP-Prog or ESP-WROVER-KIT (JTAG + UART)"),
    (0x0403, 0x6014): ("FTDI FT232H", "a board with an FT232H"),
    (0x0403, 0x6015): ("FTDI FT231X", "a board with an FT231X"),
    (0x0403, None): ("FTDI", "a board with an FTDI bridge"),
    (0x303A, 0x1001): ("ESP32-S3 native USB", "ESP32-S3 (or C3/C6) on its USB-Serial/JTAG port"),
    (0x303A, 0x4001): ("ESP32-S3 native USB", "ESP32-S2/S3 running MicroPython (TinyUSB CDC)"),
    (0x303A, 0x0002): ("ESP32-S3 native USB", "ESP32-S2/S3 in download mode (USB OTG)"),
    (0x303A, None): ("Espressif native USB", "an Espressif chip on its own USB port"),
}


def guess(vid, pid):
    """(bridge, board guess) for a USB port, or (None, None) for an unknown one."""
    if vid is None:
        return None, None
    return USB_IDS.get((vid, pid)) or USB_IDS.get((vid, None)) or (None, None)


def describe(info):
    """One row for a pyserial ListPortInfo."""
    bridge, board = guess(info.vid, info.pid)
    return {
        "port": info.device,
        "usb": "%04X:%04X" % (info.vid, info.pid) if info.vid is not None else None,
        "bridge": bridge,
        "board": board,
        "description": info.description if info.description not in (None, "n/a") else None,
        "serial_number": info.serial_number,
        "virtual": False,
    }


def usb_ports():
    from serial.tools import list_ports

    return [describe(info) for info in sorted(list_ports.comports(), key=lambda i: i.device)]


def virtual_ports(boards_dir):
    from scanmail.emulator.boards import lifecycle

    rows = []
    for board in lifecycle.list_boards(boards_dir):
        if not board.get("alive"):
            continue
        rows.append({
            "port": board["port"], "usb": None, "bridge": "virtual (pty)",
            "board": "virtual %s %s, %s runtime, ip %s" % (board.get("profile"), board.get("name"),
                                                          board.get("runtime"), board.get("ip")),
            "description": None, "serial_number": None, "virtual": True,
            "state": os.path.abspath(board["state"]),
        })
    return rows


def all_ports(boards_dirs):
    rows = usb_ports()
    seen = set()
    for folder in boards_dirs:
        for row in virtual_ports(folder):
            if row["port"] not in seen:
                seen.add(row["port"])
                rows.append(row)
    return rows
