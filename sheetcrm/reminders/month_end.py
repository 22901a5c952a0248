"""`month_end = true`: on the last working day of each month (a snooze moves it to the first
working day after)."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd

from ..config import AtMonthEnd
from .calendar import last_working_day_of_month
from .context import Due, ReminderContext

MODEL = AtMonthEnd


def due(ctx: ReminderContext, rule: AtMonthEnd, hit: pd.Series) -> tuple[list[Due], pd.Series]:
    today = ctx.now.date()
    latest = last_working_day_of_month(today, ctx.config)
    if latest > today:  # this month's is still ahead: the latest occasion is last month's
        latest = last_working_day_of_month(today.replace(day=1) - timedelta(days=1), ctx.config)
    index = ctx.typed.index
    fire = ctx.fires_on(pd.Series(pd.Timestamp(latest), index=index))
    firing = Due(ctx.rows(hit & ctx.active & (fire == ctx.today)), f"{latest:%Y%m%d}",
                 ctx.t("reminder.month_end"))  # fmt: skip
    following = last_working_day_of_month((pd.Timestamp(latest) + pd.offsets.MonthBegin(1)).date(),
                                          ctx.config)  # fmt: skip
    return [firing], fire.where(
        fire > ctx.today, ctx.fires_on(pd.Series(pd.Timestamp(following), index=index))
    )
