# A press of the scan button: pages from the board's scanner become one document in the outbox (a
# PDF, or the JPEG pages themselves), queued with its message. Rule: nothing is queued until the
# document is whole; a full flash (or a scanner error) leaves no trace but a clear status, and never
# touches jobs already queued. The scanner contract: `board.scanner.scan_page(path)` writes the next
# page as a JPEG file and returns its size, or 0 when there is no page left.
import os
import time

from scanmail.firmware.app.outbox import OutboxError
from scanmail.firmware.app.pdf_writer import write_pdf
from scanmail.firmware.board_parts import epoch_offset

MAX_PAGES = 50
HEADROOM = 16 * 1024        # the PDF's own objects, the job record


def fill_template(text, values):
    for key in values:
        text = text.replace("{" + key + "}", str(values[key]))
    return text


def _recipients(config, destination):
    book = config["address_book"]
    name = destination or config["default_destination"]
    if not name:
        raise OutboxError("no_destination", "no destination: give one (a name in address_book or an "
                                            "address), or set default_destination")
    if name in book:
        return [book[name]]
    if "@" in name and "\r" not in name and "\n" not in name and " " not in name:
        return [name]
    raise OutboxError("no_destination", "destination %r is neither a name in address_book (%s) nor "
                                        "an address" % (name, ", ".join(sorted(book)) or "empty"))


def scan_to_outbox(board, outbox, config, buffer, now, destination=None):
    """Scan, write the document, queue the job; -> the job. Raises OutboxError with what to do."""
    if board.scanner is None:
        raise OutboxError("no_scanner", "this board has no scanner (its profile says scanner = none)")
    to = _recipients(config, destination)
    sender = config["sender"] or config["username"]
    if not sender:
        raise OutboxError("no_sender", "no sender: `config set sender scanner@contoso.com`")
    from scanmail.firmware.app.send_limits import refusal

    outbox.check_space(HEADROOM)
    job_id = outbox.new_id()
    pages = []
    try:
        while True:
            if len(pages) >= MAX_PAGES:
                raise OutboxError("too_many_pages", "more than %d pages: scan them in parts" % MAX_PAGES)
            path = "%s/%s-p%02d.jpg" % (outbox.docs_dir, job_id, len(pages) + 1)
            if not board.scanner.scan_page(path):
                _remove(path)
                break
            pages.append(path)
            outbox.check_space(0)
        if not pages:
            raise OutboxError("no_pages", "the scanner gave no page: put the document in the feeder")
        size = 0
        for page in pages:
            size += os.stat(page)[6]
        parts = []
        if config["file_type"] == "pdf":
            outbox.check_space(size + HEADROOM)
            document = outbox.document_path(job_id, 1, "pdf")
            size = write_pdf(document + ".part", pages, buffer, config["page_size"])
            for page in pages:
                _remove(page)
            parts.append((document, "scan-%s.pdf" % job_id, "application/pdf"))
        else:
            for i, page in enumerate(pages):
                document = outbox.document_path(job_id, i + 1, "jpg")
                os.rename(page, document + ".part")
                parts.append((document, "scan-%s-%02d.jpg" % (job_id, i + 1), "image/jpeg"))
        problem = refusal(config["method"], len(to), size)
        if problem:
            raise OutboxError("over_limit", problem)
        local = time.gmtime((now or 0) + config["utc_offset_min"] * 60 - epoch_offset())
        values = {"date": "%04d-%02d-%02d" % local[:3], "time": "%02d:%02d" % local[3:5],
                  "pages": len(pages), "device": config["device_name"] or board.name, "job": job_id}
        message = {"sender": sender, "to": to, "cc": [], "pages": len(pages),
                   "subject": fill_template(config["subject"], values),
                   "body": fill_template(config["body"], values),
                   "method": config["method"], "mailbox": config["username"] or sender}
        return outbox.enqueue(job_id, parts, message, now)
    except OutboxError:
        outbox.discard(job_id)
        raise
    except OSError as exc:
        raise outbox.write_failed(job_id, exc)


def _remove(path):
    try:
        os.remove(path)
    except OSError:
        pass
