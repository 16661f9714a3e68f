"""The one query every rule reads: a pupil's signs, concern by concern, since a moment.

Kept in one place on purpose: a concern that must not count (one marked "entered in
error", ADR 0090) is left out here, and then by every rule and every flag. (A concern
marked as about another child counts for neither: it is not that child's concern as
logged, and the DSL who moved it reads it there.)

Its cost is the pupil's own concerns of the period, never the school's nor the pupil's
older ones: ``concern_pupil`` is read as a range of its (school, pupil, observed) index,
each concern by its key, its signs by theirs. A school of a million concerns costs what
a school of a thousand does for a pupil with as many concerns in the period
(``bench/patterns.py`` measures it).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Session

from models.concern import Concern, ConcernIndicator, ConcernPupil
from models.lifecycle import ConcernErrorMark

CONCERNS: sa.Table = Concern.__table__  # type: ignore[attr-defined]
PUPILS: sa.Table = ConcernPupil.__table__  # type: ignore[attr-defined]
INDICATORS: sa.Table = ConcernIndicator.__table__  # type: ignore[attr-defined]
MARKS: sa.Table = ConcernErrorMark.__table__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Sign:
    """One sign on one concern about the pupil (``indicator`` None: a concern that names
    no sign)."""

    concern_id: uuid.UUID
    recorded_by: uuid.UUID
    observed_at: datetime
    indicator: str | None


_SIGNS = (
    sa.select(
        CONCERNS.c.id,
        CONCERNS.c.recorded_by,
        CONCERNS.c.observed_at,
        INDICATORS.c.indicator_id,
    )
    .select_from(
        PUPILS.join(CONCERNS, CONCERNS.c.id == PUPILS.c.concern_id).outerjoin(
            INDICATORS, INDICATORS.c.concern_id == CONCERNS.c.id
        )
    )
    .where(
        PUPILS.c.school_id == sa.bindparam("school_id"),
        PUPILS.c.pupil_id == sa.bindparam("pupil_id"),
        PUPILS.c.observed_at >= sa.bindparam("since"),
        CONCERNS.c.school_id == sa.bindparam("school_id"),
        ~sa.exists().where(MARKS.c.concern_id == CONCERNS.c.id),
    )
    .order_by(CONCERNS.c.observed_at, CONCERNS.c.id, INDICATORS.c.position)
)


def pupil_signs(
    session: Session, *, school_id: uuid.UUID, pupil_id: uuid.UUID, since: datetime
) -> list[Sign]:
    """Every sign on every concern about the pupil observed at ``since`` or later,
    oldest first (a concern naming no sign: one ``Sign`` without an indicator)."""
    rows = session.connection().execute(
        _SIGNS, {"school_id": school_id, "pupil_id": pupil_id, "since": since}
    )
    return [Sign(row.id, row.recorded_by, row.observed_at, row.indicator_id) for row in rows]
