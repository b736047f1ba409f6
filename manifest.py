# Freezes scanmail's firmware into a custom MicroPython build, as the package scanmail.firmware
# (the name it has on every board and on CPython). In your board's manifest.py:
#
#     include("/path/to/scanmail/manifest.py")
#
# then build MicroPython as usual (make BOARD=... FROZEN_MANIFEST=...). The frozen modules run from
# flash. The bundled CA root is a data file, which freezing does not carry: copy
# firmware/roots/digicert_global_root_g2.der to /lib/scanmail/firmware/roots/ on the board's
# filesystem, or give the CA in the settings (ca_der). For mip, see package.json beside this file.
# Rule: the same files as a flashed board gets (host_tools/firmware_build.py): every firmware
# module except CPython's side of compat and the build tool that refreshes the roots.
metadata(description="scanmail: scan-to-email for Microsoft 365, the mail core", version="0.1.0")  # noqa: F821

import os  # noqa: E402
import tempfile  # noqa: E402

# The checkout keeps the firmware in firmware/, but a board imports it as scanmail/firmware: the
# frozen names come from the paths below base_path, so freeze it through a view whose
# scanmail/firmware is a link to the checkout's folder.
_firmware = os.path.join(os.path.dirname(os.path.abspath("manifest.py")), "firmware")
_view = tempfile.mkdtemp(prefix="scanmail-manifest-")   # kept: the build reads it after this runs
os.mkdir(os.path.join(_view, "scanmail"))
os.symlink(_firmware, os.path.join(_view, "scanmail", "firmware"))
_modules = []
for _folder, _dirs, _files in os.walk(_firmware):
    _dirs[:] = sorted(d for d in _dirs if not d.startswith((".", "__pycache__")))
    for _name in sorted(_files):
        if _name.endswith(".py") and _name not in ("compat_cpython.py", "build_roots.py"):
            _modules.append(os.path.relpath(os.path.join(_folder, _name), _firmware).replace(os.sep, "/"))
package("scanmail/firmware", files=_modules, base_path=_view)  # noqa: F821
