# What a virtual board's process and the host side that starts and supervises it agree on: one
# constant per agreement, imported by both (as `board_link` on the board, as
# scanmail.emulator.board_rom.board_link on the host). Rule: plain values only, so MicroPython
# imports it as it is.

# Environment the supervisor gives the runtime it starts.
CONFIG_ENV = "SCANMAIL_VBOARD_CONFIG"              # path of runtime.json
BOOT_ENV = "SCANMAIL_VBOARD_BOOT"                  # one of BOOT_MODES
RESET_CAUSE_ENV = "SCANMAIL_VBOARD_RESET_CAUSE"    # machine.reset_cause() after this start
ROMFS_ENV = "SCANMAIL_VBOARD_ROMFS"                # "<address>:<size>" of a mapped ROMFS partition
BOOT_MODES = ("hard", "soft-raw", "soft-friendly")

# The runtime prints this once boot.py (and main.py) ran and the REPL comes next; the supervisor
# swallows it, so a host tool never sees it.
READY_MARKER = b"\x00VBOARD-READY\x00"

# machine.reset() ends the runtime with this exit status; the supervisor then boots it again as a
# hard reset (boot noise, boot.py, main.py). Exit status 0 is a soft reset.
HARD_RESET_EXIT = 98

# The board's configuration file in its state folder, written by the supervisor, read by the ROM,
# and the keys it holds.
RUNTIME_JSON = "runtime.json"
RUNTIME_KEYS = ("name", "hostname", "profile", "ip", "flash", "storage_root", "state_dir",
                "tenant_state", "net_switches", "nvs", "rtc", "relay", "scanner", "network", "chip",
                "filesystem_bytes", "heap_bytes")

# The console's two output modes. The unix port writes "\n" where an ESP32's console writes "\r\n"
# (the ESP32 cooks text output), so the supervisor cooks it; but binary protocols (mpremote mount)
# switch Ctrl-C off with micropython.kbd_intr(-1) while they move raw bytes, and those must pass
# untouched. The board's micropython.kbd_intr() writes these markers, in order with its output; the
# supervisor swallows them.
RAW_OUTPUT_MARKER = b"\x10VBOARD-RAW\x10"
COOKED_OUTPUT_MARKER = b"\x10VBOARD-COOKED\x10"

# What the esp32 port answers for each chip of a profile: os.uname().machine (also the end of the
# banner line) and sys.implementation._build. sys.platform is "esp32" for all of them.
CHIP_MACHINE = {
    "esp32": ("Generic ESP32 module with ESP32", "ESP32_GENERIC"),
    "esp32s2": ("Generic ESP32S2 module with ESP32S2", "ESP32_GENERIC_S2"),
    "esp32s3": ("Generic ESP32S3 module with ESP32S3", "ESP32_GENERIC_S3"),
    "esp32c3": ("Generic ESP32C3 module with ESP32C3", "ESP32_GENERIC_C3"),
    "esp32c6": ("Generic ESP32C6 module with ESP32C6", "ESP32_GENERIC_C6"),
}

# An ESP32's flash filesystem: LittleFS v2 with 4096-byte blocks (the flash's erase size), files
# up to this size kept inline in their directory's metadata (no block of their own).
FS_BLOCK_BYTES = 4096
FS_INLINE_MAX = 128
