"""The school's calendar: leaving dates and dates of birth are English dates."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


_LONDON = _zone("Europe/London")


def school_today(now: datetime) -> date:
    """Today's date in England (leaving dates and dates of birth are English dates)."""
    return now.astimezone(_LONDON or UTC).date()
