"""How a reminder fires: who must do what about which customer, for a given `now`.

`reminders_for` gathers what the timings need for one sheet (the last follow-up from
[rules.followups]' sheet, when each record entered its stage, the owners) into a
`ReminderContext`; each [[reminders]] entry's timing (one module each: every_days, weekday,
month_end, stale, on_date) says which rows are due today and the next date per row; `fire` turns
the due rows into notifications for the rule's recipients. A reminder fires once (its notification
key names the occasion: the cadence window, the date, the stale stage) and only on a working day of
the team's calendar; a date in 暂缓至 silences a customer until then. Nothing here reads the clock.
Adding a timing is one module here (with `MODEL` and `due`) plus its config class.
"""

from __future__ import annotations

from datetime import datetime
from types import ModuleType

import pandas as pd

from ..config import Config, ReminderRule
from ..expr import to_datetime64
from ..table import Notification
from . import every_days, month_end, on_date, stale, weekday
from .calendar import is_working_day, last_working_day_of_month
from .context import Due, ReminderContext

TIMINGS: tuple[ModuleType, ...] = (every_days, weekday, month_end, stale, on_date)
_BY_MODEL = {t.MODEL: t for t in TIMINGS}


def last_contacts(
    followups: pd.DataFrame | None, key: str, date_field: str, ids: pd.Series
) -> pd.Series:
    """The date of each record's latest follow-up (NaT if none), per row of the records' sheet."""
    none = pd.Series(pd.NaT, index=ids.index, dtype="datetime64[ns]")
    if followups is None or key not in followups or date_field not in followups:
        return none
    dates = pd.Series(
        to_datetime64(followups[date_field]).to_numpy(), index=followups[key].astype(str).to_numpy()
    )
    dates = dates.dropna()
    if dates.empty:
        return none
    latest = dates.groupby(level=0).max()
    return pd.Series(pd.to_datetime(ids.map(latest), errors="coerce"), index=ids.index).astype(
        "datetime64[ns]"
    )


def reminders_for(key: str, typed: dict[str, pd.DataFrame], ids: pd.Series, config: Config, *,
                  now: datetime, stage_moves: dict[str, datetime] | None,
                  ) -> tuple[list[Notification], pd.Series | None]:  # fmt: skip
    """The reminders of sheet `key` due now, and 下次提醒 per row (None when the sheet shows no
    下次提醒). `stage_moves` are the store's (when each record last moved stage; None without a
    store); the last follow-up comes from [rules.followups]' sheet in `typed`."""
    rows = typed[key]
    link = config.rules.followups
    if link is not None:
        last = last_contacts(typed.get(link.sheet), link.key, link.date, ids)
    else:
        last = pd.Series(pd.NaT, index=rows.index, dtype="datetime64[ns]")
    mapped = pd.to_datetime(ids.map(stage_moves), errors="coerce") if stage_moves else None
    stage_since = pd.Series(mapped if mapped is not None else pd.NaT, index=rows.index).astype(
        "datetime64[ns]"
    )
    if stage_moves is not None:  # a record the store has not seen yet arrives now
        stage_since = stage_since.fillna(pd.Timestamp(now))
    owner = config.owner_field(key)
    owners = rows[owner] if owner and owner in rows else pd.Series(None, index=rows.index)
    notes, next_due = due_reminders(rows, ids, config, now=now, sheet_key=key, last_contact=last,
                                    stage_since=stage_since, owners=owners)  # fmt: skip
    shows = "next_reminder" in {c.key.value for c in config.sheet(key).status}
    return notes, next_due if shows else None


def due_reminders(typed: pd.DataFrame, ids: pd.Series, config: Config, *, now: datetime, sheet_key: str,
                  last_contact: pd.Series, stage_since: pd.Series,
                  owners: pd.Series) -> tuple[list[Notification], pd.Series]:  # fmt: skip
    """Return the reminders due now and, per row, the next reminder date ("" if none).

    `last_contact` / `stage_since` are datetime64 per row; `owners` the owner names per row."""
    ctx = ReminderContext(typed, ids, config, now=now, sheet_key=sheet_key,
                          last_contact=last_contact, stage_since=stage_since)  # fmt: skip
    names = typed["name"] if "name" in typed else pd.Series("", index=typed.index)
    notes: list[Notification] = []
    next_due = pd.Series(pd.NaT, index=typed.index, dtype="datetime64[ns]")
    for rule in config.reminders:
        if rule.sheet != sheet_key:
            continue
        hit = ctx.applies(rule.when)
        firings, nxt = _BY_MODEL[type(rule)].due(ctx, rule, hit)
        if ctx.working:
            for due in firings:
                notes += fire(rule, due, ctx, owners=owners, names=names)
        next_due = next_due.where(~hit | (next_due <= nxt) | nxt.isna(), nxt)
    shown = next_due.dt.strftime("%Y-%m-%d").where(next_due.notna() & ctx.active, "")
    return notes, shown.astype(object)


def fire(rule: ReminderRule, due: Due, ctx: ReminderContext, *, owners: pd.Series,
         names: pd.Series) -> list[Notification]:  # fmt: skip
    """The notifications of `rule` for the due rows: to its recipients, once per occasion."""
    rows = due.rows
    if not len(rows):
        return []
    config, sheet_key = ctx.config, ctx.sheet.key
    copy_words = due.cc if due.cc is not None else rule.cc
    routes: dict[object, list[tuple[str, tuple[str, ...]]]] = {}  # owner → [(to, cc)], once each
    tags = (
        [due.occasion] * len(rows)
        if isinstance(due.occasion, str)
        else due.occasion[rows].astype(str).tolist()
    )
    details = (
        [""] * len(rows) if due.detail is None else ("：" + due.detail[rows].astype(str)).tolist()
    )
    out: list[Notification] = []
    for rid, owner, tag, name, extra in zip(ctx.ids[rows].tolist(), owners[rows].tolist(), tags,
                                            names[rows].tolist(), details, strict=True):  # fmt: skip
        if owner not in routes:
            routes[owner] = [(to, tuple(c for c in config.staff_for(copy_words, owner) if c != to))
                             for to in config.staff_for(rule.to, owner)]  # fmt: skip
        for to, copy in routes[owner]:
            out.append(Notification(f"{due.kind}:{rule.name}:{sheet_key}:{rid}:{tag}:{to}", due.kind, to,
                                    sheet_key, rid, f"{name or ''} {rule.name}", due.subject + extra,
                                    cc=copy))  # fmt: skip
    return out


__all__ = [
    "TIMINGS",
    "due_reminders",
    "is_working_day",
    "last_working_day_of_month",
    "reminders_for",
]
