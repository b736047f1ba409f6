# The fake Exchange Online tenant: SMTP client submission, the MX (direct send and connector relay)
# and High Volume Email, with Maildir storage, a message trace, faults on demand and an HTTP API.
# Rule: it answers as Exchange Online does, byte for byte as docs/exchange-online.md says; see README.md here.
# Names are imported on first use (PEP 562), so loading the pytest plugin or the CLI table costs
# nothing until a tenant is really wanted.
import importlib

_EXPORTS = {
    "FakeTenant": "scanmail.emulator.tenant.fake_tenant",
    "FakeClock": "scanmail.emulator.tenant.clock",
    "WallClock": "scanmail.emulator.tenant.clock",
    "MovedClock": "scanmail.emulator.tenant.clock",
    "TenantFileError": "scanmail.emulator.tenant.config",
    "load_tenant": "scanmail.emulator.tenant.config",
}

__all__ = list(_EXPORTS)


def __getattr__(name):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError("module 'scanmail.emulator.tenant' has no attribute %r" % name)
    return getattr(importlib.import_module(module), name)
