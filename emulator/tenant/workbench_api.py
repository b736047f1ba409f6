# The HTTP endpoints behind the workbench (the web page at the root of the tenant's API address):
# mailboxes and folders, a message's parts, attachments and exact source, delete and empty, the
# trace searched and paged, the tenant read and changed, live events, and the page's own files.
# Rule: handlers take (world, query, body) like http_api's and return (status, JSON), Raw or an
# EventStream; every change made here is published as a live event; docs/tenant-api.md documents
# every route.
import mimetypes
import os

from scanmail.emulator.tenant import antispam_notes, mail_reader, tenant_switches, trace_query
from scanmail.emulator.tenant.api_answers import ApiError, EventStream, Raw
from scanmail.emulator.tenant.live_events import LiveEvents
from scanmail.emulator.tenant.mail_store import FOLDERS, INTERNET

PAGE_FILES = os.path.join(os.path.dirname(os.path.abspath(__file__)), "workbench")
SAFE_INLINE = ("application/pdf", "image/jpeg", "image/png", "image/gif", "text/plain")


class Workbench:
    """What the workbench keeps beside the world: the live event hub and the tenant file's switches."""

    def __init__(self, world):
        self.events = LiveEvents()
        self.defaults = tenant_switches.Defaults(world.tenant)
        world.trace.listeners.append(lambda record: self.events.publish("trace", record))

    def close(self):
        self.events.close()


def _place(world, query, need_key=True):
    mailbox = (query.get("mailbox") or "").lower()
    if not mailbox:
        raise ApiError(400, "give ?mailbox=ADDRESS (or internet), &folder=%s%s"
                       % ("|".join(FOLDERS), " and &key=KEY (from GET /api/folder)" if need_key else ""))
    if mailbox != INTERNET and world.tenant.mailbox(mailbox) is None:
        raise ApiError(404, "no mailbox %r; the tenant has %s" % (mailbox, ", ".join(sorted(world.tenant.mailboxes))))
    folder = None if mailbox == INTERNET else query.get("folder", "Inbox")
    if folder is not None and folder not in FOLDERS:
        raise ApiError(400, "folder must be one of %s, got %r" % (", ".join(FOLDERS), folder))
    if not need_key:
        return mailbox, folder, None
    try:
        return mailbox, folder, mail_reader.find(world.store, mailbox, folder, query.get("key", ""))
    except mail_reader.MessageNotFound as exc:
        raise ApiError(404, str(exc))


def _whole(query, name, default, highest):
    value = query.get(name, "")
    if value == "":
        return default
    if not value.isdigit() or int(value) > highest:
        raise ApiError(400, "%s must be a whole number from 0 to %d, got %r" % (name, highest, value))
    return int(value)


def get_mailboxes(world, query, body):
    return 200, mail_reader.mailboxes(world.store, world.tenant)


def get_folder(world, query, body):
    mailbox, folder, _ = _place(world, query, need_key=False)
    offset = _whole(query, "offset", 0, 10 ** 9)
    limit = _whole(query, "limit", 50, mail_reader.PAGE_LIMIT)
    answer = mail_reader.page(world.store, mailbox, folder, offset, limit)
    answer.update(mailbox=mailbox, folder=folder)
    return 200, answer


def delete_folder(world, query, body):
    mailbox, folder, _ = _place(world, query, need_key=False)
    deleted = mail_reader.empty(world.store, mailbox, folder)
    world.workbench.events.publish("mail", {"mailbox": mailbox, "folder": folder, "emptied": deleted})
    return 200, {"deleted": deleted}


def get_message(world, query, body):
    mailbox, folder, path = _place(world, query)
    answer = mail_reader.detail(path, query["key"])
    answer.update(mailbox=mailbox, folder=folder, antispam=antispam_notes.explain(answer["headers"]))
    return 200, answer


def delete_message(world, query, body):
    mailbox, folder, path = _place(world, query)
    mail_reader.delete(path)
    world.workbench.events.publish("mail", {"mailbox": mailbox, "folder": folder, "deleted": query["key"]})
    return 200, {"deleted": query["key"]}


def get_source(world, query, body):
    _mailbox, _folder, path = _place(world, query)
    name = query["key"] + ".eml"
    disposition = "attachment" if query.get("download") else "inline"
    return 200, Raw(mail_reader.source(path), "text/plain; charset=utf-8",
                    {"Content-Disposition": '%s; filename="%s"' % (disposition, name),
                     "Content-Security-Policy": "sandbox"})


def get_part(world, query, body):
    _mailbox, _folder, path = _place(world, query)
    index = _whole(query, "part", -1, 10 ** 6)
    if index < 0:
        raise ApiError(400, "give &part=N, the index of a part from GET /api/message")
    try:
        content_type, filename, payload = mail_reader.part(path, index)
    except mail_reader.MessageNotFound as exc:
        raise ApiError(404, str(exc))
    safe_name = (filename or "part-%d" % index).replace('"', "").replace("\\", "")
    safe_name = "".join(ch for ch in safe_name if ch.isprintable() and ord(ch) < 128) or "part-%d" % index
    inline = content_type in SAFE_INLINE and not query.get("download")
    headers = {"Content-Disposition": '%s; filename="%s"' % ("inline" if inline else "attachment", safe_name),
               "X-Content-Type-Options": "nosniff"}
    if content_type != "application/pdf":       # Chromium's PDF viewer does not run in a sandboxed document
        headers["Content-Security-Policy"] = "sandbox"
    return 200, Raw(payload, content_type if inline else "application/octet-stream", headers)


def get_trace_search(world, query, body):
    try:
        return 200, trace_query.search(world.trace.records(), query)
    except trace_query.QueryError as exc:
        raise ApiError(400, str(exc))


def get_tenant(world, query, body):
    return 200, tenant_switches.view(world.tenant)


def post_tenant(world, query, body):
    try:
        answer = tenant_switches.apply(world.tenant, world.dns, body)
    except tenant_switches.SwitchError as exc:
        raise ApiError(400, str(exc))
    world.workbench.events.publish("tenant", {})
    return 200, answer


def reset_switches(world):
    """Part of POST /api/reset: the tenant file's switches, connectors and SPF records again."""
    world.workbench.defaults.restore(world.tenant, world.dns)
    world.workbench.events.publish("reset", {})


def get_events(world, query, body):
    return 200, EventStream(world.workbench.events.subscribe())


def page_file(path):
    """GET / and /workbench/<file>: the page's own files, shipped with the package."""
    name = "index.html" if path in ("", "/") else path[len("/workbench/"):]
    if not name or "/" in name or name.startswith(".") or not os.path.isfile(os.path.join(PAGE_FILES, name)):
        raise ApiError(404, "no such file %s; the workbench is at /" % path)
    with open(os.path.join(PAGE_FILES, name), "rb") as f:
        data = f.read()
    content_type = mimetypes.guess_type(name)[0] or "application/octet-stream"
    if content_type.startswith("text/") or content_type.endswith("javascript"):
        content_type += "; charset=utf-8"
    return 200, Raw(data, content_type, {"Cache-Control": "no-cache", "Content-Security-Policy":
                                         "default-src 'self'; img-src 'self' data:; frame-src 'self'; "
                                         "object-src 'self'; style-src 'self'; script-src 'self'"})


ROUTES = {
    ("GET", "/api/mailboxes"): get_mailboxes,
    ("GET", "/api/folder"): get_folder,
    ("DELETE", "/api/folder"): delete_folder,
    ("GET", "/api/message"): get_message,
    ("DELETE", "/api/message"): delete_message,
    ("GET", "/api/message/source"): get_source,
    ("GET", "/api/message/part"): get_part,
    ("GET", "/api/trace/search"): get_trace_search,
    ("GET", "/api/tenant"): get_tenant,
    ("POST", "/api/tenant"): post_tenant,
    ("GET", "/api/events"): get_events,
}
