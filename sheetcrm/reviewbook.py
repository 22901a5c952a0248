"""The duplicate review workbook: one block per group, records side by side, differences marked,
and a 判定 dropdown on each pair that the next nightly run reads (no IDs to retype in 重复判定)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from python_calamine import CalamineWorkbook

from .config import Config, SheetConfig
from .dedupe import DuplicateResult, pair_fingerprint
from .messages import LOCALES, text
from .output import print_setup, xlsx_book
from .text import display, display_column

# the review workbook's own columns, before the sheet's fields
HEADERS = {"zh_CN": ["分组", "角色", "判定", "原因", "原客户ID"],
           "en": ["Group", "Role", "Decision", "Reason", "Original ID"]}  # fmt: skip
FINGERPRINT = "fingerprint"  # last, hidden: the pair's match data when reviewed
# the 判定 dropdown; 不是重复 is the word the decisions sheet takes too (dedupe.NOT_A_DUPLICATE)
VERDICTS: dict[str, list[str]] = {
    lo: [text(lo, "dedupe.a_duplicate"), text(lo, "dedupe.not_a_duplicate")] for lo in LOCALES
}
READ_AT_MOST = 20  # review workbooks a night reads (the newest): decisions are remembered after


def review_path_pattern(sheet: SheetConfig) -> str:
    """The names `sheetcrm dedupe` gives its review workbooks in reports/ (see Job)."""
    return f"重复{sheet.name}-*.xlsx"


def write_review(result: DuplicateResult, typed: pd.DataFrame, ids: pd.Series, sheet: SheetConfig,
                 out: Path, *, locale: str = "zh_CN",
                 shown: pd.DataFrame | None = None) -> int:  # fmt: skip
    """Write every duplicate group to `out`: the original first, then its duplicates with the reason
    and a 判定 dropdown; cells that differ from the original are highlighted. `shown`: the cells as
    people typed them (a phone as 186 0010 8887, not +8618600108887), by row; the typed values
    otherwise. Return the number of groups."""
    zh = locale == "zh_CN"
    loc = "zh_CN" if zh else "en"
    fields = [f for f in sheet.fields if f.key in typed]
    source = shown if shown is not None else typed
    cells = {f.key: display_column(source[f.key]) if f.key in source else
             display_column(typed[f.key]) for f in fields}  # fmt: skip
    with xlsx_book(out) as book:
        ws = book.add_worksheet("重复客户" if zh else "Duplicates")
        head = book.add_format(
            {"bold": True, "bg_color": "#DCE6F1", "border": 1, "text_wrap": True}
        )
        group_head = book.add_format({"bold": True, "bg_color": "#F2F2F2", "top": 2})
        differs = book.add_format({"bg_color": "#FFEB9C"})
        ask = book.add_format({"bg_color": "#FFF2CC", "border": 1, "locked": False})
        columns = HEADERS[loc] + [f.label for f in fields]
        # 原因 holds "97%把握：客户名称、联系人、地址相符"
        widths = [7, 7, 11, 30, 12] + [f.column_width() for f in fields]
        for c, (h, w) in enumerate(zip(columns, widths, strict=True)):
            ws.write_string(0, c, h, head)
            ws.set_column(c, c, w)
        last = len(columns)  # a decision holds for the data it was made on: its fingerprint
        ws.write_string(0, last, FINGERPRINT, head)
        ws.set_column(last, last, 10, None, {"hidden": True})
        ws.set_row(0, 30)
        ws.freeze_panes(1, 3)
        print_setup(ws, repeat_rows=0)
        first = len(HEADERS[loc])
        members = result.duplicate_of[result.duplicate_of != ""]
        r = 1
        position = {rid: row for row, rid in ids.items()}
        for n, (original, dups) in enumerate(members.groupby(members, sort=True), start=1):
            base = position[original]
            ws.write_row(r, 0, [f"#{n}", "原始" if zh else "original", "", "", ""], group_head)
            for c, f in enumerate(fields, start=first):
                ws.write_string(r, c, cells[f.key][base], group_head)
            r += 1
            for row in dups.index:
                ws.write_row(r, 0, [f"#{n}", "重复" if zh else "duplicate"])
                ws.write_blank(r, 2, None, ask)
                ws.data_validation(r, 2, r, 2, {
                    "validate": "list", "source": VERDICTS[loc],
                    "input_title": columns[2], "input_message": "、".join(VERDICTS[loc])})  # fmt: skip
                ws.write_string(r, 3, str(result.reason.loc[row]))
                ws.write_string(r, 4, str(original))
                for c, f in enumerate(fields, start=first):
                    value = cells[f.key][row]
                    same = display(typed.at[row, f.key]) == display(typed.at[base, f.key])
                    ws.write_string(r, c, value, None if same else differs)
                ws.write_string(r, last, pair_fingerprint(typed, sheet, row, base))
                r += 1
        ws.autofilter(0, 0, max(r - 1, 1), last)  # the fingerprint sorts with its row
    return int(members.nunique())


def read_review_decisions(config: Config, sheet: SheetConfig,
                          ) -> tuple[list[tuple[str, str, str, str]], list[str]]:  # fmt: skip
    """(record ID, original ID, 判定, fingerprint) of every pair people decided in the newest review
    workbooks of `sheet` (reports/重复<sheet>-*.xlsx), and what could not be read (a damaged file,
    a column renamed or removed), for the run to warn about: those pairs are asked again in the
    next review. Columns are found by their headers, wherever people moved them."""
    folder = config.path("reports")
    pattern = review_path_pattern(sheet)
    paths = sorted((p for p in folder.glob(pattern) if p.is_file()),
                   key=lambda p: p.stat().st_mtime)[-READ_AT_MOST:]  # fmt: skip
    out: list[tuple[str, str, str, str]] = []
    skipped: list[str] = []
    id_label = sheet.field(sheet.id_field).label
    for path in paths:
        try:
            rows = CalamineWorkbook.from_path(str(path)).get_sheet_by_index(0).to_python()
        except Exception as e:  # a damaged or half-copied report: not the team's data
            skipped.append(f"{path.name}: cannot be read ({e})")
            continue
        header = [display(h).strip() for h in rows[0]] if rows else []
        heads = next((HEADERS[lo] for lo in LOCALES if HEADERS[lo][2] in header), None)
        need = [heads[2], heads[4], id_label, FINGERPRINT] if heads else []
        if heads is None or any(h not in header for h in need):
            skipped.append(f"{path.name}: its 判定 could not be read (the columns "
                           f"{'、'.join(need or HEADERS['zh_CN'])} are needed)")  # fmt: skip
            continue
        verdict_c, original_c, id_c, seen_c = (header.index(h) for h in need)
        for row in rows[1:]:
            cells = [display(row[c]).strip() if c < len(row) else "" for c in
                     (verdict_c, original_c, id_c, seen_c)]  # fmt: skip
            if all(cells[:3]):
                out.append((cells[2], cells[1], cells[0], cells[3]))
    return out, skipped
