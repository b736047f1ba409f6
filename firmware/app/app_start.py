# The scanner application's start: what to load before anything else (and in which order), the
# board's NVS, safe mode, and the application itself. Loaded once per boot by app_loop (boot) and
# let go once the application runs: its tables and functions are needed once per boot, and the
# heap they would hold is the send's (docs/architecture.md, "Heap budget").
from scanmail.firmware.app.app_loop import code_in_heap


# Every module the application will use, imported at start with a collection after each, the
# largest and longest-lived first: imported later, in the middle of work, their code would land
# among short-lived objects and split the free heap into pieces too small for a send (a stock build
# loads each module's bytecode into the heap; the largest free block is then ten times larger).
PRELOAD = ("mail", "app.outbox_worker", "app.scan", "app.pdf_writer", "app.jpeg_info",
           "app.secret_store", "app.application", "app.config_schema", "app.console_commands",
           "app.console_session", "app.console_protocol", "app.improv", "app.improv_provisioning",
           "app.network_setup", "board")
# Where the bytecode stays in flash (a ROMFS partition, or frozen into the firmware), importing a
# module costs only its function and class objects, and a module that is let go gives them back:
# there only the modules every moment needs are loaded at start, and the steps that run now and
# then (a scan and its PDF writer, a console command, the configuration schema) are loaded for the
# call and let go after it (firmware.call_once), so the heap a send needs is free while it sends;
# the console's session and framing too, for as long as a request takes (LazyConsole).
RESIDENT = ("mail", "app.outbox_worker", "app.secret_store", "app.application", "app.improv")
# ... and those steps are loaded once at start and let go at once, before the resident modules: the
# names they intern stay, so the pools that hold names (allocated whole, each twice the last: the
# 621st name of a run costs a 7 KB block on the unix port) are allocated now, at the bottom of an
# empty heap, rather than in the middle of the first scan or send, where such a block splits the
# free space the send needs.
ONCE = ("app.scan", "app.console_session", "app.console_commands", "app.config_schema", "methods",
        "tls_setup", "mime_headers", "diagnosis", "app.improv_provisioning", "app.network_setup")
# When the configuration signs in by OAuth (auth "xoauth2"), the sign-in and the signed-in send
# stay loaded too, and the token request (with its JSON reader) is loaded once at start, as above:
# it runs before sends.
OAUTH_RESIDENT = ("oauth", "app.oauth_sign_in", "oauth_send")
OAUTH_ONCE = ("token_request", "json_fields")


def preload(oauth=False):
    """Load what stays loaded (see above); `oauth`: the configuration says auth "xoauth2". The
    board's TLS context (one block of about 3 KB, firmware.compat.TLS) is made first, at the bottom
    of the heap, and kept: every send and token request uses it."""
    from scanmail.firmware import compat

    if compat.TLS[1] is None:
        compat.TLS[1] = compat.new_tls_client_context()
    _load(ONCE, PRELOAD if code_in_heap() else RESIDENT)
    if oauth:
        preload_oauth()


def preload_oauth():
    """What preload() adds for a configuration that signs in by OAuth (main() calls it once the
    board, which holds the configuration, is open)."""
    _load(OAUTH_ONCE, OAUTH_RESIDENT + OAUTH_ONCE if code_in_heap() else OAUTH_RESIDENT)


def _load(once, resident):
    import gc

    if not code_in_heap():
        from scanmail.firmware import call_once

        for name in once:
            call_once(name)
    for name in resident:
        __import__("scanmail.firmware." + name)
        gc.collect()


def boot(board, capacity, echo):
    """The whole start as app_loop.main runs it, in one call, so that this module is loaded once
    per boot: what stays loaded, the board (`board`, or the one the board file describes), the
    sign-in's modules when the stored configuration says auth "xoauth2", then the application with
    the board's NVS; -> the Application, or None when the scan button is held (safe mode)."""
    preload()                    # first: what stays loaded lies at the bottom of the heap
    from scanmail.firmware.app.config_store import stored_value
    from scanmail.firmware.board import open_board

    board = board or open_board()
    if stored_value(board.storage_root.rstrip("/") + "/config.json", "auth") == "xoauth2":
        preload_oauth()
    if safe_mode(board):
        return None
    return application(board, open_nvs(), capacity, echo)


def open_nvs():
    try:
        import esp32
    except ImportError:
        return None
    return esp32.NVS("scanmail")


def safe_mode(board):
    """True when the scan button is held at boot: the application stays off, the REPL comes up."""
    button = getattr(board, "scan_button", None)
    return bool(button is not None and button.held())


def application(board, nvs=None, capacity=None, echo=None):
    """The Application, made after the modules are loaded and collected, so that its parts lie
    together (application.py)."""
    import gc

    from scanmail.firmware.app.application import Application

    gc.collect()
    app = Application(board, nvs, capacity=capacity, echo=echo)
    gc.collect()                 # the session next to the application's parts (application.py)
    return app
