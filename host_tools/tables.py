# Plain-text tables for the command line: aligned columns, long cells wrapped inside their column,
# no dependency beyond the standard library. Every `scanmail` command that shows rows to compare
# (demo results, message trace, board list) prints through here.
import shutil
import textwrap


def render(headers, rows, max_width=None, wrap_columns=()):
    """Return `rows` (lists of cells) under `headers` as aligned text. Columns named in
    `wrap_columns` are wrapped so the table fits `max_width` (default: the terminal width)."""
    if max_width is None:
        max_width = max(80, shutil.get_terminal_size((120, 24)).columns)
    cells = [[str(c) if c is not None else "" for c in row] for row in rows]
    widths = [len(h) for h in headers]
    for row in cells:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], max((len(part) for part in cell.splitlines()), default=0))
    wrap_idx = [headers.index(name) for name in wrap_columns if name in headers]
    overflow = sum(widths) + 2 * (len(widths) - 1) - max_width
    for i in wrap_idx:
        if overflow <= 0:
            break
        shrink = min(overflow, widths[i] - max(len(headers[i]), 24))
        if shrink > 0:
            widths[i] -= shrink
            overflow -= shrink

    def lines_of(row):
        columns = []
        for i, cell in enumerate(row):
            parts = []
            for paragraph in cell.splitlines() or [""]:
                parts.extend(textwrap.wrap(paragraph, widths[i], break_on_hyphens=False) or [""] if i in wrap_idx else [paragraph])
            columns.append(parts)
        height = max(len(c) for c in columns)
        return [
            "  ".join((columns[i][k] if k < len(columns[i]) else "").ljust(widths[i]) for i in range(len(row))).rstrip()
            for k in range(height)
        ]

    out = lines_of(headers)
    out.append("  ".join("-" * w for w in widths))
    for row in cells:
        out.extend(lines_of(row))
    return "\n".join(out)
