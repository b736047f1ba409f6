# Starting, stopping, resetting and listing virtual boards, and the Python API `BoardHandle`
# (Contract 4 in docs/architecture.md). Rule: a board is one supervisor process per state folder;
# its <state>/board.json says where its port is and exists only while the supervisor runs, while
# its supervisor.json stays: a stopped board keeps its profile, name and address and starts again
# from its state folder alone. Addresses and names are chosen under a machine-wide lock, held until
# the new supervisor has claimed its address, so boards started at the same moment never share one.
# Failures say what was wrong and what to do, and a failed start leaves nothing running.
import contextlib
import fcntl
import hashlib
import os
import tempfile
import signal
import subprocess
import sys
import time

from scanmail.emulator.boards import board_state, runtimes

DEFAULT_ROOT = os.path.join(".state", "boards")
FIRST_BOARD_IP = 20  # 127.0.0.20, .21, ... for boards started without --ip
START_TIMEOUT_S = 30.0
CLAIM_TIMEOUT_S = 15.0  # how long a starting supervisor may take to claim its address
ALLOCATION_LOCK = os.path.join(tempfile.gettempdir(), "scanmail-board-addresses.lock")
STOP_TIMEOUT_S = 5.0


class VirtualBoardError(Exception):
    """A board could not be started, found or stopped; the text says why and what to do."""


def _warn(text):
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def _pid_is_supervisor(pid):
    """True if `pid` is a live (not zombie) board supervisor; guards against reused pids."""
    try:
        import psutil

        proc = psutil.Process(pid)
        if proc.status() == psutil.STATUS_ZOMBIE:
            return False
        return "scanmail.emulator.boards.supervisor" in " ".join(proc.cmdline())
    except Exception:  # psutil missing, or no such process, or no access
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True


def board_status(state_dir):
    """board.json of the board in `state_dir` plus `alive`, or None when none was started there."""
    info = board_state.read_board_json(state_dir)
    if info is None:
        return None
    info = dict(info)
    info["alive"] = _pid_is_supervisor(info.get("pid", -1))
    info.setdefault("name", os.path.basename(state_dir.rstrip(os.sep)))
    info["state"] = state_dir
    return info


def stopped_board(state_dir):
    """What a board started in `state_dir` and stopped since left behind (its supervisor.json), as a
    status with alive False, or None when no board was ever started there."""
    config = board_state.read_supervisor_config(state_dir)
    if not config:
        return None
    return {"name": config.get("name"), "state": state_dir, "profile": config.get("profile"),
            "runtime": config.get("runtime"), "ip": config.get("ip"), "port": None, "pid": None,
            "flash": config.get("flash"), "alive": False, "stopped": True}


def list_boards(root=DEFAULT_ROOT, include_stopped=False):
    boards = []
    if not os.path.isdir(root):
        return boards
    for name in sorted(os.listdir(root)):
        if not os.path.isdir(os.path.join(root, name)):
            continue  # a stray file (notes, .DS_Store) is not a board
        status = board_status(os.path.join(root, name))
        if status is None and include_stopped:
            status = stopped_board(os.path.join(root, name))
        if status is not None:
            boards.append(status)
    return boards


@contextlib.contextmanager
def _allocation_lock():
    with open(ALLOCATION_LOCK, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _validate_ip(ip):
    parts = ip.split(".")
    if len(parts) != 4 or not all(p.isdigit() and int(p) <= 255 for p in parts):
        raise VirtualBoardError("--ip %r is not an IPv4 address; give one in 127.0.0.0/8 such as 127.0.0.20" % ip)
    if parts[0] != "127" or parts[3] in ("0", "255"):
        raise VirtualBoardError(
            "--ip %s is outside the virtual network: boards live on loopback (127.0.0.0/8); give an address in "
            "127.0.0.1-127.255.255.254 such as 127.0.0.20" % ip
        )


def _validate_name(name):
    """A board's name is a folder under the boards root and part of its host name: no path, no spaces."""
    ok = 0 < len(name) <= 63 and name[0].isalnum() and all(c.isalnum() or c in "-_." for c in name)
    if not ok or not name.isascii():
        raise VirtualBoardError("--name %r is not a board name; use letters, digits, '-', '_' or '.' (starting with a "
                         "letter or digit, at most 63), e.g. lobby or esp32-devkitc-20" % name)


def _running_boards(root, state_dir=None):
    """The running boards under `root` and, when the board gets a state folder elsewhere, beside
    it: the ones whose addresses a new board must not take."""
    folders = {os.path.abspath(root)}
    if state_dir:
        folders.add(os.path.dirname(os.path.abspath(state_dir)))
    return [b for folder in sorted(folders) for b in list_boards(folder) if b["alive"]]


def _check_ip_is_free(ip, state_dir, running):
    """Refuse an address another running board already has: the fake tenant tells devices apart by
    their source address (SPF, connectors), so two boards on one address would be one device."""
    for other in running:
        if other.get("ip") == ip and os.path.abspath(other["state"]) != state_dir:
            raise VirtualBoardError(
                "--ip %s is already the address of board %r (port %s, state %s): give another --ip, "
                "or stop that board with `scanmail board stop --state %s`"
                % (ip, other.get("name"), other.get("port"), other["state"], other["state"])
            )


def _free_ip(running):
    used = {b.get("ip") for b in running}
    for last in range(FIRST_BOARD_IP, 255):
        ip = "127.0.0.%d" % last
        if ip not in used:
            return ip
    raise VirtualBoardError("no free address left in 127.0.0.20-254; stop a board or pass --ip")


def _load_profile(profile_id):
    from scanmail.hardware import profiles

    try:
        return profiles.load(profile_id)
    except profiles.ProfileError as exc:
        raise VirtualBoardError(str(exc))


def _get(profile, dotted, default=None):
    value = profile
    for key in dotted.split("."):
        if not isinstance(value, dict) or key not in value:
            return default
        value = value[key]
    return value


def _tail(path, lines=15):
    try:
        with open(path, errors="replace") as f:
            return "".join(f.readlines()[-lines:])
    except OSError:
        return ""


def _previous_config(state_dir, profile_id):
    """The configuration a stopped board in `state_dir` was started with, or None for a new board;
    refuses another profile (the flash and NVS were written for that board)."""
    if not state_dir:
        if profile_id is None:
            raise VirtualBoardError("--profile is required to start a new board, e.g. --profile esp32-devkitc "
                                    "(`scanmail board start --state DIR` alone restarts a stopped board)")
        return None
    previous = board_state.read_supervisor_config(os.path.abspath(state_dir))
    if previous is None:
        if profile_id is None:
            raise VirtualBoardError("no board was ever started in %s, so it has no profile to restart with: "
                                    "give one, e.g. --profile esp32-devkitc" % os.path.abspath(state_dir))
        return None
    if profile_id is not None and profile_id != previous.get("profile"):
        raise VirtualBoardError(
            "the board in %s has profile %s; it cannot start with profile %s (its flash and NVS belong to "
            "that board): leave out --profile to restart it, or give a new --state DIR for a %s board"
            % (os.path.abspath(state_dir), previous.get("profile"), profile_id, profile_id))
    return previous


def start_board(profile_id, runtime="auto", state_dir=None, ip=None, name=None, tenant_state=None,
                fast=False, flash=None, root=DEFAULT_ROOT, timeout_s=START_TIMEOUT_S, warn=_warn,
                clock_set=True, romfs_bytes=None, owner_pid=None):
    """Start a board's supervisor in the background and wait for its first prompt. Returns
    (board.json as a dict, the supervisor's Popen). With a `state_dir` where a board was started
    before, profile_id may be None: the board starts again with its profile, name and address.
    `owner_pid`: a process the board stops with (a test run, the demo: a board they leave behind
    when killed would hold its address and its port); None for `scanmail board start`, whose
    boards run until `scanmail board stop`."""
    previous = _previous_config(state_dir, profile_id)
    if previous is not None:
        profile_id = previous["profile"]
        name = name or previous.get("name")
        if runtime == "auto" and previous.get("runtime"):
            runtime = previous["runtime"]
        tenant_state = tenant_state or previous.get("tenant_state")
        flash = flash or previous.get("flash")
        fast = fast or bool(previous.get("fast"))
        romfs_bytes = romfs_bytes if romfs_bytes is not None else previous.get("romfs_bytes")
    profile = _load_profile(profile_id)
    try:
        chosen = runtimes.choose(runtime, warn)
    except LookupError as exc:
        raise VirtualBoardError(str(exc))
    with _allocation_lock():
        running_boards = _running_boards(root, state_dir)
        if ip is None and previous is not None and previous.get("ip") not in {b.get("ip") for b in running_boards}:
            ip = previous.get("ip")
        if ip is None:
            ip = _free_ip(running_boards)
        _validate_ip(ip)
        name = name or "%s-%s" % (profile_id, ip.rsplit(".", 1)[1])
        _validate_name(name)
        state_dir = os.path.abspath(state_dir or os.path.join(root, name))
        running = board_status(state_dir)
        if running and running["alive"]:
            raise VirtualBoardError(
                "a board already runs in %s (pid %d, port %s): stop it first with "
                "`scanmail board stop --state %s`" % (state_dir, running["pid"], running["port"], state_dir)
            )
        _check_ip_is_free(ip, state_dir, running_boards)
        from scanmail.emulator.boards import buttons

        buttons.ensure_scanner_pages(state_dir)     # the sample document in its sheet feeder
        proc, log_path = _launch(profile, profile_id, chosen, state_dir, ip, name, tenant_state, fast, flash,
                                 warn, clock_set, romfs_bytes, owner_pid)
    deadline = time.monotonic() + timeout_s
    while True:
        info = board_state.read_board_json(state_dir)
        if info and info.get("ready"):
            return info, proc
        if proc.poll() is not None:
            raise VirtualBoardError("the virtual board %s did not start (supervisor exited %d):\n%s"
                             % (name, proc.returncode, _tail(log_path)))
        if time.monotonic() > deadline:
            if info:
                warn("warning: board %s is running on %s but showed no prompt within %.0f s "
                     "(is main.py still running?)" % (name, info["port"], timeout_s))
                return info, proc
            _stop_pid(proc.pid, proc)
            raise VirtualBoardError("the virtual board %s did not come up within %.0f s:\n%s"
                             % (name, timeout_s, _tail(log_path)))
        time.sleep(0.05)


def _launch(profile, profile_id, chosen, state_dir, ip, name, tenant_state, fast, flash, warn, clock_set,
            romfs_bytes=None, owner_pid=None):
    """Start the supervisor and return (its Popen, its log path) once it has claimed its address
    (written board.json, which the next allocation reads)."""
    if tenant_state:
        tenant_state = os.path.abspath(tenant_state)
        if tenant_state.endswith(".json"):  # the endpoints.json itself was given
            tenant_state = os.path.dirname(tenant_state)
        if not os.path.isdir(tenant_state):
            raise VirtualBoardError("--tenant-state %s is not a folder; give the state folder of a running fake "
                             "tenant (the one holding endpoints.json)" % tenant_state)
        if not os.path.exists(os.path.join(tenant_state, "endpoints.json")):
            # Allowed (the board looks the tenant up on every connection), but often the wrong folder.
            warn("scanmail: warning: no fake tenant runs in %s (no endpoints.json there); the board reaches "
                 "Microsoft 365 names only once one does: `scanmail o365 serve --state %s`, or give the folder "
                 "that holds endpoints.json" % (tenant_state, tenant_state))
    flash = os.path.abspath(flash or os.path.join(state_dir, "flash"))
    os.makedirs(flash, exist_ok=True)
    board_state.remove_board_json(state_dir)
    heap = profile.get("heap_bytes_psram") or profile["heap_bytes"]
    config = {
        "name": name,
        "hostname": "scanner-" + hashlib.sha256(name.encode()).hexdigest()[:4],
        "profile": profile_id,
        "runtime": chosen,
        "ip": ip,
        "flash": flash,
        "state_dir": state_dir,
        "tenant_state": tenant_state,
        "fast": bool(fast),
        "heap_bytes": heap,
        "serial": {
            "kind": _get(profile, "serial.kind", "usb-uart-bridge"),
            "baud": _get(profile, "serial.baud", 115200),
            "rx_buffer_bytes": _get(profile, "serial.rx_buffer_bytes", 260),
        },
        "scanner": profile.get("scanner", "none"),
        "network": profile.get("network", "wifi"),
        "chip": profile.get("chip", "esp32"),
        "flash_bytes": profile.get("flash_bytes", 4 << 20),
        # A ROMFS partition (MicroPython >= 1.25 on a partition table with one); none by default.
        "romfs_bytes": int(romfs_bytes if romfs_bytes is not None else profile.get("romfs_bytes", 0)),
        "filesystem_bytes": profile.get("filesystem_bytes"),
        # Power-on: the RTC is set as if the board's boot had run NTP (firmware that checks
        # certificates needs it); clock_set=False powers on with the clock unset instead.
        "clock_set": bool(clock_set),
        "owner_pid": owner_pid,
    }
    board_state.write_supervisor_config(state_dir, config)
    log_path = os.path.join(state_dir, board_state.LOG)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "scanmail.emulator.boards.supervisor", state_dir],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=state_dir,
            start_new_session=True, close_fds=True,
        )
    deadline = time.monotonic() + CLAIM_TIMEOUT_S
    while board_state.read_board_json(state_dir) is None:
        if proc.poll() is not None:
            raise VirtualBoardError("the virtual board %s did not start (supervisor exited %d):\n%s"
                                    % (name, proc.returncode, _tail(log_path)))
        if time.monotonic() > deadline:
            _stop_pid(proc.pid, proc)
            raise VirtualBoardError("the virtual board %s did not come up within %.0f s:\n%s"
                                    % (name, CLAIM_TIMEOUT_S, _tail(log_path)))
        time.sleep(0.02)
    return proc, log_path


def _stop_pid(pid, proc=None):
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + STOP_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc is not None:
            if proc.poll() is not None:
                return
        elif not _pid_is_supervisor(pid):
            return
        time.sleep(0.05)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    if proc is not None:
        proc.wait()


def stop_board(state_dir, proc=None):
    """Stop the board in `state_dir`; its flash, NVS and logs stay. Returns its last board.json;
    for a board that is already stopped, what it left (with "stopped": True)."""
    status = board_status(state_dir)
    if status is None:
        stopped = stopped_board(state_dir)
        if stopped is not None:
            return stopped
        raise VirtualBoardError("no board was ever started in %s; `scanmail board list --all` shows the boards"
                                % state_dir)
    if status["alive"] or proc is not None:
        _stop_pid(status["pid"], proc)
    board_state.remove_board_json(state_dir)
    return status


def reset_board(state_dir, download=False, timeout_s=START_TIMEOUT_S):
    """Hard reset, as pressing the EN button: boot noise, boot.py, main.py. With download=True the
    BOOT button (GPIO0) is held through the reset, so the chip stays in its ROM's serial download
    mode (what esptool talks to) instead of booting; this returns once the board is in it. A pty
    has no DTR/RTS lines for esptool's auto-reset, so this is how a virtual board gets there."""
    status = board_status(state_dir)
    if status is None or not status["alive"]:
        raise VirtualBoardError("no running board in %s; start one with `scanmail board start`" % state_dir)
    if download:
        config = board_state.read_supervisor_config(state_dir) or {}
        if (config.get("chip") or "esp32") != "esp32":
            raise VirtualBoardError("board %s is an %s: only the ESP32's ROM download mode is emulated; "
                                    "use an esp32 profile (e.g. esp32-devkitc)" % (status["name"], config.get("chip")))
    entries = (board_state.read_board_json(state_dir) or {}).get("download_entries", 0)
    board_state.write_boot_pins(state_dir, download)
    os.kill(status["pid"], signal.SIGUSR1)
    if download:
        deadline = time.monotonic() + timeout_s
        while (board_state.read_board_json(state_dir) or {}).get("download_entries", 0) <= entries:
            if time.monotonic() > deadline or not _pid_is_supervisor(status["pid"]):
                raise VirtualBoardError("board %s did not enter download mode within %.0f s; see %s"
                                        % (status["name"], timeout_s, os.path.join(state_dir, board_state.LOG)))
            time.sleep(0.02)
    return status


def power_cut_board(state_dir):
    """Cut the power, as pulling the plug: the runtime dies at once (flash and NVS keep what was
    written), then the board powers on again."""
    status = board_status(state_dir)
    if status is None or not status["alive"]:
        raise VirtualBoardError("no running board in %s; start one with `scanmail board start`" % state_dir)
    os.kill(status["pid"], signal.SIGUSR2)
    return status


class BoardHandle:
    """A virtual board for tests and the demo: `with BoardHandle("esp32-devkitc", "micropython",
    state_dir, "127.0.0.20", tenant_state) as b:` then talk to `b.port` like a serial port. The
    board stops by itself when the process that made it ends without stopping it (killed)."""

    def __init__(self, profile_id, runtime="auto", state_dir=None, ip=None, tenant_state=None, fast=False,
                 name=None, flash=None, timeout_s=START_TIMEOUT_S, clock_set=True, romfs_bytes=None):
        self.profile_id = profile_id
        self.romfs_bytes = romfs_bytes
        self.requested_runtime = runtime
        self.state_dir = os.path.abspath(state_dir) if state_dir else None
        self.ip = ip
        self.tenant_state = tenant_state
        self.fast = fast
        self.name = name
        self.flash = flash
        self.timeout_s = timeout_s
        self.clock_set = clock_set
        self.info = None
        self._proc = None

    def start(self):
        self.info, self._proc = start_board(
            self.profile_id, self.requested_runtime, self.state_dir, self.ip, self.name, self.tenant_state,
            self.fast, self.flash, timeout_s=self.timeout_s, clock_set=self.clock_set, romfs_bytes=self.romfs_bytes,
            owner_pid=os.getpid(),
        )
        self.state_dir = self.info["state"]
        return self

    port = property(lambda self: self.info["port"])
    runtime = property(lambda self: self.info["runtime"])
    pid = property(lambda self: self.info["pid"])
    flash_dir = property(lambda self: self.info["flash"])

    def stop(self):
        if self._proc is not None:
            stop_board(self.state_dir, self._proc)
            self._proc = None

    def reset(self, download=False):
        reset_board(self.state_dir, download=download)

    def press(self, button="scan", hold=None):
        """Press a button (`hold` True/False: hold it down or let it go instead)."""
        from scanmail.emulator.boards import buttons

        return buttons.press(self.state_dir, button, hold)

    def power_cut(self):
        """Cut the power: the runtime dies at once, flash and NVS keep what was written."""
        return power_cut_board(self.state_dir)

    def set_network(self, **switches):
        """Set network switches (block_ports, block_mode, latency_ms, bandwidth_kbps,
        drop_after_bytes); None removes one. Applies to the next connection the board opens."""
        from scanmail.emulator.boards import netswitches

        return netswitches.update(self.state_dir, switches)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
