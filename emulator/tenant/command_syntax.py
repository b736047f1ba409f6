# Parsing of SMTP command arguments (RFC 5321 section 4.1.2 paths and ESMTP parameters, the SASL
# XOAUTH2 string) and making client text safe to echo. Rule: pure functions, bytes or text in,
# values out; a malformed argument gives None, never an exception.


def printable(text, limit=64):
    """A client's word made safe to echo in a reply: printable ASCII only, bounded (RFC 5321 4.5.3.1.5)."""
    cleaned = "".join(c if " " <= c <= "~" else "?" for c in text[:limit])
    return cleaned + ("..." if len(text) > limit else "")


def certificate_names(cert):
    names = []
    if not cert:
        return names
    for kind, value in cert.get("subjectAltName", ()):
        if kind == "DNS":
            names.append(value)
    for rdn in cert.get("subject", ()):
        for key, value in rdn:
            if key == "commonName":
                names.append(value)
    return names


def parse_path(arg, keyword):
    """'FROM:<a@b> SIZE=10' -> ('a@b', {'SIZE': '10'}); None on syntax errors; address None if bad."""
    if arg[:len(keyword)].upper() != keyword:
        return None
    rest = arg[len(keyword):].lstrip()
    if rest.startswith("<"):
        close = rest.find(">")
        if close < 0:
            return None
        address, rest = rest[1:close], rest[close + 1:]
    else:
        address, _, rest = rest.partition(" ")
    params = {}
    for word in rest.split():
        key, _, value = word.partition("=")
        params[key.upper()] = value
    if address == "" and keyword == "FROM:":
        return "", params          # the null reverse-path
    if address.count("@") != 1 or not all(address.split("@")) or any(c in address for c in " <>\"\\") \
            or any(c < " " or c == "\x7f" for c in address):
        return None, params
    return address, params


def login_name(text):
    """The user name of a failed sign-in as the trace may keep it: the text when it is a plain
    e-mail address (local@domain.tld, printable ASCII, no spaces, at most 254 characters), else "".
    A client that puts a password, a token or a whole AUTH blob in the user name field gets nothing
    of it recorded."""
    if not isinstance(text, str) or not 3 <= len(text) <= 254 or text.count("@") != 1:
        return ""
    local, domain = text.split("@")
    labels = domain.split(".")
    if not local or len(local) > 64 or len(labels) < 2:
        return ""
    if any(not ("!" <= c <= "~") or c in "<>()[]\\,;:\"@" for c in local):
        return ""
    for label in labels:
        if not label or len(label) > 63 or label[0] == "-" or label[-1] == "-" or \
                not all(c.isascii() and (c.isalnum() or c == "-") for c in label):
            return ""
    if labels[-1].isdigit():
        return ""
    return text


def unsupported(params, allowed):
    for key in params:
        if key not in allowed:
            return key
    return None


def parse_xoauth2(raw):
    """`user=<addr>^Aauth=Bearer <token>^A^A` -> (address, token); ('', '') when malformed."""
    text = raw.decode("utf-8", "replace")
    user, token = "", ""
    for part in text.split("\x01"):
        if part.startswith("user="):
            user = part[5:]
        elif part.startswith("auth="):
            scheme, _, value = part[5:].partition(" ")
            if scheme.lower() == "bearer":
                token = value.strip()
    return user, token
