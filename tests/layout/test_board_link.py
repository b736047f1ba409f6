# What a virtual board's process and its supervisor agree on is written once, in
# emulator/board_rom/board_link.py: the supervisor writes runtime.json with exactly the keys named
# there, and no other module spells the agreements out as literals of its own.
import json
import os
import subprocess

from scanmail.emulator.board_rom import board_link
from scanmail.emulator.boards import board_state

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_runtime_json_holds_exactly_the_keys_board_link_names(tmp_path):
    config = {"name": "b", "hostname": "scanner-b", "profile": "esp32-devkitc", "ip": "127.0.0.20",
              "flash": str(tmp_path / "flash"), "runtime": "micropython"}
    board_state.write_runtime_config(str(tmp_path), config, None)
    with open(os.path.join(str(tmp_path), board_link.RUNTIME_JSON)) as f:
        assert sorted(json.load(f)) == sorted(board_link.RUNTIME_KEYS)


def test_no_module_spells_an_agreement_out_itself():
    literals = ["SCANMAIL_VBOARD_", "VBOARD-READY", "= 98", '"runtime.json"']
    found = subprocess.run(["git", "grep", "-n", "-F"] + sum([["-e", x] for x in literals], []) +
                           ["--", "emulator", "host_tools", "firmware"],
                           cwd=REPO_ROOT, capture_output=True, text=True).stdout.splitlines()
    assert [line for line in found if not line.startswith("emulator/board_rom/board_link.py:")] == []
