"""Reminders of the bundled config.toml on a real calendar: 21 consecutive nights (02:00) of a real
workbook and state store, with a holiday on a Monday (11-30) and one mid-week (12-09), edits between
nights as a team makes them, and every night's reminders, escalations and 下次提醒 compared with a
table written by hand from the rules in the README's Reminders section.

The customers (王明's; his manager is 刘洋):
  A 高意向, 商务谈判, first contact Fri 11-20: every 2 days; a call on 12-04 restarts the count
  B 中意向: Mondays (the holiday Monday's on Tuesday); 高意向 from 12-08: every 2 days from Monday's
  C 低意向: the last working day of the month (11-30 is the holiday: Friday 11-27)
  D 需求确认 since its first contact 11-18: 3 days without contact → reminder, 48 hours later
    escalated (copying 刘洋); a call on 11-26 restarts it; moved to 方案提交 on 12-04 (5 days)
  E a new lead typed in on 12-02 with 首次接触 12-01: reminded 24 hours after 首次接触, escalated
    24 hours later; called and moved to 初步接触 on 12-04
  F 高意向, snoozed (暂缓至) until Wed 12-02: nothing before, one reminder on 12-02, then every 2 days
  G 售后维护: birthday 12-01 (− 3 days: Sat 11-28, then the holiday: Tue 12-01), next follow-up date
    Sat 12-05 (→ Mon 12-07), contract end 2027-01-08 (− 30 days: the holiday 12-09 → Thu 12-10)
  H a 技术支持 request submitted 12-02 (SLA 1 day): late from 12-04, every working day; escalated
    from 2 working days late; resolved on 12-11
  I a complaint (投诉建议) submitted Mon 12-07 (SLA 1 day): the manager is copied from the first day
"""

from __future__ import annotations

import copy
import tomllib
from datetime import date, datetime, timedelta

from sheetcrm.config import parse_config
from sheetcrm.reminders import is_working_day, last_working_day_of_month
from sheetcrm.reminders.calendar import next_working_day
from sheetcrm.store import Store

from .conftest import ROOT
from .test_changes import run, store_url  # noqa: F401  (fixtures)
from .test_rules import append, edit, sheet_values
from .workbooks import small_instance

START = date(2026, 11, 23)  # a Monday
HOLIDAYS = [date(2026, 11, 30), date(2026, 12, 9)]

# day   | reminders  | escalations | 下次提醒 after the night's run: A     B     C     D     E     F     G
EXPECTED = """
11-23   | A B D      |             | 11-25 12-01 11-27 11-25 -     12-02 12-01
11-24   |            |             | 11-25 12-01 11-27 11-25 -     12-02 12-01
11-25   | A          | D           | 11-27 12-01 11-27 12-01 -     12-02 12-01
11-26   |            |             | 11-27 12-01 11-27 12-01 -     12-02 12-01
11-27   | A C        |             | 12-01 12-01 12-31 12-01 -     12-02 12-01
11-28   |            |             | 12-01 12-01 12-31 12-01 -     12-02 12-01
11-29   |            |             | 12-01 12-01 12-31 12-01 -     12-02 12-01
11-30   |            |             | 12-01 12-01 12-31 12-01 -     12-02 12-01
12-01   | A B D G    |             | 12-03 12-07 12-31 12-03 -     12-02 12-07
12-02   | E F        |             | 12-03 12-07 12-31 12-03 12-03 12-04 12-07
12-03   | A          | D E         | 12-07 12-07 12-31 12-07 12-04 12-04 12-07
12-04   | F H        |             | 12-07 12-07 12-31 12-10 12-07 12-07 12-07
12-05   |            |             | 12-07 12-07 12-31 12-10 12-07 12-07 12-07
12-06   |            |             | 12-07 12-07 12-31 12-10 12-07 12-07 12-07
12-07   | A B E F G  | H           | 12-10 12-14 12-31 12-10 12-10 12-10 12-10
12-08   |            | H           | 12-10 12-10 12-31 12-10 12-10 12-10 12-10
12-09   |            |             | 12-10 12-10 12-31 12-10 12-10 12-10 12-10
12-10   | A B D F G I| E H         | 12-14 12-14 12-31 12-15 12-14 12-14 2027-11-29
12-11   |            | I           | 12-14 12-14 12-31 12-15 12-14 12-14 2027-11-29
12-12   |            |             | 12-14 12-14 12-31 12-15 12-14 12-14 2027-11-29
12-13   |            |             | 12-14 12-14 12-31 12-15 12-14 12-14 2027-11-29
"""

CUSTOMERS = {  # letter: the fields that matter (everything a reminder could look at is set)
    "A": {"intent": "高意向", "stage": "商务谈判", "first_contact": date(2026, 11, 20)},
    "B": {"intent": "中意向", "stage": "商务谈判", "first_contact": date(2026, 11, 1)},
    "C": {"intent": "低意向", "stage": "商务谈判", "first_contact": date(2026, 11, 1)},
    "D": {"intent": None, "stage": "需求确认", "first_contact": date(2026, 11, 18)},
    "F": {"intent": "高意向", "stage": "商务谈判", "first_contact": date(2026, 11, 20),
          "snooze_until": date(2026, 12, 2)},
    "G": {"intent": None, "stage": "售后维护", "first_contact": date(2026, 1, 10),
          "birthday": date(1985, 12, 1), "next_followup": date(2026, 12, 5),
          "contract_end": date(2027, 1, 8)},
}  # fmt: skip
BLANK = {"next_followup": None, "birthday": None, "contract_end": None, "service_end": None,
         "snooze_until": None, "owner": "王明", "demand": None, "expected_close": None,
         "annual_amount": None, "contract_no": None, "approved_by": None, "modified_by": None}  # fmt: skip


def expected() -> dict[date, tuple[set[str], set[str], dict[str, str]]]:
    out = {}
    for line in EXPECTED.strip().splitlines():
        day, reminders, escalations, shown = (part.strip() for part in line.split("|"))
        when = date(2026, int(day[:2]), int(day[3:]))
        dates = {}
        for letter, value in zip("ABCDEFG", shown.split(), strict=True):
            if value == "-":
                continue
            dates[letter] = value if len(value) == 10 else f"2026-{value}"
        out[when] = (set(reminders.split()), set(escalations.split()), dates)
    return out


def test_twenty_one_nights_on_a_real_calendar(tmp_path, store_url):  # noqa: F811
    config = team(tmp_path, store_url)
    ids = dict(zip("ABCDFG", [f"C00000{i}" for i in range(1, 7)], strict=True))
    edit(config, {ids[k]: {**BLANK, **v} for k, v in CUSTOMERS.items()})
    store = Store(config.store_url)
    # the new lead gets the next free ID the night it is typed in; the requests R000001, R000002
    letter_of = {v: k for k, v in ids.items()} | {"C000007": "E", "R000001": "H", "R000002": "I"}
    want = expected()
    got: dict[date, tuple[set[str], set[str], dict[str, str]]] = {}
    for i in range(21):
        day = START + timedelta(days=i)
        before_the_night(config, day, letter_of)
        plan = run(config, datetime.combine(day, datetime.min.time()) + timedelta(hours=2), store)
        fired = {(letter_of.get(n.record_id, n.record_id), n.kind, n.cc) for n in plan.notifications
                 if n.kind in ("reminder", "catch_up", "escalation")}  # fmt: skip
        rows = sheet_values(config)
        shown = {letter_of[rid]: str(row["下次提醒"] or "") for rid, row in rows.items()
                 if rid in letter_of and row["下次提醒"]}  # fmt: skip
        got[day] = ({x for x, k, _ in fired if k == "reminder"},
                    {x for x, k, _ in fired if k == "escalation"}, shown)  # fmt: skip
        if day == date(2026, 11, 25):
            assert ("D", "escalation", ("刘洋",)) in fired  # the manager is copied
        if day == date(2026, 12, 10):
            assert ("G", "reminder", ("刘洋",)) in fired  # a renewal: the manager too
            assert ("I", "reminder", ("张伟",)) in fired  # a complaint: the service manager too
        if day == date(2026, 12, 7):
            assert ("H", "escalation", ("张伟",)) in fired
    mismatches = [f"{d:%m-%d}: expected {want[d]}, got {got[d]}" for d in want if want[d] != got[d]]
    assert not mismatches, "\n".join(mismatches)
    # never two days in a row for the same customer and rule kind, never on a day off
    for d, (reminders, escalations, _) in got.items():
        if not is_working_day(d, config):
            assert not reminders and not escalations, d
    subjects = [n["subject"] for n in store.notifications()]
    assert all(s and not s.startswith(("：", " ")) for s in subjects), subjects


def team(tmp_path, url: str):
    """The bundled instance with the test's holidays and six customers."""
    config = small_instance(tmp_path, url, customers=6, replace={
        "holidays = [2026-12-31, 2027-01-01]": "holidays = [2026-11-30, 2026-12-09]"})  # fmt: skip
    assert config.calendar.holidays == HOLIDAYS
    return config


def before_the_night(config, day: date, letter_of: dict[str, str]) -> None:
    """What the team types during the day before the night run of `day`."""
    rid = {v: k for k, v in letter_of.items()}
    if day == date(2026, 11, 26):  # D is called
        append(config, "followups", {"customer_id": rid["D"], "date": date(2026, 11, 26),
                                     "method": "电话", "content": "电话沟通", "by": "王明"})  # fmt: skip
    if day == date(2026, 12, 2):  # a new lead, first contacted yesterday; a support request
        append(config, "customers", {"name": "新线索科技有限公司", "customer_type": "企业客户",
                                     "contact_name": "钱七", "mobile": "13900000007",
                                     "stage": "线索", "first_contact": date(2026, 12, 1),
                                     "owner": "王明", "source": "线上推广"})  # fmt: skip
        append(config, "requests", {"customer_id": rid["A"], "submitted_at": date(2026, 12, 2),
                                    "demand_type": "技术支持", "description": "系统登录不了",
                                    "state": "待处理"})  # fmt: skip
    if day == date(2026, 12, 3):  # the new lead has its ID now
        assert "新线索科技有限公司" in sheet_values(config)["C000007"].values()
    if day == date(2026, 12, 4):  # calls: A, and the new lead (which moves on); D moves on
        for who in ("A", "E"):
            append(config, "followups", {"customer_id": rid[who], "date": date(2026, 12, 4),
                                         "method": "电话", "content": "电话沟通", "by": "王明"})  # fmt: skip
        edit(config, {rid["E"]: {"stage": "初步接触"}, rid["D"]: {"stage": "方案提交"}})
    if day == date(2026, 12, 7):  # a complaint
        append(config, "requests", {"customer_id": rid["B"], "submitted_at": date(2026, 12, 7),
                                    "demand_type": "投诉建议", "description": "发票开错了",
                                    "state": "待处理"})  # fmt: skip
    if day == date(2026, 12, 8):  # B is 高意向 now
        edit(config, {rid["B"]: {"intent": "高意向"}})
    if day == date(2026, 12, 11):  # the support request is resolved
        edit(config, {"R000001": {"state": "已解决"}}, sheet="requests")


def test_calendar_helpers():
    raw = tomllib.loads((ROOT / "config.toml").read_text(encoding="utf-8"))
    raw["calendar"]["holidays"] = [date(2026, 12, 1), date(2026, 12, 31)]
    cfg = parse_config(copy.deepcopy(raw), base_dir=ROOT)
    assert not is_working_day(date(2026, 11, 28), cfg) and not is_working_day(
        date(2026, 12, 1), cfg
    )
    assert last_working_day_of_month(date(2026, 11, 5), cfg) == date(2026, 11, 30)
    assert last_working_day_of_month(date(2026, 12, 5), cfg) == date(
        2026, 12, 30
    )  # 31st: a holiday
    assert next_working_day(date(2026, 11, 28), cfg) == date(2026, 11, 30)  # Saturday → Monday
    assert next_working_day(date(2026, 12, 1), cfg) == date(2026, 12, 2)  # a holiday → the next


def test_a_customer_with_no_contact_date_at_all_is_not_counted_from_nothing():
    """No 首次接触 and no follow-up: "every 2 days" has nothing to count from (no reminder, no
    下次提醒 from it); a 首次接触 centuries ago (a typo) is just long ago. The night does not fail
    (such days once overflowed nanoseconds on pandas 2.2)."""
    import pandas as pd

    from sheetcrm.reminders import due_reminders

    raw = tomllib.loads((ROOT / "config.toml").read_text(encoding="utf-8"))
    cfg = parse_config(raw, base_dir=ROOT)
    typed = pd.DataFrame([{"name": "无日期公司", "owner": "王明", "intent": "高意向", "stage": "商务谈判",
                           "first_contact": None},
                          {"name": "旧日期公司", "owner": "王明", "intent": "高意向", "stage": "商务谈判",
                           "first_contact": pd.Timestamp("1700-01-01")}], index=[2, 3], dtype=object)  # fmt: skip
    ids = pd.Series(["C000001", "C000002"], index=[2, 3])
    never = pd.Series(pd.NaT, index=[2, 3], dtype="datetime64[ns]")
    notes, shown = due_reminders(typed, ids, cfg, now=datetime(2026, 11, 24, 2, 0), sheet_key="customers",
                                 last_contact=never, stage_since=never, owners=typed["owner"],
                                 reminded={"客户生日（提前 3 天）": pd.Series(pd.Timestamp("2026-11-20"), index=[2, 3])})  # fmt: skip
    assert [n.record_id for n in notes if "每 2 天" in n.key] == ["C000002"]  # a typo'd old date
    assert shown.tolist()[0] == ""
