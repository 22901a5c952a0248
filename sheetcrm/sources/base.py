"""The contract every source (a local workbook, a Google Sheet) fulfils, and header matching.

A source must:

- `read(sheet_key) -> Table`: return the sheet's rows with one column per configured field that has
  a header, headers matched by label (trimmed, width- and case-insensitive, a leading * ignored) in any
  column order. Columns people added are kept in the sheet and ignored. A missing ID or required
  column, or a header that appears twice, raises SheetLayoutError naming the sheet and header. Fully
  empty rows are skipped. Values are raw: dates as dates, numbers as numbers, text as typed, formula
  errors as CellError.
- `read_sheets(sheet_keys) -> {sheet_key: Table}`: the same for several sheets at once, the way
  the source does that best (a workbook parses two sheets in parallel, a Google Sheet fetches all
  tabs in one request).
- `write_statuses({sheet_key: patch}, *, fingerprint, now, on_ready) -> {sheet_key: WriteResult}`:
  write only the status cells (and new IDs) of the patches, finding rows by record ID at write time.
  It writes all sheets or nothing, and refuses (WorkbookLocked, WorkbookChanged, ...) rather than
  risk people's work. A source that writes by swapping in a finished file calls `on_ready` with the
  fingerprint of that file just before the swap (the store journals the run there). `write_status`
  is the same for one sheet.
- `sheet_names() -> list[str]`: the tabs there are (a sheet marked optional may be absent).
- `current_fingerprint() -> str | None`: the fingerprint of the content as it is now (None where the
  source has none to compare cheaply).

The core receives a source; it never picks one itself.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from ..config import SheetConfig
from ..errors import SheetLayoutError
from ..messages import text
from ..table import StatusPatch, Table, WriteResult
from ..text import display, fold_label, map_distinct
from .cells import column_letter, id_text


class Source(Protocol):
    @property
    def path(self) -> Path | None:
        """The workbook file; None for a Google Sheet."""
        ...

    @property
    def where(self) -> str:
        """Where the rows live, for messages."""
        ...

    def cell_link(self, sheet_name: str, a1: str, from_dir: Path | None = None) -> str:
        """A link that opens the source at a cell (the error list's 定位 column)."""
        ...

    def open_link(self, sheet_name: str, a1: str) -> str:
        """A link a mail client can open at a cell (a digest line's record)."""
        ...

    def read(self, sheet_key: str) -> Table: ...

    def read_sheets(self, sheet_keys: Sequence[str]) -> dict[str, Table]:
        """Several sheets in one go: what a run reads (a source may read them in parallel)."""
        ...

    def write_status(
        self, sheet_key: str, patch: StatusPatch, *, fingerprint: str | None, now: datetime
    ) -> WriteResult: ...

    def write_statuses(
        self,
        patches: dict[str, StatusPatch],
        *,
        fingerprint: str | None,
        now: datetime,
        on_ready: Callable[[str], None] | None = None,
    ) -> dict[str, WriteResult]: ...

    def current_fingerprint(self) -> str | None: ...

    def sheet_names(self) -> list[str]: ...


@dataclass(frozen=True)
class HeaderMap:
    """Where each configured field and status column sits (0-based columns)."""

    fields: dict[str, int]
    status: dict[str, int]
    missing: list[str]
    extra: list[str]


def map_headers(sheet: SheetConfig, headers: Sequence[object]) -> HeaderMap:
    """Return where the sheet's fields and status columns are among `headers` (the header row)."""
    wanted: dict[str, tuple[str, str]] = {}
    for f in sheet.fields:
        wanted[fold_label(f.label)] = ("field", f.key)
    for st in sheet.status:
        for label in (*st.aliases, st.label):  # a header an older template wrote counts too
            wanted[fold_label(label)] = ("status", str(st.key))
    found: dict[tuple[str, str], int] = {}
    extra: list[str] = []
    for col, cell in enumerate(headers):
        value = display(cell)  # a header typed as a number (123) reads as 123.0: it says "123"
        if value.strip() == "":
            continue
        target = wanted.get(fold_label(value))
        if target is None:
            extra.append(value)
            continue
        if target in found:
            first = found[target]
            raise SheetLayoutError(text(sheet.locale, "layout.twice", sheet=sheet.name,
                                        header=value.strip(), first=column_letter(first),
                                        second=column_letter(col)))  # fmt: skip
        found[target] = col
    fields = {key: col for (kind, key), col in found.items() if kind == "field"}
    status = {key: col for (kind, key), col in found.items() if kind == "status"}
    required = [f for f in sheet.fields if f.required or f.key == sheet.id_field]
    absent = [f.label for f in required if f.key not in fields]
    if absent:
        quoted = ("、".join(f"“{a}”" for a in absent) if sheet.locale == "zh_CN"
                  else ", ".join(map(repr, absent)))  # fmt: skip
        raise SheetLayoutError(text(sheet.locale, "layout.missing", sheet=sheet.name,
                                    headers=quoted, row=sheet.header_row))  # fmt: skip
    missing = [f.key for f in sheet.fields if f.key not in fields]
    return HeaderMap(fields, status, missing, extra)


def plan_new_ids(
    table: Table, sheet: SheetConfig, issued: pd.Index | None = None
) -> dict[int, str]:
    """Return {sheet row: new ID} for the rows without an ID, numbered after the highest ID in the
    sheet that fits the configured pattern (C000123 → C000124, ...), in sheet order. `issued` are IDs
    the store has seen: a deleted customer's ID is never given to someone else."""
    blank = table.ids.index[table.ids == ""]
    if not len(blank):
        return {}  # most nights: no need to scan every ID for the highest number
    next_number = next_id_number(table, sheet, issued)
    return {int(row): sheet.id_for(next_number + i) for i, row in enumerate(blank)}


def next_id_number(table: Table, sheet: SheetConfig, issued: Sequence[str] | None = None) -> int:
    """The number after the highest ID in the sheet or among `issued` (IDs the store has seen)
    that fits the configured pattern."""
    ids = table.ids if issued is None or not len(issued) else pd.concat(
        [table.ids, pd.Series(list(issued), dtype=object)])  # fmt: skip
    numbers = ids.astype(str).str.extract(sheet.id_regex, expand=False).dropna()
    return int(numbers.astype(int).max()) + 1 if len(numbers) else 1


def build_table(sheet: SheetConfig, rows: Any, start: tuple[int, int] = (0, 0),
                special: dict[tuple[int, int], Any] | None = None) -> Table:  # fmt: skip
    """A Table from rows of cell values starting at sheet row 1 (column `start[1]` first): the
    header row is mapped by label, fully empty rows are skipped, `special` cells (formula errors)
    replace their values."""
    special = special or {}
    # calamine's iter_rows starts at sheet row 1 but at the first used column
    _, c0 = start
    header_row = sheet.header_row
    headers: list[Any] = []
    r = 0  # 1-based sheet row of the row just taken from calamine
    for row in rows:
        r += 1
        if r == header_row:
            headers = [""] * c0 + list(row)
            break
        if r > header_row:
            break
    hmap = map_headers(sheet, headers)
    keys = list(hmap.fields)
    status_keys = list(hmap.status)
    cols = [hmap.fields[k] - c0 for k in keys] + [hmap.status[k] - c0 for k in status_keys]
    n_fields = len(keys)
    width = max(cols) + 1 if cols else 0
    pick = operator.itemgetter(*cols) if len(cols) > 1 else (lambda row: (row[cols[0]],))
    empty_fields = ("",) * n_fields
    pad = ("",) * width
    records: list[tuple[Any, ...]] = []
    numbers: list[int] = []
    for row in rows:
        r += 1
        if len(row) < width:
            row = list(row) + list(pad[: width - len(row)])
        values = pick(row)
        if values[:n_fields] == empty_fields:
            continue  # a fully empty row (or one with only our own status values)
        records.append(values)
        numbers.append(r)
    columns = keys + [f"status:{k}" for k in status_keys]
    # the index is set after: from_records takes `index` as names of index *fields* first, and an
    # empty one (a sheet with headers only) fails in pandas 2.x ("Must pass non-zero number of
    # levels/codes")
    frame = pd.DataFrame.from_records(records, columns=columns, coerce_float=False)
    frame.index = pd.Index(numbers, dtype="int64")
    frame = frame.astype(object)
    frame.index.name = "row"
    for (sr, sc), err in special.items():
        for key in keys:
            if hmap.fields[key] == sc and sr in frame.index:
                frame.at[sr, key] = err
    status = frame[[f"status:{k}" for k in status_keys]]
    status.columns = status_keys
    fields = frame[keys]
    return Table(
        sheet_key=sheet.key,
        sheet_name=sheet.name,
        frame=fields,
        columns=dict(hmap.fields),
        status_columns=dict(hmap.status),
        header_row=header_row,
        missing=hmap.missing,
        extra=hmap.extra,
        status=status,
        ids=map_distinct(fields[sheet.id_field], id_text),  # object dtype: fast to iterate
    )


__all__ = [
    "HeaderMap", "Source", "build_table", "StatusPatch", "Table", "WriteResult", "map_headers", "plan_new_ids",
]  # fmt: skip
