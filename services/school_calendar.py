"""The school's calendar: dates of birth and leaving dates are English calendar dates."""

from __future__ import annotations

from datetime import UTC, date, datetime
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
