"""The error list workbook (导出校验错误清单): one row per problem, with a link to the cell."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from .config import Config
from .output import xlsx_book
from .sources.cells import column_letter
from .table import CheckResult

MAX_LINKS = 65_530
CellLink = Callable[[str, str], str]

HEADERS = {
    "zh_CN": ["工作表", "行号", "记录编号", "字段", "问题", "填写内容", "说明", "定位"],
    "en": ["Sheet", "Row", "Record", "Field", "Problem", "Entered", "Message", "Go to"],
}


def error_list_path(config: Config, now: datetime) -> Path:
    """Where a run at `now` writes its error list by default."""
    return config.path(f"reports/校验错误清单-{now:%Y%m%d-%H%M}.xlsx")


def write_error_list(
    results: dict[str, CheckResult],
    config: Config,
    link: CellLink,
    out: Path,
    columns: dict[str, dict[str, int]],
) -> int:
    """Write every problem of `results` to `out`; return how many rows were written. Each row
    links to its cell: `link(sheet name, "B12")` is the address (the source's `cell_link`).
    `columns`: per sheet, where each field sits in the sheet as read (0-based; `Table.columns`):
    people move and insert columns."""
    with xlsx_book(out, streaming=True) as book:
        ws = book.add_worksheet("校验错误清单" if config.locale == "zh_CN" else "Problems")
        head = book.add_format({"bold": True, "bg_color": "#DCE6F1", "border": 1})
        blue = book.add_format({"font_color": "blue", "underline": 1})
        for c, (h, w) in enumerate(
            zip(HEADERS[config.locale], (12, 7, 12, 14, 18, 24, 50, 10), strict=True)
        ):
            ws.set_column(c, c, w)
            ws.write_string(0, c, h, head)
        ws.freeze_panes(1, 0)
        r = 1
        for key, result in results.items():
            where = columns[key]
            p = result.problems
            for row, rid, fkey, label, code, value, message in p[
                ["row", "record_id", "field", "label", "code", "value", "message"]
            ].itertuples(index=False):
                ws.write_string(r, 0, result.sheet_name)
                ws.write_number(r, 1, int(row))
                ws.write_string(r, 2, str(rid or ""))
                ws.write_string(r, 3, label)
                ws.write_string(r, 4, code)
                ws.write_string(r, 5, str(value))
                ws.write_string(r, 6, message)
                if r <= MAX_LINKS:  # Excel holds 65,530 links a sheet
                    target = link(result.sheet_name, f"{column_letter(where[fkey])}{int(row)}")
                    ws.write_url(r, 7, target, blue, string="→" if len(target) < 2000 else "")
                r += 1
        ws.autofilter(0, 0, max(r - 1, 1), 7)
    return r - 1
