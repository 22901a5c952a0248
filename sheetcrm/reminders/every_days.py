"""`every_days = N`: every N days since the last contact (a follow-up restarts the count)."""

from __future__ import annotations

import pandas as pd

from ..config import EveryDays
from .context import Due, ReminderContext, day_numbers

MODEL = EveryDays


def due(ctx: ReminderContext, rule: EveryDays, hit: pd.Series) -> tuple[list[Due], pd.Series]:
    n = rule.every_days
    contact = ctx.contact
    days = (ctx.today - contact.dt.normalize()).dt.days
    rows = ctx.rows(hit & (days >= n))
    gap = days[rows]
    window = (gap // n).astype("Int64").astype(str)
    detail = gap.astype("Int64").astype(str).radd("距上次联系 ").add(" 天")
    firing = Due(rows, day_numbers(contact[rows]) + "#" + window, "该跟进了", detail=detail)
    nxt = contact.dt.normalize() + pd.to_timedelta(((days.clip(lower=0) // n) + 1) * n, unit="D")
    return [firing], nxt
