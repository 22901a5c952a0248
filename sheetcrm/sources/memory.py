"""A source held in memory: sheets as lists of rows, read and written like a workbook.

For tests of the stages and rules (and for tools that build rows themselves): no file, no network,
the same contract as the workbook and the Google Sheet (`sources.base`), in the spirit of httpx's
MockTransport. Headers are matched by label, rows are found by record ID at write time, missing
status columns are added to the right, a write into rows changed since the read is refused.

    source = MemorySource(config, {"客户信息": [["客户ID", "*客户名称", ...], ["C000001", "甲公司", ...]]})
    plan = build_plan(read_all(source, config), config, now=now)
    apply_plan(plan, source, config)
    source.sheets["客户信息"]  # the rows, with the status columns written
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from ..config import Config
from ..errors import SheetLayoutError, WorkbookChanged
from ..table import StatusPatch, Table, WriteResult
from .base import build_table, map_headers
from .cells import id_text


class MemorySource:
    """Sheets by name → rows (lists of cell values, the header row included)."""

    def __init__(self, config: Config, sheets: dict[str, list[list[Any]]]) -> None:
        self.config = config
        self.sheets = {name: [list(row) for row in rows] for name, rows in sheets.items()}
        self.name = f"memory-{uuid.uuid4().hex[:8]}"  # two of them are two workbooks

    @property
    def path(self) -> Path | None:
        return None

    @property
    def where(self) -> str:
        return self.name

    def cell_link(self, sheet_name: str, a1: str, from_dir: Path | None = None) -> str:
        return f"#'{sheet_name}'!{a1}"

    def open_link(self, sheet_name: str, a1: str) -> str:
        return self.cell_link(sheet_name, a1)

    def sheet_names(self) -> list[str]:
        return list(self.sheets)

    def current_fingerprint(self) -> str | None:
        return _fingerprint(self.sheets)

    def read(self, sheet_key: str) -> Table:
        return self.read_sheets([sheet_key])[sheet_key]

    def read_sheets(self, sheet_keys: Sequence[str]) -> dict[str, Table]:
        fingerprint = self.current_fingerprint() or ""
        out = {}
        for key in sheet_keys:
            sheet = self.config.sheet(key)
            if sheet.name not in self.sheets:
                raise SheetLayoutError(f"memory has no sheet named {sheet.name!r}; its sheets are: "
                                       + ("、".join(self.sheets) or "(none)"))  # fmt: skip
            table = build_table(sheet, iter(self.sheets[sheet.name]))
            table.fingerprint = fingerprint
            out[key] = table
        return out

    def write_status(self, sheet_key: str, patch: StatusPatch, *, fingerprint: str | None,
                     now: datetime) -> WriteResult:  # fmt: skip
        return self.write_statuses({sheet_key: patch}, fingerprint=fingerprint, now=now)[sheet_key]

    def write_statuses(self, patches: dict[str, StatusPatch], *, fingerprint: str | None,
                       now: datetime, on_ready: Callable[[str], None] | None = None,
                       ) -> dict[str, WriteResult]:  # fmt: skip
        """All sheets or nothing: the rows are changed in a copy that replaces them at the end."""
        if fingerprint is not None and fingerprint != self.current_fingerprint():
            raise WorkbookChanged("memory changed after it was read; nothing was written")
        sheets = {name: [list(row) for row in rows] for name, rows in self.sheets.items()}
        results = {}
        for key, patch in patches.items():
            sheet = self.config.sheet(key)
            results[key] = _write(sheets[sheet.name], sheet, patch, new_ids=fingerprint is not None)
        if on_ready is not None:
            on_ready(_fingerprint(sheets))
        self.sheets = sheets
        return results


def _write(rows: list[list[Any]], sheet: Any, patch: StatusPatch, *, new_ids: bool) -> WriteResult:
    result = WriteResult(unchanged=not patch)
    if not patch:
        return result
    hr = sheet.header_row - 1
    header = rows[hr]
    hmap = map_headers(sheet, header)
    columns = {**hmap.fields, **hmap.status}
    for st in sheet.status:  # missing status columns: added right of everything
        if str(st.key) not in columns:
            columns[str(st.key)] = len(header)
            header.append(st.label)
            result.columns_added.append(st.label)
    id_col = hmap.fields[sheet.id_field]

    def put(row: list[Any], col: int, value: Any) -> None:
        row.extend([""] * (col + 1 - len(row)))
        row[col] = value

    if new_ids:
        for number, rid in patch.new_ids.items():
            put(rows[number - 1], id_col, rid)
            result.ids_written += 1
    found: set[str] = set()
    for row in rows[hr + 1 :]:
        rid = id_text(row[id_col]) if len(row) > id_col else ""
        if not rid:
            continue
        values, cells = patch.values.get(rid), patch.cells.get(rid)
        if values is None and cells is None:
            continue
        found.add(rid)
        for key, value in {**(values or {}), **(cells or {})}.items():
            if key in columns:
                put(row, columns[key], value)
        result.rows_written += 1
    for new in patch.append:
        added: list[Any] = [""] * len(header)
        for key, value in new.items():
            if key in columns:
                put(added, columns[key], value)
        rows.append(added)
        result.rows_appended += 1
    result.not_found = sorted(set(patch.values) - found)
    return result


def _fingerprint(sheets: dict[str, list[list[Any]]]) -> str:
    data = json.dumps(sheets, ensure_ascii=False, default=str, sort_keys=True)
    return hashlib.sha256(data.encode()).hexdigest()
