# The scanner's configuration as people write it: `key=value` pairs on the command line and TOML
# or JSON files, read, written and checked on the host before anything goes to a board. Rule: the
# board's own schema (firmware/app/config_schema.py, plain Python CPython imports) is the only
# definition of a key; this module imports that one module as data and copies nothing from it, so
# host and board refuse the same values with the same words. Secrets are never configuration: a
# file or pair naming one is refused with the command that sets it, and its value is never shown.
import json
import os

from scanmail.firmware.app import config_schema
from scanmail.host_tools.user_error import UserError, read_user_file

FORMATS = ("toml", "json")
# Words that mark a secret's name (the secret store's names: password, refresh_token, client_key,
# wifi_password, and the OAuth ones); such a key is never a setting.
_SECRET_WORDS = ("password", "secret", "token", "client_key", "oauth_")
_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")


def is_secret_name(key):
    return key not in config_schema.SCHEMA and any(word in key.lower() for word in _SECRET_WORDS)


def _refuse_unknown(key):
    if is_secret_name(key):
        raise UserError("%s is a secret, never part of the configuration: set it with `scanmail secret "
                        "set %s --port P` (it is read without echo)" % (key, key))
    raise UserError("%s is not a setting; the settings: %s" % (key, ", ".join(config_schema.SCHEMA)))


def parse_pair(text):
    """`key=value` -> (key, value in the schema's kind): int, bool, a list of hosts ("a,b" or
    JSON), an address book ("alice:alice@contoso.com,bob:bob@contoso.com" or JSON), or text."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise UserError("%r is not KEY=VALUE: write it like method=direct_send" % text)
    if key not in config_schema.SCHEMA:
        _refuse_unknown(key)
    kind = config_schema.SCHEMA[key][0]
    allowed = config_schema.allowed(key)
    if kind == "int":
        try:
            return key, int(raw.strip())
        except ValueError:
            raise UserError("%s takes %s, not %r" % (key, allowed, raw))
    if kind == "bool":
        word = raw.strip().lower()
        if word in _TRUE or word in _FALSE:
            return key, word in _TRUE
        raise UserError("%s takes true or false, not %r" % (key, raw))
    if kind in ("hosts", "book") and raw.strip()[:1] in ("[", "{"):
        try:
            return key, json.loads(raw)
        except ValueError as exc:
            raise UserError("%s: the JSON does not read (%s); %s takes %s" % (key, exc, key, allowed))
    if kind == "hosts":
        return key, [part.strip() for part in raw.split(",") if part.strip()]
    if kind == "book":
        book = {}
        for entry in [part.strip() for part in raw.split(",") if part.strip()]:
            name, colon, address = entry.partition(":")
            if not colon:
                raise UserError("address_book takes name:address pairs, e.g. "
                                "address_book=alice:alice@contoso.com,bob:bob@contoso.com")
            book[name.strip()] = address.strip()
        return key, book
    return key, raw


def parse_pairs(texts):
    changes = {}
    for text in texts:
        key, value = parse_pair(text)
        changes[key] = value
    return changes


def format_of(path, given=None):
    if given:
        return given
    ext = os.path.splitext(path)[1].lower().lstrip(".")
    if ext in FORMATS:
        return ext
    raise UserError("%s: say the format with --format toml or --format json (or name the file .toml "
                    "or .json)" % path)


def read_file(path, fmt=None):
    """The settings in a TOML or JSON file (flat keys, or the board's own {"version", "settings"})."""
    fmt = format_of(path, fmt)
    data = read_user_file(path)
    try:
        if fmt == "json":
            doc = json.loads(data)
        else:
            try:
                import tomllib
            except ImportError:        # Python 3.10
                import tomli as tomllib
            doc = tomllib.loads(data.decode("utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:   # TOMLDecodeError and JSONDecodeError are ValueErrors
        raise UserError("%s is not valid %s: %s" % (path, fmt.upper(), exc))
    if isinstance(doc, dict) and isinstance(doc.get("settings"), dict) and "version" in doc:
        doc = doc["settings"]
    if not isinstance(doc, dict):
        raise UserError("%s must hold settings as key = value pairs (a JSON object)" % path)
    for key in doc:
        if key not in config_schema.SCHEMA:
            _refuse_unknown(key)
    return doc


def _toml_value(value):
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value)       # JSON's string escapes are TOML's basic-string escapes
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join("%s = %s" % (json.dumps(k), _toml_value(v)) for k, v in value.items()) + "}"
    raise ValueError("no TOML form for %r" % (value,))


def render(settings, fmt, comment=None):
    """The settings as a TOML or JSON document (text), keys in the schema's order."""
    ordered = {key: settings[key] for key in config_schema.SCHEMA if key in settings}
    if fmt == "json":
        return json.dumps(ordered, indent=2) + "\n"
    lines = ["# " + line for line in (comment or "").splitlines()]
    lines += ["%s = %s" % (key, _toml_value(value)) for key, value in ordered.items()]
    return "\n".join(lines) + "\n"


def write_file(path, settings, fmt=None, comment=None):
    text = render(settings, format_of(path, fmt), comment)
    try:
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)
    except OSError as exc:
        raise UserError("cannot write %s: %s" % (path, exc.strerror or exc))


def check_keys(changes):
    """Each key on its own, by the schema (no board needed): -> the values in stored form."""
    if not changes:
        raise UserError("nothing to set: give one or more KEY=VALUE, e.g. method=direct_send")
    out = {}
    for key, value in changes.items():
        if key not in config_schema.SCHEMA:
            _refuse_unknown(key)
        try:
            out[key] = config_schema.check(key, value)
        except config_schema.ConfigError as err:
            raise UserError("%s refused; allowed: %s; you gave %s" % (key, err.allowed, json.dumps(value)))
    return out


def check_against(current, changes):
    """The changes applied to `current` (a board's settings, or the defaults), each key and the rules
    between keys checked as the board checks them; -> the new settings."""
    changes = check_keys(changes)
    new = dict(config_schema.defaults())
    new.update(current)
    new.update(changes)
    problem = config_schema.check_whole(new)
    if problem:
        raise UserError("%s: %s" % problem)
    return new


def changed(current, wanted):
    """The part of `wanted` that differs from `current`."""
    return {key: value for key, value in wanted.items() if current.get(key) != value}
