# Shared fixtures for the fake tenant's tests: one running built-in tenant per module (reset before
# every test) and a factory for tenants built from a variant of the built-in tenant file. Rule:
# every tenant a fixture starts is stopped, whatever the test did.
import pytest

from scanmail.emulator.tenant import FakeClock, FakeTenant
from scanmail.emulator.tenant.config import BUILTIN_TENANT_PATH

@pytest.fixture(scope="module")
def shared_tenant(tmp_path_factory):
    with FakeTenant(state_dir=tmp_path_factory.mktemp("tenant"), clock=FakeClock()) as tenant:
        yield tenant


@pytest.fixture
def tenant(shared_tenant):
    """The built-in contoso.com tenant, emptied before the test."""
    shared_tenant.reset()
    yield shared_tenant


@pytest.fixture
def make_tenant(tmp_path):
    """Start a tenant from the built-in file plus extra TOML (or replacements); stopped after the test."""
    started = []

    def make(extra="", replace=(), clock=None):
        with open(BUILTIN_TENANT_PATH, encoding="utf-8") as f:
            text = f.read()
        for old, new in replace:
            assert old in text, old
            text = text.replace(old, new)
        path = tmp_path / ("tenant-%d.toml" % len(started))
        path.write_text(text + "\n" + extra, encoding="utf-8")
        fake = FakeTenant(tenant=str(path), state_dir=tmp_path / ("state-%d" % len(started)),
                          clock=clock or FakeClock())
        fake.start()
        started.append(fake)
        return fake

    yield make
    for fake in started:
        fake.stop()
