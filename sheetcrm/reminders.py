"""Reminder rules: who must do what about which customer, for a given `now`.

Each reminder fires once (its notification key names the occasion: the cadence window, the date,
the stale stage) and only on a working day of the team's calendar; a date in 暂缓至 silences a
customer until then. Nothing here reads the clock: `now` is passed in, so any day can be tested.
"""

from __future__ import annotations

import calendar as cal
from datetime import date, datetime, timedelta

import pandas as pd

from .config import WEEKDAYS, Config, Reminder
from .expr import Env, to_datetime64
from .table import Notification


def is_working_day(day: date, config: Config) -> bool:
    return (
        WEEKDAYS[day.weekday()] not in config.calendar.weekend
        and day not in config.calendar.holidays
    )


def last_working_day_of_month(day: date, config: Config) -> date:
    last = date(day.year, day.month, cal.monthrange(day.year, day.month)[1])
    while not is_working_day(last, config):
        last -= timedelta(days=1)
    return last


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
    """How a reminder fires for the records of sheet `key`, all of it: gathers what the timings
    need (the last follow-up from [rules.followups]' sheet in `typed`, when each record last moved
    stage from `stage_moves` (the store's; None without a store), the owners), then `due_reminders`.
    Returns the reminders due now and 下次提醒 per row (None when the sheet shows no 下次提醒)."""
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
    sheet = config.sheet(sheet_key)
    today = pd.Timestamp(now.date())
    working = is_working_day(now.date(), config)
    names = typed["name"] if "name" in typed else pd.Series("", index=typed.index)
    active = ids != ""
    snooze = config.calendar.snooze_field
    if snooze and snooze in typed:
        until = to_datetime64(typed[snooze])
        active &= ~(until > today).fillna(False).astype(bool)
    contact = last_contact
    if config.calendar.contact_field in typed:
        contact = contact.fillna(to_datetime64(typed[config.calendar.contact_field]))
    env = Env(typed, sheet.kinds(), now)
    notes: list[Notification] = []
    next_due = pd.Series(pd.NaT, index=typed.index, dtype="datetime64[ns]")

    def fire(rule: Reminder, rows: pd.Index, occasion: pd.Series | str, subject: str, *, kind: str = "reminder",
             cc: list[str] | None = None, detail: pd.Series | None = None) -> None:  # fmt: skip
        """Queue `rule` for `rows`. `occasion` and `detail` need to cover `rows` only: callers make
        those texts for the due rows, not for a million (that cost seconds a night)."""
        if not working or not len(rows):
            return
        copy_words = cc if cc is not None else rule.cc
        routes: dict[
            object, list[tuple[str, tuple[str, ...]]]
        ] = {}  # owner → [(to, cc)], once per owner
        tags = (
            [occasion] * len(rows)
            if isinstance(occasion, str)
            else occasion[rows].astype(str).tolist()
        )
        details = [""] * len(rows) if detail is None else ("：" + detail[rows].astype(str)).tolist()
        for rid, owner, tag, name, extra in zip(ids[rows].tolist(), owners[rows].tolist(), tags,
                                                names[rows].tolist(), details, strict=True):  # fmt: skip
            if owner not in routes:
                routes[owner] = [(to, tuple(c for c in config.staff_for(copy_words, owner) if c != to))
                                 for to in config.staff_for(rule.to, owner)]  # fmt: skip
            for to, copy in routes[owner]:
                notes.append(Notification(f"{kind}:{rule.name}:{sheet_key}:{rid}:{tag}:{to}", kind, to, sheet_key,
                                          rid, f"{name or ''} {rule.name}", subject + extra, cc=copy))  # fmt: skip

    for rule in config.reminders:
        if rule.sheet != sheet_key:
            continue
        hit = sheet.condition(rule.when)(env) & active
        if rule.every_days is not None:
            days = (today - contact.dt.normalize()).dt.days
            due = hit & (days >= rule.every_days)
            rows = typed.index[due.fillna(False).to_numpy(dtype=bool)]
            gap = days[rows]
            window = (gap // rule.every_days).astype("Int64").astype(str)
            fire(rule, rows, _day(contact[rows]) + "#" + window, "该跟进了",
                 detail=gap.astype("Int64").astype(str).radd("距上次联系 ").add(" 天"))  # fmt: skip
            nxt = contact.dt.normalize() + pd.to_timedelta(((days.clip(lower=0) // rule.every_days) + 1)
                                                             * rule.every_days, unit="D")  # fmt: skip
            next_due = next_due.where(~hit | (next_due <= nxt), nxt)
        elif rule.weekday is not None:
            target = WEEKDAYS.index(rule.weekday)
            if now.weekday() == target:
                fire(rule, typed.index[hit.to_numpy()], f"{today:%Y%m%d}", "本周例行跟进")
            ahead = (target - now.weekday()) % 7 or 7
            nxt = today + pd.Timedelta(days=ahead)
            next_due = next_due.where(~hit | (next_due <= nxt), nxt)
        elif rule.month_end:
            last = last_working_day_of_month(now.date(), config)
            if now.date() == last:
                fire(rule, typed.index[hit.to_numpy()], f"{today:%Y%m%d}", "月末例行跟进")
            if now.date() >= last:
                first_next = (today + pd.offsets.MonthBegin(1)).date()
                last = last_working_day_of_month(first_next, config)
            nxt = pd.Timestamp(last)
            next_due = next_due.where(~hit | (next_due <= nxt), nxt)
        elif rule.stale_days is not None:
            anchor = pd.concat([stage_since, contact], axis=1).max(axis=1)
            since = (today - anchor.dt.normalize()).dt.days
            stale = hit & (since >= rule.stale_days)
            rows = typed.index[stale.fillna(False).to_numpy(dtype=bool)]
            occasion = _day(anchor[rows])  # the late rows below are among these
            detail = since[rows].astype("Int64").astype(str).add(" 天")
            fire(rule, rows, occasion, "已多日没有跟进", cc=[], detail=detail)
            if rule.escalate_after_hours is not None:
                limit = rule.stale_days + rule.escalate_after_hours / 24
                late = stale & (since >= limit)
                rows = typed.index[late.fillna(False).to_numpy(dtype=bool)]
                fire(rule, rows, occasion, "仍未跟进（已抄送主管）", kind="escalation",
                     detail=detail)  # fmt: skip
            nxt = anchor.dt.normalize() + pd.Timedelta(days=rule.stale_days)
            next_due = next_due.where(~hit | (next_due <= nxt) | nxt.isna(), nxt)
        elif rule.date_field is not None and rule.date_field in typed:
            base = to_datetime64(typed[rule.date_field])
            if rule.yearly:
                base = _this_or_next_year(base, today, rule.offset_days)
            target = base + pd.Timedelta(days=rule.offset_days)
            # due from the target day on (the first working day if it falls on a holiday), for a week
            due = hit & (target <= today) & (target > today - pd.Timedelta(days=7))
            rows = typed.index[due.fillna(False).to_numpy(dtype=bool)]
            fire(rule, rows, _day(target[rows]), rule.name,
                 detail=base[rows].dt.strftime("%Y-%m-%d"))  # fmt: skip
            upcoming = target.where(target > today)
            next_due = next_due.where(~hit | (next_due <= upcoming) | upcoming.isna(), upcoming)
    shown = next_due.dt.strftime("%Y-%m-%d").where(next_due.notna() & active, "")
    return notes, shown.astype(object)


def _day(values: pd.Series) -> pd.Series:
    """A date as its day number (days since 1970-01-01) in text, for notification keys: cheaper
    than formatting a million dates."""
    days = (values.dt.normalize() - pd.Timestamp(0)).dt.days
    return days.astype("Int64").astype(str).replace("<NA>", "none")


def _this_or_next_year(days: pd.Series, today: pd.Timestamp, offset: int) -> pd.Series:
    """A yearly date (a birthday) moved to this year, or next year if this year's reminder passed
    more than a week ago; computed once per distinct date."""

    limit = today.date() - timedelta(days=7 + offset)

    def move(value: object) -> date:
        d: date = pd.Timestamp(value).date()
        for year in (today.year, today.year + 1):
            try:
                when = d.replace(year=year)
            except ValueError:  # 29 February
                when = date(year, 3, 1)
            if when > limit:
                return when
        return when

    mapping = {pd.Timestamp(d): move(d) for d in pd.unique(days.dropna())}
    return pd.Series(pd.to_datetime(days.map(mapping), errors="coerce"), index=days.index).astype(
        "datetime64[ns]"
    )


__all__ = ["due_reminders", "is_working_day", "last_working_day_of_month"]
