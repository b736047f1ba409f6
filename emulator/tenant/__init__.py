# The fake Exchange Online tenant: SMTP client submission, the MX (direct send and connector relay)
# and High Volume Email, with Maildir storage, a message trace, faults on demand and an HTTP API.
# Rule: it answers as Exchange Online does, byte for byte from the reference; see README.md here.
from emulator.tenant.clock import FakeClock, SystemClock
from emulator.tenant.config import TenantFileError, load_tenant
from emulator.tenant.fake_tenant import FakeTenant

__all__ = ["FakeTenant", "FakeClock", "SystemClock", "TenantFileError", "load_tenant"]
