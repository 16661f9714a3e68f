"""The school's calendar as the MIS code uses it (``services.school_calendar``)."""

from __future__ import annotations

from datetime import date, datetime

from services.school_calendar import school_date


def school_today(now: datetime) -> date:
    """Today's date in England (leaving dates and dates of birth are English dates)."""
    return school_date(now)
