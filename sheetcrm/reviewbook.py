"""The duplicate review workbook: one block per group, records side by side, differences marked."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .config import SheetConfig
from .dedupe import DuplicateResult
from .output import xlsx_book
from .text import display


def write_review(result: DuplicateResult, typed: pd.DataFrame, ids: pd.Series, sheet: SheetConfig,
                 out: Path, *, locale: str = "zh_CN") -> int:  # fmt: skip
    """Write every duplicate group to `out`: the original first, then its duplicates with the reason;
    cells that differ from the original are highlighted. Return the number of groups."""
    with xlsx_book(out) as book:
        ws = book.add_worksheet("重复客户" if locale == "zh_CN" else "Duplicates")
        head = book.add_format({"bold": True, "bg_color": "#DCE6F1", "border": 1})
        group_head = book.add_format({"bold": True, "bg_color": "#F2F2F2", "top": 2})
        differs = book.add_format({"bg_color": "#FFEB9C"})
        fields = [f for f in sheet.fields if f.key in typed]
        zh = locale == "zh_CN"
        columns = (["分组", "角色", "原因"] if zh else ["Group", "Role", "Reason"]) + [
            f.label for f in fields
        ]
        for c, h in enumerate(columns):
            ws.write_string(0, c, h, head)
            ws.set_column(c, c, 10 if c < 2 else 16)
        ws.freeze_panes(1, 3)
        members = result.duplicate_of[result.duplicate_of != ""]
        r = 1
        position = {rid: row for row, rid in ids.items()}
        for n, (original, dups) in enumerate(members.groupby(members, sort=True), start=1):
            base = typed.loc[position[original]]
            ws.write_row(r, 0, [f"#{n}", "原始" if zh else "original", ""], group_head)
            for c, f in enumerate(fields, start=3):
                ws.write_string(r, c, display(base[f.key]), group_head)
            r += 1
            for row in dups.index:
                ws.write_row(r, 0, [f"#{n}", "重复" if zh else "duplicate", result.reason.loc[row]])
                for c, f in enumerate(fields, start=3):
                    value = display(typed.at[row, f.key])
                    ws.write_string(r, c, value, differs if value != display(base[f.key]) else None)
                r += 1
        ws.autofilter(0, 0, max(r - 1, 1), len(columns) - 1)
    return int(members.nunique())
