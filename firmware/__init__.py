# scanmail firmware: the application that runs on the board (MicroPython) and, unchanged, in the
# emulator (CPython). Rule: nothing here imports hardware modules (machine, network, esp32) or
# host-only modules (typing, dataclasses, enum, asyncio, aiosmtpd, serial) at module level;
# differences between the two runtimes live in firmware/compat.py and nowhere else.
#
# call_once: steps that run once per send (checking settings and a message, composing headers) or
# once per error (the diagnosis) live in modules of their own that are loaded for the call and let
# go after it, so that between sends, and while a scan streams out, their code does not hold heap
# that a board without PSRAM needs (docs/architecture.md, "Heap budget").


def call_once(module, function=None, *args):
    """<this package>.<module>.<function>(*args), with every firmware module the call imported let
    go again afterwards (modules loaded before the call stay as they were). The package's own name
    comes from __name__, so the firmware works wherever it is installed (scanmail.firmware).
    Without a function the module is only loaded and let go: the names it interns stay."""
    import sys

    loaded = set(sys.modules)
    try:
        target = __import__(__name__ + "." + module, None, None, (function or "__name__",))
        return getattr(target, function)(*args) if function else None
    finally:
        let_go(loaded)


def let_go(module):
    """Let go of every firmware module imported since `module` (the set of sys.modules' names
    then; the parameter reuses call_once's name, for every name the mail core interns costs a
    board heap), and collect: what call_once does after its call, for a part that lives longer
    than one call (the console session of app_loop.LazyConsole)."""
    import sys

    loaded = module
    package = sys.modules[__name__]
    prefix = __name__ + "."
    for name in list(sys.modules):
        if name not in loaded and name.startswith(prefix):
            sys.modules.pop(name)
            # the module is also an attribute of its package (app.scan of firmware.app)
            parent_name, _, leaf = name.rpartition(".")
            parent = sys.modules.get(parent_name, package)
            if hasattr(parent, leaf):
                delattr(parent, leaf)
    import gc

    gc.collect()
