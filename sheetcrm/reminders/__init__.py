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

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import ModuleType

import pandas as pd

from ..config import Config, ReminderRule
from ..expr import to_datetime64
from ..naming import record_names
from ..table import Notification
from . import every_days, month_end, on_date, overdue, stale, weekday
from .calendar import is_working_day, last_working_day_of_month, next_working_day
from .context import Due, ReminderContext, with_first_contact

CATCH_UP = "catch_up"  # the kind of a reminder due since before today (spread over working days)
TIMINGS: tuple[ModuleType, ...] = (every_days, weekday, month_end, stale, on_date, overdue)
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


@dataclass
class History:
    """What the store remembers that reminders count from: when each record last moved stage,
    when it was first seen, and when each rule last reminded about it."""

    stage_moves: dict[str, datetime] = field(default_factory=dict)
    first_seen: dict[str, datetime] = field(default_factory=dict)
    reminded: dict[str, dict[str, datetime]] = field(default_factory=dict)  # rule → ID → when
    catch_ups_today: dict[str, int] = field(default_factory=dict)  # person → catch-ups sent today


def contact_dates(
    typed: dict[str, pd.DataFrame], key: str, ids: pd.Series, config: Config
) -> pd.Series:
    """When each record of sheet `key` (rows of `ids`) was last contacted: its latest follow-up
    ([rules.followups]), else its first contact; NaT if neither."""
    link = config.rules.followups
    last = pd.Series(pd.NaT, index=ids.index, dtype="datetime64[ns]")
    if link is not None and link.target == key:
        last = last_contacts(typed.get(link.sheet), link.key, link.date, ids)
    return with_first_contact(last, typed[key], config)


def reminders_for(key: str, typed: dict[str, pd.DataFrame], ids: pd.Series, config: Config, *,
                  now: datetime, history: History | None,
                  ) -> tuple[list[Notification], pd.Series | None]:  # fmt: skip
    """The reminders of sheet `key` due now, and 下次提醒 per row (None when the sheet shows no
    下次提醒). `history` is the store's (None without one); the last follow-up comes from
    [rules.followups]' sheet in `typed`.

    A stage starts when the store saw the record move into it; a record it has not seen move
    (the first night, a new row) is in its stage since its first contact, else since it was
    first seen, else since now."""
    rows = typed[key]
    last = contact_dates(typed, key, ids, config)
    stage_since = _by_id(ids, history.stage_moves if history else {})
    first = config.calendar.contact_field
    if first in rows:
        stage_since = stage_since.fillna(to_datetime64(rows[first]))
    if history is not None:
        stage_since = stage_since.fillna(_by_id(ids, history.first_seen)).fillna(pd.Timestamp(now))
    reminded = {rule: _by_id(ids, seen).dt.normalize() for rule, seen in history.reminded.items()} \
        if history is not None else None  # fmt: skip
    owner = config.owner_field(key)
    owners = rows[owner] if owner and owner in rows else pd.Series(None, index=rows.index)
    notes, next_due = due_reminders(rows, ids, config, now=now, sheet_key=key, last_contact=last,
                                    stage_since=stage_since, owners=owners, reminded=reminded,
                                    sent_today=history.catch_ups_today if history else None)  # fmt: skip
    return notes, next_due if config.sheet(key).has_status("next_reminder") else None


def _by_id(ids: pd.Series, when: dict[str, datetime]) -> pd.Series:
    if not when:
        return pd.Series(pd.NaT, index=ids.index, dtype="datetime64[ns]")
    return pd.Series(pd.to_datetime(ids.map(when), errors="coerce"), index=ids.index).astype(
        "datetime64[ns]"
    )


def due_reminders(typed: pd.DataFrame, ids: pd.Series, config: Config, *, now: datetime, sheet_key: str,
                  last_contact: pd.Series, stage_since: pd.Series, owners: pd.Series,
                  reminded: dict[str, pd.Series] | None = None,
                  sent_today: dict[str, int] | None = None) -> tuple[list[Notification], pd.Series]:  # fmt: skip
    """Return the reminders due now and, per row, the next day a reminder fires after this run
    ("" if no reminder rule applies): never a past day, a weekend or a holiday.

    `last_contact` / `stage_since` are datetime64 per row; `owners` the owner names per row;
    `reminded` the day each rule last reminded about each row (None: no store to ask)."""
    ctx = ReminderContext(typed, ids, config, now=now, sheet_key=sheet_key, last_contact=last_contact,
                          stage_since=stage_since, reminded=reminded)  # fmt: skip
    names = record_names(ctx.sheet, typed, ids)
    notes: list[Notification] = []
    backlog: list[tuple[int, Notification, int]] = []
    parts: list[tuple[str, pd.Series, pd.Series]] = []  # each rule: the rows it is about, next day
    for rule in config.reminders:
        if rule.sheet != sheet_key:
            continue
        hit = ctx.applies(rule.when)
        firings, nxt = _BY_MODEL[type(rule)].due(ctx, rule, hit)
        if ctx.working:
            for due in firings:
                notes += fire(rule, due, ctx, owners=owners, names=names, backlog=backlog)
        parts.append((rule.name, hit, nxt))
    if backlog:
        order = {r.name: i for i, r in enumerate(config.reminders)}
        notes, waiting = spread_catch_ups(notes, backlog, ctx, order, sent_today or {})
        for name, _, nxt in parts:  # a catch-up that waits fires on its day, not now
            mine = waiting.get(name)
            if mine:
                nxt.loc[list(mine)] = list(mine.values())
    next_due = pd.Series(pd.NaT, index=typed.index, dtype="datetime64[ns]")
    for _, hit, nxt in parts:
        next_due = next_due.where(~hit | (next_due <= nxt) | nxt.isna(), nxt)
    shown = next_due.dt.strftime("%Y-%m-%d").where(next_due.notna() & (ids != ""), "")
    return notes, shown.astype(object)


def fire(rule: ReminderRule, due: Due, ctx: ReminderContext, *, owners: pd.Series, names: pd.Series,
         backlog: list[tuple[int, Notification, int]] | None = None) -> list[Notification]:  # fmt: skip
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
    late = [0] * len(rows) if due.late is None or due.kind != "reminder" \
        else due.late[rows].fillna(0).astype(int).tolist()  # fmt: skip
    out: list[Notification] = []
    for rid, owner, tag, name, extra, behind, row in zip(ctx.ids[rows].tolist(), owners[rows].tolist(), tags,
                                                         names[rows].tolist(), details, late, rows.tolist(),
                                                         strict=True):  # fmt: skip
        if owner not in routes:
            routes[owner] = [(to, tuple(c for c in config.staff_for(copy_words, owner) if c != to))
                             for to in config.staff_for(rule.to, owner)]  # fmt: skip
        kind = CATCH_UP if behind > 0 else due.kind  # due since before today: the catch-up list
        for to, copy in routes[owner]:
            note = Notification(f"{kind}:{rule.name}:{sheet_key}:{rid}:{tag}:{to}", kind, to, sheet_key,
                                rid, f"{name} {rule.name}".strip(), due.subject + extra, cc=copy)  # fmt: skip
            out.append(note)
            if kind == CATCH_UP and backlog is not None:
                backlog.append((behind, note, row))
    return out


def spread_catch_ups(notes: list[Notification], backlog: list[tuple[int, Notification, int]],
                     ctx: ReminderContext, rule_order: dict[str, int], sent_today: dict[str, int],
                     ) -> tuple[list[Notification], dict[str, dict[int, pd.Timestamp]]]:  # fmt: skip
    """Reminders due since before today (a first night on a legacy workbook, an import) are one
    catch-up list per person: at most [calendar] catch_up_per_day a working day, counting those
    already sent today, in the order of the [[reminders]] (高意向 first), the most recently due
    first; the rest wait. Nothing is lost: a waiting reminder is not recorded, so it is due again
    the next night. Returns the notifications to send now and, per rule, the working day each
    waiting row's reminder will come (for 下次提醒)."""
    per_day = ctx.config.calendar.catch_up_per_day
    by_person: dict[str, list[tuple[int, Notification, int]]] = {}
    for item in backlog:
        by_person.setdefault(item[1].recipient, []).append(item)
    held: set[str] = set()
    waits: dict[tuple[str, int], int] = {}  # (rule, row) → working days from now
    for person, items in by_person.items():
        items.sort(key=lambda it: (rule_order.get(_rule_of(it[1]), 0), it[0], it[1].record_id))
        room = max(per_day - sent_today.get(person, 0), 0) if ctx.working else 0
        for i, (_, note, row) in enumerate(items):
            if i >= room:
                held.add(note.key)
                key = (_rule_of(note), row)
                waits[key] = max(waits.get(key, 0), 1 + (i - room) // per_day)
    ahead: list[pd.Timestamp] = []
    day = ctx.now.date()
    while len(ahead) < max(waits.values(), default=0):
        day = next_working_day(day + timedelta(days=1), ctx.config)
        ahead.append(pd.Timestamp(day))
    out: dict[str, dict[int, pd.Timestamp]] = {}
    for (rule, row), n in waits.items():
        out.setdefault(rule, {})[row] = ahead[n - 1]
    return [n for n in notes if n.key not in held], out


def _rule_of(note: Notification) -> str:
    """The rule a reminder's key names (<kind>:<rule>:<sheet>:<record>:<occasion>:<to>)."""
    return ":".join(note.key.split(":")[1:-4])


__all__ = [
    "TIMINGS",
    "due_reminders",
    "is_working_day",
    "last_working_day_of_month",
    "reminders_for",
]
