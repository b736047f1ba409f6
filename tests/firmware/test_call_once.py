# The steps a board runs once per send or per error (checking a message, settings, composing the
# head) are loaded for the step and let go after it, on both runtimes: between sends and while a
# scan streams out, their code holds no heap. What the application loaded itself stays loaded.
import json

ONCE_CODE = """
import json, sys
import scanmail.firmware.mail
from scanmail.firmware.mail import Message
from scanmail.firmware.errors import SMTPError
transient = ("scanmail.firmware.message_checks", "scanmail.firmware.mime_headers", "scanmail.firmware.methods",
             "scanmail.firmware.diagnosis")
out = {"after_import": [m for m in transient if m in sys.modules]}
msg = Message("scanner@contoso.com", ["alice@contoso.com"], [], " Scan ", "hi",
              [("/nonexistent.pdf", " scan.pdf ", "Application/PDF")])
out["fields"] = [msg.subject, msg.attachments[0][1], msg.attachments[0][2]]
out["after_message"] = [m for m in transient if m in sys.modules]
try:
    Message("scanner@contoso.com", ["alice@contoso.com\\r\\nBcc: x@y.z"])
except SMTPError as err:
    out["refused"] = [err.kind, err.field]
out["after_refusal"] = [m for m in transient if m in sys.modules]
import scanmail.firmware.methods                       # the application's own use of a module stays
from scanmail.firmware import call_once
cfg = call_once("methods", "fill", {"username": "scanner@contoso.com", "password": "x"})
out["kept"] = "scanmail.firmware.methods" in sys.modules and cfg["port"] == 587
out["still_there"] = scanmail.firmware.methods.fill is sys.modules["scanmail.firmware.methods"].fill
print(json.dumps(out))
"""


def test_one_step_modules_are_let_go_and_the_applications_own_stay(run_firmware):
    out = json.loads(run_firmware(ONCE_CODE).strip().splitlines()[-1])
    assert out["after_import"] == []
    assert out["fields"] == ["Scan", "scan.pdf", "application/pdf"]
    assert out["after_message"] == []
    assert out["refused"] == ["message", "to"]
    assert out["after_refusal"] == []             # let go even when the step raised
    assert out["kept"] is True and out["still_there"] is True


NESTED_CODE = """
import json, sys
import scanmail.firmware.app
from scanmail.firmware import call_once
out = {}
values = call_once("app.config_schema", "defaults")
out["defaults"] = values["method"]
out["loaded"] = "scanmail.firmware.app.config_schema" in sys.modules
out["attribute"] = hasattr(scanmail.firmware.app, "config_schema")
call_once("app.scan")                       # loaded and let go: only the names it interned stay
out["scan"] = [m for m in ("scanmail.firmware.app.scan", "scanmail.firmware.app.pdf_writer",
                           "scanmail.firmware.app.jpeg_info") if m in sys.modules]
out["scan_attributes"] = [n for n in ("scan", "pdf_writer", "jpeg_info") if hasattr(scanmail.firmware.app, n)]
print(json.dumps(out))
"""


def test_a_module_of_the_application_is_let_go_from_its_own_package_too(run_firmware):
    # firmware.app.config_schema is an attribute of firmware.app, not of firmware: left there, its
    # code would stay in the heap after the call
    out = json.loads(run_firmware(NESTED_CODE).strip().splitlines()[-1])
    assert out == {"defaults": "submission", "loaded": False, "attribute": False, "scan": [],
                   "scan_attributes": []}
