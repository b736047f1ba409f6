# Migrations of the stored configuration from older versions, one function per version step.
# Rule: a migration only renames and reshapes keys (values are checked afterwards against the
# schema, as if the user had set them), and it never drops a value silently: what it cannot map is
# returned in `dropped` for the log. Loaded only when an older file is found (call_once).


def _from_1(old, dropped):
    # version 1 called the way of sending "profile" and had one destination, "to"
    new = {}
    for key in old:
        value = old[key]
        if key == "profile":
            new["method"] = value
        elif key == "to":
            if value:
                new["address_book"] = {"default": value}
                new["default_destination"] = "default"
        elif key == "keep_documents":
            new["keep_sent"] = bool(value)
        else:
            new[key] = value
    return new


_STEPS = {1: _from_1}


def migrate(version, settings):
    """(settings in the current version's form, list of keys dropped); ValueError for a version
    this firmware does not know."""
    from scanmail.firmware.app.config_schema import SCHEMA, VERSION

    if not isinstance(version, int) or version < 1 or version > VERSION:
        raise ValueError("configuration version %r is not one this firmware reads (1..%d): "
                         "restore it with `config set` or reset it" % (version, VERSION))
    dropped = []
    while version < VERSION:
        settings = _STEPS[version](settings, dropped)
        version += 1
    for key in list(settings):
        if key not in SCHEMA:
            dropped.append(key)
            settings.pop(key)
    return settings, dropped
