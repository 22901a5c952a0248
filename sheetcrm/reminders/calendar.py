"""The team's working days ([calendar]): weekends and holidays, on which no reminder is sent. An
occasion that falls on a day off moves to the next working day."""

from __future__ import annotations

import calendar as cal
from datetime import date, timedelta

import numpy as np
import pandas as pd

from ..config import WEEKDAYS, Config


def is_working_day(day: date, config: Config) -> bool:
    return (
        WEEKDAYS[day.weekday()] not in config.calendar.weekend
        and day not in config.calendar.holidays
    )


def next_working_day(day: date, config: Config) -> date:
    """`day` itself if it is a working day, else the first working day after it."""
    for _ in range(366):
        if is_working_day(day, config):
            return day
        day += timedelta(days=1)
    raise ValueError("[calendar] leaves no working day in a year")  # config check refuses that


def last_working_day_of_month(day: date, config: Config) -> date:
    last = date(day.year, day.month, cal.monthrange(day.year, day.month)[1])
    while not is_working_day(last, config):
        last -= timedelta(days=1)
    return last


def on_working_days(days: pd.Series, config: Config) -> pd.Series:
    """Each date (datetime64, NaT kept) moved to the next working day; once per distinct date."""
    days = days.dt.normalize()
    distinct = pd.unique(days.dropna())
    if not len(distinct):
        return days
    moved = {pd.Timestamp(d): pd.Timestamp(next_working_day(pd.Timestamp(d).date(), config))
             for d in distinct}  # fmt: skip
    return pd.Series(pd.to_datetime(days.map(moved)), index=days.index).astype("datetime64[ns]")


def working_days_after(days: pd.Series, until: pd.Timestamp, config: Config) -> pd.Series:
    """How many working days there are after each date up to `until` (included); NaN for NaT."""
    mask = [0 if w in config.calendar.weekend else 1 for w in WEEKDAYS]
    ok = days.notna().to_numpy()
    begin = (days[ok].dt.normalize() + pd.Timedelta(days=1)).to_numpy().astype("datetime64[D]")
    end = np.datetime64((until + pd.Timedelta(days=1)).date(), "D")
    counts = np.busday_count(begin, np.full(len(begin), end), weekmask=mask,
                             holidays=[np.datetime64(h, "D") for h in config.calendar.holidays])  # fmt: skip
    out = pd.Series(np.nan, index=days.index)
    out[ok] = np.maximum(counts, 0)
    return out
