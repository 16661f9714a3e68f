"""Checks on what a caller asks a case to hold: the pupil, the concerns, the moments."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from core.errors import InvalidInput
from models.concern import ConcernPupil
from models.pupil import Pupil
from services.principal import Principal

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
