# pytest plugin (entry point `scanmail_o365`): gives your own CI an `o365` fixture, a running fake
# Microsoft 365 tenant in tmp_path with a FakeClock (`o365.clock.advance(60)` moves it). Rule: the
# fixture always stops the tenant, whatever the test did. Options: `--o365-tenant FILE` loads your
# tenant file instead of the built-in contoso.com.
import pytest


def pytest_addoption(parser):
    group = parser.getgroup("scanmail-o365", "fake Microsoft 365 tenant")
    group.addoption("--o365-tenant", default=None, metavar="FILE",
                    help="tenant file (TOML) for the o365 fixture; default the built-in contoso.com")


@pytest.fixture
def o365(tmp_path, request):
    """A running fake Exchange Online tenant (FakeTenant) with a FakeClock at `o365.clock`."""
    from scanmail.emulator.tenant.clock import FakeClock          # imported here: loading the plugin stays
    from scanmail.emulator.tenant.fake_tenant import FakeTenant   # free for test runs that never use it

    tenant_file = request.config.getoption("--o365-tenant")
    with FakeTenant(tenant=tenant_file, state_dir=tmp_path / "o365", clock=FakeClock()) as tenant:
        yield tenant
