# Syntax of host names and IPv4 addresses, shared by the two checks that run once per send:
# firmware/methods.py (the host and EHLO name settings) and firmware/message_checks.py (the domain
# of an address). A module of its own so that neither check has to load the other.
# Rule: characters are checked as bytes of the UTF-8 text, never one str at a time: MicroPython interns
# every one-character string it iterates over, for good, and the checks must not fill a small heap
# with the alphabet.


def letters_digits_or(raw, extra):
    """True if every byte of `raw` is an ASCII letter or digit, or one of `extra`."""
    for b in raw:
        if not ((48 <= b <= 57) or (65 <= b <= 90) or (97 <= b <= 122) or b in extra):
            return False
    return True


def is_domain(name):
    """A DNS host name: dot-separated labels of ASCII letters, digits and inner hyphens."""
    if not name or len(name) > 253:
        return False
    for label in name.split("."):
        if not label or len(label) > 63 or label.startswith("-") or label.endswith("-"):
            return False
        if not letters_digits_or(label.encode(), b"-"):
            return False
    return True


def is_ipv4(text):
    """Four dot-separated decimal numbers of 0 to 255."""
    parts = text.split(".")
    if len(parts) != 4:
        return False
    for part in parts:
        if not part.isdigit() or int(part) > 255:
            return False
    return True
