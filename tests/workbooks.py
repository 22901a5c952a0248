"""Builders for the real workbooks the source tests write into."""

from __future__ import annotations

import struct
import zlib
from datetime import date
from pathlib import Path
from typing import Any

import openpyxl
import xlsxwriter
from openpyxl.comments import Comment
from openpyxl.formatting.rule import CellIsRule
from openpyxl.styles import Font, PatternFill
from openpyxl.worksheet.datavalidation import DataValidation

from sheetcrm.config import Config


def tiny_png(path: Path) -> Path:
    """Write a 2x2 red PNG (no imaging library needed)."""
    raw = b"".join(b"\x00" + b"\xff\x00\x00" * 2 for _ in range(2))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))  # fmt: skip
    path.write_bytes(png)
    return path


def demo_instance(folder: Path, *, rows: int, seed: int, today: date) -> Config:
    """The bundled example instance in `folder` (its config.toml) with a demo workbook."""
    import shutil

    from sheetcrm.config import load_config
    from sheetcrm.demo import generate_demo

    from .conftest import ROOT

    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ROOT / "config.toml", folder / "config.toml")
    config = load_config(folder / "config.toml")
    generate_demo(config, config.workbook_path, rows=rows, seed=seed, today=today)
    return config


def small_instance(folder: Path, store_url: str, *, customers: int = 5,
                   replace: dict[str, str] | None = None) -> Config:  # fmt: skip
    """The bundled config.toml in `folder` (its store at `store_url`; `replace` edits its text)
    with a workbook of `customers` rows and the other sheets empty, as the template has them."""
    import openpyxl

    from sheetcrm.config import load_config

    from .conftest import ROOT

    text = (ROOT / "config.toml").read_text(encoding="utf-8")
    for old, new in {'url = "sqlite:///state/sheetcrm.sqlite"': f'url = "{store_url}"',
                     **(replace or {})}.items():  # fmt: skip
        assert old in text, old
        text = text.replace(old, new)
    (folder / "config.toml").write_text(text, encoding="utf-8")
    config = load_config(folder / "config.toml")
    config.workbook_path.parent.mkdir(parents=True, exist_ok=True)
    openpyxl_workbook(config.workbook_path, config, n=customers)
    wb = openpyxl.load_workbook(config.workbook_path)
    for sheet in config.sheets[1:]:
        wb.create_sheet(sheet.name).append([f.header for f in sheet.fields])
    wb.save(config.workbook_path)
    return config


def customer_rows(config: Config, n: int, *, blank_ids: tuple[int, ...] = ()) -> list[list[Any]]:
    """Return `n` plausible customer rows (values in field order)."""
    sheet = config.sheet("customers")
    rows = []
    for i in range(n):
        values: dict[str, Any] = {
            "customer_id": "" if i in blank_ids else sheet.id_for(i + 1),
            "name": f"测试公司{i + 1}有限公司",
            "customer_type": "企业客户",
            "industry": "制造业",
            "company_size": "50人以下",
            "contact_name": f"联系人{i + 1}",
            "mobile": f"138{i:08d}",
            "source": "展会推荐",
            "first_contact": date(2026, 1, 1 + i % 28),
            "intent": "中意向",
            "expected_amount": 10000.0 * (i + 1),
            "stage": "线索",
            "owner": "王明",
        }
        rows.append([values.get(f.key) for f in sheet.fields])
    return rows


def xlsxwriter_workbook(path: Path, config: Config, n: int = 30, *, with_status: bool = False,
                        blank_ids: tuple[int, ...] = ()) -> Path:  # fmt: skip
    """A customers sheet plus everything a team adds: chart, image, cross-sheet dropdown, conditional
    format, comments, merged cells, frozen panes, a hidden row and a second sheet."""
    sheet = config.sheet("customers")
    wb = xlsxwriter.Workbook(str(path), {"strings_to_formulas": False})
    ws = wb.add_worksheet(sheet.name)
    other = wb.add_worksheet("统计")
    lists = wb.add_worksheet("列表")
    bold = wb.add_format({"bold": True, "bg_color": "#DCE6F1"})
    datefmt = wb.add_format({"num_format": "yyyy-mm-dd"})
    money = wb.add_format({"num_format": "#,##0.00", "font_color": "#1F4E79"})
    headers = [f.header for f in sheet.fields] + ["备注"]
    if with_status:
        headers += [s.label for s in sheet.status]
    for c, h in enumerate(headers):
        ws.write_string(0, c, h, bold)
    for r, row in enumerate(customer_rows(config, n, blank_ids=blank_ids), start=1):
        for c, v in enumerate(row):
            f = sheet.fields[c]
            if v is None or v == "":
                continue
            if isinstance(v, date):
                ws.write_datetime(r, c, v, datefmt)
            elif isinstance(v, float):
                ws.write_number(r, c, v, money if f.type.value == "money" else None)
            else:
                ws.write_string(r, c, v)
        ws.write_string(r, len(sheet.fields), f"备注{r}")
    ws.write_comment("B2", "大客户，注意跟进")
    ws.merge_range(n + 2, 0, n + 2, 3, "合计（合并单元格）")
    ws.freeze_panes(1, 1)
    ws.set_row(3, None, None, {"hidden": True})
    for i, choice in enumerate(["高意向", "中意向", "低意向"]):
        lists.write_string(i, 0, choice)
    intent_col = [f.key for f in sheet.fields].index("intent")
    ws.data_validation(
        1, intent_col, n, intent_col, {"validate": "list", "source": "=列表!$A$1:$A$3"}
    )
    amount_col = [f.key for f in sheet.fields].index("expected_amount")
    ws.conditional_format(1, amount_col, n, amount_col,
                          {"type": "cell", "criteria": ">", "value": 100000, "format": bold})  # fmt: skip
    ws.insert_image("AH5", str(tiny_png(path.with_suffix(".png"))))
    other.write_row(0, 0, ["月份", "客户数"])
    for i in range(6):
        other.write_row(i + 1, 0, [f"{i + 1}月", 10 + i * 3])
    chart = wb.add_chart({"type": "column"})
    chart.add_series(
        {"categories": "=统计!$A$2:$A$7", "values": "=统计!$B$2:$B$7", "name": "客户数"}
    )
    other.insert_chart("D2", chart)
    wb.close()
    path.with_suffix(".png").unlink()
    return path


def openpyxl_workbook(path: Path, config: Config, n: int = 20, *, date1904: bool = False,
                      blank_ids: tuple[int, ...] = ()) -> Path:  # fmt: skip
    """The same kind of sheet written by openpyxl (shared strings, its own XML habits)."""
    sheet = config.sheet("customers")
    wb = openpyxl.Workbook()
    if date1904:
        wb.epoch = openpyxl.utils.datetime.CALENDAR_MAC_1904
    ws = wb.active
    ws.title = sheet.name
    ws.append([f.header for f in sheet.fields] + ["备注"])
    for row in customer_rows(config, n, blank_ids=blank_ids):
        ws.append(row + ["备注"])
    for c in ws[1]:
        c.font = Font(bold=True)
        c.fill = PatternFill("solid", fgColor="DCE6F1")
    ws["C3"].comment = Comment("请确认客户类型", "王明")
    dv = DataValidation(type="list", formula1='"高意向,中意向,低意向"')
    ws.add_data_validation(dv)
    dv.add("R2:R100")
    ws.conditional_formatting.add("T2:T100", CellIsRule(operator=">", formula=["100000"],
                                                       fill=PatternFill("solid", fgColor="FFC7CE")))  # fmt: skip
    ws.freeze_panes = "B2"
    ws.column_dimensions["E"].hidden = True
    ws2 = wb.create_sheet("其他")
    ws2["A1"] = "第二张表"
    wb.save(path)
    return path
