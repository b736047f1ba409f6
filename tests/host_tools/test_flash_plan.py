# What a flash decides from the board's hash listing, without a board: the slot that boots is
# never the one written, files the active slot has are copied on the board instead of sent, stale
# files go, and a board that already runs the image gets nothing. And what travels on the wire
# never holds the two bytes a serial REPL acts on.
from hypothesis import given, strategies as st

from scanmail.host_tools.flash import frames, stuff
from scanmail.host_tools.flash_agent import BOOT_PY
from scanmail.host_tools.flash_plan import make_plan, parse_listing, sha256_hex

BOOT = BOOT_PY.encode()


def listing(active, a=None, b=None, boot=BOOT):
    lines = ["file a %s %s" % (sha256_hex(d), p) for p, d in (a or {}).items()]
    lines += ["file b %s %s" % (sha256_hex(d), p) for p, d in (b or {}).items()]
    lines += ["active %s" % (active or "-"), "boot %s" % (sha256_hex(boot) if boot else "-"), "end"]
    return parse_listing("\n".join(lines))


def test_a_blank_board_gets_everything_in_slot_a():
    plan = make_plan({"lib/x.mpy": b"x", "lib/y.mpy": b"y"}, listing(None, boot=None), BOOT)
    assert plan["target"] == "a" and plan["send"] == ["lib/x.mpy", "lib/y.mpy"]
    assert plan["write_boot"] and plan["switch"]


def test_the_booting_slot_is_never_written_and_its_files_are_copied_not_sent():
    old = {"lib/x.mpy": b"x", "lib/y.mpy": b"y", "lib/gone.mpy": b"g"}
    new = {"lib/x.mpy": b"x", "lib/y.mpy": b"y2", "lib/new.mpy": b"n"}
    plan = make_plan(new, listing("a", a=old, b={"lib/stale.mpy": b"s"}), BOOT)
    assert plan["target"] == "b"
    assert plan["copy"] == ["lib/x.mpy"] and plan["send"] == ["lib/new.mpy", "lib/y.mpy"]
    assert plan["remove"] == ["lib/stale.mpy"] and not plan["write_boot"]


def test_an_image_the_board_already_boots_needs_nothing():
    image = {"lib/x.mpy": b"x"}
    assert make_plan(image, listing("b", b=image), BOOT)["nothing"]
    # ...unless boot.py is not the one that selects the slot.
    plan = make_plan(image, listing("b", b=image, boot=b"print('mine')"), BOOT)
    assert not plan["nothing"] and plan["write_boot"] and not plan["switch"]


def test_a_listing_cut_short_is_not_complete():
    assert not parse_listing("file a 00 lib/x.mpy\nactive a")["complete"]


@given(st.binary(max_size=20000))
def test_the_wire_never_carries_ctrl_c_or_ctrl_d(data):
    wire = stuff(frames(data))
    assert b"\x03" not in wire and b"\x04" not in wire
    # Every 0x1B on the wire leads an escape, so the board's three replaces undo it.
    back = wire.replace(b"\x1b\x01", b"\x03").replace(b"\x1b\x02", b"\x04").replace(b"\x1b\x00", b"\x1b")
    assert back == frames(data)


def test_a_pointer_that_names_the_romfs_image_still_names_its_slot():
    image = {"lib/x.mpy": b"x"}
    with_rom = parse_listing("file a %s lib/x.mpy\nactive a rom\nboot %s\nend" % (sha256_hex(b"x"), sha256_hex(BOOT)))
    assert (with_rom["active"], with_rom["rom"]) == ("a", True)
    assert make_plan(image, with_rom, BOOT)["nothing"]          # the files in slot a are the image
    assert listing("a", a=image)["rom"] is False
