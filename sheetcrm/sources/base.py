"""The contract every source (a local workbook, a Google Sheet) fulfils, and header matching.

A source must:

- `read(sheet_key) -> Table`: return the sheet's rows with one column per configured field that has
  a header, headers matched by label (trimmed, width- and case-insensitive, a leading * ignored) in any
  column order. Columns people added are kept in the sheet and ignored. A missing ID or required
  column, or a header that appears twice, raises SheetLayoutError naming the sheet and header. Fully
  empty rows are skipped. Values are raw: dates as dates, numbers as numbers, text as typed, formula
  errors as CellError.
- `write_statuses({sheet_key: patch}, *, fingerprint, now) -> {sheet_key: WriteResult}`: write only
  the status cells (and new IDs) of the patches, finding rows by record ID at write time. It writes
  all sheets or nothing, and refuses (WorkbookLocked, WorkbookChanged, ...) rather than risk people's
  work. `write_status` is the same for one sheet.

The core receives a source; it never picks one itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

import pandas as pd

from ..config import SheetConfig
from ..errors import SheetLayoutError
from ..table import StatusPatch, Table, WriteResult
from ..text import fold_label
from .cells import column_letter


class Source(Protocol):
    def read(self, sheet_key: str) -> Table: ...

    def write_status(
        self, sheet_key: str, patch: StatusPatch, *, fingerprint: str | None, now: datetime
    ) -> WriteResult: ...

    def write_statuses(
        self, patches: dict[str, StatusPatch], *, fingerprint: str | None, now: datetime
    ) -> dict[str, WriteResult]: ...


@dataclass(frozen=True)
class HeaderMap:
    """Where each configured field and status column sits (0-based columns)."""

    fields: dict[str, int]
    status: dict[str, int]
    missing: list[str]
    extra: list[str]


def map_headers(sheet: SheetConfig, headers: list[object]) -> HeaderMap:
    """Return where the sheet's fields and status columns are among `headers` (the header row)."""
    wanted: dict[str, tuple[str, str]] = {}
    for f in sheet.fields:
        wanted[fold_label(f.label)] = ("field", f.key)
    for st in sheet.status:
        wanted[fold_label(st.label)] = ("status", str(st.key))
    found: dict[tuple[str, str], int] = {}
    extra: list[str] = []
    for col, value in enumerate(headers):
        if value is None or str(value).strip() == "":
            continue
        target = wanted.get(fold_label(str(value)))
        if target is None:
            extra.append(str(value))
            continue
        if target in found:
            first = found[target]
            raise SheetLayoutError(
                f"sheet {sheet.name!r}: the header {str(value).strip()!r} appears twice, in columns "
                f"{column_letter(first)} and {column_letter(col)}; rename or remove one of them"
            )
        found[target] = col
    fields = {key: col for (kind, key), col in found.items() if kind == "field"}
    status = {key: col for (kind, key), col in found.items() if kind == "status"}
    required = [f for f in sheet.fields if f.required or f.key == sheet.id_field]
    absent = [f.label for f in required if f.key not in fields]
    if absent:
        raise SheetLayoutError(
            f"sheet {sheet.name!r}: no column with the header {', '.join(map(repr, absent))} "
            f"in row {sheet.header_row}; add it (see templates/customers.xlsx)"
        )
    missing = [f.key for f in sheet.fields if f.key not in fields]
    return HeaderMap(fields, status, missing, extra)


def plan_new_ids(
    table: Table, sheet: SheetConfig, issued: pd.Index | None = None
) -> dict[int, str]:
    """Return {sheet row: new ID} for the rows without an ID, numbered after the highest ID in the
    sheet that fits the configured pattern (C000123 → C000124, ...), in sheet order. `issued` are IDs
    the store has seen: a deleted customer's ID is never given to someone else."""
    pattern = sheet.id_regex
    ids = (
        table.ids
        if issued is None or not len(issued)
        else pd.concat([table.ids, pd.Series(issued)])
    )
    numbers = ids.str.extract(pattern, expand=False).dropna()
    next_number = int(numbers.astype(int).max()) + 1 if len(numbers) else 1
    blank = table.ids.index[table.ids == ""]
    return {int(row): sheet.id_for(next_number + i) for i, row in enumerate(blank)}


__all__ = [
    "HeaderMap", "Source", "StatusPatch", "Table", "WriteResult", "map_headers", "plan_new_ids",
]  # fmt: skip
