# Runs on BOTH runtimes: the outbox driven through a scripted list of steps with the virtual
# board's own scanner (the ROM's VirtualScanner over generated JPEG pages) and the loopback
# TestBoard's network to the fake tenant. Prints JSON: what each step returned, and the outbox's
# jobs after each step. On MicroPython a step can fill the heap with ballast, as a board whose heap
# is short for a send finds it.
import json
import os

import _vboard_host
from virtual_scanner import VirtualScanner
from loopback_board import TestBoard

from scanmail.firmware.app import outbox_admin as admin
from scanmail.firmware.app.config_schema import defaults
from scanmail.firmware.app.outbox import Outbox, OutboxError
from scanmail.firmware.app.outbox_worker import step as worker_step
from scanmail.firmware.app.scan import scan_to_outbox
from scanmail.firmware.app.send_limits import SendLimits


def run(spec):
    root = spec["root"]
    board = TestBoard("scanner-3f2a", spec.get("ip", "127.0.0.20"), spec["routes"], spec["now"])
    board.scanner = VirtualScanner(spec["pages"])
    board.storage_root = root
    config = defaults()
    config.update(spec["config"])
    _vboard_host._config = {"nvs": spec["nvs"]}
    import esp32
    from scanmail.firmware.app.secret_store import SecretStore

    secrets = SecretStore(esp32.NVS("secrets"))
    if spec.get("password"):
        secrets.set("password", spec["password"])
    buf = bytearray(512)
    out = []
    ballast = []

    def jobs():
        return [{"id": j["id"], "state": j["state"], "attempts": j["attempts"],
                 "next_at": j["next_at"], "last": j["last"], "reply": j["reply"],
                 "files": [os.stat(f[0])[6] if _exists(f[0]) else None for f in j["files"]]}
                for j in admin.jobs(Outbox(root, spec.get("capacity")))]

    for op in spec["steps"]:
        outbox = Outbox(root, spec.get("capacity"))
        limits = SendLimits(root + "/limits.json")
        now = op.get("now", spec["now"])
        board.clock._now = now
        kind = op["op"]
        try:
            if kind == "scan":
                result = scan_to_outbox(board, outbox, config, buf, now, op.get("to"))["id"]
            elif kind == "step":
                result = worker_step(outbox, limits, config, secrets, board, now)
            elif kind == "cut_after_sending":       # power gone after "sending" was written
                job, _ = outbox.due(now)
                outbox.mark_sending(job, now)
                result = job["id"]
            elif kind == "recover":
                result = admin.recover(outbox)
            elif kind == "retry":
                result = admin.retry(outbox, op["id"], now)["state"]
            elif kind == "purge":
                result = admin.purge(outbox, op.get("id"))
            elif kind == "short_heap":              # the heap filled but for `free` bytes
                import gc
                gc.collect()
                hole = bytearray(op["free"])           # kept free in one piece
                size = 4096
                while size >= 16:
                    try:
                        ballast.append(bytearray(size))
                    except MemoryError:
                        size //= 2
                hole = None
                gc.collect()
                result = gc.mem_free()
            elif kind == "release":
                del ballast[:]
                result = None
            elif kind == "password":
                secrets.set("password", op["value"])
                result = None
            else:
                raise ValueError(kind)
            out.append({"op": kind, "result": result, "jobs": jobs()})
        except OutboxError as err:
            out.append({"op": kind, "error": [err.code, str(err)], "jobs": jobs()})
    return json.dumps(out)


def _exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False
