"""Checks on what a caller asks a case to hold: the pupil, the concerns, the moments, the
review date, and the pupil's one open case."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime, timedelta

from sqlmodel import Session, col, select

from core.errors import Conflict, InvalidInput
from models.case import Case, CaseStatus
from models.concern import ConcernPupil
from models.pupil import Pupil
from services.principal import Principal
from services.school_calendar import school_date

FUTURE_TOLERANCE = timedelta(minutes=5)


def check_pupil(session: Session, principal: Principal, pupil_id: uuid.UUID) -> None:
    """The pupil must be of the caller's school (422)."""
    found = session.exec(
        select(Pupil.id).where(
            col(Pupil.id) == pupil_id, col(Pupil.school_id) == principal.school_id
        )
    ).one_or_none()
    if found is None:
        raise InvalidInput(
            f"There is no pupil of your school with id {pupil_id}.",
            loc=("pupil_id",),
            error_type="unknown_pupil",
        )


def check_concerns(
    session: Session, principal: Principal, pupil_id: uuid.UUID, concern_ids: Sequence[uuid.UUID]
) -> None:
    """Every concern must be of the caller's school and about this pupil (422)."""
    if not concern_ids:
        return
    found = set(
        session.exec(
            select(ConcernPupil.concern_id).where(
                col(ConcernPupil.concern_id).in_(concern_ids),
                col(ConcernPupil.school_id) == principal.school_id,
                col(ConcernPupil.pupil_id) == pupil_id,
            )
        )
    )
    missing = [
        (i, concern_id) for i, concern_id in enumerate(concern_ids) if concern_id not in found
    ]
    if not missing:
        return
    names = ", ".join(str(concern_id) for _, concern_id in missing)
    detail = f"There is no concern about this pupil in your school with id {names}."
    raise InvalidInput(
        detail,
        extra={
            "errors": [
                {"loc": ["body", "concern_ids", i], "msg": detail, "type": "unknown_concern"}
                for i, _ in missing
            ],
            "unknown_concern_ids": [str(concern_id) for _, concern_id in missing],
        },
    )


def check_not_in_future(moment: datetime, now: datetime, field: str) -> None:
    """``moment`` may be in the past but not more than ``FUTURE_TOLERANCE`` ahead (422)."""
    if moment > now + FUTURE_TOLERANCE:
        raise InvalidInput(f"{field} is in the future (more than 5 minutes ahead).", loc=(field,))


def check_review_on(review_on: date | None, now: datetime) -> None:
    """A review date may be today or later in England, never before (422); none is none."""
    today = school_date(now)
    if review_on is not None and review_on < today:
        raise InvalidInput(
            f"review_on is in the past: it must be today ({today.isoformat()}) or later.",
            loc=("review_on",),
            error_type="date_in_past",
        )


def open_case_of(
    session: Session,
    principal: Principal,
    pupil_id: uuid.UUID,
    *,
    other_than: uuid.UUID | None = None,
) -> uuid.UUID | None:
    """The id of the pupil's open case in the caller's school (but ``other_than``), if any:
    a pupil has one at most (the partial unique index ``ux_safeguarding_case_pupil_id_open``
    holds it whoever writes)."""
    query = select(Case.id).where(
        col(Case.school_id) == principal.school_id,
        col(Case.pupil_id) == pupil_id,
        col(Case.status) == CaseStatus.open.value,
    )
    if other_than is not None:
        query = query.where(col(Case.id) != other_than)
    return session.exec(query).first()


def already_open(case_id: uuid.UUID) -> Conflict:
    """409 naming the pupil's open case: add to it, or close it, rather than open another."""
    return Conflict(
        f"The pupil has an open case already: {case_id}. A pupil has one open case at a "
        "time: add to that one, or close it before opening (or reopening) another.",
        slug="open-case-exists",
        extra={"open_case_id": str(case_id)},
    )
