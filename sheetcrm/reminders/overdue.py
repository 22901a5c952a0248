"""`overdue_from = "submitted_at"`: a request past its target (the SLA of its type, or the date a
person typed) and not done is reminded every working day until it is done; from
`escalate_after_days` working days late on, the reminder becomes an escalation copying the
manager."""

from __future__ import annotations

import pandas as pd

from ..config import WhenOverdue
from ..expr import to_datetime64
from .calendar import working_days_after
from .context import NAT, Due, ReminderContext, within_reach

MODEL = WhenOverdue


def due(ctx: ReminderContext, rule: WhenOverdue, hit: pd.Series) -> tuple[list[Due], pd.Series]:
    typed, index = ctx.typed, ctx.typed.index
    if rule.overdue_from not in typed:
        return [], pd.Series(NAT, index=index, dtype="datetime64[ns]")
    start = within_reach(to_datetime64(typed[rule.overdue_from]), ctx.today)
    if isinstance(rule.sla_days, dict):
        kind = typed[rule.sla_by] if rule.sla_by in typed else pd.Series(None, index=index)
        days = kind.map(rule.sla_days).astype("float64")  # a type without an SLA: never late
    else:
        days = pd.Series(float(rule.sla_days), index=index)
    target = (start + pd.to_timedelta(days.fillna(0).astype("int64"), unit="D")).where(days.notna())
    if rule.target_field and rule.target_field in typed:
        typed_target = within_reach(to_datetime64(typed[rule.target_field]), ctx.today)
        target = typed_target.fillna(target)
    late_from = ctx.fires_on(target + pd.Timedelta(days=1))
    late = hit & ctx.active & (late_from <= ctx.today)
    days_late = working_days_after(target, ctx.today, ctx.config)  # working days past the target
    escalated = pd.Series(False, index=index)
    if rule.escalate_after_days is not None:
        escalated = late & (days_late >= rule.escalate_after_days)
    today = f"{ctx.today:%Y%m%d}"  # every working day its own occasion
    days = days_late[ctx.rows(late)].astype("Int64").astype(str)  # texts for late rows only
    detail = days.map(lambda d: ctx.t("reminder.days_late", days=d))
    firings = [
        Due(ctx.rows(late & ~escalated), today, ctx.t("reminder.overdue"), detail=detail),
        Due(ctx.rows(escalated), today, ctx.t("reminder.overdue_escalated"), kind="escalation",
            cc=[*rule.cc, *rule.escalate_cc], detail=detail),
    ]  # fmt: skip
    tomorrow = pd.Series(ctx.today + pd.Timedelta(days=1), index=index)
    return firings, late_from.where(
        late_from > ctx.today, ctx.fires_on(tomorrow).where(target.notna())
    )
