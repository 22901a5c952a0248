"""`stale_days = N`: N days in a stage without contact, counted from the later of the stage's
start and the last contact; `escalate_after_hours` later it is escalated, copying the manager."""

from __future__ import annotations

import pandas as pd

from ..config import WhenStale
from .context import Due, ReminderContext, day_numbers

MODEL = WhenStale


def due(ctx: ReminderContext, rule: WhenStale, hit: pd.Series) -> tuple[list[Due], pd.Series]:
    anchor = pd.concat([ctx.stage_since, ctx.contact], axis=1).max(axis=1)
    since = (ctx.today - anchor.dt.normalize()).dt.days
    stale = hit & (since >= rule.stale_days)
    rows = ctx.rows(stale)
    occasion = day_numbers(anchor[rows])  # the late rows below are among these
    detail = since[rows].astype("Int64").astype(str).add(" 天")
    firings = [Due(rows, occasion, "已多日没有跟进", cc=[], detail=detail)]
    if rule.escalate_after_hours is not None:
        late = stale & (since >= rule.stale_days + rule.escalate_after_hours / 24)
        firings.append(Due(ctx.rows(late), occasion, "仍未跟进（已抄送主管）", kind="escalation",
                           detail=detail))  # fmt: skip
    return firings, anchor.dt.normalize() + pd.Timedelta(days=rule.stale_days)
