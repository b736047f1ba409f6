# scanmail firmware: the application that runs on the board (MicroPython) and, unchanged, in the
# emulator (CPython). Rule: nothing here imports hardware modules (machine, network, esp32) or
# host-only modules (typing, dataclasses, enum, asyncio, aiosmtpd, serial) at module level;
# differences between the two runtimes live in firmware/compat.py and nowhere else.
