"""What every reminder timing works on: one sheet's records as of `now` (built once per sheet),
and what a timing returns (who is due today, under which occasion, and the next day per row on
which it will fire after this run)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from ..config import Config, SheetConfig
from ..expr import Env, to_datetime64
from ..messages import text
from .calendar import is_working_day, on_working_days

NAT = pd.NaT
SPAN = pd.Timedelta(days=100 * 365)  # dates further from today than this are taken as this far


def with_first_contact(last: pd.Series, typed: pd.DataFrame, config: Config) -> pd.Series:
    """The last contact: the latest follow-up's date where there is one, else the first contact
    (首次接触), per row of `last`."""
    first = config.calendar.contact_field
    return last.fillna(to_datetime64(typed.loc[last.index, first])) if first in typed else last


def within_reach(days: pd.Series, today: pd.Timestamp) -> pd.Series:
    """Dates as datetime64, normalised, and no further than a century from today: a typo such as
    1700-01-01 is simply long ago, and differences of dates never overflow nanoseconds."""
    days = days.dt.normalize()
    return days.clip(lower=today - SPAN, upper=today + SPAN)


@dataclass
class Due:
    """Rows a reminder is due for today. `occasion` names the occasion in the notification key (so
    it is sent once); `detail` is appended to the subject; both cover `rows` only (cheap)."""

    rows: pd.Index
    occasion: pd.Series | str
    subject: str
    kind: str = "reminder"
    cc: list[str] | None = None  # None: the rule's cc
    detail: pd.Series | None = None
    late: pd.Series | None = None  # per row: days it has been due before today (> 0: a catch-up)


class ReminderContext:
    """One sheet's records for the reminder timings: typed values, IDs, `now`, the last contact
    (a follow-up, else the first contact), when each record entered its stage, until when it is
    snoozed (暂缓至), and when each rule last reminded about it (the store's)."""

    def __init__(self, typed: pd.DataFrame, ids: pd.Series, config: Config, *, now: datetime,
                 sheet_key: str, last_contact: pd.Series, stage_since: pd.Series,
                 reminded: dict[str, pd.Series] | None = None) -> None:  # fmt: skip
        self.typed, self.ids, self.config, self.now = typed, ids, config, now
        self.sheet: SheetConfig = config.sheet(sheet_key)
        self.today = pd.Timestamp(now.date())
        self.working = is_working_day(now.date(), config)
        index = typed.index
        snooze = config.calendar.snooze_field
        until = pd.Series(NAT, index=index, dtype="datetime64[ns]")
        if snooze and snooze in typed:
            until = within_reach(to_datetime64(typed[snooze]), self.today)
        self.until = until  # no reminder before this day (暂缓至)
        self.snoozed = (until > self.today).fillna(False).astype(bool)
        self.active = (ids != "") & ~self.snoozed
        self.contact = within_reach(with_first_contact(last_contact, typed, config), self.today)
        self.stage_since = within_reach(stage_since, self.today)
        self._reminded = reminded or {}
        # with the store's last reminders a missed occasion is caught up once; without them (a
        # plan with no store) each occasion counts on its own day only
        self.remembers = reminded is not None
        self.env = Env(typed, self.sheet.kinds(), now)

    def t(self, message_id: str, **values: object) -> str:
        return text(self.config.locale, message_id, **values)

    def applies(self, condition: str) -> pd.Series:
        """The rows a rule is about (its `when`; snoozed ones too: they get a 下次提醒)."""
        return self.sheet.condition(condition)(self.env) & (self.ids != "")

    def due_by(self, fire: pd.Series) -> pd.Series:
        """Whether an occasion firing on `fire` is due now: from that day on when the store tells
        whether it was sent, else on that day."""
        return (fire <= self.today) if self.remembers else (fire == self.today)

    def rows(self, mask: pd.Series) -> pd.Index:
        return self.typed.index[mask.fillna(False).to_numpy(dtype=bool)]

    def reminded(self, rule: str | None = None, *, before_today: bool = False) -> pd.Series:
        """The day `rule` (None: any rule) last reminded about each record (NaT: never), counting
        only days before today if `before_today`."""
        never = pd.Series(NAT, index=self.typed.index, dtype="datetime64[ns]")
        if rule is not None:
            chosen = [self._reminded[rule]] if rule in self._reminded else []
        else:
            chosen = list(self._reminded.values())
        if before_today:
            chosen = [s.where(s < self.today) for s in chosen]
        if not chosen:
            return never
        return pd.concat(chosen, axis=1).max(axis=1).astype("datetime64[ns]")

    def fires_on(self, days: pd.Series) -> pd.Series:
        """The day an occasion on `days` really fires: moved past a snooze (暂缓至, from which day
        reminders come again), then to the next working day."""
        later = pd.concat([days, self.until], axis=1).max(axis=1).astype("datetime64[ns]")
        return on_working_days(later.where(days.notna()), self.config)


def day_numbers(values: pd.Series) -> pd.Series:
    """A date as its day number (days since 1970-01-01) in text, for notification keys: cheaper
    than formatting a million dates."""
    days = (values.dt.normalize() - pd.Timestamp(0)).dt.days
    return days.astype("Int64").astype("string").fillna("none").astype(str)
