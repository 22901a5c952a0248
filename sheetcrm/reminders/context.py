"""What every reminder timing works on: one sheet's records as of `now` (built once per sheet),
and what a timing returns (who is due today, under which occasion, and the next date per row)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from ..config import Config, SheetConfig
from ..expr import Env, to_datetime64
from .calendar import is_working_day


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


class ReminderContext:
    """One sheet's records for the reminder timings: typed values, IDs, `now`, the last contact
    (a follow-up, else the first contact), when each record entered its stage, who may be reminded
    (not snoozed)."""

    def __init__(self, typed: pd.DataFrame, ids: pd.Series, config: Config, *, now: datetime,
                 sheet_key: str, last_contact: pd.Series, stage_since: pd.Series) -> None:  # fmt: skip
        self.typed, self.ids, self.config, self.now = typed, ids, config, now
        self.sheet: SheetConfig = config.sheet(sheet_key)
        self.today = pd.Timestamp(now.date())
        self.working = is_working_day(now.date(), config)
        self.active = ids != ""
        snooze = config.calendar.snooze_field
        if snooze and snooze in typed:
            until = to_datetime64(typed[snooze])
            self.active &= ~(until > self.today).fillna(False).astype(bool)
        contact = last_contact
        if config.calendar.contact_field in typed:
            contact = contact.fillna(to_datetime64(typed[config.calendar.contact_field]))
        self.contact = contact
        self.stage_since = stage_since
        self.env = Env(typed, self.sheet.kinds(), now)

    def applies(self, condition: str) -> pd.Series:
        """The rows a rule is about today (its `when`, not snoozed)."""
        return self.sheet.condition(condition)(self.env) & self.active

    def rows(self, mask: pd.Series) -> pd.Index:
        return self.typed.index[mask.fillna(False).to_numpy(dtype=bool)]


def day_numbers(values: pd.Series) -> pd.Series:
    """A date as its day number (days since 1970-01-01) in text, for notification keys: cheaper
    than formatting a million dates."""
    days = (values.dt.normalize() - pd.Timestamp(0)).dt.days
    return days.astype("Int64").astype(str).replace("<NA>", "none")
