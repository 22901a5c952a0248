"""Reminders of the bundled config.toml, walked over 21 mornings with a fixed `now` each day and edits
between days: exactly which reminder fires on which day, weekends and a holiday skipped, escalation
after 48 hours, month end, birthdays and contract ends, snooze, and nothing twice."""

from __future__ import annotations

import tomllib
from datetime import date, datetime, timedelta

import pandas as pd

from sheetcrm.config import parse_config
from sheetcrm.reminders import due_reminders, is_working_day, last_working_day_of_month

from .conftest import ROOT

START = date(2026, 11, 23)  # a Monday


def config():
    raw = tomllib.loads((ROOT / "config.toml").read_text(encoding="utf-8"))
    raw["calendar"]["holidays"] = [date(2026, 12, 1), date(2026, 12, 31)]
    return parse_config(raw, base_dir=ROOT)


def customers() -> tuple[pd.DataFrame, dict[str, date | None], dict[str, date | None]]:
    """Typed rows, their last follow-up and when they entered their stage."""
    rows = {
        "A": {"intent": "高意向", "stage": "商务谈判"},  # every 2 days since the last contact
        "B": {"intent": "中意向", "stage": "商务谈判"},  # Mondays
        "C": {"intent": "低意向", "stage": "商务谈判"},  # last working day of the month
        "D": {"stage": "需求确认"},  # stale after 3 days, escalated 48 hours later
        "E": {"stage": "商务谈判", "next_followup": date(2026, 12, 3)},
        "F": {"stage": "商务谈判", "contract_end": date(2027, 1, 5)},  # − 30 days: Sun 6 Dec
        "G": {"stage": "商务谈判", "birthday": date(1990, 12, 1)},  # − 3 days: Sat 28 Nov
        "H": {"intent": "高意向", "stage": "商务谈判", "snooze_until": date(2026, 12, 2)},
    }
    frame = pd.DataFrame([{"name": f"客户{k}", "owner": "王明", **v} for k, v in rows.items()],
                         index=range(2, 2 + len(rows)), dtype=object)  # fmt: skip
    frame = frame.astype(object).where(frame.notna(), None)
    contact = {k: date(2026, 11, 22) for k in rows} | {"D": date(2026, 11, 19)}
    since = {k: date(2026, 11, 1) for k in rows} | {"D": date(2026, 11, 20)}
    return frame, contact, since


def walk(days: int = 21):
    cfg = config()
    frame, contact, since = customers()
    ids = pd.Series(list("ABCDEFGH"), index=frame.index)
    sent: set[str] = set()
    fired: dict[date, set[tuple[str, str, tuple[str, ...]]]] = {}
    next_shown: dict[date, dict[str, str]] = {}
    for i in range(days):
        day = START + timedelta(days=i)
        if day == date(2026, 12, 3):  # 王明 calls A; a follow-up row appears
            contact["A"] = day
        if day == date(2026, 12, 2):  # and D, which is still in 需求确认
            contact["D"] = day
        now = datetime.combine(day, datetime.min.time()) + timedelta(hours=8)
        last = pd.Series(pd.to_datetime([contact[x] for x in ids]), index=frame.index)
        stage = pd.Series(pd.to_datetime([since[x] for x in ids]), index=frame.index)
        for attempt in range(2):  # every morning is run twice: the second sends nothing
            notes, shown = due_reminders(frame, ids, cfg, now=now, sheet_key="customers", last_contact=last,
                                         stage_since=stage, owners=frame["owner"])  # fmt: skip
            new = [n for n in notes if n.key not in sent]
            sent.update(n.key for n in new)
            if attempt == 0:
                fired[day] = {(n.record_id, n.kind, n.cc) for n in new}
                next_shown[day] = dict(zip(ids, shown, strict=True))
            else:
                assert new == [], f"{day}: sent twice: {new}"
    return fired, next_shown


def days_of(fired, record: str, kind: str = "reminder") -> list[str]:
    return [
        f"{d:%m-%d}"
        for d, got in fired.items()
        if any(r == record and k == kind for r, k, _ in got)
    ]


def test_calendar_helpers():
    cfg = config()
    assert not is_working_day(date(2026, 11, 28), cfg) and not is_working_day(
        date(2026, 12, 1), cfg
    )
    assert last_working_day_of_month(date(2026, 11, 5), cfg) == date(2026, 11, 30)
    assert last_working_day_of_month(date(2026, 12, 5), cfg) == date(
        2026, 12, 30
    )  # 31st: a holiday


def test_twenty_one_mornings():
    fired, shown = walk()
    # no reminder at all on weekends or the holiday
    for day in fired:
        if day.weekday() >= 5 or day == date(2026, 12, 1):
            assert fired[day] == set(), day
    # 高意向: every 2 days since the last contact (11-22); the call on 12-03 restarts the count
    assert days_of(fired, "A") == ["11-24", "11-26", "11-30", "12-02", "12-07", "12-09", "12-11"]
    assert days_of(fired, "B") == ["11-23", "11-30", "12-07"]  # 中意向: Mondays
    assert days_of(fired, "C") == ["11-30"]  # 低意向: last working day of November
    # stale in 需求确认 since 11-20: reminded after 3 days, escalated (cc 刘洋) 48 hours later; the
    # contact on 12-02 restarts it: 3 days later is a Saturday, so both come on Monday
    assert days_of(fired, "D") == ["11-23", "12-07"]
    assert days_of(fired, "D", "escalation") == ["11-25", "12-07"]
    assert ("D", "escalation", ("刘洋",)) in fired[date(2026, 11, 25)]
    assert ("D", "reminder", ()) in fired[date(2026, 11, 23)]
    assert days_of(fired, "E") == ["12-03"]  # its next follow-up date
    assert days_of(fired, "F") == ["12-07"]  # contract end − 30 days fell on a Sunday
    assert ("F", "reminder", ("刘洋",)) in fired[date(2026, 12, 7)]  # renewal: the manager too
    assert days_of(fired, "G") == ["11-30"]  # birthday − 3 days fell on a Saturday
    assert days_of(fired, "H")[0] == "12-02"  # snoozed until 12-02
    # 下次提醒 shows the next date
    assert shown[date(2026, 11, 23)]["A"] == "2026-11-24"
    assert shown[date(2026, 11, 23)]["E"] == "2026-12-03"
    assert shown[date(2026, 11, 23)]["H"] == ""  # snoozed
