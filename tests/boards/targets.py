# The boards the board-facing tests run against: a virtual board (the emulator's, on either runtime)
# or, with `pytest --port /dev/ttyUSB0 --board-config lab.json`, a real ESP32 running scanmail.
# Rule: a test asks for a target and gets the same interface from both (`port`, `runtime`,
# `info["ip"]`, `repl`, `board_code`); what only the emulator can do (switch the network) is asked
# of virtual targets only, so those tests run on a virtual board whether or not --port is given.
import json
import os

from scanmail.emulator.boards import BoardHandle
from scanmail.host_tools.raw_repl import RawRepl

VIRTUAL_RUNTIMES = ("micropython", "cpython")


def target_ids(config, virtual_only=False):
    """The targets a test runs on: the real board given by --port, else a virtual board per
    runtime (and always those for virtual-only tests)."""
    port = config.getoption("--port")
    if port and not virtual_only:
        return ["esp32@" + port]
    return ["virtual-" + runtime for runtime in VIRTUAL_RUNTIMES]


class VirtualTarget:
    """A virtual ESP32-DevKitC whose network resolves the tenant's names to its listeners."""

    real = False

    def __init__(self, runtime, state_dir, ip, tenant_state):
        self.handle = BoardHandle("esp32-devkitc", runtime, state_dir, ip, tenant_state=tenant_state,
                                  fast=True)
        self.handle.start()
        self.port, self.runtime, self.info = self.handle.port, runtime, self.handle.info
        self.state_dir = self.handle.state_dir
        self.board_code = "open_board()"
        self.repl = RawRepl(self.port, read_timeout_s=30)
        self.repl.enter()

    def installed(self):
        pass

    def set_network(self, **switches):
        self.handle.set_network(**switches)

    def close(self):
        self.repl.close()
        self.handle.stop()


class RealTarget:
    """An ESP32 on a serial port, joined to the lab network by the Esp32Board config in
    `config_path` (a JSON object: hardware.profiles.board_config() of its profile plus "wifi":
    {"ssid", "password"}); its DNS must resolve the Microsoft host names to the machine running
    the tests (see README.md, "Tests on a real board")."""

    real = True
    runtime = "micropython"

    def __init__(self, port, config_path):
        if not config_path:
            raise RuntimeError("--port needs --board-config FILE: the board's Esp32Board config "
                               "with its Wi-Fi (see README.md, 'Tests on a real board')")
        with open(config_path) as f:
            config = json.load(f)
        self.port = port
        self.board_code = "open_board(%r)" % (config,)
        self.repl = RawRepl(port, read_timeout_s=60)
        self.repl.enter(soft_reset=True)
        self.info = {}

    def installed(self):
        """Once the firmware is on the board: join the network, learn the board's address."""
        address = self.repl.exec("from scanmail.firmware.board import open_board\n"
                                 "print(%s.net.address())" % self.board_code, timeout_s=60)
        self.info["ip"] = address.strip().splitlines()[-1]

    def set_network(self, **switches):
        if any(value is not None for value in switches.values()):
            raise RuntimeError("a real board's network cannot be switched from here")

    def close(self):
        self.repl.close()


def open_target(request, target_id, state_dir, ip, tenant_state):
    if target_id.startswith("esp32@"):
        return RealTarget(request.config.getoption("--port"),
                          request.config.getoption("--board-config"))
    return VirtualTarget(target_id[len("virtual-"):], state_dir, ip, tenant_state)


def tool_target_ids(config, virtual_only=False):
    """The boards the tool conformance checks run on: the board given by --port (it needs no
    --board-config: the tools only use its serial port), else a virtual board per runtime."""
    return target_ids(config, virtual_only)


class VirtualToolBoard:
    """A virtual board for the tools (no firmware installed): its port, and its flash on the host
    to check what a tool did without asking the board."""

    real = False

    def __init__(self, runtime, state_dir, ip):
        self.handle = BoardHandle("esp32-devkitc", runtime, state_dir, ip, fast=True)
        self.handle.start()
        self.port, self.runtime, self.info = self.handle.port, runtime, self.handle.info
        self.flash_dir, self.state_dir = self.handle.flash_dir, self.handle.state_dir

    def file_sha256(self, path):
        """SHA-256 (hex) of the file at `path` (from the flash's root) or None if it is absent."""
        import hashlib

        full = os.path.join(self.flash_dir, path.lstrip("/"))
        if not os.path.isfile(full):
            return None
        with open(full, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()

    def exists(self, path):
        return os.path.exists(os.path.join(self.flash_dir, path.lstrip("/")))

    def set_network(self, **switches):
        self.handle.set_network(**switches)

    def close(self):
        self.handle.stop()


class RealToolBoard:
    """A board on a serial port, for the tools: what a tool did is checked through scanmail's own
    raw REPL (host_tools.raw_repl), opened only between the tools' runs (one program at a time
    on a serial port)."""

    real = True
    runtime = "micropython"

    def __init__(self, port):
        self.port = port
        self.info = {}

    def _ask(self, code):
        with RawRepl(self.port, read_timeout_s=30) as repl:
            repl.enter()
            return repl.exec(code).strip()

    def file_sha256(self, path):
        with RawRepl(self.port, read_timeout_s=30) as repl:
            repl.enter()
            return repl.sha256_of("/" + path.lstrip("/"))

    def exists(self, path):
        return self._ask("import os\ntry:\n    os.stat(%r)\n    print(1)\nexcept OSError:\n"
                         "    print(0)\n" % ("/" + path.lstrip("/"))) == "1"

    def close(self):
        pass


def open_tool_board(request, target_id, state_dir, ip):
    if target_id.startswith("esp32@"):
        return RealToolBoard(request.config.getoption("--port"))
    return VirtualToolBoard(target_id[len("virtual-"):], state_dir, ip)


# -- the application's console on a board -------------------------------------------------------
# Before the application starts on a board for the console suite, what an earlier run left there
# goes (its configuration, outbox, logs and secrets), with the application's own modules.
FRESH_APPLICATION = """
import os
from scanmail.firmware.board import open_board
from scanmail.firmware.app.app_start import open_nvs
from scanmail.firmware.app.secret_store import SecretStore, NAMES
def _rm(path):
    try:
        if os.stat(path)[0] & 0x4000:
            for name in os.listdir(path):
                _rm(path + '/' + name)
            os.rmdir(path)
        else:
            os.remove(path)
    except OSError:
        pass
_root = open_board().storage_root.rstrip('/')
for _name in os.listdir(_root or '/'):
    if _name.startswith('config.json') or _name == 'outbox' or _name.startswith('log.'):
        _rm(_root + '/' + _name)
_nvs = open_nvs()
if _nvs is not None:
    _secrets = SecretStore(_nvs)
    for _name in NAMES:
        _secrets.set(_name, '')
print('fresh')
"""


class ApplicationBoard:
    """A board running the scanner application, installed over its serial port as a user installs
    it (host_tools.app_install, with the tenant's CA as /ca.der), started fresh, and a
    ConsoleClient on the port. The same for a virtual board (`handle`, a started BoardHandle) and a
    real one (only its port); `profile` is what its `info` must say (None: any)."""

    def __init__(self, port, ca_der, handle=None, profile=None):
        from scanmail.host_tools import app_install
        from scanmail.host_tools.console_client import ConsoleClient, ConsoleError

        self.port, self.handle, self.profile = port, handle, profile
        self.real = handle is None
        repl = RawRepl(port, read_timeout_s=60)
        try:
            repl.enter(soft_reset=True)
            app_install.install(repl, extra=[(ca_der, "/ca.der")])
            repl.exec(FRESH_APPLICATION, timeout_s=60)
            repl.soft_reset_to_application()
        finally:
            repl.serial.close()
        # the application's start line may have gone by while the REPL read the reboot: its
        # first answer is the event that it runs (a request sent before it listens goes unread)
        self.console = ConsoleClient(port, timeout_s=5)
        for attempt in range(12):
            try:
                self.console.request("info")
                break
            except ConsoleError:
                if attempt == 11:
                    raise
        self.console.timeout_s = 30

    def request(self, cmd, **args):
        return self.console.request(cmd, **args)

    def interrupt(self):
        """Ctrl-C on the serial line, as a terminal sends it: -> what the board printed until its
        REPL prompt (the application stops and leaves the REPL)."""
        seen = bytearray()
        for _ in range(20):                       # one Ctrl-C may land between two awaits
            self.console.serial.write(b"\x03")
            for _ in range(20):
                seen += self.console.serial.read(self.console.serial.in_waiting or 1)
                if b">>> " in seen:
                    return seen.decode("utf-8", "replace")
        raise AssertionError("no REPL prompt after Ctrl-C; the board printed %r" % bytes(seen[-300:]))

    def at_the_repl(self, line):
        """Type `line` at the friendly REPL (after interrupt()); -> what it printed before the next
        prompt, without the echo of the line."""
        self.console.serial.write(line.encode() + b"\r")
        seen = bytearray()
        for _ in range(200):
            seen += self.console.serial.read(self.console.serial.in_waiting or 1)
            if seen.endswith(b">>> "):
                break
        text = seen.decode("utf-8", "replace").replace("\r", "")
        return text.split("\n", 1)[1].rsplit(">>> ", 1)[0] if "\n" in text else text

    def close(self):
        self.console.close()
        if self.handle is not None:
            self.handle.stop()


def open_application_board(request, target_id, state_dir, ip, tenant):
    with open(tenant.ca_der_path, "rb") as f:
        ca_der = f.read()
    if target_id.startswith("esp32@"):
        return ApplicationBoard(request.config.getoption("--port"), ca_der)
    handle = BoardHandle("esp32-devkitc", target_id[len("virtual-"):], state_dir, ip,
                         tenant_state=str(tenant.state_dir), fast=True)
    handle.start()
    try:
        return ApplicationBoard(handle.port, ca_der, handle, "esp32-devkitc")
    except BaseException:
        handle.stop()
        raise
