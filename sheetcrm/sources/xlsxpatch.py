"""Surgical write-back: rewrite only the status cells of one sheet, copy everything else as it is.

A load-and-save round trip through openpyxl drops what openpyxl does not model (charts, pictures in
cells, pivot caches, slicers, threaded comments, x14 validations ...) and needs gigabytes for a full
sheet. Here the target sheet's XML is streamed row by row: a row whose record ID has no update is
copied unchanged; a row that has one gets its status cells replaced or inserted in column order, found
by scanning the row's cells from its end (status columns are the right-most). Every other zip member is
copied as its original compressed bytes.

The XML is handled as bytes on purpose: parsing and re-serialising 2 GB of sheet XML would cost
minutes and change bytes nobody asked us to touch. The grammar we rely on is small and fixed
(SpreadsheetML rows and cells); anything unusual (cells without references, row extensions) takes a
slower, fully tokenising path instead of a guess.
"""

from __future__ import annotations

import html
import io
import re
import shutil
import struct
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from functools import lru_cache
from typing import IO, TYPE_CHECKING, Any

from ..errors import WorkbookFormatError
from ..fields import excel_serial
from ..table import CellError
from .cells import column_index, column_letter, empty_cell, id_text, number_cell, string_cell

if TYPE_CHECKING:
    from _typeshed import SupportsWrite

BLOCK = 1 << 22  # 4 MiB of inflated XML at a time
_ESCAPED = re.compile(r"_x([0-9A-Fa-f]{4})_")


def unescape(raw: bytes) -> str:
    """Return XML text content as the string it stands for (entities and Excel's _xHHHH_)."""
    text = raw.decode("utf-8")
    if "\r" in text:  # XML end-of-line normalisation, as every XML parser (and calamine) does
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    if "&" in text:
        text = html.unescape(text)
    if "_x" in text:
        text = _ESCAPED.sub(lambda m: chr(int(m.group(1), 16)), text)
    return text


class SheetGrammar:
    """Byte patterns for one sheet part, honouring a namespace prefix such as `x:`."""

    def __init__(self, prefix: bytes) -> None:
        p = re.escape(prefix)
        self.prefix = prefix
        self.row_end = b"</" + prefix + b"row>"
        self.cell_open = (b"<" + prefix + b"c ", b"<" + prefix + b"c>")
        self.cell = re.compile(rb"<" + p + rb"c\b[^>]*?(?:/>|>.*?</" + p + rb"c>)", re.S)
        self.value = re.compile(rb"<" + p + rb"v>(.*?)</" + p + rb"v>", re.S)
        self.text = re.compile(rb"<" + p + rb"t(?:\s[^>]*)?>(.*?)</" + p + rb"t>", re.S)
        self.phonetic = re.compile(rb"<" + p + rb"rPh\b.*?</" + p + rb"rPh>", re.S)
        self.sheet_data_open = re.compile(rb"<" + p + rb"sheetData\s*(/?)>")
        self.sheet_data_close = b"</" + prefix + b"sheetData>"
        self.merge = re.compile(rb"<" + p + rb'mergeCell\s+ref="([A-Z]+\d+):([A-Z]+\d+)"')
        self.dimension = re.compile(rb"<" + p + rb'dimension\s+ref="([^"]*)"')
        self.col = re.compile(rb"<" + p + rb"col\b([^>]*)/?>")
        self.formula = b"<" + prefix + b"f"


_ATTR = re.compile(rb'\s([a-zA-Z:]+)="([^"]*)"')
_REF = re.compile(rb'\sr="([A-Z]{1,3})(\d+)"')
_ROW_R = re.compile(rb'\sr="(\d+)"')
_PREFIX = re.compile(rb"<(?:(\w+):)?(?:worksheet|sst)\b")


def grammar_of(head: bytes) -> SheetGrammar:
    m = _PREFIX.search(head)
    prefix = (m.group(1) + b":") if m and m.group(1) else b""
    return SheetGrammar(prefix)


def start_tag(cell: bytes) -> bytes:
    return cell[: cell.find(b">") + 1]


def attrs(tag: bytes) -> dict[bytes, bytes]:
    return dict(_ATTR.findall(tag))


class SharedStrings:
    """The shared-strings table, decoded only for the entries asked for."""

    def __init__(self, data: bytes, grammar: SheetGrammar) -> None:
        p = re.escape(grammar.prefix)
        self._items = re.findall(
            rb"<" + p + rb"si>(.*?)</" + p + rb"si>|<" + p + rb"si/>", data, re.S
        )
        self._grammar = grammar

    def __getitem__(self, index: int) -> str:
        raw = self._items[index]
        if not raw:
            return ""
        raw = self._grammar.phonetic.sub(b"", raw)
        return "".join(unescape(t) for t in self._grammar.text.findall(raw))


def cell_text(cell: bytes, grammar: SheetGrammar, sst: Callable[[], SharedStrings]) -> str | None:
    """Return a cell's value as text ('' when empty), or None for an error or uncalculated formula."""
    tag = attrs(start_tag(cell))
    kind = tag.get(b"t", b"n")
    if kind == b"inlineStr":
        body = grammar.phonetic.sub(b"", cell)
        return "".join(unescape(t) for t in grammar.text.findall(body))
    m = grammar.value.search(cell)
    raw = m.group(1) if m else b""
    if kind == b"e":
        return None
    if kind == b"s":
        return sst()[int(raw)] if raw.strip() else ""
    if not raw and grammar.formula in cell:
        return None
    if kind == b"b":
        return "TRUE" if raw.strip() == b"1" else "FALSE"
    text = unescape(raw)
    if kind == b"n" and text:
        try:
            return id_text(float(text))
        except ValueError:
            return text
    return text


def iter_blocks(fh: IO[bytes], grammar_holder: list[SheetGrammar]) -> Iterator[tuple[bytes, bool]]:
    """Yield (head, False) once — everything before the first row — then (rows, True) blocks that
    each end at a row boundary, then (tail, False) — everything after </sheetData>."""
    buf = b""
    head_done = False
    grammar: SheetGrammar | None = None
    while True:
        chunk = fh.read(BLOCK)
        buf += chunk
        if not head_done:
            if grammar is None:
                grammar = grammar_of(buf[:4096])
                grammar_holder.append(grammar)
            m = grammar.sheet_data_open.search(buf)
            if m is None:
                if not chunk:
                    raise WorkbookFormatError("the sheet has no <sheetData> element")
                continue
            if m.group(1) == b"/":  # <sheetData/>: no rows at all
                yield buf[: m.start()] + b"<" + grammar.prefix + b"sheetData>", False
                buf = grammar.sheet_data_close + buf[m.end() :]
            else:
                yield buf[: m.end()], False
                buf = buf[m.end() :]
            head_done = True
        assert grammar is not None
        end = buf.find(grammar.sheet_data_close)
        if end >= 0:
            if end:
                yield buf[:end], True
            rest = buf[end:] + fh.read()
            yield rest, False
            return
        cut = buf.rfind(grammar.row_end)
        if cut >= 0:
            cut += len(grammar.row_end)
            # a self-closing <row .../> after the last </row> stays for the next block
            yield buf[:cut], True
            buf = buf[cut:]
        if not chunk:
            raise WorkbookFormatError("the sheet XML ends before </sheetData> (truncated)")


# ---------------------------------------------------------------------------------------------
# Reading: the cells calamine cannot tell apart from empty ones


def scan_special_cells(fh: IO[bytes]) -> dict[tuple[int, int], CellError]:
    """Return {(row, col): CellError} for error cells (#N/A, #REF!, ...) and formulas that have no
    calculated value; calamine reads both as empty. Also inflates the whole part, which verifies its
    CRC. Rows are 1-based, columns 0-based."""
    found: dict[tuple[int, int], CellError] = {}
    holder: list[SheetGrammar] = []
    for block, is_rows in iter_blocks(fh, holder):
        if not is_rows:
            continue
        g = holder[0]
        pos = 0
        while (p := block.find(b' t="e"', pos)) >= 0:
            pos = p + 1
            cell = _cell_around(block, p, g)
            if cell:
                ref = _REF.search(start_tag(cell))
                value = g.value.search(cell)
                if ref:
                    code = unescape(value.group(1)) if value else "#VALUE!"
                    found[(int(ref.group(2)), column_index(ref.group(1).decode()))] = CellError(
                        code
                    )
        if g.formula + b">" in block or g.formula + b" " in block:
            for cell in g.cell.findall(block):
                if g.formula not in cell:
                    continue
                tag = attrs(start_tag(cell))
                if tag.get(b"t") in (b"e", b"str"):
                    continue
                value = g.value.search(cell)
                if (value is None or not value.group(1)) and b"r" in tag:
                    ref = _REF.search(start_tag(cell))
                    if ref:
                        found[(int(ref.group(2)), column_index(ref.group(1).decode()))] = CellError(
                            ""
                        )
    return found


def _cell_around(block: bytes, pos: int, g: SheetGrammar) -> bytes | None:
    start = max(block.rfind(g.cell_open[0], 0, pos), block.rfind(g.cell_open[1], 0, pos))
    if start < 0:
        return None
    m = g.cell.match(block, start)
    return m.group(0) if m else None


# ---------------------------------------------------------------------------------------------
# Writing


@dataclass
class SheetEdit:
    """What to change in one sheet.

    `on_header(headers)` is called with the header row's texts (0-based columns) and returns
    {status key: column} — existing status columns and the new ones to create — plus the header texts
    of the new ones ({column: label}). `values` maps a record ID to {status key: value}; `new_ids` a
    sheet row to the ID to write into `id_col` when that cell is blank.
    """

    id_col: int
    header_row: int
    on_header: Callable[[dict[int, str]], tuple[dict[str, int], dict[int, str]]]
    values: dict[str, dict[str, Any]]
    new_ids: dict[int, str] = field(default_factory=dict)
    covered: dict[int, set[int]] = field(default_factory=dict)  # row → columns inside a merge
    merges_known: bool = False  # `covered` came from a read of this very file content
    dimension_max_col: int = -1  # set from the sheet's <dimension> before on_header is called
    # new rows to add after the last row: {key as in `on_header`'s map: value} (import)
    append: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class EditReport:
    rows_written: int = 0
    ids_written: int = 0
    found_ids: set[str] = field(default_factory=set)
    formula_overwritten: bool = False
    cells_skipped: int = 0
    columns_added: dict[int, str] = field(default_factory=dict)
    rows_appended: list[int] = field(default_factory=list)  # their sheet row numbers


def rewrite_sheet(
    src: IO[bytes], dst: SupportsWrite[bytes], edit: SheetEdit, sst: Callable[[], SharedStrings]
) -> EditReport:
    """Stream sheet XML from `src` to `dst` with `edit` applied; return what was written."""
    report = EditReport()
    holder: list[SheetGrammar] = []
    head: bytes | None = None
    styles: dict[int, int] = {}
    status_cols: dict[str, int] | None = None
    written_rows: list[int] = []
    touched_cols: set[int] = set()
    max_col_written = -1
    last_r = 0
    for block, is_rows in iter_blocks(src, holder):
        g = holder[0]
        if not is_rows:
            if head is None:
                head = block
                styles = _column_styles(head, g)
                edit.dimension_max_col = _dimension_max_col(head, g)
                continue
            # the tail: check merged cells, then write it
            if head is not None:  # sheet without rows after the header never reached
                status_cols = status_cols or {}
                dst.write(head)
                head = b""
            if not edit.merges_known:
                _check_merges(block, g, written_rows, touched_cols)
            if edit.append:
                dst.write(_appended_rows(edit, status_cols or {}, max(last_r, edit.header_row),
                                         styles, g, report))  # fmt: skip
            dst.write(block)
            continue
        out: list[bytes] = []
        pos = 0
        for m_start, m_end in _row_spans(block, g):
            row = block[m_start:m_end]
            rm = _ROW_R.search(row[: row.find(b">")])
            r = int(rm.group(1)) if rm else last_r + 1
            last_r = r
            if status_cols is None:
                if r < edit.header_row:
                    continue
                headers = _row_texts(row, g, sst) if r == edit.header_row else {}
                status_cols, new_headers = edit.on_header(headers)
                report.columns_added = new_headers
                if new_headers:
                    updates_h = {c: label for c, label in new_headers.items()}
                    if r == edit.header_row:
                        row = _rewrite_row(row, r, updates_h, styles, g, report, ref_style_col=True)
                    max_col_written = max(max_col_written, *new_headers)
                    touched_cols.update(new_headers)
                assert head is not None
                if max_col_written >= 0:
                    head = _widen_dimension(head, g, max_col_written)
                out.append(head + block[pos:m_start])
                head = b""
                out.append(row)
                pos = m_end
                continue
            if r <= edit.header_row:
                continue
            rid = _row_id(row, r, edit.id_col, g, sst)
            updates: dict[int, Any] = {}
            if not rid and r in edit.new_ids:
                rid = edit.new_ids[r]
                updates[edit.id_col] = rid
                report.ids_written += 1
            if rid and rid in edit.values:
                report.found_ids.add(rid)
                for key, value in edit.values[rid].items():
                    col = status_cols.get(key)
                    if col is not None:
                        updates[col] = value
            if updates and r in edit.covered:
                for col in edit.covered[r] & updates.keys():
                    del updates[col]  # nothing is written into cells a merge covers
                    report.cells_skipped += 1
            if updates:
                new_row = _rewrite_row(row, r, updates, styles, g, report)
                out.append(block[pos:m_start])
                out.append(new_row)
                pos = m_end
                report.rows_written += 1
                written_rows.append(r)
                touched_cols.update(updates)
        if status_cols is None:
            # the header row is in a later block; hold these rows back with the head
            assert head is not None
            head += block
            continue
        out.append(block[pos:])
        dst.write(b"".join(out))
    if status_cols is None:
        raise WorkbookFormatError(f"the sheet has no header row {edit.header_row}")
    return report


def _appended_rows(edit: SheetEdit, columns: dict[str, int], last_r: int, styles: dict[int, int],
                   g: SheetGrammar, report: EditReport) -> bytes:  # fmt: skip
    """New rows after row `last_r`, each cell in its column's style. Dates become serial numbers
    when the column has a style (the template gives date columns a date format), else ISO text."""
    if g.prefix:
        raise WorkbookFormatError("rows cannot be added to this sheet's XML (a prefixed namespace); "
                                  "save the workbook in Excel or LibreOffice first")  # fmt: skip
    out = []
    for i, values in enumerate(edit.append):
        r = last_r + 1 + i
        cells = []
        for col, value in sorted((columns[k], v) for k, v in values.items() if k in columns):
            ref = f"{column_letter(col)}{r}"
            style = styles.get(col)
            if isinstance(value, date) and style is not None:
                cells.append(number_cell(ref, excel_serial(value), style).encode())
            elif value is not None and value != "":
                cells.append(_build_cell(ref, value, style))
        out.append(f'<row r="{r}">'.encode() + b"".join(cells) + b"</row>")
        report.rows_appended.append(r)
    return b"".join(out)


def _row_spans(block: bytes, g: SheetGrammar) -> Iterator[tuple[int, int]]:
    """Yield (start, end) of each <row> element in `block` (which ends at a row boundary).

    Plain `find` calls: a regex with a lazy `.*?</row>` steps through every byte of every row.
    """
    open_tag = b"<" + g.prefix + b"row"
    find = block.find
    pos = find(open_tag)
    while pos >= 0:
        tag_end = find(b">", pos)
        if tag_end < 0:
            return
        if block[tag_end - 1] == 47:  # "/": a self-closing <row .../>
            end = tag_end + 1
        else:
            close = find(g.row_end, tag_end)
            if close < 0:
                return
            end = close + len(g.row_end)
        yield pos, end
        pos = find(open_tag, end)


def _column_styles(head: bytes, g: SheetGrammar) -> dict[int, int]:
    styles: dict[int, int] = {}
    for m in g.col.finditer(head):
        a = attrs(b" " + m.group(1))
        if b"style" in a and b"min" in a and b"max" in a:
            lo, hi = int(a[b"min"]), int(a[b"max"])
            for c in range(lo - 1, min(hi, 16384)):
                styles[c] = int(a[b"style"])
    return styles


def _dimension_max_col(head: bytes, g: SheetGrammar) -> int:
    m = g.dimension.search(head)
    if not m:
        return -1
    last = m.group(1).decode().rpartition(":")[2]
    lm = re.match(r"([A-Z]+)", last)
    return column_index(lm.group(1)) if lm else -1


def _widen_dimension(head: bytes, g: SheetGrammar, max_col: int) -> bytes:
    m = g.dimension.search(head)
    if not m:
        return head
    ref = m.group(1).decode()
    first, _, last = ref.partition(":")
    last = last or first
    lm = re.match(r"([A-Z]+)(\d+)", last)
    if not lm or column_index(lm.group(1)) >= max_col:
        return head
    new = f"{first}:{column_letter(max_col)}{lm.group(2)}".encode()
    return head[: m.start(1)] + new + head[m.end(1) :]


def _row_texts(row: bytes, g: SheetGrammar, sst: Callable[[], SharedStrings]) -> dict[int, str]:
    texts: dict[int, str] = {}
    col = -1
    for cell in g.cell.findall(row):
        ref = _REF.search(start_tag(cell))
        col = column_index(ref.group(1).decode()) if ref else col + 1
        value = cell_text(cell, g, sst)
        if value:
            texts[col] = value
    return texts


def _row_id(
    row: bytes, r: int, id_col: int, g: SheetGrammar, sst: Callable[[], SharedStrings]
) -> str:
    ref = f'r="{column_letter(id_col)}{r}"'.encode()
    p = row.find(ref)
    if p >= 0:
        end = row.find(b">", p)
        tag = row[p:end]
        if row[end - 1 : end] == b"/":
            return ""  # <c r="A5" s="3"/>: an empty cell
        if b't="inlineStr"' in tag and not g.prefix:
            t0 = row.find(b"<t>", end, end + 8)
            if t0 >= 0:
                t1 = row.find(b"</t>", t0)
                raw = row[t0 + 3 : t1]
                if raw.isalnum() and raw.isascii():
                    return raw.decode("ascii")  # the usual C000123: nothing to fold
                if b"&" not in raw and b"_x" not in raw and b"<" not in raw:
                    return id_text(raw.decode("utf-8"))
        cell = _cell_around(row, p, g)
        if cell is None:
            return ""
        return id_text(cell_text(cell, g, sst))
    opens = row.count(g.cell_open[0]) + row.count(g.cell_open[1])
    if opens == row.count(g.cell_open[0] + b'r="'):
        return ""  # every cell starts with its reference and none is the ID cell: no ID
    for col, value in _row_texts(row, g, sst).items():  # cells without references
        if col == id_col:
            return id_text(value)
    return ""


_CELL_TAILS: dict[tuple[type, Any, int | None], bytes] = {}


@lru_cache(maxsize=4096)
def _date_text(value: date) -> str:
    """Dates in status cells are text a person reads, not serials needing a date style."""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return value.isoformat()


def _make_cell(ref: bytes, value: Any, style: int | None) -> bytes:
    """Return the cell XML; the part after `r="…"` is cached, status values repeat a lot."""
    if isinstance(value, date):
        value = _date_text(value)
    key = (type(value), value, style)
    try:
        tail = _CELL_TAILS[key]
    except (KeyError, TypeError):
        full = _build_cell("A1", value, style)
        tail = full[len(b'<c r="A1"') :] if full else b""
        if len(_CELL_TAILS) < 100_000 and isinstance(value, str | int | float | type(None)):
            try:
                _CELL_TAILS[key] = tail
            except TypeError:
                pass
    if not tail:
        return b""
    return b'<c r="' + ref + b'"' + tail


def _build_cell(ref: str, value: Any, style: int | None) -> bytes:
    if value is None or value == "":
        return empty_cell(ref, style).encode()
    if isinstance(value, bool):
        value = "是" if value else "否"
    if isinstance(value, datetime):
        value = value.strftime("%Y-%m-%d %H:%M")
    elif isinstance(value, date):
        value = value.isoformat()
    if isinstance(value, int | float):
        return number_cell(ref, value, style).encode()
    return string_cell(ref, str(value), style).encode()


def _rewrite_row(
    row: bytes,
    r: int,
    updates: dict[int, Any],
    styles: dict[int, int],
    g: SheetGrammar,
    report: EditReport,
    *,
    ref_style_col: bool = False,
) -> bytes:
    """Return `row` with the cells of `updates` ({col: value}) replaced or inserted in order."""
    open_end = row.find(b">") + 1
    if row[open_end - 2 : open_end] == b"/>":  # <row .../>: no cells yet
        row_open, body = row[: open_end - 2] + b">", b""
    else:
        row_open, body = row[:open_end], row[open_end : len(row) - len(g.row_end)]
    min_col = min(updates)
    tail: dict[int, bytes] = {}
    pos = len(body)
    tail_start = len(body)
    slow = False
    if not g.prefix:
        last = body.rfind(b'<c r="')
        last_col = (
            _INDEX.get(body[last + 6 : last + 9].rstrip(b"0123456789"), -1) if last >= 0 else -1
        )
        if last_col < min_col and (last < 0 or b"<c>" not in body) and b"<extLst" not in body:
            # first night: no cell at or right of the status columns yet, so append
            pos = -1
        else:
            # later nights: the status cells exist, contiguous at the row's end
            first = body.find(b'<c r="' + _LETTERS[min_col] + str(r).encode() + b'"')
            if first >= 0:
                parsed = _tokenise_tail(body, first)
                if parsed is not None:
                    tail, tail_start = parsed, first
                    pos = -1  # skip the reverse scan below
    if pos >= 0:
        slow = b"<" + g.prefix + b"extLst" in body
    while not slow and pos >= 0:
        start = max(body.rfind(g.cell_open[0], 0, pos), body.rfind(g.cell_open[1], 0, pos))
        if start < 0:
            break
        ref = _REF.search(start_tag(body[start:pos]))
        if ref is None:
            slow = True
            break
        col = column_index(ref.group(1).decode())
        if col < min_col:
            break
        tail[col] = body[start:pos]
        tail_start = pos = start
    if slow:
        return _rewrite_row_slow(row_open, body, r, updates, styles, g, report)
    rb = str(r).encode()
    header_style = None
    if ref_style_col and tail:
        header_style = attrs(start_tag(tail[max(tail)])).get(b"s")
    for col, value in updates.items():
        old = tail.get(col)
        style = None
        if old is not None:
            if g.formula in old:
                report.formula_overwritten = True
            sm = _STYLE.search(old, 0, old.find(b">"))
            style = int(sm.group(1)) if sm else None
        else:
            style = styles.get(col)
            if style is None and header_style:
                style = int(header_style)
        tail[col] = _make_cell(_LETTERS[col] + rb, value, style)
    new_body = body[:tail_start] + b"".join(tail[c] for c in sorted(tail))
    return _widen_spans(row_open, max(updates)) + new_body + g.row_end


_LETTERS = [column_letter(c).encode() for c in range(16_384)]
_INDEX = {letters: i for i, letters in enumerate(_LETTERS)}
_TAIL_CELL = re.compile(rb'\s*<c r="([A-Z]{1,3})\d+"[^>]*?(?:/>|>.*?</c>)', re.S)


def _tokenise_tail(body: bytes, start: int) -> dict[int, bytes] | None:
    """Return {col: cell bytes} for the cells from `start` to the end of the row, or None when the
    tail holds anything but plain referenced cells (then the careful path is taken)."""
    cells: dict[int, bytes] = {}
    pos = start
    end = len(body)
    match = _TAIL_CELL.match
    while pos < end:
        m = match(body, pos)
        if m is None:
            return None if body[pos:].strip() else cells
        cells[_INDEX[m.group(1)]] = m.group(0)
        pos = m.end()
    return cells


def _rewrite_row_slow(row_open: bytes, body: bytes, r: int, updates: dict[int, Any],
                      styles: dict[int, int], g: SheetGrammar, report: EditReport) -> bytes:  # fmt: skip
    """Tokenise every cell (for rows whose cells lack references or carry extensions)."""
    cells: dict[int, bytes] = {}
    col = -1
    ext = b""
    ext_at = body.find(b"<" + g.prefix + b"extLst")
    if ext_at >= 0:
        body, ext = body[:ext_at], body[ext_at:]
    for cell in g.cell.findall(body):
        ref = _REF.search(start_tag(cell))
        col = column_index(ref.group(1).decode()) if ref else col + 1
        if ref is None:  # give it its reference, so the order stays explicit
            cell = cell.replace(b"<" + g.prefix + b"c", b"<" + g.prefix + b'c r="'
                                + f"{column_letter(col)}{r}".encode() + b'"', 1)  # fmt: skip
        cells[col] = cell
    for col, value in updates.items():
        old = cells.get(col)
        style = styles.get(col)
        if old is not None:
            if g.formula in old:
                report.formula_overwritten = True
            s = attrs(start_tag(old)).get(b"s")
            style = int(s) if s else None
        cells[col] = _make_cell(f"{column_letter(col)}{r}".encode(), value, style)
    new_body = b"".join(cells[c] for c in sorted(cells)) + ext
    return _widen_spans(row_open, max(updates)) + new_body + g.row_end


_STYLE = re.compile(rb'\ss="(\d+)"')
_SPANS = re.compile(rb'\sspans="(\d+):(\d+)"')


def _widen_spans(row_open: bytes, max_col: int) -> bytes:
    m = _SPANS.search(row_open)
    if not m or int(m.group(2)) >= max_col + 1:
        return row_open
    return row_open[: m.start(2)] + str(max_col + 1).encode() + row_open[m.end(2) :]


def _check_merges(tail: bytes, g: SheetGrammar, rows: list[int], cols: set[int]) -> None:
    """Refuse if a cell we wrote lies inside a merged range (other than its top-left cell)."""
    if not cols or g.merge.search(tail) is None:
        return
    import bisect

    rows_sorted = sorted(rows)
    for m in g.merge.finditer(tail):
        (r1, c1), (r2, c2) = (_split(m.group(1)), _split(m.group(2)))
        hit_cols = [c for c in cols if c1 <= c <= c2]
        if not hit_cols:
            continue
        lo = bisect.bisect_left(rows_sorted, r1)
        for r in rows_sorted[lo:]:
            if r > r2:
                break
            for c in hit_cols:
                if (r, c) != (r1, c1):
                    raise WorkbookFormatError(
                        f"cell {column_letter(c)}{r} is inside the merged cells "
                        f"{m.group(1).decode()}:{m.group(2).decode()}; unmerge them so sheetcrm "
                        "can write its status there"
                    )


def _split(ref: bytes) -> tuple[int, int]:
    m = re.match(rb"([A-Z]+)(\d+)", ref)
    assert m
    return int(m.group(2)), column_index(m.group(1).decode())


# ---------------------------------------------------------------------------------------------
# The zip around it


# zipfile has no public way to copy a member's compressed bytes. The raw copy below is one small
# adapter over the ZipFile attributes CPython 3.10-3.14 keep for writing (fp, filelist, NameToInfo,
# start_dir, _didModify). `raw_copy_works` probes them once on an in-memory zip; where a Python
# differs, members are copied through the public API instead (inflated and deflated again: the
# same content, slower). tests/test_zip_copy.py runs both paths on the Python CI runs.
_WRITER_STATE = ("fp", "filelist", "NameToInfo", "start_dir", "_didModify")
_raw_copy: bool | None = None


def raw_copy_works() -> bool:
    """Whether this Python's zipfile keeps the writer state the raw copy relies on (probed once)."""
    global _raw_copy
    if _raw_copy is None:
        try:
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w") as probe:
                _raw_copy = all(hasattr(probe, a) for a in _WRITER_STATE)
                _raw_copy = _raw_copy and isinstance(probe.filelist, list) \
                    and isinstance(probe.NameToInfo, dict)  # fmt: skip
        except Exception:
            _raw_copy = False
    return _raw_copy


def copy_member_raw(src: zipfile.ZipFile, info: zipfile.ZipInfo, dst: zipfile.ZipFile, *,
                    raw: bool | None = None) -> None:  # fmt: skip
    """Copy a member into `dst` unchanged: its compressed bytes as they are (fast, and byte for
    byte what Excel wrote) where `raw_copy_works`, else through the public API."""
    if not (raw_copy_works() if raw is None else raw):
        out = zipfile.ZipInfo(info.filename, date_time=info.date_time)
        out.compress_type, out.external_attr = info.compress_type, info.external_attr
        out.comment = info.comment
        with src.open(info) as fh, dst.open(out, "w", force_zip64=info.file_size > 2**30) as wfh:
            shutil.copyfileobj(fh, wfh, 1 << 22)
        return
    fp = src.fp
    assert fp is not None and dst.fp is not None
    fp.seek(info.header_offset)
    local = fp.read(30)
    if local[:4] != b"PK\x03\x04":
        raise WorkbookFormatError(f"damaged zip entry {info.filename}")
    name_len, extra_len = struct.unpack("<HH", local[26:30])
    fp.seek(info.header_offset + 30 + name_len + extra_len)
    out = zipfile.ZipInfo(info.filename, date_time=info.date_time)
    out.compress_type = info.compress_type
    out.external_attr = info.external_attr
    out.create_system = info.create_system
    out.flag_bits = info.flag_bits & ~0x08  # sizes go in the header, not a trailing descriptor
    out.CRC = info.CRC
    out.compress_size = info.compress_size
    out.file_size = info.file_size
    out.comment = info.comment
    zip64 = info.file_size > zipfile.ZIP64_LIMIT or info.compress_size > zipfile.ZIP64_LIMIT
    out.header_offset = dst.fp.tell()
    dst.fp.write(out.FileHeader(zip64))
    remaining = info.compress_size
    while remaining:
        chunk = fp.read(min(remaining, 1 << 22))
        if not chunk:
            raise WorkbookFormatError(f"damaged zip entry {info.filename} (truncated)")
        dst.fp.write(chunk)
        remaining -= len(chunk)
    dst.filelist.append(out)
    dst.NameToInfo[out.filename] = out
    dst.start_dir = dst.fp.tell()
    dst._didModify = True  # type: ignore[attr-defined]


def open_for_write(dst: zipfile.ZipFile, name: str, like: zipfile.ZipInfo, level: int) -> IO[bytes]:
    """Open a new deflated member named `name` with `like`'s timestamp, at zlib `level`.

    The deflate is ISA-L's where python-isal is installed (#26: 0.17 CPU-s instead of zlib's 0.66
    for the 145 MB customers sheet of the 100,000-row demo, 22.8 MB instead of 23.0), the
    standard zlib elsewhere; both write plain deflate streams that every zip reader takes."""
    info = zipfile.ZipInfo(name, date_time=like.date_time)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = like.external_attr
    # the attribute was renamed in Python 3.13 (compress_level); set whichever this Python has
    if hasattr(info, "compress_level"):
        info.compress_level = level
    else:
        info._compresslevel = level  # type: ignore[attr-defined]
    handle = dst.open(info, "w", force_zip64=True)
    fast = fast_deflate(level)
    if fast is not None and hasattr(handle, "_compressor"):
        handle._compressor = fast  # zipfile's writer calls compress() and flush() only
    return handle


def fast_deflate(level: int) -> Any | None:
    """A raw-deflate compressor from python-isal at about zlib `level`'s ratio, or None where
    python-isal is not installed (then zipfile's own zlib compresses)."""
    if level <= 0:
        return None  # stored: nothing to speed up
    try:
        from isal import isal_zlib
    except ImportError:
        return None
    # ISA-L has levels 0-3; its 1 writes what zlib's 1 writes (22.8 vs 23.0 MB above), 3 about 6
    return isal_zlib.compressobj(min(3, (level + 2) // 3), isal_zlib.DEFLATED, -15)
