# `scanmail flash`: puts scanmail onto one board or several at once (host_tools/flash.py does one
# board), with a progress bar per board and a summary table. Rule: boards are flashed in parallel
# threads, one per port; a board that fails never stops the others, and each failure is one line.
import json
import sys
import threading

from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeElapsedColumn

from scanmail.emulator.boards.lifecycle import DEFAULT_ROOT
from scanmail.host_tools import serial_ports, terminal
from scanmail.host_tools.app_install import BOARD_CA_PATH
from scanmail.host_tools.flash import BUILDS, BoardFlash, FlashError
from scanmail.host_tools.user_error import UserError, read_user_file

EXAMPLES = """examples:
  scanmail flash --port /dev/ttyUSB0
  scanmail flash --port COM3 --port COM4            two boards at once
  scanmail flash --all                              every board `scanmail ports` shows
  scanmail flash --port /dev/pts/5 --build stock    .py sources (readable tracebacks)
  scanmail flash --port /dev/ttyUSB0 --profile wt32-eth01   the board's pins (Ethernet) too
  scanmail flash --port /dev/pts/5 --ca .state/tenant/ca.pem   a CA the board trusts (own server, fake tenant)
  scanmail flash --port socket://192.0.2.7:23 --no-reset
  scanmail flash --port /dev/ttyUSB0 --micropython ESP32_GENERIC-v1.26.0.bin    MicroPython first (esptool)
  scanmail flash --port /dev/ttyUSB0 --micropython FW.bin --manual-download     BOOT held, EN pressed by hand

Only what changed goes over the wire. The application is written beside the one that boots and
switched in one step: a cable pulled at any moment leaves the old or the new application, never a
mix. main.py (which starts the scanner application at boot), with --profile /board.json (the
board's hardware) and with --ca /ca.der (then `scanmail config set ca_path=/ca.der --port P`) are
written beside it. Configuration, secrets and the outbox stay.
"""


def ports_to_flash(args):
    if args.port and args.all:
        raise UserError("give --port P (one or more) or --all, not both")
    if args.port:
        return list(dict.fromkeys(args.port))
    if args.all:
        rows = [r for r in serial_ports.all_ports(args.boards_dir or [DEFAULT_ROOT]) if r["virtual"] or r["bridge"]]
        if not rows:
            raise UserError("--all found no board: plug one in or start a virtual board (`scanmail board start`), "
                            "then check `scanmail ports`")
        return [r["port"] for r in rows]
    raise UserError("say which board: --port /dev/ttyUSB0 (see `scanmail ports`), or --all")


def site_files(profile=None, ca=None):
    """The files beside the application's slots: main.py, which starts the scanner application at
    boot; with `profile` (a board id of hardware/boards) /board.json, the board's hardware
    (network, Ethernet pins, status light, scanner) that the firmware reads at start; with `ca` (a
    PEM or DER certificate file on the host) /ca.der, the root the configuration's ca_path names."""
    from scanmail.host_tools.app_install import board_file

    files = {"/main.py": board_file("main.py")}
    if ca is not None:
        files[BOARD_CA_PATH] = ca_der(ca)
    if profile is not None:
        from scanmail.hardware import profiles

        try:
            config = profiles.board_config(profile)
        except profiles.ProfileError as exc:
            raise UserError("--profile %s" % exc)
        files["/board.json"] = (json.dumps(config, sort_keys=True) + "\n").encode()
    return files


def ca_der(path):
    """The one certificate in a PEM or DER file, as DER (what the board's TLS loads), or UserError."""
    from cryptography import x509

    data = read_user_file(path)
    try:
        if b"-----BEGIN" in data:
            certs = x509.load_pem_x509_certificates(data)
        else:
            certs = [x509.load_der_x509_certificate(data)]
    except ValueError:
        raise UserError("--ca %s is not a certificate (PEM or DER): give the CA that signed the server's "
                        "certificate, e.g. .state/tenant/ca.pem for the fake tenant" % path) from None
    if len(certs) != 1:
        raise UserError("--ca %s holds %d certificates; the board trusts one: give the CA that signed the "
                        "server's certificate" % (path, len(certs)))
    from cryptography.hazmat.primitives.serialization import Encoding

    return certs[0].public_bytes(Encoding.DER)


def flash_all(ports, build, reset, on_progress=None, on_stage=None, micropython=None, manual_download=False,
              boards_dirs=(), files=None):
    """Flash every port in parallel; returns [(port, summary or None, error text or None)]. With
    `micropython` (a firmware .bin) esptool writes it first (flash_micropython.py). `files`:
    {board path: bytes} put beside the slots (site_files())."""
    results = {}

    def one(port):
        try:
            written = None
            if micropython:
                from scanmail.host_tools.flash_micropython import write_micropython

                written = write_micropython(
                    port, micropython, manual_download=manual_download, boards_dirs=boards_dirs,
                    progress=(lambda d, t: on_progress(port, d, t)) if on_progress else None,
                    stage=(lambda s: on_stage(port, s)) if on_stage else None)
            flasher = BoardFlash(port, build, reset,
                                 progress=(lambda d, t: on_progress(port, d, t)) if on_progress else None,
                                 stage=(lambda s: on_stage(port, s)) if on_stage else None, files=files)
            summary = flasher.run()
            summary["micropython"] = written
            results[port] = (summary, None)
        except FlashError as exc:
            results[port] = (None, str(exc))

    threads = [threading.Thread(target=one, args=(port,), daemon=True) for port in ports]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [(port,) + results[port] for port in ports]


def do_flash(args):
    ports = ports_to_flash(args)
    files = site_files(args.profile, args.ca)
    if args.manual_download and not args.micropython:
        raise UserError("--manual-download goes with --micropython FIRMWARE.bin (it says how esptool reaches the "
                        "board); leave it out to install scanmail only")
    out = terminal.console(stderr=True)
    with Progress(TextColumn("{task.fields[port]:<16}"), TextColumn("{task.fields[stage]:<18}"), BarColumn(),
                  DownloadColumn(), TimeElapsedColumn(), console=out, transient=False,
                  disable=args.quiet) as progress:
        tasks = {port: progress.add_task("", total=None, port=port, stage="waiting") for port in ports}
        results = flash_all(
            ports, args.build, not args.no_reset, micropython=args.micropython,
            manual_download=args.manual_download, boards_dirs=args.boards_dir or (), files=files,
            on_progress=lambda port, done, total: progress.update(tasks[port], completed=done, total=total),
            on_stage=lambda port, stage: progress.update(tasks[port], stage=stage))
        for port, summary, error in results:
            progress.update(tasks[port], stage="failed" if error else summary["status"])
    failures = [(port, error) for port, _, error in results if error]
    if args.json:
        print(json.dumps([dict(summary or {}, port=port, error=error) for port, summary, error in results], indent=2))
        return 2 if failures else 0
    rows = []
    for port, summary, error in results:
        if error:
            rows.append([port, "-", "-", "-", "-", "-", "-", "failed", "-"])
        else:
            rows.append([port, "%s %s" % (summary["runtime"], summary["version"]), summary["build"],
                         summary["sent"], summary["copied"], summary["unchanged"], summary["removed"],
                         "%s%s, slot %s%s" % ("MicroPython written; " if summary.get("micropython") else "",
                                              summary["status"], summary["slot"],
                                            "; " + summary["romfs_note"] if summary.get("romfs_note") else ""),
                         "%.1f s" % summary["seconds"]])
    terminal.print_table(["port", "board runs", "build", "sent", "copied", "same", "removed", "result", "time"], rows)
    for port, error in failures:
        print("scanmail: %s" % error, file=sys.stderr)
    if args.ca and len(failures) < len(results):
        print("the CA is %s on the board; the application trusts it once its configuration says so:\n"
              "  scanmail config set ca_path=%s --port %s" % (BOARD_CA_PATH, BOARD_CA_PATH,
                                                              [p for p, _, e in results if not e][0]))
    return 2 if failures else 0


def register(parser):
    parser.epilog = EXAMPLES
    parser.add_argument("--port", action="append", metavar="P",
                        help="serial port or pyserial URL of a board (repeat for several)")
    parser.add_argument("--all", action="store_true", help="every board `scanmail ports` lists")
    parser.add_argument("--build", choices=BUILDS, default="product",
                        help="product: compiled .mpy files (default); stock: .py sources")
    parser.add_argument("--no-reset", action="store_true", help="leave the board in the REPL afterwards")
    parser.add_argument("--profile", metavar="ID",
                        help="the board's profile (hardware/boards/ID.toml, e.g. wt32-eth01): its network, "
                             "Ethernet pins, status light and scanner go to /board.json on the board")
    parser.add_argument("--ca", metavar="FILE",
                        help="a CA certificate (PEM or DER) the board is to trust, written to /ca.der: your "
                             "own mail server's, a TLS-inspecting proxy's, or the fake tenant's "
                             "(.state/tenant/ca.pem); Microsoft 365's roots are built in")
    parser.add_argument("--micropython", metavar="FIRMWARE.bin",
                        help="first write this MicroPython firmware (ESP32, at 0x1000) with esptool")
    parser.add_argument("--manual-download", action="store_true",
                        help="with --micropython: the board is already in download mode (BOOT held while "
                             "EN was pressed); esptool does not reset it")
    parser.add_argument("--boards-dir", action="append", metavar="DIR",
                        help="with --all: where virtual boards keep their state (default .state/boards)")
    parser.add_argument("--json", action="store_true", help="print a JSON list of results instead of the table")
    parser.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    parser.set_defaults(handler=do_flash)
