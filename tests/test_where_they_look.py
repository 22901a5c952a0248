"""#24: what people see where they type and where they look: marks in the sheet, print setup, files
that do not overwrite each other, the team's words for roles, a hint for Chinese quotes."""

from __future__ import annotations

import copy
import tomllib
from datetime import datetime

import openpyxl
import pytest
from click.testing import CliRunner

from sheetcrm.cli import cli
from sheetcrm.config import ConfigError, load_config, parse_config
from sheetcrm.pipeline import apply_plan, build_plan
from sheetcrm.sources.excel import ExcelSource
from sheetcrm.templates import build_template

from .conftest import ROOT
from .workbooks import openpyxl_workbook

NOW = datetime(2026, 11, 23, 2, 0)
RAW = tomllib.loads((ROOT / "config.toml").read_text(encoding="utf-8"))


def _rules(ws) -> dict[str, list]:
    """Conditional formats of a sheet: range → [(type, operator, formula)]."""
    out: dict[str, list] = {}
    for cf in ws.conditional_formatting:
        out[str(cf.sqref)] = [(r.type, r.operator, list(r.formula or []), r.text) for r in cf.rules]
    return out


def _width(ws, letter: str) -> float:
    """A column's width (openpyxl keys a run of equal columns by its first letter)."""
    c = openpyxl.utils.column_index_from_string(letter)
    return next(d.width for d in ws.column_dimensions.values() if d.min <= c <= d.max)


def _marks_of(ws) -> dict[str, list]:
    rules = _rules(ws)
    headers = {c.value: c.column_letter for c in ws[1]}
    v, a, i = headers["校验结果"], headers["审批状态"], headers["客户ID"]
    return {
        "validation": next(r for k, r in rules.items() if k.startswith(f"{v}2:")),
        "approval": next(r for k, r in rules.items() if k.startswith(f"{a}2:")),
        "id": next(r for k, r in rules.items() if k.startswith(f"{i}2:")),
    }


def test_the_template_marks_bad_rows_and_libreoffice_keeps_the_marks(tmp_path, libreoffice):
    """✗ red and ✓ green in 校验结果, 待审批 amber, the ID tinted while its row has problems; the
    marks are in the template once (the write-back writes values only) and survive LibreOffice."""
    config = load_config(ROOT / "config.toml")
    path = build_template(config, tmp_path / "template.xlsx")
    ws = openpyxl.load_workbook(path)["客户信息"]
    marks = _marks_of(ws)
    assert {tuple(r[2]) for r in marks["validation"]} == {('"✗"',), ('"✓"',)}
    assert marks["approval"][0][3] == "待审批"
    v = {c.value: c.column_letter for c in ws[1]}["校验结果"]
    assert marks["id"][0][0] == "expression" and marks["id"][0][2] == [f'${v}2="✗"']
    # printed as people expect a list: landscape, one page wide, the header row on every page
    assert ws.page_setup.orientation == "landscape" and ws.sheet_properties.pageSetUpPr.fitToPage
    assert ws.page_setup.fitToHeight == 0 and ws.page_setup.fitToWidth in (None, 1)  # 1 wide
    assert ws.print_title_rows == "$1:$1"
    # status columns as wide as what they hold, long ones wrapped
    headers = {c.value: c.column_letter for c in ws[1]}
    assert _width(ws, headers["审批状态"]) >= 28 and _width(ws, headers["问题说明"]) >= 40
    out = libreoffice(path, "xlsx", outdir=tmp_path / "lo")
    again = openpyxl.load_workbook(out)["客户信息"]
    kept = _marks_of(again)
    assert {tuple(r[2]) for r in kept["validation"]} == {('"✗"',), ('"✓"',)}
    assert kept["id"] and kept["approval"]


def test_the_marks_stay_through_a_nightly_write(tmp_path, config):
    path = build_template(config, tmp_path / "team.xlsx")
    wb = openpyxl.load_workbook(path)
    ws = wb["客户信息"]
    ws.append(["", "星辰科技有限公司", "企业客户"])  # a row with problems
    wb.save(path)
    before = _rules(openpyxl.load_workbook(path)["客户信息"])
    src = ExcelSource(path, config, backup_dir=tmp_path / "bk")
    apply_plan(build_plan({"customers": src.read("customers")}, config, now=NOW), src, config,
               error_list=None)  # fmt: skip
    ws = openpyxl.load_workbook(path)["客户信息"]
    assert ws["A2"].value == "C000001" and _rules(ws) == before


def test_status_columns_can_sit_right_after_the_id(tmp_path):
    """`after`: 校验结果 and 问题说明 beside the ID in the template; a nightly run finds and fills
    them there by label."""
    raw = copy.deepcopy(RAW)
    for st in raw["sheets"][0]["status"]:
        if st["key"] in ("validation", "problems"):
            st["after"] = "customer_id"
    config = parse_config(raw, base_dir=tmp_path)
    path = build_template(config, tmp_path / "team.xlsx")
    wb = openpyxl.load_workbook(path)
    ws = wb["客户信息"]
    assert [c.value for c in ws[1]][:4] == ["客户ID", "校验结果", "问题说明", "*客户名称"]
    ws["D2"], ws["E2"] = "星辰科技有限公司", "企业客户"
    wb.save(path)
    src = ExcelSource(path, config, backup_dir=tmp_path / "bk")
    apply_plan(build_plan({"customers": src.read("customers")}, config, now=NOW), src, config,
               error_list=None)  # fmt: skip
    ws = openpyxl.load_workbook(path)["客户信息"]
    assert ws["A2"].value == "C000001" and ws["B2"].value == "✗"
    assert "联系人: 必填" in ws["C2"].value and ws["D2"].value == "星辰科技有限公司"
    bad = copy.deepcopy(raw)
    bad["sheets"][0]["status"][0]["after"] = "no_such_field"
    with pytest.raises(ConfigError, match="no_such_field"):
        parse_config(bad, base_dir=tmp_path)


def test_a_status_header_an_older_template_wrote_is_still_found(tmp_path, config):
    """状态更新于 was called 最后检查: a workbook with the old header gets it filled, not a second
    column beside it."""
    path = openpyxl_workbook(tmp_path / "team.xlsx", config, n=3)
    wb = openpyxl.load_workbook(path)
    ws = wb["客户信息"]
    old = ws.max_column + 1
    ws.cell(1, old, "最后检查")
    wb.save(path)
    src = ExcelSource(path, config, backup_dir=tmp_path / "bk")
    apply_plan(build_plan({"customers": src.read("customers")}, config, now=NOW), src, config,
               error_list=None)  # fmt: skip
    ws = openpyxl.load_workbook(path)["客户信息"]
    headers = [c.value for c in ws[1]]
    assert "状态更新于" not in headers and headers.count("最后检查") == 1
    assert ws.cell(2, old).value == "2026-11-23 02:00"


def test_two_exports_in_the_same_minute_both_stay(tmp_path):
    runner = CliRunner()
    assert runner.invoke(cli, ["init", str(tmp_path)]).exit_code == 0
    cfg = str(tmp_path / "config.toml")
    args = ["--config", cfg]
    assert (
        runner.invoke(cli, [*args, "demo", "--rows", "50", "--today", "2026-11-23"]).exit_code == 0
    )
    when = ["--now", "2026-11-23T09:00"]
    first = runner.invoke(cli, [*args, "export", *when])
    second = runner.invoke(cli, [*args, "export", "--stage", "没有这个阶段", *when])
    assert first.exit_code == 0 and second.exit_code == 0, first.output + second.output
    made = sorted((tmp_path / "reports").glob("导出-客户信息-20261123-0900*.xlsx"))
    assert [p.name for p in made] == ["导出-客户信息-20261123-0900-2.xlsx",
                                      "导出-客户信息-20261123-0900.xlsx"]  # fmt: skip
    rows = [openpyxl.load_workbook(p).active.max_row for p in made]
    assert rows == [1, 51]  # the header-only export did not replace the full one


def test_roles_may_be_written_in_the_teams_words(tmp_path):
    raw = copy.deepcopy(RAW)
    names = {"sales": "销售", "sales_manager": "销售经理", "sales_director": "销售总监",
             "marketing": "市场", "service": "客服", "admin": "管理员"}  # fmt: skip
    for p in raw["people"]:
        p["role"] = names[p["role"]]
    raw["rules"]["approvals"][0]["role"] = "销售经理"
    raw["report"]["mail_to"] = ["销售经理", "销售总监"]
    config = parse_config(raw, base_dir=tmp_path)
    assert {str(p.role) for p in config.people} == set(names)
    assert str(config.rules.approvals[0].role) == "sales_manager"
    raw["people"][0]["role"] = "老板"
    with pytest.raises(ConfigError, match=r'people\[0\] \("张伟"\)\.role'):
        parse_config(raw, base_dir=tmp_path)


def test_chinese_quotes_get_a_hint(tmp_path):
    raw = copy.deepcopy(RAW)
    raw["rules"]["assign"][0]["when"] = "industry == “IT/互联网”"
    with pytest.raises(ConfigError, match="用了中文引号，请改成英文引号") as e:
        parse_config(raw, base_dir=tmp_path)
    assert "rules.assign[0]" in str(e.value)
    toml = tmp_path / "config.toml"
    toml.write_text((ROOT / "config.toml").read_text(encoding="utf-8").replace(
        'to = "王明"', "to = “王明”"), encoding="utf-8")  # fmt: skip
    with pytest.raises(ConfigError, match="用了中文引号，请改成英文引号"):
        load_config(toml)


def test_without_a_reason_column_the_reason_stays_beside_the_id(tmp_path):
    raw = copy.deepcopy(RAW)
    raw["sheets"][0]["status"] = [s for s in raw["sheets"][0]["status"]
                                  if s["key"] != "duplicate_reason"]  # fmt: skip
    config = parse_config(raw, base_dir=tmp_path)
    path = openpyxl_workbook(tmp_path / "team.xlsx", config, n=5)
    wb = openpyxl.load_workbook(path)
    ws = wb["客户信息"]
    ws["J5"] = ws["J3"].value  # row 5 has the phone of row 3
    wb.save(path)
    src = ExcelSource(path, config, backup_dir=tmp_path / "bk")
    apply_plan(build_plan({"customers": src.read("customers")}, config, now=NOW), src, config,
               error_list=None)  # fmt: skip
    status = src.read("customers").status
    assert status.loc[5, "duplicate_of"] == "C000002 同手机号"


def test_the_cli_speaks_the_configs_locale(tmp_path):
    """Summaries and plan output in Chinese by default, in English with locale = "en"."""
    runner = CliRunner()
    for locale, said, planned in (("zh_CN", "已检查 客户信息 40 行", "要写入的单元格"),
                                  ("en", "checked 客户信息 40", "cells to write")):  # fmt: skip
        folder = tmp_path / locale
        assert runner.invoke(cli, ["init", str(folder)]).exit_code == 0
        cfg = folder / "config.toml"
        cfg.write_text(cfg.read_text(encoding="utf-8").replace(
            'locale = "zh_CN"', f'locale = "{locale}"'), encoding="utf-8")  # fmt: skip
        args = ["--config", str(cfg)]
        assert (
            runner.invoke(cli, [*args, "demo", "--rows", "40", "--today", "2026-11-23"]).exit_code
            == 0
        )
        plan = runner.invoke(cli, [*args, "plan", "--now", "2026-11-23T02:00", "--limit", "3"])
        check = runner.invoke(cli, [*args, "check", "--now", "2026-11-23T02:00"])
        assert check.exit_code == 0 and said in check.output, check.output
        assert planned in plan.output, plan.output


def test_on_a_terminal_each_step_moves_while_it_runs_and_stays_when_done(capsys):
    """#24 part 5: a step without a known total still moves (spinner, clock); a finished step keeps
    its line with its count; in logs, one plain line per step."""
    import io
    import time

    from rich.console import Console

    from sheetcrm.progress import progress

    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=100, highlight=False)
    with progress("check", 0, console=console) as update:
        update("read", 0)
        time.sleep(0.3)  # the live display refreshes while the step runs
        update("read", 5, True)
        update("plan", 0)
        update("plan", 5, True)
    shown = screen.getvalue()
    assert "check: read 5" in shown and "check: plan 5" in shown and "✓" in shown
    assert shown.count("check: read") >= 2  # redrawn while it ran, then kept
    with progress("check", 0, console=Console(file=io.StringIO(), force_terminal=False)) as update:
        update("read", 0)
        update("read", 5, True)
    assert "check: read 5 in" in capsys.readouterr().err


def test_an_alias_that_is_a_fields_label_is_refused(tmp_path):
    raw = copy.deepcopy(RAW)
    raw["sheets"][0]["status"][-1]["aliases"] = ["联系人"]  # would take 联系人's column
    with pytest.raises(ConfigError, match=r"aliases: label '联系人' is also used by field"):
        parse_config(raw, base_dir=tmp_path)


def test_a_review_workbook_people_rearranged_is_still_read_and_a_broken_one_is_named(tmp_path):
    """判定 found by its header after someone moved the columns; a file that cannot be read is
    reported (its pairs are asked again), not silently dropped."""
    from sheetcrm.reviewbook import read_review_decisions

    config = parse_config(copy.deepcopy(RAW), base_dir=tmp_path)
    reports = tmp_path / "reports"
    reports.mkdir()
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["客户ID", "备注", "原客户ID", "fingerprint", "判定", "分组", "角色", "原因"])
    ws.append(["C000007", "我加的列", "C000002", "abc", "不是重复", "#1", "重复", "同手机号"])
    wb.save(reports / "重复客户信息-20261123-0900.xlsx")
    (reports / "重复客户信息-20261124-0900.xlsx").write_bytes(b"not a zip")
    found, skipped = read_review_decisions(config, config.sheet("customers"))
    assert found == [("C000007", "C000002", "不是重复", "abc")]
    assert len(skipped) == 1 and "20261124" in skipped[0]


def test_numbers_in_conditions_read_as_typed():
    config = load_config(ROOT / "config.toml")
    shown = config.sheet("customers").phrase("annual_amount >= 1500000.0", "zh_CN")
    assert shown == "年合同金额不小于1500000"
