# Reading the Maildirs for the workbench and its API: folder counts, a folder's messages newest first
# one page at a time, one message's headers, body, parts and exact source, and deleting. Rule: a
# page costs one directory listing plus the headers of the messages on it, never a parse of the whole
# folder; a message is named by (mailbox, folder, key), its key being the Maildir name without the
# ":2,<flags>" a mail client may add.
import email.parser
import email.policy
import os
import shutil

from scanmail.emulator.tenant.line_ends import EXACT_FOLDER, exact_bytes, exact_path
from scanmail.emulator.tenant.mail_store import FOLDERS, INTERNET

HEADER_READ = 64 * 1024
PAGE_LIMIT = 500


class MessageNotFound(LookupError):
    pass


def folders_of(address):
    return (None,) if address == INTERNET else FOLDERS


def _entries(path):
    """[(key, file path)] of a Maildir folder, oldest first."""
    found = []
    for sub in ("new", "cur"):
        try:
            names = os.listdir(os.path.join(path, sub))
        except FileNotFoundError:
            continue
        found.extend((name.split(":", 1)[0], os.path.join(path, sub, name)) for name in names)
    found.sort()
    return found


def count(store, address, folder):
    path = store.folder_path(address, folder)
    total = 0
    for sub in ("new", "cur"):
        try:
            total += len(os.listdir(os.path.join(path, sub)))
        except FileNotFoundError:
            pass
    return total


def mailboxes(store, tenant):
    """Every tenant mailbox and the internet, each with its folders' message counts."""
    rows = []
    for address in sorted(tenant.mailboxes):
        rows.append({"address": address, "kind": tenant.mailboxes[address].kind,
                     "folders": {folder: count(store, address, folder) for folder in FOLDERS}})
    rows.append({"address": INTERNET, "kind": "internet", "folders": {"Inbox": count(store, INTERNET, None)}})
    return rows


def _header_parser():
    return email.parser.BytesParser(policy=email.policy.default)


def read_headers(path):
    with open(path, "rb") as f:
        head = f.read(HEADER_READ)
    end = head.find(b"\n\n")
    return _header_parser().parsebytes(head[:end + 1] if end >= 0 else head, headersonly=True)


def summary(key, path, headers):
    return {"key": key, "from": str(headers.get("From", "")), "to": str(headers.get("To", "")),
            "subject": str(headers.get("Subject", "")), "date": str(headers.get("Date", "")),
            "message_id": str(headers.get("Message-ID", "")), "size": os.path.getsize(path),
            "has_attachments": "multipart/mixed" in str(headers.get("Content-Type", "")).lower(),
            "scl": str(headers.get("X-MS-Exchange-Organization-SCL", ""))}


def page(store, address, folder, offset=0, limit=50):
    """One page of a folder, newest first: {"total", "offset", "limit", "messages": [summary]}."""
    entries = _entries(store.folder_path(address, folder))
    total = len(entries)
    chosen = entries[::-1][offset:offset + limit]
    messages = []
    for key, path in chosen:
        try:
            messages.append(summary(key, path, read_headers(path)))
        except FileNotFoundError:    # deleted meanwhile
            total -= 1
    return {"total": total, "offset": offset, "limit": limit, "messages": messages}


def find(store, address, folder, key):
    if not key or "/" in key or key.startswith("."):
        raise MessageNotFound("no message %r" % key)
    path = store.folder_path(address, folder)
    candidate = os.path.join(path, "new", key)
    if os.path.exists(candidate):
        return candidate
    try:
        for name in os.listdir(os.path.join(path, "cur")):
            if name.split(":", 1)[0] == key:
                return os.path.join(path, "cur", name)
    except FileNotFoundError:
        pass
    raise MessageNotFound("no message %r in %s/%s (deleted, or the tenant was reset)" % (key, address, folder or ""))


def parse(path):
    with open(path, "rb") as f:
        return _header_parser().parse(f)


def source(path):
    return exact_bytes(path)


def leaf_parts(message):
    """Every non-multipart part in order (the index names a part in the API)."""
    return [part for part in message.walk() if not part.is_multipart()]


def part_payload(part):
    payload = part.get_payload(decode=True)
    return payload if payload is not None else b""


def detail(path, key):
    message = parse(path)
    parts = []
    body_part = None
    try:
        body_part = message.get_body(preferencelist=("plain", "html"))
    except (KeyError, LookupError):
        body_part = None
    for index, part in enumerate(leaf_parts(message)):
        parts.append({"index": index, "content_type": part.get_content_type(), "filename": part.get_filename(),
                      "size": len(part_payload(part)), "disposition": part.get_content_disposition() or "",
                      "is_body": part is body_part})
    body, body_type = "", "text/plain"
    if body_part is not None:
        body_type = body_part.get_content_type()
        try:
            body = body_part.get_content()
        except (LookupError, ValueError):   # an unknown charset: show the bytes as best we can
            body = part_payload(body_part).decode("utf-8", "replace")
    return {"key": key, "headers": [[name, str(value)] for name, value in message.items()],
            "subject": str(message.get("Subject", "")), "body": body, "body_type": body_type, "parts": parts,
            "size": os.path.getsize(path)}


def part(path, index):
    parts = leaf_parts(parse(path))
    if not 0 <= index < len(parts):
        raise MessageNotFound("the message has parts 0-%d, not %d" % (len(parts) - 1, index))
    chosen = parts[index]
    return chosen.get_content_type(), chosen.get_filename(), part_payload(chosen)


def delete(path):
    for name in (exact_path(path), path):
        try:
            os.unlink(name)
        except FileNotFoundError:
            pass


def empty(store, address, folder):
    """Delete every message of a folder; returns how many there were."""
    path = store.folder_path(address, folder)
    entries = _entries(path)
    for _key, file_path in entries:
        try:
            os.unlink(file_path)
        except FileNotFoundError:
            pass
    shutil.rmtree(os.path.join(path, EXACT_FOLDER), ignore_errors=True)
    return len(entries)
