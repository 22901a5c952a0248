"""A backlog does not flood (#23 item 3): the first night on a workbook of customers nobody has
called for months gives each person a catch-up list of at most [calendar] catch_up_per_day a
working day, the most recently due first, and nothing is lost: every customer is reminded once,
on the day 下次提醒 said on the first night. A night run again sends no more."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sheetcrm.reminders import is_working_day
from sheetcrm.store import Store

from .test_changes import run, store_url  # noqa: F401  (fixtures)
from .test_rules import edit, sheet_values
from .workbooks import small_instance

N = 300


def test_three_hundred_overdue_customers_are_caught_up_over_working_days(tmp_path, store_url):  # noqa: F811
    config = small_instance(tmp_path, store_url, customers=N)
    per_day = config.calendar.catch_up_per_day
    assert per_day == 20
    # 高意向 customers last contacted 100 to 399 days ago: every one overdue for its every-2-days
    start = date(2026, 11, 23)  # a Monday
    legacy = {f"C{i:06d}": {"intent": "高意向", "stage": "商务谈判", "owner": "王明", "snooze_until": None,
                            "first_contact": start - timedelta(days=100 + i), "next_followup": None,
                            "birthday": None, "contract_end": None, "service_end": None, "demand": None}
              for i in range(1, N + 1)}  # fmt: skip
    edit(config, legacy)
    store = Store(config.store_url)
    caught: dict[str, date] = {}
    promised: dict[str, str] = {}
    day = start
    while len(caught) < N and day < start + timedelta(days=40):
        night = datetime.combine(day, datetime.min.time()) + timedelta(hours=2)
        plan = run(config, night, store)
        today = [n for n in plan.notifications if n.kind == "catch_up"]
        assert len(today) <= per_day, (day, len(today))  # one person: at most the cap a day
        if not is_working_day(day, config):
            assert today == []
        for n in today:
            assert n.record_id not in caught, f"{n.record_id} twice"  # once each
            caught[n.record_id] = day
        if day == start:
            rows = sheet_values(config)
            promised = {rid: str(rows[rid]["下次提醒"]) for rid in legacy}
            again = run(config, night, store)  # the same night again: nothing more
            assert [n for n in again.notifications if n.kind == "catch_up"] == []
        day += timedelta(days=1)
    assert len(caught) == N  # nothing lost
    # the most recently due first: C000001 (100 days) on the first night, C000300 last
    order = sorted(caught, key=lambda rid: (caught[rid], rid))
    assert order == sorted(legacy)
    working_days = sorted({d for d in caught.values()})
    assert len(working_days) == N // per_day and all(
        is_working_day(d, config) for d in working_days
    )
    # 下次提醒 on the first night said when each one would come
    first_night_waiting = [rid for rid in legacy if caught[rid] != start]
    assert all(promised[rid] == f"{caught[rid]:%Y-%m-%d}" for rid in first_night_waiting)
