# The files in a virtual board's state folder, in one place. Rule: every file is written atomically
# (write a temporary file, then rename), so a reader never sees half a document.
#   supervisor.json  what `board start` asked for (read by the supervisor)
#   runtime.json     what the board's own modules read (name, ip, flash, tenant, relay, NVS/RTC paths)
#   board.json       Contract 4: port, profile, runtime, ip, flash, pid (+ ready); gone when stopped
#   net.json         the network switches (`scanmail board net`), read on every connection
#   nvs.json, rtc.json, supervisor.log, flash/ (the default flash folder)
#   boot_pins.json  the strapping pins at the next reset ({"gpio0": "low"}: ROM download mode)
#   spi_flash.bin   the SPI flash as esptool writes it in download mode (emulator/boards/spi_flash.py)
import json
import os

SUPERVISOR_JSON = "supervisor.json"
from scanmail.emulator.board_rom.board_link import RUNTIME_JSON
BOARD_JSON = "board.json"
NET_JSON = "net.json"
NVS_JSON = "nvs.json"
RTC_JSON = "rtc.json"
LOG = "supervisor.log"
BOOT_PINS_JSON = "boot_pins.json"


def write_json(path, value):
    temp = path + ".tmp"
    with open(temp, "w") as f:
        json.dump(value, f, indent=1, sort_keys=True)
        f.write("\n")
    os.replace(temp, path)


def read_json(path, default=None):
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return default


def read_supervisor_config(state_dir):
    return read_json(os.path.join(state_dir, SUPERVISOR_JSON))


def write_supervisor_config(state_dir, config):
    write_json(os.path.join(state_dir, SUPERVISOR_JSON), config)


def runtime_config_path(state_dir):
    return os.path.join(state_dir, RUNTIME_JSON)


def write_runtime_config(state_dir, config, relay):
    flash = config["flash"]
    write_json(
        runtime_config_path(state_dir),
        {
            "name": config["name"],
            "hostname": config["hostname"],
            "profile": config["profile"],
            "ip": config["ip"],
            "flash": flash,
            # On MicroPython the flash is mounted at "/"; on CPython it stays a host folder.
            "storage_root": "/" if config["runtime"] == "micropython" else flash,
            "state_dir": state_dir,
            "tenant_state": config.get("tenant_state"),
            "net_switches": os.path.join(state_dir, NET_JSON),
            "nvs": os.path.join(state_dir, NVS_JSON),
            "rtc": os.path.join(state_dir, RTC_JSON),
            "relay": list(relay.address) if relay else None,
            "scanner": config.get("scanner", "none"),
            "network": config.get("network", "wifi"),
            "chip": config.get("chip", "esp32"),
            "filesystem_bytes": config.get("filesystem_bytes"),
            "heap_bytes": config.get("heap_bytes"),
        },
    )


def power_on_state(state_dir, clock_set):
    """What a power cycle resets: the RTC (NVS and flash survive). The RTC starts set to the host's
    time (offset 0) when clock_set, else unset until ntptime.settime() runs on the board."""
    path = os.path.join(state_dir, RTC_JSON)
    if clock_set:
        write_json(path, {"offset": 0})
    else:
        try:
            os.remove(path)
        except FileNotFoundError:
            pass


def board_json_path(state_dir):
    return os.path.join(state_dir, BOARD_JSON)


def write_board_json(state_dir, value):
    write_json(board_json_path(state_dir), value)


def read_board_json(state_dir):
    return read_json(board_json_path(state_dir))


def remove_board_json(state_dir):
    try:
        os.remove(board_json_path(state_dir))
    except FileNotFoundError:
        pass


def net_switches_path(state_dir):
    return os.path.join(state_dir, NET_JSON)


def read_net_switches(state_dir):
    return read_json(net_switches_path(state_dir), {}) or {}


def write_net_switches(state_dir, switches):
    write_json(net_switches_path(state_dir), switches)


def write_boot_pins(state_dir, download):
    """GPIO0 held low (download) or released at the next reset; read once by the supervisor."""
    write_json(os.path.join(state_dir, BOOT_PINS_JSON), {"gpio0": "low" if download else "high"})


def take_boot_pins(state_dir):
    """True when the reset just asked for holds GPIO0 low. The request is used up."""
    path = os.path.join(state_dir, BOOT_PINS_JSON)
    pins = read_json(path) or {}
    try:
        os.remove(path)
    except FileNotFoundError:
        pass
    return pins.get("gpio0") == "low"
