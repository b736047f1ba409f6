# What the esp32 port's built-in modules answer where the unix port answers otherwise, for code on
# a MicroPython board runtime: sys.platform "esp32" and sys.implementation of the profile's chip,
# os.uname(), and micropython.kbd_intr() that also tells the supervisor when the console carries
# raw bytes. Rule: install() puts stand-ins into sys.modules, so `import sys` (os, micropython)
# anywhere after boot gets them; each stand-in passes everything else to the real module, and an
# assignment (sys.path = ...) reaches the real one.
import sys
import os
import micropython
from collections import namedtuple

import _vboard_host
from board_link import CHIP_MACHINE, COOKED_OUTPUT_MARKER, RAW_OUTPUT_MARKER

_UnameResult = namedtuple("uname_result", ("sysname", "nodename", "release", "version", "machine"))
_Implementation = namedtuple("implementation", ("name", "version", "_machine", "_mpy", "_build", "_thread"))


def _chip():
    chip = _vboard_host.config().get("chip") or "esp32"
    return CHIP_MACHINE.get(chip, CHIP_MACHINE["esp32"])


def _release():
    v = sys.implementation.version
    text = "%d.%d.%d" % (v[0], v[1], v[2])
    if len(v) > 3 and v[3]:
        text += "-" + v[3]
    return text


class _StandIn:
    """Attributes from `overrides` first, then the real module's; assignments go to the real one."""

    def __init__(self, real, overrides):
        object.__setattr__(self, "_real", real)
        object.__setattr__(self, "_overrides", overrides)

    def __getattr__(self, name):  # called only for names the stand-in itself does not have
        if name in self._overrides:
            return self._overrides[name]
        return getattr(self._real, name)

    def __setattr__(self, name, value):
        setattr(self._real, name, value)

    def __repr__(self):
        return repr(self._real)


class _Console:
    raw = False


def _kbd_intr(char):
    # Ctrl-C off: the bytes that follow may be binary, so the supervisor must not cook them.
    if char < 0 and not _Console.raw:
        micropython.kbd_intr(char)
        _Console.raw = True
        sys.stdout.buffer.write(RAW_OUTPUT_MARKER)
    elif char >= 0 and _Console.raw:
        _Console.raw = False
        sys.stdout.buffer.write(COOKED_OUTPUT_MARKER)
        micropython.kbd_intr(char)
    else:
        micropython.kbd_intr(char)


def install():
    machine, build = _chip()
    release = _release()
    real = sys.implementation
    implementation = _Implementation(real.name, real.version, machine, getattr(real, "_mpy", 0), build,
                                     "GIL")
    version = "v%s on %s" % (release, sys.version.split(" on ")[-1] if " on " in sys.version else "")

    def uname():
        return _UnameResult("esp32", "esp32", release, version.strip(), machine)

    sys.modules["sys"] = _StandIn(sys, {"platform": "esp32", "implementation": implementation})
    sys.modules["os"] = _StandIn(os, {"uname": uname})
    sys.modules["micropython"] = _StandIn(micropython, {"kbd_intr": _kbd_intr})
