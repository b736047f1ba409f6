# Runs on BOTH runtimes: writes one message with the firmware's MIME writer to a file, exactly as
# it would go on the wire (dot-stuffed for DATA, unencoded for BDAT), and returns JSON with the writer's own size figure and
# how many octets it wrote, for the pytest side to check against CPython's email parser.
import json

from scanmail.firmware.message import Message, MimeWriter


def write(spec, out_path):
    msg = Message(spec["sender"], spec["to"], spec.get("cc", []), spec["subject"], spec["body"],
                  [tuple(a) for a in spec.get("attachments", [])])
    writer = MimeWriter(msg, spec["now"], spec["random_hex"])
    binary = spec.get("binary", False)              # BDAT + BINARYMIME: unencoded, no dot-stuffing
    with open(out_path, "wb") as out:
        written = writer.write_to(out.write, binary, dot_stuffing=not binary)
    return json.dumps({"size": writer.size(binary), "written": written})
