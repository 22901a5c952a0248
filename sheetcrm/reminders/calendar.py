"""The team's working days ([calendar]): weekends and holidays, on which no reminder is sent."""

from __future__ import annotations

import calendar as cal
from datetime import date, timedelta

from ..config import WEEKDAYS, Config


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
