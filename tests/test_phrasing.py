"""Conditions in the words people read: labels, not keys; 为/不小于/之一, not ==, >=, in."""

from __future__ import annotations

import re

import pytest

from sheetcrm.config import load_config

from .conftest import ROOT

CONFIG = load_config(ROOT / "config.toml")
CUSTOMERS = CONFIG.sheet("customers")


@pytest.mark.parametrize(
    ("condition", "zh", "en"),
    [
        ('customer_type == "企业客户"', "客户类型为“企业客户”", "客户类型 is “企业客户”"),
        ("annual_amount >= 100000", "年合同金额不小于100000", "年合同金额 is at least 100000"),
        ('stage not in ["成交", "流失"]', "销售阶段不是“成交”、“流失”之一",
         "销售阶段 is none of “成交”, “流失”"),
        ('"已确认预算" in demand', "需求描述含“已确认预算”", "需求描述 contains “已确认预算”"),
        ("expected_close <= today + days(7)", "预计成交日期不晚于7天后",
         "预计成交日期 is on or before 7 days from today"),
        ("not is_empty(contract_no) and not is_empty(annual_amount)",
         "合同编号已填写且年合同金额已填写", "合同编号 is filled in and 年合同金额 is filled in"),
        ('changed_to(intent, "高意向") or (is_new() and intent == "高意向")',
         "意向等级改为“高意向”或（新增的行且意向等级为“高意向”）",
         "意向等级 changed to “高意向” or (the row is new and 意向等级 is “高意向”)"),
        ('not stage == "成交"', "销售阶段不为“成交”", "销售阶段 is not “成交”"),
        ("days_since(first_contact) > 3", "距首次接触日期的天数大于3",
         "days since 首次接触日期 is more than 3"),
        ('客户类型 == "个人客户"', "客户类型为“个人客户”", "客户类型 is “个人客户”"),
    ],
)  # fmt: skip
def test_a_condition_reads_in_words(condition: str, zh: str, en: str) -> None:
    assert CUSTOMERS.phrase(condition, "zh_CN") == zh
    assert CUSTOMERS.phrase(condition, "en") == en


def test_what_has_no_phrasing_keeps_the_expression_with_labels() -> None:
    # arithmetic in a comparison has words; an unusual shape falls back, but with labels
    assert (
        CUSTOMERS.phrase("page_visits * 2 > enquiries", "zh_CN") == "产品页访问次数乘2大于咨询次数"
    )
    shown = CUSTOMERS.phrase("-page_visits < 0", "zh_CN")
    assert "page_visits" not in shown and "产品页访问次数" in shown


def test_every_condition_of_the_bundled_config_reads_without_code() -> None:
    """Every condition in config.toml, as people would read it: no field key, no operator."""
    keys = {f.key for s in CONFIG.sheets for f in s.fields}
    conditions: list[tuple[str, str]] = []
    for s in CONFIG.sheets:
        conditions += [(s.key, f.required_if) for f in s.fields if f.required_if]
    r = CONFIG.rules
    for rule in [*r.assign, *r.score, *r.derive, *r.approvals, *r.triggers]:
        conditions.append((rule.sheet, rule.when))
    if r.stage_order:
        conditions += [(r.stage_order.sheet, c) for c in r.stage_order.requires.values()]
    conditions += [(rem.sheet, rem.when) for rem in CONFIG.reminders]
    assert len(conditions) > 20
    for sheet, condition in conditions:
        shown = CONFIG.sheet(sheet).phrase(condition, "zh_CN")
        words = set(re.findall(r"[A-Za-z_]+", shown))
        assert not words & keys, (condition, shown)
        assert not re.search(r"==|!=|>=|<=|[<>]|\bnot\b|\band\b|\bor\b|\bin\b", shown), shown


def test_a_rule_is_shown_by_its_label_else_its_condition_in_words() -> None:
    approval = CONFIG.rules.approvals[0]
    assert approval.shown(CUSTOMERS, "zh_CN") == "大额合同"
    unlabelled = approval.model_copy(update={"label": None})
    assert unlabelled.shown(CUSTOMERS, "zh_CN") == "年合同金额不小于100000"


def test_nothing_people_read_shows_a_field_key_or_code(tmp_path):
    """#24 done-when: on the bundled config, after a night and a morning on the demo, no cell of
    填写说明, no status cell, no error-list cell (but its code column) and no digest line holds a
    field key or `==`. Scanned, all of them."""
    import email
    import email.policy
    from datetime import date, datetime

    import openpyxl

    from sheetcrm.job import run_job
    from sheetcrm.templates import build_template

    from .workbooks import demo_instance

    config = demo_instance(tmp_path / "team", rows=400, seed=5, today=date(2026, 11, 22))
    assert run_job("nightly", config, now=datetime(2026, 11, 23, 2, 0)).ok
    assert run_job("digest", config, now=datetime(2026, 11, 23, 8, 0)).ok
    keys = {f.key for s in config.sheets for f in s.fields} | {
        str(st.key) for s in config.sheets for st in s.status
    }
    codes = {k.removeprefix("kind.") for k in __import__("sheetcrm.messages").messages.CATALOGUE
             if k.startswith("kind.")}  # fmt: skip
    seen: list[tuple[str, str]] = []

    def scan(where: str, value: object) -> None:
        if not isinstance(value, str) or not value:
            return
        seen.append((where, value))
        words = set(re.findall(r"(?<![\w@.])[A-Za-z_]+(?![\w@])", value))
        assert not words & (keys | codes), (where, value, words & (keys | codes))
        assert "==" not in value and "!=" not in value, (where, value)

    template = build_template(config, tmp_path / "template.xlsx")
    for row in openpyxl.load_workbook(template)["填写说明"].iter_rows(values_only=True):
        for v in row:
            scan("填写说明", v)
    wb = openpyxl.load_workbook(config.workbook_path, read_only=True)
    for sheet in config.sheets:
        ws = wb[sheet.name]
        rows = ws.iter_rows(values_only=True)
        header = list(next(rows))
        status = [header.index(st.label) for st in sheet.status if st.label in header]
        for row in rows:
            for c in status:
                scan(f"{sheet.name}.{header[c]}", row[c])
    (errors,) = config.path("reports").glob("校验错误清单-*.xlsx")
    ws = openpyxl.load_workbook(errors).active
    head = [c.value for c in ws[1]]
    skip = {head.index("填写内容"), head.index("问题代码")}  # what was typed; the code for filters
    for row in ws.iter_rows(min_row=2, values_only=True):
        for c, v in enumerate(row):
            if c not in skip:
                scan("错误清单", v)
    mails = list(config.path("outbox").glob("*.eml"))
    assert mails
    for m in mails:
        msg = email.message_from_bytes(m.read_bytes(), policy=email.policy.default)
        scan("subject", str(msg["subject"]))
        for line in msg.get_body(("plain",)).get_content().splitlines():
            scan(m.name, line.replace(str(config.workbook_path), ""))
    assert len(seen) > 2000  # the scan saw what there is


def test_every_problem_the_check_finds_has_a_name_in_each_locale():
    """Every code the check and the coercion emit (read from their source, so a new one cannot be
    forgotten) has a message and a kind's name in both locales, which is not the code itself."""
    from sheetcrm.messages import CATALOGUE, LOCALES, problem_kind

    source = "".join((ROOT / "sheetcrm" / f).read_text(encoding="utf-8")
                     for f in ("check.py", "fields.py"))  # fmt: skip
    codes = set(re.findall(r'(?:check|Bad)\("([a-z_]+)"', source)) | {"unknown_member"}
    assert {"required", "invalid_phone", "duplicate_id", "wrong_role"} <= codes
    for code in codes:
        assert f"problem.{code}" in CATALOGUE, code
        assert f"kind.{code}" in CATALOGUE and set(CATALOGUE[f"kind.{code}"]) == set(LOCALES)
        assert problem_kind("zh_CN", code) != code, code
