"""`month_end = true`: on the last working day of each month."""

from __future__ import annotations

import pandas as pd

from ..config import AtMonthEnd
from .calendar import last_working_day_of_month
from .context import Due, ReminderContext

MODEL = AtMonthEnd


def due(ctx: ReminderContext, rule: AtMonthEnd, hit: pd.Series) -> tuple[list[Due], pd.Series]:
    today = ctx.today
    last = last_working_day_of_month(ctx.now.date(), ctx.config)
    firings = []
    if ctx.now.date() == last:
        firings.append(Due(ctx.rows(hit), f"{today:%Y%m%d}", "月末例行跟进"))
    if ctx.now.date() >= last:
        last = last_working_day_of_month((today + pd.offsets.MonthBegin(1)).date(), ctx.config)
    return firings, pd.Series(pd.Timestamp(last), index=ctx.typed.index)
