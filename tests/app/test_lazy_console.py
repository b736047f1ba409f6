# The console session as the product build runs it (app_loop.LazyConsole), on both runtimes: loaded
# when bytes arrive, kept while a request is half received, let go with its framing once the
# replies are out; a command's refusal keeps its code across that (the handler's CommandError is
# the session's own), and a request in several multi-part frames still gets its one reply.
import json

from scanmail.host_tools.console_client import encode, request_frames

SESSION = "scanmail.firmware.app.console_session"
FRAMING = "scanmail.firmware.app.console_protocol"

CODE = r"""
import json, sys
from scanmail.firmware.app.app_loop import LazyConsole
def handler(cmd, args):
    from scanmail.firmware.app.console_session import CommandError
    if cmd == "nope":
        raise CommandError("bad_args", "nope is refused: use info")
    return {"cmd": cmd, "size": len(json.dumps(args)), "loaded": %(session)r in sys.modules}
def loaded():
    return [m for m in (%(session)r, %(framing)r) if m in sys.modules]
console = LazyConsole(handler, None)
out = {"before": loaded(), "replies": []}
for chunk in json.loads(%(chunks)r):
    out["replies"].extend(r.decode() for r in console.feed(chunk.encode()))
    out.setdefault("between", []).append(loaded())
print(json.dumps(out))
"""


def test_the_session_is_loaded_for_a_request_and_let_go_after_it(run_firmware):
    info = encode(7, b".", b'{"cmd":"info"}').decode()
    nope = encode(8, b".", b'{"cmd":"nope"}').decode()
    long_request = b"".join(request_frames(9, "config_set", {"values": {"body": "x" * 600}})).decode()
    # half of the first request, then its rest with the refused one, then a multi-part request
    chunks = [info[:20], info[20:] + nope, long_request[:300], long_request[300:]]
    out = json.loads(run_firmware(CODE % {"session": SESSION, "framing": FRAMING,
                                          "chunks": json.dumps(chunks)}).strip().splitlines()[-1])
    assert out["before"] == []
    # loaded while a request is half received, let go once the replies are out
    assert out["between"] == [[SESSION, FRAMING], [], [SESSION, FRAMING], []]
    replies = [r for r in out["replies"] if not r.startswith("#SM1 9 + 0 ")]   # "send the next part"
    assert len(replies) == 3, out["replies"]
    assert replies[0].startswith("#SM1 7 . ") and '"ok": true' in replies[0] and '"loaded": true' in replies[0]
    assert replies[1].startswith("#SM1 8 . ") and '"code": "bad_args"' in replies[1]
    assert replies[2].startswith("#SM1 9 . ") and '"cmd": "config_set"' in replies[2]
