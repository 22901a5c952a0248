"""Workbooks in the team's layout: the empty template people start from, and demo data in it.

One writer serves both, so a demo workbook looks exactly like a template a team has filled in:
label headers (required ones marked * and coloured), dropdowns fed from a hidden lists sheet, date and
number validation, a header comment saying what to enter, frozen header, widths, autofilter, grey
locked status columns and an instructions sheet generated from the field list.

xlsxwriter rather than openpyxl: it streams rows (constant memory, so a demo of Excel's 1,048,576 rows
fits), and with a fixed creation date its output is byte-for-byte reproducible, which lets a test prove
the committed template matches the committed config.
"""

from __future__ import annotations

import os
import re
import zipfile
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any, Protocol

import xlsxwriter
from xlsxwriter.utility import xl_col_to_name, xl_rowcol_to_cell

from .config import CHOICE_TYPES, Config, Field, FieldType, SheetConfig
from .fields import EXCEL_EPOCH_1900
from .messages import text
from .output import SAFE_TEXT, print_setup
from .sources.cells import column_letter, number_cell, quote_sheet, string_cell
from .text import text_width

EXCEL_MAX_ROW = 1_048_576
# Fixed so rebuilding the template from the same config gives the same bytes.
TEMPLATE_CREATED = datetime(2026, 1, 1)

_WRAPPED_STATUS = {"problems", "rule_notes", "approval", "duplicate_reason"}

# Cells of these types are stored as text so Excel keeps leading zeros and all 18 digits.
_TEXT_FORMAT_TYPES = {FieldType.phone, FieldType.credit_code}


def expectation(field: Field, sheet: SheetConfig, config: Config, *,
                sheet_names: dict[str, str]) -> str:  # fmt: skip
    """Return what a person should enter in `field` of `sheet`, in the config's locale."""
    loc = config.locale
    parts: list[str] = []
    t = field.type
    if t in CHOICE_TYPES:
        parts.append(text(loc, f"expect.{t}", choices="、".join(field.choices or [])))
    elif t is FieldType.phone:
        parts.append(text(loc, "expect.phone_landline" if field.allow_landline else "expect.phone"))
    elif t in (FieldType.date, FieldType.email, FieldType.credit_code, FieldType.member):
        parts.append(text(loc, f"expect.{t}"))
    elif t in (FieldType.number, FieldType.money, FieldType.rating):
        parts.append(text(loc, "expect.money" if t is FieldType.money else "expect.number"))
        lo, hi = field.bounds
        if lo is not None and hi is not None:
            parts.append(text(loc, "expect.range", min=_num(lo), max=_num(hi)))
        elif lo is not None:
            parts.append(text(loc, "expect.min", min=_num(lo)))
        elif hi is not None:
            parts.append(text(loc, "expect.max", max=_num(hi)))
    if field.max_length:
        parts.append(text(loc, "expect.max_length", n=field.max_length))
    if field.not_before_today:
        parts.append(text(loc, "expect.not_before_today"))
    if field.unique:
        parts.append(text(loc, "expect.unique"))
    if field.references:
        parts.append(text(loc, "expect.references", sheet=sheet_names[field.references]))
    if field.required_if:
        parts.append(
            text(loc, "expect.required_if", condition=sheet.phrase(field.required_if, loc))
        )
    return "；".join(parts) if loc == "zh_CN" else "; ".join(parts)


def _num(v: float) -> str:
    return str(int(v)) if float(v).is_integer() else str(v)


def member_choices(field: Field, config: Config) -> list[str]:
    """Return the names a member field offers: active people with one of the field's roles."""
    return [
        p.name for p in config.people if p.active and (not field.roles or p.role in field.roles)
    ]


class LayoutWriter:
    """Writes a workbook in the team's layout; rows are streamed, one sheet after the other.

    Use `write_sheet` once per configured sheet (in any subset), then `close`.
    """

    def __init__(self, path: str | Path, config: Config, *, created: datetime) -> None:
        self.config = config
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # streamed (a demo of a million rows), text as text (output.SAFE_TEXT)
        self.book = xlsxwriter.Workbook(str(self.path), {**SAFE_TEXT, "constant_memory": True})
        self.book.set_properties({"created": created, "author": "sheetcrm", "comments": ""})
        self.loc = config.locale
        self._sheet_names = {s.key: s.name for s in config.sheets}
        self._list_columns: dict[tuple[str, str], str] = {}
        self._lists: list[tuple[str, list[str]]] = []
        self._formats: dict[str, Any] = {}
        self._bodies: list[tuple[int, int, int, int, Iterable[Sequence[Any]]]] = []
        self.rows_written: list[int] = []
        self._collect_lists()

    # -- formats ------------------------------------------------------------------------------
    def _fmt(self, name: str) -> Any:
        if name not in self._formats:
            base = {"font_name": "等线" if self.loc == "zh_CN" else "Calibri", "font_size": 11}
            if name.startswith("cf_"):  # a conditional format only colours, keeping the font
                base = {}
            head = {"bold": True, "border": 1, "text_wrap": True, "valign": "vcenter"}
            specs: dict[str, dict[str, Any]] = {
                "head_required": {**head, "bg_color": "#C0504D", "font_color": "#FFFFFF"},
                "head_optional": {**head, "bg_color": "#DCE6F1"},
                "head_status": {**head, "bg_color": "#7F7F7F", "font_color": "#FFFFFF",
                                "italic": True},
                "col_text": {"locked": False},
                "col_textfmt": {"locked": False, "num_format": "@"},
                "col_date": {"locked": False, "num_format": "yyyy-mm-dd"},
                "col_money": {"locked": False, "num_format": "#,##0.00"},
                "col_number": {"locked": False},
                "col_wrap": {"locked": False, "text_wrap": True, "valign": "top"},
                "col_status": {"locked": True, "bg_color": "#F2F2F2", "font_color": "#595959"},
                "col_status_wrap": {"locked": True, "bg_color": "#F2F2F2", "font_color": "#595959",
                                    "text_wrap": True, "valign": "top"},
                "cf_bad": {"bg_color": "#FFC7CE", "font_color": "#9C0006"},
                "cf_good": {"bg_color": "#C6EFCE", "font_color": "#006100"},
                "cf_pending": {"bg_color": "#FFEB9C", "font_color": "#9C5700"},
                "title": {"bold": True, "font_size": 16},
                "intro": {"text_wrap": True, "valign": "top"},
                "table_head": {**head, "bg_color": "#DCE6F1"},
                "cell_wrap": {"text_wrap": True, "valign": "top", "border": 1},
            }  # fmt: skip
            self._formats[name] = self.book.add_format({**base, **specs[name]})
        return self._formats[name]

    def _column_format(self, field: Field) -> str:
        if field.key in self._id_fields or field.type in _TEXT_FORMAT_TYPES:
            return "col_textfmt"
        return {
            FieldType.date: "col_date",
            FieldType.money: "col_money",
            FieldType.number: "col_number",
            FieldType.rating: "col_number",
            FieldType.long_text: "col_wrap",
        }.get(field.type, "col_text")

    @property
    def _id_fields(self) -> set[str]:
        return {s.id_field for s in self.config.sheets}

    # -- lists sheet ----------------------------------------------------------------------------
    def _collect_lists(self) -> None:
        """Give every choice and member field a column of the hidden lists sheet."""
        for s in self.config.sheets:
            for f in s.fields:
                if f.type in CHOICE_TYPES:
                    values = list(f.choices or [])
                elif f.type is FieldType.member:
                    values = member_choices(f, self.config)
                else:
                    continue
                col = xl_col_to_name(len(self._lists))
                lists_name = text(self.loc, "template.lists_sheet")
                ref = f"='{lists_name}'!${col}$2:${col}${len(values) + 1}"
                self._list_columns[(s.key, f.key)] = ref
                self._lists.append((f"{s.name}.{f.label}", values))

    # -- data sheets ----------------------------------------------------------------------------
    def write_sheet(
        self, sheet: SheetConfig, rows: Iterable[Sequence[Any]] = (), *, count: int | None = None
    ) -> None:
        """Lay out `sheet`; its `rows` (values in field order) are streamed in at `close`.

        `count` is how many rows there will be (the sheet's dimension is written before them);
        without it the rows are gathered in memory first.
        """
        if count is None:
            rows = [list(r) for r in rows]
            count = len(rows)
        ws = self.book.add_worksheet(sheet.name)
        hr = sheet.header_row - 1
        at, status_at = sheet.positions()
        field_cols = [at[f.key] for f in sheet.fields]
        n_cols = len(at) + len(status_at)
        for f, c in zip(sheet.fields, field_cols, strict=True):
            ws.set_column(c, c, f.column_width(), self._fmt(self._column_format(f)))
        for st in sheet.status:
            c = status_at[str(st.key)]
            style = "col_status_wrap" if str(st.key) in _WRAPPED_STATUS else "col_status"
            ws.set_column(c, c, st.column_width(), self._fmt(style))
        ws.set_row(hr, 30)
        if field_cols != list(range(len(field_cols))):  # status columns between fields
            rows = _spread(rows, field_cols, n_cols)
        self._bodies.append((len(self.book.worksheets()), hr + 1, n_cols, count, rows))
        for f, c in zip(sheet.fields, field_cols, strict=True):
            ws.write_string(hr, c, f.header, self._fmt(_header_style(f)))
            ws.write_comment(
                xl_rowcol_to_cell(hr, c), self._comment(sheet, f), {"x_scale": 2, "y_scale": 1.5}
            )
        for st in sheet.status:
            c = status_at[str(st.key)]
            ws.write_string(hr, c, st.label, self._fmt("head_status"))
            ws.write_comment(xl_rowcol_to_cell(hr, c), text(self.loc, "template.status_comment"))
        for f, c in zip(sheet.fields, field_cols, strict=True):
            self._validate(ws, sheet, c, f, hr + 1)
        self._highlight(ws, status_at, hr + 1, id_col=field_cols[0])
        ws.freeze_panes(hr + 1, 1)
        ws.autofilter(hr, 0, EXCEL_MAX_ROW - 1, n_cols - 1)
        print_setup(ws, repeat_rows=hr)
        ws.protect(
            "",
            {
                "sort": True, "autofilter": True, "insert_rows": True, "delete_rows": True,
                "format_cells": True, "format_columns": True, "format_rows": True,
                "insert_hyperlinks": True, "select_locked_cells": True,
                "select_unlocked_cells": True,
            },
        )  # fmt: skip

    def _highlight(self, ws: Any, cols: dict[str, int], first: int, id_col: int) -> None:
        """Conditional formats, written once here (the nightly write-back only writes values):
        ✗ red and ✓ green in 校验结果, 待审批 amber in 审批状态, and the row's ID cell tinted
        red while the row has problems, so a bad row shows beside the ID without scrolling."""
        last = EXCEL_MAX_ROW - 1
        v = cols.get("validation")
        if v is not None:
            for mark, style in ((text(self.loc, "status.problem"), "cf_bad"),
                                (text(self.loc, "status.ok"), "cf_good")):  # fmt: skip
                ws.conditional_format(first, v, last, v, {
                    "type": "cell", "criteria": "==", "value": f'"{mark}"',
                    "format": self._fmt(style)})  # fmt: skip
            ref = f"${column_letter(v)}{first + 1}"
            ws.conditional_format(first, id_col, last, id_col, {
                "type": "formula", "criteria": f'={ref}="{text(self.loc, "status.problem")}"',
                "format": self._fmt("cf_bad")})  # fmt: skip
        a = cols.get("approval")
        if a is not None:
            ws.conditional_format(first, a, last, a, {
                "type": "text", "criteria": "begins with",
                "value": text(self.loc, "status.pending"),
                "format": self._fmt("cf_pending")})  # fmt: skip

    def _comment(self, sheet: SheetConfig, f: Field) -> str:
        loc = self.loc
        lines = [f.label, text(loc, f"type.{f.type}")]
        if f.required:
            lines[1] += " · " + text(loc, "expect.required")
        exp = expectation(f, sheet, self.config, sheet_names=self._sheet_names)
        if exp:
            lines.append(exp)
        if f.help:
            lines.append(f.help)
        return "\n".join(lines)

    def _validate(self, ws: Any, sheet: SheetConfig, c: int, f: Field, first: int) -> None:
        """Add the data validation (dropdown, date, number or length check) for column c."""
        rng = (first, c, EXCEL_MAX_ROW - 1, c)
        loc = self.loc
        prompt = expectation(f, sheet, self.config, sheet_names=self._sheet_names)[:250]
        common: dict[str, Any] = {"input_title": f.label[:32], "input_message": prompt}
        if not prompt:
            common = {}
        t = f.type
        opts: dict[str, Any]
        if t in CHOICE_TYPES or t is FieldType.member:
            opts = {"validate": "list", "source": self._list_columns[(sheet.key, f.key)]}
            if t is FieldType.multi_choice:
                opts["show_error"] = False  # "产品采购、技术支持" is a valid combination
            else:
                opts |= {"error_title": f.label[:32], "error_message": prompt}
        elif t is FieldType.date:
            opts = {"validate": "date", "criteria": ">=", "value": date(1900, 1, 1),
                    "error_title": f.label[:32], "error_message": text(loc, "expect.date")}  # fmt: skip
            if f.not_before_today:
                opts |= {"value": "=TODAY()", "error_type": "warning"}
        elif t in (FieldType.number, FieldType.money, FieldType.rating):
            lo, hi = f.bounds
            kind = "integer" if t is FieldType.rating else "decimal"
            if t is FieldType.rating:  # a whole-number rule needs whole-number bounds
                lo = int(lo) if lo is not None else None
                hi = int(hi) if hi is not None else None
            if lo is not None and hi is not None:
                opts = {"validate": kind, "criteria": "between", "minimum": lo, "maximum": hi}
            elif lo is not None:
                opts = {"validate": kind, "criteria": ">=", "value": lo}
            elif hi is not None:
                opts = {"validate": kind, "criteria": "<=", "value": hi}
            else:
                opts = {"validate": kind, "criteria": "between", "minimum": -1e15, "maximum": 1e15}
            # money may be typed as "3万": warn, do not refuse
            opts |= {"error_type": "stop" if t is FieldType.rating else "warning",
                     "error_title": f.label[:32], "error_message": prompt or f.label}  # fmt: skip
        elif f.max_length:
            opts = {"validate": "length", "criteria": "<=", "value": f.max_length,
                    "error_title": f.label[:32], "error_message": prompt}  # fmt: skip
        elif common:
            opts = {"validate": "any"}
        else:
            return
        ws.data_validation(*rng, {**opts, **common})

    # -- closing sheets -------------------------------------------------------------------------
    def _write_instructions(self) -> None:
        loc = self.loc
        ws = self.book.add_worksheet(text(loc, "template.instructions_sheet"))
        ws.write_string(0, 0, text(loc, "template.title"), self._fmt("title"))
        ws.set_row(1, 60)
        ws.merge_range(1, 0, 1, 5, text(loc, "template.intro"), self._fmt("intro"))
        heads = ["sheet", "column", "required", "type", "rules", "note"]
        widths = (12, 18, 10, 14, 50, 36)
        for c, (h, w) in enumerate(zip(heads, widths, strict=True)):
            ws.set_column(c, c, w)
            ws.write_string(3, c, text(loc, f"template.col.{h}"), self._fmt("table_head"))
        r = 4
        cell = self._fmt("cell_wrap")
        for s in self.config.sheets:
            for f in s.fields:
                required = (
                    "template.yes" if f.required
                    else "template.conditional" if f.required_if else "template.no"
                )  # fmt: skip
                values = [
                    s.name,
                    f.label,
                    text(loc, required),
                    text(loc, f"type.{f.type}"),
                    expectation(f, s, self.config, sheet_names=self._sheet_names),
                    f.help or "",
                ]
                lines = max(
                    -(-text_width(v) // int(w)) for v, w in zip(values, widths, strict=True)
                )
                if lines > 1:  # a wrapped cell gets the height it needs (nothing autofits it)
                    ws.set_row(r, 15 * lines)
                for c, v in enumerate(values):
                    ws.write_string(r, c, v, cell)
                r += 1
            for st in s.status:
                values = [s.name, st.label, text(loc, "template.status"), "",
                          text(loc, "template.status_comment"), ""]  # fmt: skip
                for c, v in enumerate(values):
                    ws.write_string(r, c, v, cell)
                r += 1
        ws.freeze_panes(4, 0)
        print_setup(ws, repeat_rows=3)

    def _write_lists(self) -> None:
        ws = self.book.add_worksheet(text(self.loc, "template.lists_sheet"))
        ws.set_column(0, max(len(self._lists) - 1, 0), 16)
        # constant_memory mode writes row by row, so lay the columns out row-wise
        height = max((len(v) for _, v in self._lists), default=0)
        for r in range(height + 1):
            for c, (title, values) in enumerate(self._lists):
                if r == 0:
                    ws.write_string(0, c, title, self._fmt("table_head"))
                elif r - 1 < len(values):
                    ws.write_string(r, c, values[r - 1])
        ws.protect()
        ws.hide()

    def close(self) -> list[int]:
        """Finish the workbook; return the number of data rows written to each sheet."""
        self._write_instructions()
        self._write_lists()
        self.book.close()
        if any(count for *_, count, _rows in self._bodies):
            stream_rows_into(self.path, self._bodies, self.rows_written)
        else:
            self.rows_written = [0] * len(self._bodies)
        return self.rows_written


def stream_rows_into(
    path: Path,
    bodies: list[tuple[int, int, int, int, Iterable[Sequence[Any]]]],
    counts: list[int],
) -> None:
    """Stream data rows into the sheets xlsxwriter laid out, as inline cells in the column's style.

    xlsxwriter spends ~10 µs a cell; a million-row demo has 25 million cells. Writing the rows' XML
    directly (the same cell helpers the surgical write-back uses) is several times faster and still
    streams, while xlsxwriter keeps doing everything else (styles, validations, comments).
    """
    tmp = path.with_name(path.name + ".tmp")
    members = {f"xl/worksheets/sheet{n}.xml": (first, width, count, rows)
               for n, first, width, count, rows in bodies}  # fmt: skip
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename not in members:
                dst.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=6)
                continue
            first, width, count, rows = members[info.filename]
            xml = _set_dimension(data.decode("utf-8"), first + count, width)
            styles = _column_styles(xml, width)
            head, tail = xml.split("</sheetData>", 1)
            if head.endswith(
                "<sheetData/>"
            ):  # pragma: no cover - xlsxwriter always writes a header
                head = head[: -len("<sheetData/>")] + "<sheetData>"
            out = zipfile.ZipInfo(info.filename, date_time=info.date_time)
            out.compress_type = zipfile.ZIP_DEFLATED
            with dst.open(out, "w", force_zip64=True) as fh:
                last = _write_body(fh, head, rows, first, styles)
                fh.write(b"</sheetData>")
                fh.write(tail.encode("utf-8"))
            if last - first != count:
                raise ValueError(f"{info.filename}: {last - first} rows written, {count} announced")
            counts.append(count)
    os.replace(tmp, path)


def _column_styles(xml: str, width: int) -> list[int | None]:
    styles: list[int | None] = [None] * width
    for m in re.finditer(r'<col min="(\d+)" max="(\d+)"[^>]*?style="(\d+)"', xml):
        for c in range(int(m[1]) - 1, min(int(m[2]), width)):
            styles[c] = int(m[3])
    return styles


def _write_body(
    fh: Any, head: str, rows: Iterable[Sequence[Any]], first: int, styles: list[int | None]
) -> int:
    """Write `head` then one <row> per row; return the 0-based index after the last row.

    The hot loop of a million-row demo: cell prefixes are precomputed per column and the general
    helpers are called only for values that need escaping or are not plain numbers.
    """
    buf: list[str] = [head]
    letters = [column_letter(c) for c in range(len(styles))]
    s_attr = [f' s="{st}"' if st else "" for st in styles]
    plain = re.compile(r"[&<>\x00-\x1f\ufffe\uffff]|_x[0-9A-Fa-f]{4}_|^\s|\s$")
    r = first
    for row in rows:
        n = r + 1
        cells = [f'<row r="{n}">']
        for c, v in enumerate(row):
            if v is None:
                continue
            if isinstance(v, str):
                if len(v) > 200 or plain.search(v):
                    cells.append(string_cell(f"{letters[c]}{n}", v, styles[c]))
                else:
                    cells.append(
                        f'<c r="{letters[c]}{n}"{s_attr[c]} t="inlineStr"><is><t>{v}</t></is></c>'
                    )
            elif isinstance(v, date):
                d = v.date() if isinstance(v, datetime) else v
                cells.append(
                    f'<c r="{letters[c]}{n}"{s_attr[c]}><v>{(d - EXCEL_EPOCH_1900).days}</v></c>'
                )
            else:
                cells.append(number_cell(f"{letters[c]}{n}", v, styles[c]))
        cells.append("</row>")
        buf.append("".join(cells))
        r += 1
        if r > EXCEL_MAX_ROW:
            raise ValueError("more rows than Excel allows")
        if len(buf) >= 2000:
            fh.write("".join(buf).encode("utf-8"))
            buf.clear()
    fh.write("".join(buf).encode("utf-8"))
    return r


def _set_dimension(xml: str, last_row: int, width: int) -> str:
    ref = f"A1:{column_letter(width - 1)}{max(last_row, 1)}"
    return re.sub(r'<dimension ref="[^"]*"/>', f'<dimension ref="{ref}"/>', xml, count=1)


def _status_runs(layout: Sequence[Any]) -> list[tuple[int, int]]:
    """[start, end) of each run of adjacent status columns in a sheet's layout."""
    runs: list[tuple[int, int]] = []
    for c, col in enumerate(layout):
        if isinstance(col, Field):
            continue
        if runs and runs[-1][1] == c:
            runs[-1] = (runs[-1][0], c + 1)
        else:
            runs.append((c, c + 1))
    return runs


def _spread(rows: Iterable[Sequence[Any]], field_cols: list[int],
            width: int) -> Iterable[Sequence[Any]]:  # fmt: skip
    """Rows in field order, laid out at their fields' columns (status columns between stay empty)."""
    for row in rows:
        out: list[Any] = [None] * width
        for c, v in zip(field_cols, row, strict=False):
            out[c] = v
        yield out


def _header_style(f: Field) -> str:
    return "head_required" if f.required else "head_optional"


def build_template(config: Config, path: str | Path) -> Path:
    """Write the empty workbook template for `config` to `path` and return the path."""
    writer = LayoutWriter(path, config, created=TEMPLATE_CREATED)
    for sheet in config.sheets:
        writer.write_sheet(sheet)
    writer.close()
    return Path(path)


class SpreadsheetSetup(Protocol):
    """What setting up a Google Sheet needs of its source (`sources/gsheet.GSheetSource`)."""

    def tabs(self) -> dict[str, dict[str, Any]]: ...
    def add_tabs(self, names: Sequence[str]) -> dict[str, dict[str, Any]]: ...
    def read_ranges(self, ranges: Sequence[str]) -> list[list[list[Any]]]: ...
    def update_layout(self, requests_: list[dict[str, Any]]) -> None: ...
    def write_ranges(self, data: list[dict[str, Any]]) -> None: ...


def setup_gsheet(config: Config, sheet_api: SpreadsheetSetup) -> list[str]:
    """The template, for a Google Sheet: each configured sheet (added if missing) gets its header
    row, dropdowns for choice and member fields, a frozen header and its status columns protected
    (a warning when someone edits them, as the Excel template's sheet protection).

    A sheet whose header row already has text keeps it: nothing people typed is overwritten.
    Returns what was done, one line per sheet. Four to five API calls whatever the size."""
    grid = sheet_api.tabs()
    missing = [s.name for s in config.sheets if s.name not in grid]
    if missing:
        grid.update(sheet_api.add_tabs(missing))
    got = sheet_api.read_ranges(
        [f"{quote_sheet(s.name)}!{s.header_row}:{s.header_row}" for s in config.sheets]
    )
    data, requests_, done = [], [], []
    for sheet, rows in zip(config.sheets, got, strict=True):
        props = grid[sheet.name]
        sid, hr = props["sheetId"], sheet.header_row
        layout = sheet.columns()
        headers = [col.header if isinstance(col, Field) else col.label for col in layout]
        at, _ = sheet.positions()

        if any(str(v).strip() for v in (rows or [[]])[0]):
            done.append(f"{sheet.name}: has headers already; left as it is")
            continue
        data.append({"range": f"{quote_sheet(sheet.name)}!A{hr}", "values": [headers]})
        width = int(props.get("gridProperties", {}).get("columnCount", 26))
        if len(headers) > width:
            requests_.append({"appendDimension": {"sheetId": sid, "dimension": "COLUMNS",
                                                  "length": len(headers) - width}})  # fmt: skip
        requests_.append({"updateSheetProperties": {
            "properties": {"sheetId": sid, "gridProperties": {"frozenRowCount": hr}},
            "fields": "gridProperties.frozenRowCount"}})  # fmt: skip
        requests_.append({"repeatCell": {
            "range": {"sheetId": sid, "startRowIndex": hr - 1, "endRowIndex": hr},
            "cell": {"userEnteredFormat": {"textFormat": {"bold": True}}},
            "fields": "userEnteredFormat.textFormat.bold"}})  # fmt: skip
        lists = 0
        for f in sheet.fields:
            c = at[f.key]
            values = (list(f.choices or []) if f.type in CHOICE_TYPES
                      else member_choices(f, config) if f.type is FieldType.member else [])  # fmt: skip
            if not values or f.type is FieldType.multi_choice:
                continue  # several choices in one cell cannot be a one-of list
            requests_.append({"setDataValidation": {
                "range": {"sheetId": sid, "startRowIndex": hr, "startColumnIndex": c,
                          "endColumnIndex": c + 1},
                "rule": {"condition": {"type": "ONE_OF_LIST",
                                       "values": [{"userEnteredValue": v} for v in values]},
                         "strict": True, "showCustomUi": True}}})  # fmt: skip
            lists += 1
        for start, end in _status_runs(layout):  # one protected range per run of status columns
            requests_.append({"addProtectedRange": {"protectedRange": {
                "range": {"sheetId": sid, "startColumnIndex": start, "endColumnIndex": end},
                "description": "sheetcrm writes these status columns", "warningOnly": True}}})  # fmt: skip
        done.append(f"{sheet.name}: {len(headers)} headers, {lists} dropdowns, frozen header, "
                    f"{len(sheet.status)} status columns protected")  # fmt: skip
    if requests_:
        sheet_api.update_layout(requests_)
    if data:
        sheet_api.write_ranges(data)
    return done
