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
