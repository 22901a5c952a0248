"""The in-memory source (sheetcrm.sources.memory): the stages run on rows held in memory, with the
same contract as a workbook, so stage and rule tests need no file. The same rows give the same
plan in memory as in a real workbook, and applying it writes the same status cells."""

from __future__ import annotations

from datetime import datetime

import openpyxl
import pytest

from sheetcrm.errors import WorkbookChanged
from sheetcrm.pipeline import apply_plan, build_plan, read_all
from sheetcrm.sources.excel import ExcelSource
from sheetcrm.sources.memory import MemorySource
from sheetcrm.store import Store

from .workbooks import customer_rows

NOW = datetime(2026, 11, 23, 2, 0)


def grids(config, n: int = 12) -> dict[str, list[list[object]]]:
    """Every configured sheet with its header row; customers with `n` rows (row 4 without an ID,
    row 6 with a broken phone, rows 2 and 3 without an owner)."""
    out: dict[str, list[list[object]]] = {
        s.name: [[f.header for f in s.fields]] for s in config.sheets
    }
    sheet = config.sheet("customers")
    keys = [f.key for f in sheet.fields]
    rows = customer_rows(config, n, blank_ids=(2,))
    if n > 4:
        rows[4][keys.index("mobile")] = "1385678"
        for i in (0, 1):
            rows[i][keys.index("owner")] = None
    out[sheet.name] += [["" if v is None else v for v in row] for row in rows]
    return out


def workbook_of(path, data: dict[str, list[list[object]]]):
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for name, rows in data.items():
        ws = wb.create_sheet(name)
        for row in rows:
            ws.append([None if v == "" else v for v in row])
    wb.save(path)
    return path


def test_the_same_rows_plan_and_apply_the_same_in_memory_and_in_a_workbook(config, tmp_path):
    data = grids(config)
    memory = MemorySource(config, data)
    excel = ExcelSource(
        workbook_of(tmp_path / "team.xlsx", data), config, backup_dir=tmp_path / "bk"
    )
    plans = {}
    for name, source in (("memory", memory), ("excel", excel)):
        store = Store(f"sqlite:///{tmp_path / name}.sqlite")
        plans[name] = build_plan(read_all(source, config), config, now=NOW, store=store)
        apply_plan(plans[name], source, config, store=store)
    assert plans["memory"].cell_changes(config) == plans["excel"].cell_changes(config)
    assert [str(n) for n in plans["memory"].notifications] == [
        str(n) for n in plans["excel"].notifications
    ]
    after = {"memory": memory.read("customers"), "excel": excel.read("customers")}
    for key in ("validation", "problems"):
        assert after["memory"].status[key].tolist() == after["excel"].status[key].tolist()
    table = after["memory"]
    assert (table.ids != "").all()  # the blank ID was numbered
    assert (
        table.status.loc[6, "validation"] == "✗" and "联系电话" in table.status.loc[6, "problems"]
    )
    assert (
        table.frame.loc[[2, 3], "owner"].tolist()
        == after["excel"].frame.loc[[2, 3], "owner"].tolist()
    )
    assert all(table.frame.loc[[2, 3], "owner"])  # the assignment rule filled the blank owners


def test_a_memory_source_refuses_a_write_into_rows_changed_since_the_read(config):
    source = MemorySource(config, grids(config, 3))
    plan = build_plan(read_all(source, config), config, now=NOW)
    source.sheets["客户信息"][1][1] = "有人改了名字有限公司"
    with pytest.raises(WorkbookChanged):
        apply_plan(plan, source, config)
