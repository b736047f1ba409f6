# What a flash has to do, decided from the board's hash listing and the image: which slot to
# write, which files go over the wire, which the board copies from its active slot, which stale
# files go, and whether anything needs doing at all. Rule: sans-I/O (listing and image in, a plan
# out), and the slot that boots is never the one written.
import hashlib

from scanmail.host_tools.flash_agent import SLOTS


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


def parse_listing(text):
    """The agent's _sm_ls() output -> {"slots": {slot: {path: sha}}, "active": slot or None,
    "rom": the pointer says the ROMFS image boots, "boot": sha or None, "legacy": [dirs]}."""
    listing = {"slots": {s: {} for s in SLOTS}, "active": None, "rom": False, "boot": None, "legacy": [],
               "complete": False}
    for line in text.splitlines():
        parts = line.strip().split(" ", 3)
        if parts[0] == "file" and len(parts) == 4 and parts[1] in SLOTS:
            listing["slots"][parts[1]][parts[3]] = parts[2]
        elif parts[0] == "active" and len(parts) >= 2:
            listing["active"] = parts[1] if parts[1] in SLOTS else None
            listing["rom"] = "rom" in parts[2:]
        elif parts[0] == "boot" and len(parts) == 2:
            listing["boot"] = None if parts[1] == "-" else parts[1]
        elif parts[0] == "legacy" and len(parts) == 2:
            listing["legacy"].append(parts[1])
        elif parts[0] == "end":
            listing["complete"] = True
    return listing


def make_plan(image, listing, boot_py):
    """image: {relative path: bytes}; boot_py: bytes of /boot.py. Returns a dict:
    target (slot), send [paths], copy [paths] (from the active slot), remove [paths] (in the
    target), write_boot (bool), switch (bool), remove_legacy [dirs], nothing (bool)."""
    want = {path: sha256_hex(data) for path, data in image.items()}
    active = listing["active"]
    slots = listing["slots"]
    write_boot = listing["boot"] != sha256_hex(boot_py)
    if active and slots[active] == want:
        return {"target": active, "send": [], "copy": [], "remove": [], "write_boot": write_boot,
                "switch": False, "remove_legacy": list(listing["legacy"]),
                "nothing": not write_boot and not listing["legacy"]}
    target = SLOTS[1] if active == SLOTS[0] else SLOTS[0]
    have = slots[target]
    send, copy = [], []
    for path in sorted(want):
        if have.get(path) == want[path]:
            continue
        if active and slots[active].get(path) == want[path]:
            copy.append(path)
        else:
            send.append(path)
    remove = sorted(path for path in have if path not in want)
    return {"target": target, "send": send, "copy": copy, "remove": remove, "write_boot": write_boot,
            "switch": True, "remove_legacy": list(listing["legacy"]), "nothing": False}
