"""The school's calendar: dates of birth and leaving dates are English calendar dates;
school days are weekdays that are not bank holidays in England nor days the school itself
is closed (a transfer's five school days, docs/adr/0086)."""

from __future__ import annotations

import threading
from collections.abc import Collection
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


# tzdata is a dependency; UTC only where a system has no zone database at all.
SCHOOL_ZONE = _zone("Europe/London") or UTC


def school_date(moment: datetime) -> date:
    """The calendar date in England at ``moment``."""
    return moment.astimezone(SCHOOL_ZONE).date()


# England's bank holidays, from the maintained ``holidays`` package (its years filled in
# as they are asked for), loaded on the first question: ~4 MiB that a server answering
# no transfer question never needs.
_BANK_HOLIDAYS: Any = None
_BANK_HOLIDAYS_LOCK = threading.Lock()


def is_bank_holiday(day: date) -> bool:
    """Whether ``day`` is a bank holiday in England (a substitute day included)."""
    global _BANK_HOLIDAYS
    with _BANK_HOLIDAYS_LOCK:  # the package fills a year in on its first look
        if _BANK_HOLIDAYS is None:
            import holidays

            _BANK_HOLIDAYS = holidays.country_holidays("GB", subdiv="ENG")
        return day in _BANK_HOLIDAYS


def is_working_day(day: date, closures: Collection[date] = ()) -> bool:
    """A school day in England: a weekday, not a bank holiday, not one of the school's own
    ``closures`` (INSET days, holidays it sets)."""
    return day.weekday() < 5 and not is_bank_holiday(day) and day not in closures


# No school closes for longer than this at a stretch: a bound on the walk, whatever a
# school has set.
_LONGEST_WALK_DAYS = 400


def working_days_after(start: date, count: int, closures: Collection[date] = ()) -> date:
    """The ``count``-th working day (``is_working_day``) after ``start``."""
    day, found = start, 0
    for _ in range(_LONGEST_WALK_DAYS):
        day += timedelta(days=1)
        if is_working_day(day, closures):
            found += 1
            if found == count:
                return day
    return day
