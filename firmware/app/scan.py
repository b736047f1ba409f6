# A press of the scan button: pages from the board's scanner become one document in the outbox (a
# PDF, or the JPEG pages themselves), queued with its message. Rule: nothing is queued until the
# document is whole; a full flash (or a scanner error) leaves no trace but a clear status, and never
# touches jobs already queued. The scanner contract (firmware/board.py): `board.scanner.next_page()`
# gives the next page as a stream of its JPEG bytes (`readinto(buffer)` -> count, 0 at the page's
# end; `close()`), or None when the feeder is empty; each page goes from the scanner straight into
# the document, through one buffer that lives only while the scan runs.
from scanmail.firmware.app import outbox_intake as intake
from scanmail.firmware.app.outbox import OutboxError
from scanmail.firmware.app.pdf_writer import PdfWriter
from scanmail.firmware.app.jpeg_info import JpegError
from scanmail.firmware.compat import const, free_heap

_MAX_PAGES = const(50)
_HEADROOM = const(16 * 1024)        # the PDF's own objects, the job record
# The copy buffer: an eighth of the free heap, within these bounds (a small board copies in small
# pieces, a roomy one in fewer, larger writes); the first buffer of a page must hold its JPEG
# headers up to the frame header (jpeg_info.py).
_BUFFER_MIN = const(1024)
_BUFFER_MAX = const(16 * 1024)


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


def copy_buffer():
    """The scan's copy buffer: an eighth of the free heap within the bounds, smaller when the free
    heap is in pieces (free_heap() counts every free block, one bytearray needs one run), so a
    fragmented heap copies in smaller writes instead of refusing the scan."""
    size = max(_BUFFER_MIN, min(_BUFFER_MAX, free_heap() // 8))
    while True:
        try:
            return bytearray(size)
        except MemoryError:
            if size <= _BUFFER_MIN:
                raise
            size = max(_BUFFER_MIN, size // 2)


def scan_to_outbox(board, outbox, config, buffer, now, destination=None):
    """Scan, write the document, queue the job; -> the job. Raises OutboxError with what to do."""
    if board.scanner is None:
        raise OutboxError("no_scanner", "this board has no scanner (its profile says scanner = none)")
    to = _recipients(config, destination)
    sender = config["sender"] or config["username"]
    if not sender:
        raise OutboxError("no_sender", "no sender: `config set sender scanner@contoso.com`")
    from scanmail.firmware.app.send_limits import refusal

    intake.check_space(outbox, _HEADROOM)
    job_id = intake.new_id(outbox)
    if buffer is None:
        buffer = copy_buffer()
    parts = []
    try:
        if config["file_type"] == "pdf":
            document = intake.document_path(outbox, job_id, 1, "pdf")
            pages, size = _scan_pdf(board.scanner, outbox, document + ".part", buffer, config["page_size"])
            parts.append((document, "scan-%s.pdf" % job_id, "application/pdf"))
        else:
            pages = size = 0
            while True:
                page = _next_page(board.scanner, pages)
                if page is None:
                    break
                document = intake.document_path(outbox, job_id, pages + 1, "jpg")
                pages += 1
                size += _copy(page, document + ".part", buffer)
                parts.append((document, "scan-%s-%02d.jpg" % (job_id, pages), "image/jpeg"))
                intake.check_space(outbox, _HEADROOM // 2)
            if not pages:
                raise _no_pages()
        problem = refusal(config["method"], len(to), size)
        if problem:
            raise OutboxError("over_limit", problem)
        values = {"date": _date((now or 0) + config["utc_offset_min"] * 60),
                  "time": _time((now or 0) + config["utc_offset_min"] * 60),
                  "pages": pages, "device": config["device_name"] or board.name, "job": job_id}
        message = {"sender": sender, "to": to, "cc": [], "pages": pages,
                   "subject": fill_template(config["subject"], values),
                   "body": fill_template(config["body"], values),
                   "method": config["method"], "mailbox": config["username"] or sender}
        return intake.enqueue(outbox, job_id, parts, message, now)
    except OutboxError:
        intake.discard(outbox, job_id)
        raise
    except JpegError as exc:
        intake.discard(outbox, job_id)
        raise OutboxError("scanner_error", "the scanner gave a page that is not a JPEG a PDF can "
                                           "show (%s): scan again; if it persists, set file_type "
                                           "jpeg" % exc)
    except OSError as exc:
        raise intake.write_failed(outbox, job_id, exc)
    except MemoryError:
        intake.discard(outbox, job_id)
        raise
    except Exception as exc:          # the scanner's own error (a BoardError says what to do)
        intake.discard(outbox, job_id)
        raise OutboxError("scanner_error", "the scanner failed: %s" % exc)


def _date(seconds):
    """'2026-12-02' from seconds since 1970, without the runtime's gmtime (its epoch differs
    between ports): civil_from_days (H. Hinnant), as firmware/mime_headers.py does."""
    z = seconds // 86400 + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    month = mp + 3 if mp < 10 else mp - 9
    return "%04d-%02d-%02d" % (yoe + era * 400 + (month <= 2), month, doy - (153 * mp + 2) // 5 + 1)


def _time(seconds):
    return "%02d:%02d" % (seconds // 3600 % 24, seconds // 60 % 60)


def _no_pages():
    return OutboxError("no_pages", "the scanner gave no page: put the document in the feeder")


def _next_page(scanner, pages):
    """The scanner's next page (a stream), or None when the feeder is empty."""
    if pages >= _MAX_PAGES:
        raise OutboxError("too_many_pages", "more than %d pages: scan them in parts" % _MAX_PAGES)
    return scanner.next_page()


def _scan_pdf(scanner, outbox, path, buffer, page_size):
    """Every page of the feeder into one PDF at `path`; -> (pages, PDF size)."""
    out = open(path, "wb")
    try:
        writer = PdfWriter(out, buffer, page_size)
        while True:
            page = _next_page(scanner, writer.pages)
            if page is None:
                break
            try:
                writer.add_page(page)
            finally:
                page.close()
            intake.check_space(outbox, _HEADROOM // 2)
        if not writer.pages:
            raise _no_pages()
        return writer.pages, writer.close()
    finally:
        out.close()


def _copy(page, path, buffer):
    """One page's JPEG bytes into the file at `path`; -> its size."""
    view = memoryview(buffer)
    size = 0
    out = open(path, "wb")
    try:
        while True:
            n = page.readinto(buffer)
            if not n:
                return size
            out.write(view[:n])
            size += n
    finally:
        out.close()
        page.close()
