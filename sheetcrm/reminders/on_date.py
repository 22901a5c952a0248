"""`date_field = "birthday"`: on a date of the record moved by `offset_days` (`yearly`: every
year), moved to the next working day (and past a snooze); due from then on for a week."""

from __future__ import annotations

from datetime import date, timedelta

import pandas as pd

from ..config import OnDate
from ..expr import to_datetime64
from .context import NAT, Due, ReminderContext, day_numbers, within_reach

MODEL = OnDate
WINDOW = pd.Timedelta(days=7)  # a missed occasion (the server was off) still comes this long


def due(ctx: ReminderContext, rule: OnDate, hit: pd.Series) -> tuple[list[Due], pd.Series]:
    index = ctx.typed.index
    if rule.date_field not in ctx.typed:
        return [], pd.Series(NAT, index=index, dtype="datetime64[ns]")
    today = ctx.today
    base = within_reach(to_datetime64(ctx.typed[rule.date_field]), today)
    if rule.yearly:
        base = _this_or_next_year(base, today, rule.offset_days)
    target = base + pd.Timedelta(days=rule.offset_days)
    fire = ctx.fires_on(target)
    due = hit & ctx.active & (fire <= today) & (today < fire + WINDOW)
    if ctx.remembers:  # sent for this occasion already (within its week it is due no more)
        sent = ctx.reminded(rule.name)
        due &= ~(sent >= target).fillna(False).astype(bool)
    rows = ctx.rows(due)
    firing = Due(rows, day_numbers(target[rows]), rule.name,
                 detail=base[rows].dt.strftime("%Y-%m-%d"), late=(today - fire).dt.days)  # fmt: skip
    nxt = fire.where(fire > today)
    if rule.yearly:
        again = ctx.fires_on(target + pd.DateOffset(years=1))
        nxt = nxt.fillna(again.where(fire <= today))
    return [firing], nxt


def _this_or_next_year(days: pd.Series, today: pd.Timestamp, offset: int) -> pd.Series:
    """A yearly date (a birthday) moved to this year, or next year if this year's reminder passed
    more than a week ago; computed once per distinct date."""

    limit = today.date() - timedelta(days=7 + offset)

    def move(value: object) -> date:
        d: date = pd.Timestamp(value).date()
        for year in (today.year, today.year + 1):
            try:
                when = d.replace(year=year)
            except ValueError:  # 29 February
                when = date(year, 3, 1)
            if when > limit:
                return when
        return when

    mapping = {pd.Timestamp(d): move(d) for d in pd.unique(days.dropna())}
    return pd.Series(pd.to_datetime(days.map(mapping), errors="coerce"), index=days.index).astype(
        "datetime64[ns]"
    )
