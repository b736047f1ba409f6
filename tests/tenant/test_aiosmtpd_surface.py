# The private names of aiosmtpd and asyncio that TenantSmtp relies on are all in aiosmtpd_surface.py,
# and the installed releases still have them. On an aiosmtpd release that changes one, this fails
# with one line per change naming it (and says what to do), instead of sessions failing at random.
import re

from aiosmtpd.smtp import SMTP

from scanmail.emulator.tenant import aiosmtpd_surface as surface


def test_the_installed_aiosmtpd_and_asyncio_have_every_private_name_the_tenant_uses():
    problems = surface.problems()
    assert problems == [], "aiosmtpd or asyncio changed under the fake tenant:\n  " + "\n  ".join(problems)


def test_the_installed_aiosmtpd_is_inside_the_range_pinned_in_pyproject():
    import pathlib
    pyproject = (pathlib.Path(__file__).parents[2] / "pyproject.toml").read_text()
    assert '"aiosmtpd%s"' % surface.SUPPORTED_TEXT in pyproject, "pin aiosmtpd%s in pyproject.toml" % surface.SUPPORTED_TEXT


def test_a_changed_release_is_named_in_one_clear_line(monkeypatch):
    # What the check says when aiosmtpd moves: a newer version, a method that reads a new attribute,
    # a method gone.
    monkeypatch.setattr(surface, "installed_version", lambda: "1.5.0")

    def connection_lost(self, error):
        self._new_state.cancel()

    monkeypatch.setattr(SMTP, "connection_lost", connection_lost)
    monkeypatch.delattr(SMTP, "_timeout_cb")
    problems = surface.problems()
    assert any(p.startswith("aiosmtpd 1.5.0 is outside >=1.4.6,<1.5") for p in problems), problems
    assert "aiosmtpd 1.5.0: SMTP.connection_lost now reads self._new_state, which " \
           "aiosmtpd_surface.init_connection does not set" in problems
    assert "aiosmtpd 1.5.0: SMTP._timeout_cb is gone (the fake tenant inherits it)" in problems
    assert all("\n" not in p for p in problems)


def test_no_other_tenant_module_touches_a_private_aiosmtpd_or_asyncio_name():
    import pathlib
    folder = pathlib.Path(surface.__file__).parent
    private = re.compile(r"\bself\._(?:reader|writer|timeout_handle|tls_protocol|original_transport|"
                         r"handler_coroutine|reset_timeout|timeout_duration)\b|\._buffer\b|_app_transport|sslproto")
    for path in folder.glob("*.py"):
        if path.name == "aiosmtpd_surface.py":
            continue
        assert not private.search(path.read_text()), "%s uses a private aiosmtpd/asyncio name: %s" % (
            path.name, private.search(path.read_text()).group(0))
