"""`every_days = N`: every N days, counted from the last contact or the last reminder about the
customer, whichever is later (a follow-up restarts the count; never two days in a row, also when
the intent changed); each occasion moved past a snooze and to the next working day. Without the
store's last reminders, the occasions are the last contact + N, + 2N, ..."""

from __future__ import annotations

import pandas as pd

from ..config import EveryDays
from .context import Due, ReminderContext, day_numbers

MODEL = EveryDays


def due(ctx: ReminderContext, rule: EveryDays, hit: pd.Series) -> tuple[list[Due], pd.Series]:
    n = rule.every_days
    step = pd.Timedelta(days=n)
    # what counts from: the last contact, this rule's last reminder, or another rule's before
    # today (a 中意向 customer reminded on Monday who became 高意向 waits two days from Monday;
    # today's other reminders are left out so the same night run again counts as the first did)
    others = ctx.reminded(before_today=True)
    base = pd.concat([ctx.contact, others, ctx.reminded(rule.name)], axis=1).max(axis=1)
    base = base.astype("datetime64[ns]")
    count = (ctx.today - base).dt.days // n  # whole periods since (dates within a century)
    # the latest occasion, unless it fires after today (integer days: NaN overflows older pandas)
    occasion = base + pd.to_timedelta(count.fillna(0).astype("int64") * n, unit="D")
    early = ctx.fires_on(occasion) > ctx.today
    count = count.where(~early, count - 1)
    occasion = occasion.where(~early, occasion - step)
    known = ctx.contact.notna()  # no contact date at all: nothing to count from
    now = hit & known & ctx.active & (count >= 1) & ctx.due_by(ctx.fires_on(occasion))
    rows = ctx.rows(now)
    since = (ctx.today - ctx.contact[rows]).dt.days.astype("Int64").astype(str)
    window = count[rows].astype("Int64").astype(str)
    firing = Due(rows, day_numbers(base[rows]) + "#" + window, ctx.t("reminder.due"),
                 detail=since.map(lambda d: ctx.t("reminder.since_contact", days=d)),
                 late=(ctx.today - ctx.fires_on(base + step)).dt.days)  # fmt: skip
    # the next one: N days after today's reminder (as the store will count it), else after the
    # latest occasion (or the base)
    following = occasion.where(count >= 1, base) + step
    following = following.where(~(now & ctx.working), ctx.today + step)
    return [firing], ctx.fires_on(following.where(known))
