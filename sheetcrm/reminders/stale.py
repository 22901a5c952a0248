"""`stale_days = N`: N days in a stage without contact, counted from the later of the stage's
start and the last contact; the owner is reminded on the first working day after (and after a
snooze). `escalate_after_hours = H`: H hours after that reminder went out (moved to the next working
day, so never the same morning), still without contact, the owner is reminded again, copying the
manager. A follow-up in between moves the anchor, so it cancels the escalation. Still no contact
after that: the count starts again from the escalation (or, without one, from the reminder), so
a neglected customer keeps coming up every N days."""

from __future__ import annotations

import math

import pandas as pd

from ..config import WhenStale
from .context import Due, ReminderContext, day_numbers

MODEL = WhenStale
ESCALATED = "#escalation"  # the store's key for a rule's escalations (Store.last_reminders)


def due(ctx: ReminderContext, rule: WhenStale, hit: pd.Series) -> tuple[list[Due], pd.Series]:
    n = pd.Timedelta(days=rule.stale_days)
    wait = None if rule.escalate_after_hours is None \
        else pd.Timedelta(days=math.ceil(rule.escalate_after_hours / 24))  # fmt: skip
    anchor = pd.concat([ctx.stage_since.dt.normalize(), ctx.contact], axis=1).max(axis=1)
    anchor = anchor.astype("datetime64[ns]")
    # the spell starts at the anchor, or again at this spell's last escalation (or reminder)
    restart = ctx.reminded(rule.name + ESCALATED) if wait is not None else ctx.reminded(rule.name)
    start = pd.concat([anchor, restart.where(restart >= anchor + n)], axis=1).max(axis=1)
    start = start.where(anchor.notna()).astype("datetime64[ns]")
    fire = ctx.fires_on(start + n)
    stale = hit & ctx.active & (fire <= ctx.today)
    if ctx.remembers:
        sent = ctx.reminded(rule.name)
        sent = sent.where(sent >= start + n)  # this spell's reminder went out then
    else:  # no store to ask: the reminder went out on its day
        sent = fire.where(fire < ctx.today)
    remind = stale & sent.isna() & ctx.due_by(fire)
    some = ctx.rows(stale)  # texts for these rows only (cheap: few are stale)
    occasion = day_numbers(start[some])
    days = (ctx.today - anchor[some]).dt.days.astype("Int64").astype(str)
    detail = days.map(lambda d: ctx.t("reminder.days", days=d))
    firings = [Due(ctx.rows(remind), occasion, ctx.t("reminder.stale"), cc=[], detail=detail,
                   late=(ctx.today - fire).dt.days)]  # fmt: skip
    today = pd.Series(ctx.today, index=anchor.index)
    fired = remind & ctx.working
    if wait is None:
        nxt = fire.where(fire > ctx.today)  # not stale yet
        nxt = nxt.fillna(ctx.fires_on(today).where(remind & ~ctx.working))  # due on a day off
        nxt = nxt.fillna(ctx.fires_on(today + n).where(fired | sent.notna()))
        return firings, nxt.where(hit)
    escalate = ctx.fires_on(sent + wait)
    late = stale & sent.notna() & ctx.due_by(escalate)
    firings.append(Due(ctx.rows(late), occasion, ctx.t("reminder.escalated"), kind="escalation",
                       detail=detail))  # fmt: skip
    nxt = fire.where(fire > ctx.today)  # not stale yet
    nxt = nxt.fillna(ctx.fires_on(today).where((remind | late) & ~ctx.working))  # due on a day off
    nxt = nxt.fillna(ctx.fires_on(today + wait).where(fired))  # reminded now: the escalation
    nxt = nxt.fillna(escalate.where(escalate > ctx.today))  # reminded before: its escalation
    nxt = nxt.fillna(ctx.fires_on(today + n).where(late & ctx.working))  # escalated now: again
    return firings, nxt
