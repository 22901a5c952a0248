"""The check: typed coercion, pandera validation and per-row messages."""

from __future__ import annotations

import csv
from datetime import date, datetime

import openpyxl
import pandas as pd
import pytest
from click.testing import CliRunner

from sheetcrm.check import check_table, check_workbook
from sheetcrm.cli import cli
from sheetcrm.demo import generate_demo
from sheetcrm.fields import (
    Bad,
    coerce_column,
    parse_credit_code,
    parse_date,
    parse_email,
    parse_number,
    parse_phone,
    parse_text,
)
from sheetcrm.pipeline import apply_plan, build_plan
from sheetcrm.sources.excel import ExcelSource
from sheetcrm.table import CellError, Table
from sheetcrm.text import display_column

from .workbooks import openpyxl_workbook

NOW = datetime(2026, 11, 23, 2, 0)


@pytest.fixture(scope="module")
def demo(config, tmp_path_factory):
    out = tmp_path_factory.mktemp("check") / "demo.xlsx"
    summary = generate_demo(config, out, rows=3000, seed=21, today=NOW.date())
    with summary.truth_path.open(encoding="utf-8") as fh:
        truth = list(csv.DictReader(fh))
    return out, truth


def test_the_demo_ground_truth_is_met_exactly(config, demo):
    """Every planted problem is reported on its row with its code; nothing else is reported."""
    path, truth = demo
    src = ExcelSource(path, config)
    tables = {s.key: src.read(s.key) for s in config.sheets}
    results = check_workbook(tables, config, now=NOW)
    for key, result in results.items():
        want = {(int(t["row"]), t["field"], t["code"]) for t in truth
                if t["sheet"] == key and t["kind"] == "problem"}  # fmt: skip
        got = set(
            zip(
                result.problems["row"],
                result.problems["field"],
                result.problems["code"],
                strict=True,
            )
        )
        assert got == want, (key, sorted(want - got)[:5], sorted(got - want)[:5])
        assert (
            len(want) > 0 or key == "dup_decisions"
        )  # people fill that one; the demo leaves it empty
        noisy = {int(t["row"]) for t in truth if t["sheet"] == key and t["kind"] == "noise"}
        assert not noisy & set(result.problems["row"])  # odd-but-valid typing is accepted


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (date(2024, 3, 15), date(2024, 3, 15)),
        (datetime(2024, 3, 15, 9, 30), date(2024, 3, 15)),
        (45366.0, date(2024, 3, 15)),
        ("2024-03-15", date(2024, 3, 15)),
        ("2024/3/15", date(2024, 3, 15)),
        ("2024年3月15日", date(2024, 3, 15)),
        ("20240315", date(2024, 3, 15)),
        ("２０２４年３月１５日", date(2024, 3, 15)),
        (" 2024-03-15\u3000", date(2024, 3, 15)),
        ("2024年2月30日", Bad("invalid_date", "2024年2月30日")),
        ("5/3/24", Bad("ambiguous_date", "5/3/24")),
        ("下周三", Bad("invalid_date", "下周三")),
    ],
)
def test_dates(raw, expected):
    assert parse_date(raw) == expected


def test_1904_serials_use_the_1904_epoch():
    assert parse_date(0.0 + 43904, date(1904, 1, 1)) == date(2024, 3, 15)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (1200.5, 1200.5),
        ("1,200.50", 1200.5),
        ("¥1,200.50", 1200.5),
        ("￥1,200.50元", 1200.5),
        ("3万", 30000.0),
        ("3.5万", 35000.0),
        ("１２００", 1200.0),
        ("面议", Bad("invalid_number", "面议")),
    ],
)
def test_numbers_and_money(raw, expected):
    assert parse_number(raw) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("13800138000", "+8613800138000"),
        ("+86 138-0013-8000", "+8613800138000"),
        ("0086 138 0013 8000", "+8613800138000"),
        ("１３８００１３８０００", "+8613800138000"),
        ("(138)0013-8000", "+8613800138000"),
        ("13800138000转123", "+8613800138000"),
        (13800138000.0, "+8613800138000"),
        ("1385678", Bad("invalid_phone", "1385678")),
        ("010-12345678", Bad("invalid_phone", "010-12345678")),
    ],
)
def test_phones(raw, expected):
    assert parse_phone(raw) == expected


def test_fixed_lines_where_the_field_allows_them():
    assert parse_phone("010-12345678", landline=True) == "+861012345678"


def test_email_and_credit_codes():
    assert parse_email(" Wang.Ming@Example.COM ") == "wang.ming@example.com"
    assert parse_email("wang.ming@") == Bad("invalid_email", "wang.ming@")
    assert parse_credit_code("91330106000100003u") == "91330106000100003U"
    assert parse_credit_code("91330106000100003V").code == "invalid_credit_code"
    assert parse_credit_code(9.13301060001e17).code == "precision_lost"


def test_the_fast_paths_agree_with_the_libraries():
    """E-mail and credit-code fast paths accept nothing the libraries would refuse."""
    import random

    from email_validator import EmailNotValidError, validate_email
    from stdnum.cn import uscc

    from sheetcrm.fields import _USCC_ALPHABET

    rng = random.Random(5)
    for _ in range(3000):
        body = "".join(rng.choice("0123456789") for _ in range(8)) + "".join(
            rng.choice(_USCC_ALPHABET) for _ in range(9))  # fmt: skip
        code = body + rng.choice(_USCC_ALPHABET)
        assert (parse_credit_code(code) == code) == uscc.is_valid(code), code
    samples = ["a@b.cn", "a.b@c.com.cn", "a..b@c.com", ".a@c.com", "a@c", "a@-c.com", "a@c-.com",
               "张@例子.中国", "a@localhost", "a@b.test", "A_B+tag@Example.COM", "a@b.c", "a@b.co",
               "a b@c.com", "a@b..com", "x" * 65 + "@b.com", "a@" + "b" * 64 + ".com"]  # fmt: skip
    for text in samples:
        try:
            expected = validate_email(text, check_deliverability=False).normalized.lower()
        except EmailNotValidError:
            expected = None
        got = parse_email(text)
        assert (got if not isinstance(got, Bad) else None) == expected, text


def _one_row_table(config, sheet_key: str, values: dict) -> Table:
    sheet = config.sheet(sheet_key)
    frame = pd.DataFrame(
        [{f.key: values.get(f.key, "") for f in sheet.fields}], index=[2], dtype=object
    )
    return Table(sheet_key, sheet.name, frame, {}, {}, 1, ids=frame[sheet.id_field].astype(str))


GOOD = {"customer_id": "C000001", "name": "测试公司有限公司", "customer_type": "个人客户",
        "contact_name": "王五", "mobile": "13800138000", "source": "展会推荐",
        "first_contact": date(2026, 1, 5), "intent": "高意向", "stage": "线索"}  # fmt: skip


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({}, set()),
        (
            {"customer_type": "企业客户"},
            {("industry", "required_if"), ("company_size", "required_if")},
        ),
        ({"customer_type": "企业客户", "industry": "制造业", "company_size": "50人以下"}, set()),
        (
            {"stage": "成交"},
            {
                ("contract_no", "required_if"),
                ("contract_start", "required_if"),
                ("annual_amount", "required_if"),
            },
        ),
        ({"stage": "流失"}, {("lost_reason", "required_if")}),
        ({"source": "其他"}, {("source_remark", "required_if")}),
        ({"name": "  \u200b "}, {("name", "required")}),
        ({"name": "😀小店🍜"}, set()),
        ({"name": CellError("#N/A")}, {("name", "formula_error")}),
        ({"intent": " 高意向 "}, set()),
        ({"intent": "很想买"}, {("intent", "invalid_choice")}),
        ({"demand_type": "产品采购，技术支持"}, set()),
        ({"demand_type": "产品采购、上门维修"}, {("demand_type", "invalid_choice")}),
        ({"owner": "马云"}, {("owner", "unknown_member")}),
        ({"owner": "周杰"}, {("owner", "wrong_role")}),  # service, not a sales owner
        ({"expected_amount": -5.0}, {("expected_amount", "out_of_range")}),
        ({"customer_id": "X1"}, {("customer_id", "pattern_mismatch")}),
        ({"name": "长" * 101}, {("name", "too_long")}),
    ],
)
def test_rules_of_the_bundled_config(config, changes, expected):
    table = _one_row_table(config, "customers", {**GOOD, **changes})
    result = check_table(table, config.sheet("customers"), config, now=NOW)
    assert set(zip(result.problems["field"], result.problems["code"], strict=True)) == expected


def test_messages_name_the_field_and_what_is_expected_in_both_locales(config):
    table = _one_row_table(config, "customers", {**GOOD, "mobile": "1385678"})
    zh = check_table(table, config.sheet("customers"), config, now=NOW).problems["message"].tolist()
    assert zh == ['联系电话: "1385678" 不是有效的手机号(应为11位数字)']
    english = config.model_copy(update={"locale": "en"})
    en = (
        check_table(table, english.sheet("customers"), english, now=NOW)
        .problems["message"]
        .tolist()
    )
    assert en == ['联系电话: "1385678" is not a valid mobile number (11 digits expected)']


def test_unique_and_references_across_sheets(config):
    sheet = config.sheet("followups")
    frame = pd.DataFrame(
        [{"followup_id": "F0000001", "customer_id": "C000001", "date": date(2026, 1, 2), "method": "电话",
          "content": "沟通", "by": "王明"},
         {"followup_id": "F0000001", "customer_id": "C000404", "date": date(2026, 1, 3), "method": "微信",
          "content": "沟通", "by": "王明"}], index=[2, 3], dtype=object)  # fmt: skip
    table = Table("followups", sheet.name, frame, {}, {}, 1, ids=frame["followup_id"])
    result = check_table(table, sheet, config, now=NOW, known_ids={"customers": {"C000001"}})
    got = set(zip(result.problems["row"], result.problems["code"], strict=True))
    # a repeated record ID marks both rows (a copied row: either may be the wrong one)
    assert got == {(2, "duplicate_id"), (3, "duplicate_id"), (3, "unknown_reference")}
    assert "在“客户信息”表中不存在" in result.problems["message"].iloc[-1]
    assert '记录编号 重复："F0000001" 出现在第 2、3 行' in result.problems["message"].iloc[0]


def test_check_run_writes_status_and_a_rerun_writes_nothing(config, tmp_path):
    path = openpyxl_workbook(tmp_path / "team.xlsx", config, n=6, blank_ids=(3,))
    wb = openpyxl.load_workbook(path)
    wb["客户信息"]["J4"] = "1385678"  # row 4: a phone with 7 digits
    wb.save(path)
    src = ExcelSource(path, config, backup_dir=tmp_path / "bk")
    tables = {"customers": src.read("customers")}
    plan = build_plan(tables, config, now=NOW)
    apply_plan(plan, src, config, error_list=tmp_path / "errors.xlsx")
    after = src.read("customers")
    assert after.ids.loc[5] == "C000007"  # the blank ID got the next number
    assert after.status.loc[4, "validation"] == "✗"
    assert after.status.loc[4, "problems"] == '联系电话: "1385678" 不是有效的手机号(应为11位数字)'
    assert (
        after.status.loc[2, "validation"] == "✓"
        and after.status.loc[2, "last_checked"] == "2026-11-23 02:00"
    )
    errors = openpyxl.load_workbook(tmp_path / "errors.xlsx").active
    row = [c.value for c in errors[2]]
    owner = after.frame.loc[4, "owner"]
    assert row[:6] == ["客户信息", 4, "C000003", owner, "联系电话", "电话格式不对"]
    assert row[-1] == "invalid_phone"  # the code last, for filters
    link = errors.cell(2, 9).hyperlink
    # relative to the error list's folder: it opens on a staff PC wherever the share is mounted
    assert link.location == "'客户信息'!J4" and link.target == "team.xlsx"

    once = path.read_bytes()
    plan2 = build_plan(
        {"customers": src.read("customers")}, config, now=datetime(2026, 11, 24, 2, 0)
    )
    assert plan2.rows_to_write == 0
    apply_plan(plan2, src, config, error_list=None)
    assert path.read_bytes() == once

    wb = openpyxl.load_workbook(path)
    wb["客户信息"]["J4"] = "13800138004"  # someone fixes the phone
    wb.save(path)
    plan3 = build_plan(
        {"customers": src.read("customers")}, config, now=datetime(2026, 11, 25, 2, 0)
    )
    assert list(plan3.patches["customers"].values) == ["C000003"]


def test_error_list_links_follow_columns_people_moved(config, tmp_path):
    """Staff move columns; the error list's link must still land on the bad cell."""
    path = openpyxl_workbook(tmp_path / "team.xlsx", config, n=4)
    wb = openpyxl.load_workbook(path)
    ws = wb["客户信息"]
    ws.insert_cols(1)  # everything shifts one column right: 联系电话 is now in K
    ws["A1"] = "我们自己的备注"
    ws["K3"] = "1385678"
    wb.save(path)
    src = ExcelSource(path, config, backup_dir=tmp_path / "bk")
    plan = build_plan({"customers": src.read("customers")}, config, now=NOW)
    apply_plan(plan, src, config, error_list=tmp_path / "errors.xlsx")
    errors = openpyxl.load_workbook(tmp_path / "errors.xlsx").active
    assert [c.value for c in errors[2]][4:6] == ["联系电话", "电话格式不对"]
    assert errors.cell(2, 9).hyperlink.location == "'客户信息'!K3"


def test_cli_check_reports_and_writes(config, tmp_path):
    runner = CliRunner()
    assert runner.invoke(cli, ["init", str(tmp_path)]).exit_code == 0
    cfg = str(tmp_path / "config.toml")
    assert (
        runner.invoke(
            cli, ["--config", cfg, "demo", "--rows", "300", "--today", "2026-11-23"]
        ).exit_code
        == 0
    )
    workbook = tmp_path / "data" / "customers.xlsx"
    before = workbook.read_bytes()
    dry = runner.invoke(cli, ["--config", cfg, "check", "--dry-run", "--now", "2026-11-23T02:00"])
    assert dry.exit_code == 0, dry.output
    assert "实际未写入任何内容" in dry.output and workbook.read_bytes() == before
    result = runner.invoke(cli, ["--config", cfg, "check", "--now", "2026-11-23T02:00"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "reports" / "校验错误清单-20261123-0200.xlsx").is_file()
    table = ExcelSource(workbook, config).read("customers")
    assert set(table.status["validation"]) == {"✓", "✗"}
    assert (table.ids != "").all()


def test_cli_check_on_a_locked_workbook_fails_clearly(config, tmp_path):
    runner = CliRunner()
    runner.invoke(cli, ["init", str(tmp_path)])
    cfg = str(tmp_path / "config.toml")
    runner.invoke(cli, ["--config", cfg, "demo", "--rows", "50", "--today", "2026-11-23"])
    (tmp_path / "data" / "~$customers.xlsx").write_bytes(b"\x04wang")
    result = runner.invoke(cli, ["--config", cfg, "check", "--now", "2026-11-23T02:00"])
    assert result.exit_code == 1 and "is open by wang" in result.output


def test_not_before_today_uses_the_time_passed_in(config):
    sheet = config.sheet("requests")
    strict = sheet.model_copy(update={"fields": [
        f.model_copy(update={"not_before_today": True}) if f.key == "expected_done" else f
        for f in sheet.fields]})  # fmt: skip
    frame = pd.DataFrame([{"request_id": "R000001", "customer_id": "C000001", "submitted_at": date(2026, 11, 1),
                           "demand_type": "技术支持", "description": "无法登录", "expected_done": "2026-11-22",
                           "state": "处理中"}], index=[2], dtype=object)  # fmt: skip
    table = Table("requests", sheet.name, frame, {}, {}, 1, ids=frame["request_id"])
    late = check_table(table, strict, config, now=NOW)
    assert late.problems[["field", "code", "message"]].values.tolist() == [
        ["expected_done", "date_in_past", "期望完成日期: 2026-11-22 早于今天"]
    ]
    earlier = check_table(table, strict, config, now=datetime(2026, 11, 20, 9, 0))
    assert earlier.problems.empty


def test_typing_once_per_distinct_value_keeps_true_apart_from_1():
    """Values are typed once per distinct value; Python's True == 1 must not merge two cells."""
    raw = pd.Series(
        [1, True, 1.0, "1", None, float("nan"), "", 2.5, True], index=range(2, 11), dtype=object
    )
    typed, problems = coerce_column(raw, parse_text)
    assert typed.tolist() == ["1", "True", "1", "1", None, None, None, "2.5", "True"]
    assert problems.isna().all() and typed.index.tolist() == list(range(2, 11))
    assert display_column(raw).tolist() == ["1", "True", "1", "1", "", "", "", "2.5", "True"]
