# Fixtures the application's tests share: one fake tenant per test module.
import pytest

from scanmail.emulator.tenant import FakeTenant


@pytest.fixture(scope="module")
def tenant(tmp_path_factory):
    with FakeTenant(state_dir=tmp_path_factory.mktemp("o365")) as t:
        yield t
