"""The condition language: every operator, names by key and by label, dates, durations, empty cells,
history functions, and the load-time errors (message and caret) for what is not allowed."""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd
import pytest

from sheetcrm.changes import canonical_frame
from sheetcrm.expr import DATE, NUMBER, TEXT, Env, ExprError, compile_condition, compile_expression

NOW = datetime(2026, 11, 23, 9, 30)  # a Monday

FRAME = pd.DataFrame(
    {
        "name": ["甲公司", "乙公司", "丙工作室", None],
        "industry": ["IT/互联网", "制造业", None, "IT/互联网"],
        "region": ["华东", "上海", "华北", ""],
        "demand": ["客户已确认预算，要报价", "还在比较", None, "已确认预算"],
        "amount": [150000.0, 99999.0, None, 100000.0],
        "visits": [3.0, 0.0, 1.0, None],
        "expected_close": [date(2026, 11, 28), date(2026, 12, 31), None, date(2026, 11, 30)],
        "last_followup": [date(2026, 11, 19), date(2026, 11, 23), None, date(2026, 11, 1)],
        "stage": ["商务谈判", "意向客户", "线索", "成交"],
    },
    index=[2, 3, 4, 5],  # sheet rows
)
KINDS = {"name": TEXT, "industry": TEXT, "region": TEXT, "demand": TEXT, "amount": NUMBER,
         "visits": NUMBER, "expected_close": DATE, "last_followup": DATE, "stage": TEXT}  # fmt: skip
LABELS = {"客户名称": "name", "所属行业": "industry", "区域": "region", "需求": "demand",
          "合同金额": "amount", "预计成交": "expected_close", "最近跟进": "last_followup",
          "阶段": "stage"}  # fmt: skip
NAMES = {k: k for k in KINDS} | LABELS


def rows(text: str, frame: pd.DataFrame = FRAME, **env: object) -> list[int]:
    """The sheet rows for which the condition holds."""
    condition = compile_condition(text, NAMES, KINDS)
    result = condition(Env(frame, KINDS, env.pop("now", NOW), **env))  # type: ignore[arg-type]
    assert result.dtype == bool and list(result.index) == list(frame.index)
    return [int(r) for r in result.index[result]]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('industry == "IT/互联网"', [2, 5]),
        ('industry != "IT/互联网"', [3, 4]),  # empty is not IT/互联网
        ("amount >= 100000", [2, 5]),
        ("amount > 100000", [2]),
        ("amount < 100000", [3]),  # the empty amount is neither < nor >=
        ("amount <= 99999", [3]),
        ("100000 <= amount < 200000", [2, 5]),  # chained
        ('region in ["华东", "上海"]', [2, 3]),
        ('region not in ["华东", "上海"]', [4, 5]),
        ('"已确认预算" in demand', [2, 5]),
        ('"已确认预算" not in demand', [3, 4]),
        ("amount > 1", [2, 3, 5]),
        ('industry == "IT/互联网" and amount >= 100000', [2, 5]),
        ('industry == "制造业" or region == "华北"', [3, 4]),
        ('not industry == "IT/互联网"', [3, 4]),
        ("visits * 2 + 1 > 4", [2]),
        ("amount / 2 >= 50000", [2, 5]),
        ("-visits < 0", [2, 4]),
        ("is_empty(industry)", [4]),
        ("is_empty(region)", [5]),  # "" is empty too
        ("not is_empty(amount)", [2, 3, 5]),
        ('startswith(name, "丙")', [4]),
        ('endswith(name, "公司")', [2, 3]),
        ('contains(demand, "比较")', [3]),
        ("industry == None", [4]),
        ("amount == amount", [2, 3, 4, 5]),  # empty equals empty
        ("True", [2, 3, 4, 5]),
    ],
)
def test_operators(text: str, expected: list[int]) -> None:
    assert rows(text) == expected


def test_chinese_labels_are_names() -> None:
    assert rows('所属行业 == "IT/互联网" and 合同金额 >= 100000') == [2, 5]
    assert rows('"已确认预算" in 需求 and 预计成交 <= today + days(7)') == [2, 5]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("expected_close <= today + days(7)", [2, 5]),
        ("expected_close > today + weeks(1)", [3]),
        ('expected_close == "2026-11-28"', [2]),  # a quoted date next to a date field is a date
        ('expected_close < date("2026-12-01")', [2, 5]),
        ("days_since(last_followup) > 3", [2, 5]),
        ("days_since(last_followup) == 0", [3]),
        ("days_until(expected_close) == 5", [2]),
        ("today - last_followup >= 4", [2, 5]),  # date - date is a number of days
        ("last_followup + days(3) < today", [2, 5]),
        ("expected_close - days(30) <= today", [2, 5]),
        ("now - hours(10) < today", [2, 3, 4, 5]),  # 09:30 minus 10 h is yesterday
        ("now > today + hours(9)", [2, 3, 4, 5]),
        ('today - days(1) == date("2026-11-22")', [2, 3, 4, 5]),
    ],
)
def test_dates_and_durations(text: str, expected: list[int]) -> None:
    assert rows(text) == expected


def test_time_is_passed_in() -> None:
    assert rows("days_since(last_followup) > 3", now=datetime(2026, 11, 20)) == [5]
    assert rows("expected_close <= today + days(7)", now=datetime(2026, 12, 25)) == [2, 3, 5]


def test_empty_cells_never_match_orderings_and_stay_empty_in_arithmetic() -> None:
    assert rows("amount + 1 > 0") == [2, 3, 5]
    assert rows("not (amount + 1 > 0)") == [4]
    assert rows("days_since(last_followup) >= 0") == [2, 3, 5]
    assert rows('expected_close > date("2000-01-01") or is_empty(expected_close)') == [2, 3, 4, 5]


def test_a_column_missing_from_the_sheet_reads_as_empty() -> None:
    frame = FRAME.drop(columns=["region"])
    assert rows("is_empty(region)", frame) == [2, 3, 4, 5]
    assert rows('region == "华东"', frame) == []


def test_history_functions() -> None:
    current = FRAME.copy()
    # last run: row 2 was 意向客户, row 3 unchanged, row 5 did not exist
    before = canonical_frame(FRAME.loc[[2]], list(KINDS)).assign(stage="意向客户")
    existed = pd.Series([True, True, True, False], index=FRAME.index)
    env = {"previous": before, "existed": existed}
    assert rows("changed(stage)", current, **env) == [2]
    assert rows('changed_to(stage, "商务谈判")', current, **env) == [2]
    assert rows('changed_to(stage, "成交")', current, **env) == []  # row 5 is new, not changed
    assert rows('changed_from(阶段, "意向客户")', current, **env) == [2]
    assert rows("changed(amount)", current, **env) == []
    assert rows("is_new()", current, **env) == [5]
    # no history at all (first run): nothing changed, nothing is new
    assert rows("changed(stage) or is_new()", current) == []


def test_expressions_of_other_kinds() -> None:
    score = compile_expression("visits * 2 + 3", NAMES, KINDS)
    assert score.kind == NUMBER
    assert score.fn(Env(FRAME, KINDS, NOW)).tolist()[:3] == [9.0, 3.0, 5.0]
    assert score.fields == {"visits"}


def test_condition_knows_the_fields_it_reads() -> None:
    c = compile_condition('所属行业 == "IT/互联网" and days_since(last_followup) > 3', NAMES, KINDS)
    assert c.fields == {"industry", "last_followup"} and not c.uses_history
    assert compile_condition('changed_to(stage, "成交")', NAMES, KINDS).uses_history


def caret_under(text: str) -> str:
    """Compile `text`, expect an ExprError; return the text from the caret's position on."""
    with pytest.raises(ExprError) as err:
        compile_condition(text, NAMES, KINDS)
    lines = str(err.value).splitlines()
    shown, caret = lines[-2].removeprefix("    "), lines[-1].removeprefix("    ")
    assert shown == text.strip()
    width = caret.index("^")  # terminal columns: CJK characters take two
    col, seen = 0, 0
    while seen < width:
        seen += 2 if "\u4e00" <= shown[col] <= "\u9fff" else 1
        col += 1
    return shown[col:]


@pytest.mark.parametrize(
    ("text", "message", "at"),
    [
        ('industry === "IT"', "not a valid condition", '= "IT"'),
        ('industry == "IT" and', "not a valid condition", ""),
        ('industri == "IT"', "did you mean 'industry'", "industri =="),
        ('所属行 == "IT"', "unknown name '所属行'", "所属行"),
        ('所属行业 == "IT" and 阶段x == "成交"', "unknown name '阶段x'", "阶段x"),
        ("amount > today", "cannot compare a number with a date", "amount"),
        ("expected_close > 3", "days(n)", "expected_close"),
        ('expected_close < "next week"', "is not a date", '"next week"'),
        ("days_since(industry) > 3", "expected a date", "industry"),
        ("days(industry)", "expected a number", "industry"),
        ("amount", "must be true or false", "amount"),
        ('industry == "IT" and amount', "not true/false", "amount"),
        ("amount + industry > 1", "cannot compute number + text", "amount + industry"),
        ('region in "华东"', "needs a list", '"华东"'),
        ("region in [industry]", "only text and numbers", "industry]"),
        ("changed(1)", "needs a field name", "1)"),
        ("changed_to(stage, industry)", "fixed text value", "industry)"),
        ("is_empty(a, b)", "takes 1 argument", "is_empty"),
        ("amount == None + 1", "cannot compute", "None + 1"),
        ("amount > None", "only == and != compare with None", "None"),
    ],
)
def test_errors_name_the_problem_and_point_at_it(text: str, message: str, at: str) -> None:
    with pytest.raises(ExprError) as err:
        compile_condition(text, NAMES, KINDS)
    assert message in str(err.value)
    assert caret_under(text).startswith(at)


@pytest.mark.parametrize(
    ("text", "refused"),
    [
        ("__import__('os').system('echo hi') == 0", "cannot be called"),
        ("__import__('os') == 0", "unknown function '__import__'"),
        ("name.upper() == 'X'", "name.upper' cannot be called"),
        ("name.__class__ == 1", "attribute access"),
        ("name[0] == '甲'", "subscripts"),
        ("(lambda: 1)() == 1", "cannot be called"),
        ("(lambda: 1) == 1", "lambda"),
        ("open('/etc/passwd') == 1", "unknown function 'open'"),
        ("eval('1') == 1", "unknown function 'eval'"),
        ("[x for x in name] == 1", "comprehensions"),
        ("{'a': 1} == 1", "dicts"),
        ("f'{name}' == 'x'", "f-strings"),
        ("(y := 1) == 1", ":="),
        ("1 if name else 2", "if-else"),
        ("days(n=3) > days(1)", "no keyword arguments"),
        ("today.year == 2026", "attribute access"),
    ],
)
def test_anything_outside_the_whitelist_is_refused(text: str, refused: str) -> None:
    with pytest.raises(ExprError) as err:
        compile_condition(text, NAMES, KINDS)
    assert refused in str(err.value)


def test_caret_counts_characters_not_utf8_bytes() -> None:
    # ast reports byte offsets; the caret must land under 金额x, after four CJK characters
    assert caret_under('所属行业 == "IT" or 金额x > 1').startswith("金额x")
