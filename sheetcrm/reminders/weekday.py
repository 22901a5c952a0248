"""`weekday = "monday"`: every week on that day; a holiday moves it to the next working day (a
holiday Monday → Tuesday), a snooze to the first working day after it."""

from __future__ import annotations

import pandas as pd

from ..config import WEEKDAYS, OnWeekday
from .context import Due, ReminderContext

MODEL = OnWeekday


def due(ctx: ReminderContext, rule: OnWeekday, hit: pd.Series) -> tuple[list[Due], pd.Series]:
    back = (ctx.now.weekday() - WEEKDAYS.index(rule.weekday)) % 7
    latest = ctx.today - pd.Timedelta(days=back)  # this week's occasion, today or before
    fire = ctx.fires_on(pd.Series(latest, index=ctx.typed.index))
    firing = Due(ctx.rows(hit & ctx.active & (fire == ctx.today)), f"{latest:%Y%m%d}",
                 ctx.t("reminder.weekly"))  # fmt: skip
    following = ctx.fires_on(pd.Series(latest + pd.Timedelta(days=7), index=ctx.typed.index))
    return [firing], fire.where(fire > ctx.today, following)
