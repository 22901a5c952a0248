"""Exporting raw rows (导出数据): a sheet's rows as people typed them, with the status columns,
filtered by owner, date, stage or what a person may see, to .xlsx or CSV.

Filters compare typed values (so " 王明" matches 王明 and a date typed as text counts as a date);
the exported cells are the raw ones. Text never becomes a formula: xlsx cells are written as text,
and CSV text starting with = + - @ gets a leading '.
"""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from .check import check_table
from .config import Config, FieldType, SheetConfig
from .errors import ConfigError
from .expr import to_datetime64
from .output import write_cell, write_csv_rows, xlsx_book
from .permissions import visible_owners
from .table import Table


def since_field(config: Config, sheet: SheetConfig) -> str | None:
    """The date `--since` compares: [report] created for the report's sheet, else the first date
    field of the sheet."""
    if config.report is not None and config.report.sheet == sheet.key:
        return config.report.created
    return next((f.key for f in sheet.fields if f.type is FieldType.date), None)


def select_rows(table: Table, sheet: SheetConfig, config: Config, *, now: datetime,
                owner: str | None = None, since: date | None = None, stage: str | None = None,
                viewer: str | None = None) -> pd.Index:  # fmt: skip
    """The rows (sheet row numbers) that pass every filter given."""
    typed = check_table(table, sheet, config, now=now).typed
    keep = pd.Series(True, index=typed.index)
    owner_key = config.owner_field(sheet.key)
    owners = visible_owners(config, viewer)
    if owner is not None or owners is not None:
        if owner_key is None:
            raise ConfigError(f"sheet {sheet.name} has no owner field to filter by")
        who = typed[owner_key].fillna("").astype(str)
        if owner is not None:
            keep &= who == owner
        if owners is not None:
            keep &= who.isin(owners)
    if since is not None:
        key = since_field(config, sheet)
        if key is None:
            raise ConfigError(f"sheet {sheet.name} has no date field for --since")
        keep &= to_datetime64(typed[key]) >= pd.Timestamp(since)
    if stage is not None:
        if not sheet.stage_field:
            raise ConfigError(f"sheet {sheet.name} has no stage_field for --stage")
        keep &= typed[sheet.stage_field].fillna("").astype(str) == stage
    return typed.index[keep]


def export_rows(table: Table, sheet: SheetConfig, rows: pd.Index, out: Path, fmt: str) -> int:
    """Write the chosen rows (fields as typed, then the status columns) to `out`; return the count."""
    keys = [f.key for f in sheet.fields if f.key in table.frame]
    status = [s for s in sheet.status if s.key.value in table.status]
    header = [sheet.field(k).label for k in keys] + [s.label for s in status]
    frame = table.frame.loc[rows, keys]
    stat = table.status.loc[rows, [s.key.value for s in status]] if status else None

    def values() -> Any:
        for i, row in enumerate(frame.itertuples(index=False)):
            extra = list(stat.iloc[i]) if stat is not None else []
            yield [_plain(v) for v in (*row, *extra)]

    if fmt == "csv":
        write_csv_rows(out, header, values())
    else:
        _write_xlsx(out, sheet.name, header, values())
    return len(rows)


def _plain(v: Any) -> Any:
    if v is None or (isinstance(v, float) and pd.isna(v)):
        return None
    if isinstance(v, pd.Timestamp):
        return v.to_pydatetime()
    return v if isinstance(v, str | int | float | date) else str(v)


def _write_xlsx(out: Path, name: str, header: list[str], rows: Any) -> None:
    with xlsx_book(out, streaming=True) as book:
        ws = book.add_worksheet(name[:31])
        bold = book.add_format({"bold": True, "bg_color": "#DCE6F1"})
        day = book.add_format({"num_format": "yyyy-mm-dd"})
        ws.write_row(0, 0, header, bold)
        ws.freeze_panes(1, 0)
        r = 0
        for r, values in enumerate(rows, start=1):
            for c, v in enumerate(values):
                write_cell(ws, r, c, v, day=day)
        ws.autofilter(0, 0, max(r, 1), len(header) - 1)
        ws.set_column(0, len(header) - 1, 14)
