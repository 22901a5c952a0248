"""The error list workbook (导出校验错误清单): one row per problem, with a link to the cell."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path

import pandas as pd

from .config import Config
from .messages import problem_kind
from .output import print_setup, xlsx_book
from .sources.cells import column_letter
from .table import CheckResult

MAX_LINKS = 65_530
CellLink = Callable[[str, str], str]

# the kind as people read it (必填), and its code last, for filters and scripts
HEADERS = {
    "zh_CN": ["工作表", "行号", "记录编号", "负责人", "字段", "问题", "填写内容", "说明", "定位",
              "问题代码"],
    "en": ["Sheet", "Row", "Record", "Owner", "Field", "Problem", "Entered", "Message", "Go to",
           "Code"],
}  # fmt: skip
WIDTHS = (12, 7, 12, 10, 14, 14, 24, 50, 8, 18)


def error_list_path(config: Config, now: datetime) -> Path:
    """Where a run at `now` writes its error list by default."""
    return config.path(f"reports/校验错误清单-{now:%Y%m%d-%H%M}.xlsx")


def write_error_list(
    results: dict[str, CheckResult],
    config: Config,
    link: CellLink,
    out: Path,
    columns: dict[str, dict[str, int]],
    owners: Mapping[str, pd.Series] | None = None,
) -> int:
    """Write every problem of `results` to `out`; return how many rows were written. Each row
    links to its cell: `link(sheet name, "B12")` is the address (the source's `cell_link`).
    `columns`: per sheet, where each field sits in the sheet as read (0-based; `Table.columns`):
    people move and insert columns. `owners`: per sheet, whose each row is (by sheet row), so a
    manager filters the list by rep."""
    loc = config.locale
    with xlsx_book(out, streaming=True) as book:
        ws = book.add_worksheet("校验错误清单" if loc == "zh_CN" else "Problems")
        head = book.add_format(
            {"bold": True, "bg_color": "#DCE6F1", "border": 1, "text_wrap": True}
        )
        wrap = book.add_format({"text_wrap": True, "valign": "top"})
        top = book.add_format({"valign": "top"})
        blue = book.add_format({"font_color": "blue", "underline": 1, "valign": "top"})
        for c, (h, w) in enumerate(zip(HEADERS[loc], WIDTHS, strict=True)):
            ws.set_column(c, c, w, wrap if c == 7 else top)
            ws.write_string(0, c, h, head)
        ws.freeze_panes(1, 0)
        print_setup(ws, repeat_rows=0)
        r = 1
        for key, result in results.items():
            where = columns[key]
            p = result.problems
            kinds = {c: problem_kind(loc, c) for c in p["code"].unique()}  # a few, once each
            owner = (owners or {}).get(key)
            who = owner.reindex(p["row"]).fillna("").astype(str).tolist() if owner is not None \
                else [""] * len(p)  # fmt: skip
            for (row, rid, fkey, label, code, value, message), person in zip(
                p[["row", "record_id", "field", "label", "code", "value", "message"]].itertuples(
                    index=False
                ),
                who,
                strict=True,
            ):
                ws.write_string(r, 0, result.sheet_name)
                ws.write_number(r, 1, int(row))
                ws.write_string(r, 2, str(rid or ""))
                ws.write_string(r, 3, person)
                ws.write_string(r, 4, label)
                ws.write_string(r, 5, kinds[code])
                ws.write_string(r, 6, str(value))
                ws.write_string(r, 7, message, wrap)
                if r <= MAX_LINKS:  # Excel holds 65,530 links a sheet
                    target = link(result.sheet_name, f"{column_letter(where[fkey])}{int(row)}")
                    ws.write_url(r, 8, target, blue, string="→" if len(target) < 2000 else "")
                ws.write_string(r, 9, code)
                r += 1
        ws.autofilter(0, 0, max(r - 1, 1), len(WIDTHS) - 1)
    return r - 1
