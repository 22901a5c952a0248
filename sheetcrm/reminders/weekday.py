"""`weekday = "monday"`: every week on that day."""

from __future__ import annotations

import pandas as pd

from ..config import WEEKDAYS, OnWeekday
from .context import Due, ReminderContext

MODEL = OnWeekday


def due(ctx: ReminderContext, rule: OnWeekday, hit: pd.Series) -> tuple[list[Due], pd.Series]:
    target = WEEKDAYS.index(rule.weekday)
    today = ctx.today
    firings = []
    if ctx.now.weekday() == target:
        firings.append(Due(ctx.rows(hit), f"{today:%Y%m%d}", "本周例行跟进"))
    ahead = (target - ctx.now.weekday()) % 7 or 7
    return firings, pd.Series(today + pd.Timedelta(days=ahead), index=ctx.typed.index)
