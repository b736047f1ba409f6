# Runs on BOTH runtimes: one send_mail through the loopback TestBoard, described by a JSON spec
# (settings with file paths for the DER blobs, the message, the board). Returns JSON: the result
# dict, or the SMTPError's fields and diagnosis, whether anything was connected at all, and which
# firmware modules are still loaded after the send (and after the diagnosis), and the application's
# collection setting after it (MicroPython's gc.threshold, CPython's gc.get_threshold).
import json
import sys

from scanmail.firmware.mail import Message, SMTPError, send_mail
from loopback_board import TestBoard

APPLICATION_GC_THRESHOLD = 12288   # a whole number of heap blocks: read back as set
APPLICATION_GC_THRESHOLDS_CPYTHON = (1234, 11, 12)   # CPython's own three generations


def _read(path):
    with open(path, "rb") as f:
        return f.read()


def run(spec):
    settings = dict(spec["settings"])
    for key in ("ca_der", "client_cert_der", "client_key_der"):
        if settings.get(key + "_path"):
            settings[key] = _read(settings.pop(key + "_path"))
        elif key + "_path" in settings:
            settings.pop(key + "_path")
    b = spec["board"]
    board = TestBoard(b.get("name", "scanner-3f2a"), b.get("ip", "127.0.0.20"), b["routes"],
                      b.get("now"), b.get("blocked_ports", []), b.get("down", False),
                      b.get("shrink_on_connect"))
    out = {"connected": board.net.opened}
    import gc
    has_threshold = hasattr(gc, "threshold")     # MicroPython's; CPython's gc has none
    if has_threshold:
        gc.threshold(APPLICATION_GC_THRESHOLD)   # the application's own setting
    else:
        gc.set_threshold(*APPLICATION_GC_THRESHOLDS_CPYTHON)
    try:
        m = spec["message"]
        msg = Message(m["sender"], m["to"], m.get("cc", []), m.get("subject", ""), m.get("body", ""),
                      [tuple(a) for a in m.get("attachments", [])])
        out["result"] = send_mail(settings, msg, board)
    except SMTPError as err:
        cause, todo = err.diagnosis()
        out["error"] = {"stage": err.stage, "code": err.code, "enhanced": err.enhanced,
                        "transient": err.transient, "kind": err.kind, "text": err.text,
                        "str": str(err), "repr": repr(err), "cause": cause, "todo": todo,
                        "cls": type(err).__name__}
    out["loaded"] = sorted(name for name in sys.modules if name.startswith("scanmail.firmware."))
    out["gc_threshold"] = gc.threshold() if has_threshold else list(gc.get_threshold())
    return json.dumps(out)
