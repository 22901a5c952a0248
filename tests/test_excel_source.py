"""The Excel source: reading by label, loss-free write-back, and every refusal."""

from __future__ import annotations

import csv
import re
import shutil
import zipfile
from datetime import date, datetime
from pathlib import Path

import openpyxl
import pytest

from sheetcrm.errors import (
    SheetLayoutError,
    WorkbookChanged,
    WorkbookError,
    WorkbookFormatError,
    WorkbookLocked,
)
from sheetcrm.sources.excel import ExcelSource
from sheetcrm.table import CellError, StatusPatch

from .conftest import SHARED
from .workbooks import customer_rows, openpyxl_workbook, xlsxwriter_workbook

NOW = datetime(2026, 11, 23, 2, 0)
CORPUS = SHARED / "corpus"


def source(path: Path, config, tmp_path: Path) -> ExcelSource:
    return ExcelSource(path, config, backup_dir=tmp_path / "backups")


def patch_for(table, **values) -> StatusPatch:
    base = {"validation": "✗", "problems": "联系电话: 缺失", "last_checked": NOW}
    base.update(values)
    return StatusPatch(values={i: dict(base) for i in table.ids if i})


def members(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as zf:
        return {n: zf.read(n) for n in zf.namelist()}


def cells(path: Path, sheet: str) -> dict[str, tuple]:
    """Every cell's value and style indexes (styles.xml is unchanged, so indexes are comparable)."""
    ws = openpyxl.load_workbook(path)[sheet]
    return {c.coordinate: (c.value, tuple(c._style) if c._style is not None else None)
            for row in ws.iter_rows() for c in row}  # fmt: skip


@pytest.fixture(params=["xlsxwriter", "openpyxl"])
def workbook(request, config, tmp_path) -> Path:
    build = xlsxwriter_workbook if request.param == "xlsxwriter" else openpyxl_workbook
    return build(tmp_path / f"{request.param}.xlsx", config, blank_ids=(4,))


def test_write_status_changes_only_status_cells(workbook, config, tmp_path):
    before_members = members(workbook)
    before_cells = cells(workbook, "客户信息")
    src = source(workbook, config, tmp_path)
    table = src.read("customers")
    result = src.write_status("customers", patch_for(table), fingerprint=table.fingerprint, now=NOW)
    assert result.rows_written == len([i for i in table.ids if i]) + result.ids_written
    assert result.not_found == []
    assert result.columns_added == [s.label for s in config.sheet("customers").status]

    after_members = members(workbook)
    target = "xl/worksheets/sheet1.xml"
    assert set(after_members) == set(before_members)
    for name, data in before_members.items():
        if name != target:
            assert after_members[name] == data, f"{name} changed"

    after_cells = cells(workbook, "客户信息")
    first_status = len(config.sheet("customers").fields) + 1  # after the people's 备注 column
    for ref, (value, style) in before_cells.items():
        col = openpyxl.utils.cell.coordinate_from_string(ref)[0]
        if openpyxl.utils.column_index_from_string(col) <= first_status and ref != "A6":
            assert after_cells[ref] == (value, style), ref

    again = src.read("customers")
    assert list(again.status_columns) == [str(s.key) for s in config.sheet("customers").status]
    first = again.status.iloc[0]
    assert (first["validation"], first["problems"], first["last_checked"]) == (
        "✗",
        "联系电话: 缺失",
        "2026-11-23 02:00",
    )
    assert again.frame.drop(columns="customer_id").equals(table.frame.drop(columns="customer_id"))


def test_blank_ids_get_new_ids_only_the_id_cell_changes(workbook, config, tmp_path):
    src = source(workbook, config, tmp_path)
    table = src.read("customers")
    blank_rows = table.frame.index[table.ids == ""].tolist()
    assert blank_rows == [6]
    patch = patch_for(table)
    patch.new_ids = {6: "C000777"}
    patch.values["C000777"] = {"validation": "✓"}
    result = src.write_status("customers", patch, fingerprint=table.fingerprint, now=NOW)
    assert result.ids_written == 1
    again = src.read("customers")
    assert again.ids.loc[6] == "C000777"
    assert again.status.loc[6, "validation"] == "✓"


def test_new_ids_follow_the_configured_pattern(config, tmp_path):
    from sheetcrm.sources.base import plan_new_ids

    path = openpyxl_workbook(tmp_path / "ids.xlsx", config, n=8, blank_ids=(2, 5))
    src = source(path, config, tmp_path)
    table = src.read("customers")
    new = plan_new_ids(table, config.sheet("customers"))
    assert new == {4: "C000009", 7: "C000010"}
    src.write_status("customers", StatusPatch(new_ids=new), fingerprint=table.fingerprint, now=NOW)
    again = src.read("customers")
    assert again.ids.tolist() == [f"C{n:06d}" for n in (1, 2, 9, 4, 5, 10, 7, 8)]
    assert plan_new_ids(again, config.sheet("customers")) == {}


def test_hidden_rows_columns_and_sheets_stay_hidden(config, tmp_path):
    path = openpyxl_workbook(tmp_path / "hidden.xlsx", config, n=5)
    wb = openpyxl.load_workbook(path)
    wb["客户信息"].row_dimensions[3].hidden = True
    wb["其他"].sheet_state = "veryHidden"
    wb.save(path)
    src = source(path, config, tmp_path)
    table = src.read("customers")
    assert 3 in table.frame.index  # hidden rows are read normally
    src.write_status("customers", patch_for(table), fingerprint=table.fingerprint, now=NOW)
    wb = openpyxl.load_workbook(path)
    assert wb["客户信息"].row_dimensions[3].hidden
    assert wb["客户信息"].column_dimensions["E"].hidden
    assert wb["其他"].sheet_state == "veryHidden"


def test_sorted_rows_still_get_their_own_status(config, tmp_path):
    path = openpyxl_workbook(tmp_path / "sorted.xlsx", config, n=12)
    src = source(path, config, tmp_path)
    table = src.read("customers")
    # a person sorts the sheet by name, descending, between our read and our write
    wb = openpyxl.load_workbook(path)
    ws = wb["客户信息"]
    rows = [[c.value for c in r] for r in ws.iter_rows(min_row=2)]
    rows.sort(key=lambda r: r[1], reverse=True)
    for r, values in enumerate(rows, start=2):
        for c, v in enumerate(values, start=1):
            ws.cell(r, c, v)
    wb.save(path)
    patch = StatusPatch(values={i: {"problems": f"问题-{i}"} for i in table.ids})
    with pytest.raises(WorkbookChanged):
        src.write_status("customers", patch, fingerprint=table.fingerprint, now=NOW)
    result = src.write_status("customers", patch, fingerprint=None, now=NOW)
    assert result.rows_written == 12
    again = src.read("customers")
    for row, rid in again.ids.items():
        assert again.status.loc[row, "problems"] == f"问题-{rid}"
    assert again.ids.iloc[0] == "C000009"  # 测试公司9… sorts first descending


def test_headers_match_by_label_in_any_order_with_marks_and_width_differences(config, tmp_path):
    sheet = config.sheet("customers")
    order = list(reversed(range(len(sheet.fields))))
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = sheet.name
    labels = [sheet.fields[i].header for i in order]
    labels[0] = "  ＊" + labels[0].strip("*") + "\u3000"  # full-width star and ideographic space
    ws.append(["自定义列"] + labels)
    row = customer_rows(config, 1)[0]
    ws.append(["x"] + [row[i] for i in order])
    ws.append([])  # a fully empty row in the middle is skipped
    ws.append(["y"] + [customer_rows(config, 2)[1][i] for i in order])
    path = tmp_path / "order.xlsx"
    wb.save(path)
    table = source(path, config, tmp_path).read("customers")
    assert list(table.frame.index) == [2, 4]
    assert table.frame.loc[2, "name"] == "测试公司1有限公司"
    assert table.columns["customer_id"] == len(sheet.fields)
    assert table.extra == ["自定义列"]
    assert table.frame.loc[2, "first_contact"] == date(2026, 1, 1)


def test_a_duplicated_header_names_both_columns(config, tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "客户信息"
    ws.append([f.header for f in config.sheet("customers").fields] + ["联系电话"])
    path = tmp_path / "dup.xlsx"
    wb.save(path)
    original = path.read_bytes()
    last = openpyxl.utils.get_column_letter(len(config.sheet("customers").fields) + 1)
    with pytest.raises(SheetLayoutError, match=rf"表头“联系电话”出现了两次（J 列和 {last} 列）"):
        source(path, config, tmp_path).read("customers")
    assert path.read_bytes() == original


def test_a_missing_required_column_is_named(config, tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = "客户信息"
    ws.append([f.header for f in config.sheet("customers").fields if f.key != "mobile"])
    path = tmp_path / "missing.xlsx"
    wb.save(path)
    with pytest.raises(SheetLayoutError, match="没有表头为 “联系电话” 的列"):
        source(path, config, tmp_path).read("customers")


def test_error_cells_and_uncalculated_formulas_are_not_empty(config, tmp_path):
    path = openpyxl_workbook(tmp_path / "errors.xlsx", config, n=3)
    wb = openpyxl.load_workbook(path)
    ws = wb["客户信息"]
    ws["B2"] = "#N/A"
    ws["B2"].data_type = "e"
    ws["G3"] = "=1/0"  # openpyxl stores no calculated value
    wb.save(path)
    table = source(path, config, tmp_path).read("customers")
    assert table.frame.loc[2, "name"] == CellError("#N/A")
    assert table.frame.loc[3, "credit_code"] == CellError("")
    assert table.frame.loc[4, "name"] == "测试公司3有限公司"


def test_1904_date_system_is_honoured(config, tmp_path):
    path = openpyxl_workbook(tmp_path / "mac.xlsx", config, n=2, date1904=True)
    table = source(path, config, tmp_path).read("customers")
    assert table.frame.loc[2, "first_contact"] == date(2026, 1, 1)


def test_values_are_written_as_text_never_formulas_and_capped(config, tmp_path):
    path = openpyxl_workbook(tmp_path / "f.xlsx", config, n=2)
    src = source(path, config, tmp_path)
    table = src.read("customers")
    long_text = "很长" * 20_000
    patch = StatusPatch(values={
        "C000001": {"problems": '=HYPERLINK("http://x","点")', "duplicate_of": "+1", "lead_score": 8},
        "C000002": {"problems": long_text, "next_reminder": date(2026, 12, 1)},
    })  # fmt: skip
    src.write_status("customers", patch, fingerprint=table.fingerprint, now=NOW)
    ws = openpyxl.load_workbook(path)["客户信息"]
    status = {c.value: c.column for c in ws[1] if c.value}
    assert ws.cell(2, status["问题说明"]).data_type == "s"
    assert ws.cell(2, status["问题说明"]).value == '=HYPERLINK("http://x","点")'
    assert ws.cell(2, status["重复客户"]).value == "+1"
    assert ws.cell(2, status["线索评分"]).value == 8
    assert len(ws.cell(3, status["问题说明"]).value) == 32_767
    assert ws.cell(3, status["下次提醒"]).value == "2026-12-01"


def test_rewriting_the_same_status_twice_is_stable(config, tmp_path):
    path = openpyxl_workbook(tmp_path / "twice.xlsx", config, n=5)
    src = source(path, config, tmp_path)
    t1 = src.read("customers")
    src.write_status("customers", patch_for(t1), fingerprint=t1.fingerprint, now=NOW)
    once = members(path)
    t2 = src.read("customers")
    src.write_status("customers", patch_for(t2), fingerprint=t2.fingerprint, now=NOW)
    assert members(path) == once


def test_dry_run_and_empty_patch_write_nothing(config, tmp_path):
    path = openpyxl_workbook(tmp_path / "dry.xlsx", config, n=5)
    original = path.read_bytes()
    src = source(path, config, tmp_path)
    table = src.read("customers")
    result = src.write_status("customers", patch_for(table), fingerprint=table.fingerprint, now=NOW,
                              dry_run=True)  # fmt: skip
    assert result.rows_written == 5 and result.backup is None
    assert src.write_status("customers", StatusPatch(), fingerprint=None, now=NOW).unchanged
    assert path.read_bytes() == original
    assert not (tmp_path / "backups").exists()


def test_a_backup_is_kept_and_old_ones_pruned(config, tmp_path):
    path = openpyxl_workbook(tmp_path / "bk.xlsx", config, n=3)
    original = path.read_bytes()
    backups = tmp_path / "backups"
    backups.mkdir()
    (backups / "bk.20261101-020000.xlsx").write_bytes(b"old")
    (backups / "bk.20261120-020000.xlsx").write_bytes(b"recent")
    src = ExcelSource(path, config, backup_dir=backups, keep_days=14)
    table = src.read("customers")
    result = src.write_status("customers", patch_for(table), fingerprint=table.fingerprint, now=NOW)
    assert Path(result.backup).read_bytes() == original
    assert sorted(p.name for p in backups.iterdir()) == [
        "bk.20261120-020000.xlsx",
        "bk.20261123-020000.xlsx",
    ]


@pytest.mark.parametrize(
    ("lock_name", "content", "who"),
    [
        ("~$locked.xlsx", bytes([4]) + b"wang" + b"\x00" * 49 + (4).to_bytes(2, "little")
         + "王明电脑".encode("utf-16-le"), "王明电脑"),
        (".~lock.locked.xlsx#", "李明,li-pc,li-pc,23.11.2026 01:59,file:///x;".encode(), "李明"),
    ],
)  # fmt: skip
def test_an_open_workbook_is_not_written(config, tmp_path, lock_name, content, who):
    path = openpyxl_workbook(tmp_path / "locked.xlsx", config, n=3)
    src = source(path, config, tmp_path)
    table = src.read("customers")
    (tmp_path / lock_name).write_bytes(content)
    original = path.read_bytes()
    with pytest.raises(WorkbookLocked, match=f"open by {who}"):
        src.write_status("customers", patch_for(table), fingerprint=table.fingerprint, now=NOW)
    assert path.read_bytes() == original
    assert not (tmp_path / "backups").exists()


def test_a_workbook_changed_since_the_read_is_not_written(config, tmp_path):
    path = openpyxl_workbook(tmp_path / "changed.xlsx", config, n=3)
    src = source(path, config, tmp_path)
    table = src.read("customers")
    wb = openpyxl.load_workbook(path)
    wb["客户信息"]["B2"] = "改过的名字"
    wb.save(path)
    changed = path.read_bytes()
    with pytest.raises(WorkbookChanged, match="changed after sheetcrm read it"):
        src.write_status("customers", patch_for(table), fingerprint=table.fingerprint, now=NOW)
    assert path.read_bytes() == changed


def _renamed(tmp_path: Path, kind: str) -> Path:
    path = tmp_path / f"{kind}.xlsx"
    if kind == "csv":
        path.write_text("客户ID,客户名称\nC000001,某某公司\n", encoding="utf-8")
    elif kind == "xls":
        path.write_bytes(
            b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 4000 + "Workbook".encode("utf-16-le")
        )
    elif kind == "ods":
        with zipfile.ZipFile(path, "w") as zf:
            zf.writestr("mimetype", "application/vnd.oasis.opendocument.spreadsheet")
            zf.writestr("content.xml", "<x/>")
    elif kind == "html":
        path.write_text(
            "<html><body><table><tr><td>1</td></tr></table></body></html>", encoding="utf-8"
        )
    elif kind == "truncated":
        good = openpyxl_workbook(tmp_path / "good.xlsx", _config(), n=3).read_bytes()
        path.write_bytes(good[: len(good) // 2])
    elif kind == "empty":
        path.write_bytes(b"")
    return path


def _config():
    from sheetcrm.config import load_config

    from .conftest import ROOT

    return load_config(ROOT / "config.toml")


@pytest.mark.parametrize(
    ("kind", "message"),
    [
        ("csv", "text (CSV) file with an .xlsx name"),
        ("xls", "old Excel 97-2003 (.xls) file"),
        ("ods", "OpenDocument (.ods)"),
        ("html", "web page (HTML)"),
        ("truncated", "damaged"),
        ("empty", "is empty"),
    ],
)
def test_files_that_are_not_xlsx_get_one_clear_message(config, tmp_path, kind, message):
    path = _renamed(tmp_path, kind)
    original = path.read_bytes()
    src = source(path, config, tmp_path)
    with pytest.raises(WorkbookFormatError, match=re.escape(message)):
        src.read("customers")
    with pytest.raises(WorkbookFormatError, match=re.escape(message)):
        src.write_status("customers", StatusPatch(values={"C000001": {"validation": "✓"}}),
                         fingerprint=None, now=NOW)  # fmt: skip
    assert path.read_bytes() == original


needs_corpus = pytest.mark.skipif(not CORPUS.is_dir(), reason="../shared/corpus is not present")


@needs_corpus
@pytest.mark.parametrize(
    ("name", "error", "message"),
    [
        ("cal__pass_protected.xlsx", WorkbookFormatError, "encrypted"),
        ("poi__clusterfuzz-testcase-minimized-POIXSSFFu.xlsx", WorkbookFormatError, "damaged"),
        ("poi__poc-xmlbomb.xlsx", WorkbookFormatError, "XML entities"),
        ("poi__poc-shared-strings.xlsx", WorkbookFormatError, "longer than the 32,767"),
    ],
)
def test_hostile_and_broken_corpus_files_are_refused(config, tmp_path, name, error, message):
    path = tmp_path / name
    shutil.copyfile(CORPUS / name, path)
    original = path.read_bytes()
    src = source(path, config, tmp_path)
    with pytest.raises(error, match=message):
        src.read("customers")
    with pytest.raises(error, match=message):
        src.write_status(
            "customers", StatusPatch(values={"x": {"validation": "✓"}}), fingerprint=None, now=NOW
        )
    assert path.read_bytes() == original


@needs_corpus
def test_strict_ooxml_is_not_written(config, tmp_path):
    path = tmp_path / "strict.xlsx"
    shutil.copyfile(CORPUS / "cal__strict_iso_paths.xlsx", path)
    original = path.read_bytes()
    with pytest.raises(WorkbookFormatError, match="Strict Open XML"):
        source(path, config, tmp_path).write_status(
            "customers", StatusPatch(values={"x": {"validation": "✓"}}), fingerprint=None, now=NOW
        )
    assert path.read_bytes() == original


def test_a_missing_sheet_lists_the_sheets_there_are(config, tmp_path):
    path = openpyxl_workbook(tmp_path / "nosheet.xlsx", config, n=2)
    with pytest.raises(
        SheetLayoutError, match="no sheet named '跟进记录'; its sheets are: 客户信息、其他"
    ):
        source(path, config, tmp_path).read("followups")


def test_a_missing_file_is_a_workbook_error(config, tmp_path):
    with pytest.raises(WorkbookError, match="no such file"):
        source(tmp_path / "nothing.xlsx", config, tmp_path).read("customers")


def test_a_lock_file_is_never_read_as_a_workbook(config, tmp_path):
    lock = tmp_path / "~$team.xlsx"
    lock.write_bytes(b"\x04wang")
    with pytest.raises(WorkbookFormatError, match="lock file"):
        source(lock, config, tmp_path).read("customers")


def _merged_in_status(config, tmp_path):
    """A sheet whose status columns (right after 备注) have two cells of row 2 merged; returns the
    path and the letters of the first two status columns (校验结果, 问题说明)."""
    path = openpyxl_workbook(tmp_path / "merged.xlsx", config, n=3)
    wb = openpyxl.load_workbook(path)
    ws = wb["客户信息"]
    first = len(config.sheet("customers").fields) + 2  # after the fields and 备注
    for j, st in enumerate(config.sheet("customers").status):
        ws.cell(1, first + j, st.label)
    a, b = (openpyxl.utils.get_column_letter(first + k) for k in (0, 1))
    ws.merge_cells(f"{a}2:{b}2")  # someone merged two status cells of row 2
    wb.save(path)
    return path, a, b


def test_cells_covered_by_a_merge_are_left_alone(config, tmp_path):
    path, a, b = _merged_in_status(config, tmp_path)
    src = source(path, config, tmp_path)
    table = src.read("customers")
    result = src.write_status("customers", patch_for(table), fingerprint=table.fingerprint, now=NOW)
    assert result.cells_skipped == 1 and result.columns_added == []
    ws = openpyxl.load_workbook(path)["客户信息"]
    assert ws[f"{a}2"].value == "✗"  # the merge's top-left cell is writable
    assert ws[f"{b}2"].value is None  # the covered one is left alone
    assert ws[f"{b}3"].value == "联系电话: 缺失"
    assert f"{a}2:{b}2" in {str(r) for r in ws.merged_cells.ranges}


def test_without_a_fresh_read_a_write_into_merged_cells_is_refused(config, tmp_path):
    path, a, b = _merged_in_status(config, tmp_path)
    original = path.read_bytes()
    src = source(path, config, tmp_path)  # no read: merges unknown, found only at the end
    patch = StatusPatch(values={"C000001": {"validation": "✗", "problems": "x"}})
    with pytest.raises(WorkbookFormatError, match=f"inside the merged cells {a}2:{b}2"):
        src.write_status("customers", patch, fingerprint=None, now=NOW)
    assert path.read_bytes() == original


def test_status_columns_go_right_of_every_used_cell(config, tmp_path):
    path = openpyxl_workbook(tmp_path / "wide.xlsx", config, n=3)
    wb = openpyxl.load_workbook(path)
    wb["客户信息"]["AP3"] = "有人写在很右边"
    wb.save(path)
    src = source(path, config, tmp_path)
    table = src.read("customers")
    src.write_status("customers", patch_for(table), fingerprint=table.fingerprint, now=NOW)
    ws = openpyxl.load_workbook(path)["客户信息"]
    assert ws["AP3"].value == "有人写在很右边"
    assert ws["AQ1"].value == "校验结果"


def test_overwriting_a_formula_in_a_status_cell_drops_the_stale_calc_chain(config, tmp_path):
    path = tmp_path / "calc.xlsx"
    xlsxwriter_workbook(path, config, n=3, with_status=True)
    # Excel keeps a calcChain listing formula cells; give the sheet one formula in a status cell
    with zipfile.ZipFile(path) as zf:
        parts = {n: zf.read(n) for n in zf.namelist()}
    sheet = parts["xl/worksheets/sheet1.xml"].decode()
    sheet = sheet.replace('<row r="2"', '<row r="2"', 1)
    col = openpyxl.utils.get_column_letter(len(config.sheet("customers").fields) + 3)  # 问题说明
    sheet = sheet.replace("</row>", f'<c r="{col}2"><f>1+1</f><v>2</v></c></row>', 2).replace(
        f'<c r="{col}2"><f>1+1</f><v>2</v></c></row>', "</row>", 1
    )  # only in row 2
    parts["xl/worksheets/sheet1.xml"] = sheet.encode()
    parts["xl/calcChain.xml"] = (b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        b'<calcChain xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        + f'<c r="{col}2" i="1"/>'.encode() + b"</calcChain>")  # fmt: skip
    parts["[Content_Types].xml"] = parts["[Content_Types].xml"].replace(
        b"</Types>", b'<Override PartName="/xl/calcChain.xml" ContentType="application/'
        b'vnd.openxmlformats-officedocument.spreadsheetml.calcChain+xml"/></Types>')  # fmt: skip
    parts["xl/_rels/workbook.xml.rels"] = parts["xl/_rels/workbook.xml.rels"].replace(
        b"</Relationships>", b'<Relationship Id="rId99" Type="http://schemas.openxmlformats.org/'
        b'officeDocument/2006/relationships/calcChain" Target="calcChain.xml"/></Relationships>')  # fmt: skip
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for n, data in parts.items():
            zf.writestr(n, data)
    src = source(path, config, tmp_path)
    table = src.read("customers")
    src.write_status("customers", patch_for(table), fingerprint=table.fingerprint, now=NOW)
    after = members(path)
    assert "xl/calcChain.xml" not in after
    assert b"calcChain" not in after["[Content_Types].xml"]
    assert b"calcChain" not in after["xl/_rels/workbook.xml.rels"]
    assert openpyxl.load_workbook(path)["客户信息"][f"{col}2"].value == "联系电话: 缺失"


@pytest.mark.libreoffice
def test_libreoffice_opens_the_written_workbook_and_shows_the_status(config, tmp_path, libreoffice):
    path = xlsxwriter_workbook(tmp_path / "lo.xlsx", config)
    src = source(path, config, tmp_path)
    table = src.read("customers")
    src.write_status(
        "customers", patch_for(table, lead_score=9), fingerprint=table.fingerprint, now=NOW
    )
    out = libreoffice(path, "csv")
    with out["客户信息"].open(encoding="utf-8") as fh:
        rows = list(csv.reader(fh))
    header = rows[0]
    assert header[-len(config.sheet("customers").status) :] == [
        s.label for s in config.sheet("customers").status
    ]
    row = dict(zip(header, rows[1], strict=True))
    assert (row["客户ID"], row["校验结果"], row["问题说明"], row["线索评分"]) == (
        "C000001",
        "✗",
        "联系电话: 缺失",
        "9",
    )
    assert "统计" in out  # the chart's sheet survived


def test_a_sheet_part_missing_from_the_package_is_named(config, tmp_path):
    path = openpyxl_workbook(tmp_path / "book.xlsx", config, n=2)
    broken = tmp_path / "broken.xlsx"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(broken, "w") as dst:
        for info in src.infolist():
            if info.filename != "xl/worksheets/sheet1.xml":
                dst.writestr(info, src.read(info))
    with pytest.raises(WorkbookFormatError, match="part xl/worksheets/sheet1.xml is missing"):
        source(broken, config, tmp_path).read("customers")


def test_a_damaged_sheet_is_called_damaged_even_when_calamine_fails_first(config, tmp_path):
    """The scan checks the sheet's CRC beside calamine's parse; its word wins over calamine's."""
    path = openpyxl_workbook(tmp_path / "book.xlsx", config, n=50)
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as zf:
        info = zf.getinfo("xl/worksheets/sheet1.xml")
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    data[start + info.compress_size // 2] ^= 0xFF  # one byte in the middle of the sheet's data
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(bytes(data))
    with pytest.raises(
        WorkbookFormatError, match=r"is damaged \(xl/worksheets/sheet1.xml: Bad CRC"
    ):
        source(broken, config, tmp_path).read("customers")


def test_the_rewritten_sheet_is_deflated_by_isal_and_zlib_alike(config, tmp_path, monkeypatch):
    """#26: the status write deflates the rewritten sheet with ISA-L (python-isal, a dependency
    where it has wheels), and with the standard zlib where it is missing: the same XML either way,
    a valid zip member, opened by openpyxl."""
    from sheetcrm.sources import xlsxpatch

    assert xlsxpatch.fast_deflate(1) is not None  # installed with the project here
    sheets, deflated = {}, {}
    for name, deflate in (("isal", xlsxpatch.fast_deflate), ("zlib", lambda level: None)):
        monkeypatch.setattr(xlsxpatch, "fast_deflate", deflate)
        path = openpyxl_workbook(tmp_path / f"{name}.xlsx", config, n=40)
        src = source(path, config, tmp_path / name)
        table = src.read("customers")
        src.write_status("customers", patch_for(table), fingerprint=table.fingerprint, now=NOW)
        with zipfile.ZipFile(path) as zf:
            assert zf.testzip() is None  # every CRC checks out
            sheets[name] = zf.read("xl/worksheets/sheet1.xml")
            deflated[name] = zf.getinfo("xl/worksheets/sheet1.xml").compress_size
        assert openpyxl.load_workbook(path)["客户信息"].max_row == 41
    assert sheets["isal"] == sheets["zlib"]
    assert deflated["isal"] != deflated["zlib"]  # two deflaters did write them
