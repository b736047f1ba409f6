# What a virtual board's process and the host side that starts and supervises it agree on: one
# constant per agreement, imported by both (as `board_link` on the board, as
# scanmail.emulator.board_rom.board_link on the host). Rule: plain values only, so MicroPython
# imports it as it is.

# Environment the supervisor gives the runtime it starts.
CONFIG_ENV = "SCANMAIL_VBOARD_CONFIG"              # path of runtime.json
BOOT_ENV = "SCANMAIL_VBOARD_BOOT"                  # one of BOOT_MODES
RESET_CAUSE_ENV = "SCANMAIL_VBOARD_RESET_CAUSE"    # machine.reset_cause() after this start
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
                "tenant_state", "net_switches", "nvs", "rtc", "relay", "scanner", "network")
