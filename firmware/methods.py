# Ways of sending: each Microsoft 365 sending option is a handful of settings, not a code path.
# Rule: fill() returns a complete settings dict (Contract 2) or raises an SMTPError of kind
# "settings" whose `field` names the key and whose text says what to do; credentials are only ever
# allowed together with TLS. send_mail runs prepare() through firmware.call_once: this module is
# loaded for it and let go after it.
from scanmail.firmware.errors import SMTPError
from scanmail.firmware.host_names import is_domain, is_ipv4

# method -> (host, port, tls, auth, tls choices, auth choices). host None = the user must give it
# (never guessed: MX hosts differ per tenant); port None = from the tls mode.
METHODS = {
    "submission": ("smtp.office365.com", 587, "starttls", "login", ("starttls",),
                   ("login", "xoauth2")),
    "direct_send": (None, 25, "opportunistic", "none", ("opportunistic", "starttls"), ("none",)),
    "relay": (None, 25, "starttls", "none", ("starttls", "opportunistic"), ("none",)),
    "hve": ("smtp.hve.mx.microsoft", 587, "starttls", "login", ("starttls",), ("login", "xoauth2")),
    "custom": (None, None, "starttls", "none", ("starttls", "opportunistic", "implicit", "none"),
               ("login", "xoauth2", "plain", "none")),
}

KEYS = ("method", "host", "port", "tls", "auth", "username", "password", "token", "ca_der",
        "client_cert_der", "client_key_der", "ehlo_name", "timeout_s")


def _refused(setting, text):
    """The error for a wrong or missing setting: stage and kind "settings", `field` names it."""
    return SMTPError("settings", "setting %r: %s" % (setting, text), transient=False,
                     kind="settings", field=setting)


def fill(settings):
    """The settings with every default of their method filled in, checked."""
    if not isinstance(settings, dict):
        raise _refused("settings", "must be a dict of settings (see docs/architecture.md)")
    for key in settings:
        if key not in KEYS:
            raise _refused(key, "unknown setting; the settings are: " + ", ".join(KEYS))
    method = settings.get("method") or "submission"
    if method not in METHODS:
        raise _refused("method", "unknown method %r; choose one of %s" % (
            method, ", ".join(sorted(METHODS))))
    row = METHODS[method]
    tls_choices, auth_choices = row[4], row[5]
    out = {"method": method, "username": None, "password": None, "token": None, "ca_der": None,
           "client_cert_der": None, "client_key_der": None, "ehlo_name": None, "timeout_s": 30}
    out["host"], out["port"], out["tls"], out["auth"] = row[0], row[1], row[2], row[3]
    for key in settings:
        if settings[key] is not None:
            out[key] = settings[key]

    if out["tls"] not in tls_choices:
        raise _refused("tls", "%r is not possible with the %s method; choose %s" % (
            out["tls"], method, " or ".join(tls_choices)))
    if out["auth"] not in auth_choices:
        raise _refused("auth", "%r is not possible with the %s method; choose %s" % (
            out["auth"], method, " or ".join(auth_choices)))
    host = out["host"]
    if not host:
        if method in ("direct_send", "relay"):
            raise _refused("host", "missing: set host to your MX endpoint, shown under Manage "
                                   "DNS in the Microsoft 365 admin center (e.g. "
                                   "contoso-com.mail.protection.outlook.com)")
        raise _refused("host", "missing: set host to the mail server's name")
    if not isinstance(host, str) or not (is_domain(host.rstrip(".")) or is_ipv4(host)):
        raise _refused("host", "%r is not a host name; use e.g. smtp.office365.com" % (host,))
    if out["port"] is None:
        out["port"] = 465 if out["tls"] == "implicit" else 587
    given_port = out["port"]
    if not isinstance(given_port, int) or isinstance(given_port, bool) or not 0 < given_port < 65536:
        raise _refused("port", "%r is not a port number (587 for submission, 25 for MX)"
                       % (given_port,))
    for key in ("username", "password", "token"):
        if out[key] is not None and not isinstance(out[key], str):
            # Name the type only: the value may be a secret.
            raise _refused(key, "must be text (a string), not %s" % type(out[key]).__name__)
    if out["auth"] != "none":
        if out["tls"] not in ("starttls", "implicit"):
            raise _refused("tls", "credentials are never sent without TLS: set tls to "
                                  "starttls (or implicit), or auth to none")
        if not out["username"]:
            raise _refused("username", "missing: set it to the mailbox address that signs in")
        if out["auth"] == "xoauth2":
            if not out["token"]:
                raise _refused("token", "missing: sign in (device code) to get an OAuth "
                                        "access token, or use auth = login")
        elif not out["password"]:
            raise _refused("password", "missing: set the mailbox's password, or use "
                                       "auth = xoauth2 with a token")
    for key in ("ca_der", "client_cert_der", "client_key_der"):
        value = out[key]
        if value is not None and not isinstance(value, (bytes, bytearray)):
            raise _refused(key, "must be DER bytes (convert PEM with openssl x509 -outform der)")
    if bool(out["client_cert_der"]) != bool(out["client_key_der"]):
        raise _refused("client_key_der" if out["client_cert_der"] else "client_cert_der",
                       "a client certificate needs both client_cert_der and client_key_der")
    timeout = out["timeout_s"]
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        raise _refused("timeout_s", "%r is not a positive number of seconds" % (timeout,))
    name = out["ehlo_name"]
    if name is not None and ehlo_literal(name) is None:
        raise _refused("ehlo_name", "%r is not a host name or an address literal like "
                                    "[192.0.2.7]" % (name,))
    return out


def prepare(settings, board):
    """fill(settings), with ehlo_name set to the name the board will greet the server with, and
    "secrets": every form in which a secret of this attempt could appear on the wire or in a
    reply (the password, the token, their base64, the AUTH PLAIN and XOAUTH2 blobs), so that
    errors can mask them."""
    out = fill(settings)
    out["ehlo_name"] = choose_ehlo_name(out, board)
    out["secrets"] = _secret_forms(out)
    if out["auth"] == "xoauth2":    # the AUTH line, the same object as its masked form: not held twice
        out["xoauth2"] = out["secrets"][-1]
    return out


def _secret_forms(cfg):
    from binascii import b2a_base64

    secrets = []
    user, password, token = cfg["username"] or "", cfg["password"], cfg["token"]
    # A password travels base64-encoded on its own (AUTH LOGIN); a token only inside the XOAUTH2
    # blob, so its own base64 form is never masked (it would cost a board 2 KB for nothing).
    if password:
        secrets.append(password)
        secrets.append(b2a_base64(password.encode(), newline=False).decode())
        secrets.append(b2a_base64(b"\0" + user.encode() + b"\0" + password.encode(),
                                  newline=False).decode())
    if token:
        secrets.append(token)
        # The XOAUTH2 line (RFC 7628 blob "user=..^Aauth=Bearer ..^A^A", base64) as bytes, made
        # in pieces straight into its one buffer: a token is often 2 KB, and neither the blob nor
        # a text copy of either is ever whole in the heap beside it. Inline, not a function of
        # its own: every name the mail core interns costs a board heap. Last in the list:
        # prepare() hands it to the client.
        step = 96                                     # characters of the token per piece
        head = b"user=" + user.encode() + b"\x01auth=Bearer "
        size = len(head) + 2
        for at in range(0, len(token), step):
            size += len(token[at:at + step].encode())
        line = bytearray((size + 2) // 3 * 4)
        end = 0
        rest = head
        for at in range(0, len(token) + 1, step):
            last = at + step > len(token)
            rest += token[at:at + step].encode() + (b"\x01\x01" if last else b"")
            whole = len(rest) if last else len(rest) // 3 * 3
            piece = b2a_base64(rest[:whole], newline=False)
            line[end:end + len(piece)] = piece
            end += len(piece)
            rest = rest[whole:]
        secrets.append(line)
    return secrets


def ehlo_literal(name):
    """The EHLO argument for `name` (RFC 5321 4.1.3): a host name without trailing dot, or an
    address literal "[a.b.c.d]" for an IP; None if it is neither."""
    if not isinstance(name, str) or not name:
        return None
    if name.startswith("[") and name.endswith("]") and is_ipv4(name[1:-1]):
        return name
    if is_ipv4(name):
        return "[" + name + "]"
    name = name.rstrip(".")
    if is_domain(name) and not name.replace(".", "").isdigit():
        return name
    return None


def choose_ehlo_name(settings, board):
    """settings' ehlo_name, else the board's name, else the board's address as a literal."""
    for candidate in (settings.get("ehlo_name"), getattr(board, "name", None)):
        literal = ehlo_literal(candidate)
        if literal:
            return literal
    try:
        literal = ehlo_literal(board.net.address())
    except Exception:
        literal = None
    return literal or "[127.0.0.1]"
