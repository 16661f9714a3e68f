"""What a new concern must satisfy beyond its schema: a guidance that exists, that
guidance's indicators, pupils of the caller's school, an ``observed_at`` not in the
future and not before a pupil's date of birth. Each refusal is a 422 naming the field."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from core.errors import InvalidInput, NotFound
from db.batch import Batch
from models.guidance import GuidanceDocument
from services import access
from services.concerns.statements import SCHOOL_PUPILS, SCHOOL_PUPILS_NAMED
from services.guidance import GuidanceLibrary
from services.principal import Principal
from services.school_calendar import school_date

FUTURE_TOLERANCE = timedelta(minutes=5)


def validation_error(loc: list[str | int], detail: str, **extra: object) -> InvalidInput:
    error = {"loc": ["body", *loc], "msg": detail, "type": "value_error"}
    return InvalidInput(detail, extra={"errors": [error], **extra})


def check_observed_at(observed_at: datetime, now: datetime) -> None:
    if observed_at > now + FUTURE_TOLERANCE:
        raise validation_error(
            ["observed_at"], "observed_at is in the future (more than 5 minutes ahead)."
        )


def guidance_for(guidance: GuidanceLibrary, key: str) -> GuidanceDocument:
    try:
        return guidance.get(key)
    except NotFound:
        raise validation_error(
            ["guidance_key"],
            f"There is no guidance {key!r}. Valid keys: {', '.join(guidance.keys())}.",
            valid_guidance_keys=guidance.keys(),
        ) from None


def check_indicators(document: GuidanceDocument, indicators: list[str]) -> None:
    valid = document.indicator_ids()
    unknown = [(i, indicator) for i, indicator in enumerate(indicators) if indicator not in valid]
    if not unknown:
        return
    names = ", ".join(repr(indicator) for _, indicator in unknown)
    detail = (
        f"Unknown indicator {names} for guidance {document.key!r}. "
        f"Valid indicators: {', '.join(valid)}."
    )
    raise InvalidInput(
        detail,
        extra={
            "errors": [
                {"loc": ["body", "indicators", i], "msg": detail, "type": "unknown_indicator"}
                for i, _ in unknown
            ],
            "valid_indicators": valid,
        },
    )


def add_school_pupils(batch: Batch, principal: Principal, pupil_ids: list[uuid.UUID]) -> Batch:
    """``batch`` with the query for which of ``pupil_ids`` are of the caller's school (rows
    named ``school_pupils``, for ``check_pupils``; with the pupils' names for a caller
    who sees them, ``access.sees_pupil_names``)."""
    statement = SCHOOL_PUPILS_NAMED if access.sees_pupil_names(principal) else SCHOOL_PUPILS
    return batch.add(
        "school_pupils", statement, {"school_id": principal.school_id, "pupil_ids": pupil_ids}
    )


def check_pupils(
    pupil_ids: list[uuid.UUID], school_pupils: Iterable[Any], *, observed_at: datetime
) -> None:
    """Every pupil must be of the caller's school, as the rows of ``add_school_pupils``'s
    query say (a pupil who has left still counts: a concern about them must still be
    recordable), and born by the day the concern was observed (that day in England: a
    date of birth is an English calendar date)."""
    rows = list(school_pupils)
    found = {row.id for row in rows}
    missing = [(i, pupil_id) for i, pupil_id in enumerate(pupil_ids) if pupil_id not in found]
    if missing:
        names = ", ".join(str(pupil_id) for _, pupil_id in missing)
        detail = f"There is no pupil of your school with id {names}."
        raise InvalidInput(
            detail,
            extra={
                "errors": [
                    {"loc": ["body", "pupil_ids", i], "msg": detail, "type": "unknown_pupil"}
                    for i, _ in missing
                ],
                "unknown_pupil_ids": [str(pupil_id) for _, pupil_id in missing],
            },
        )
    observed_on = school_date(observed_at)
    if any(row.date_of_birth is not None and observed_on < row.date_of_birth for row in rows):
        raise validation_error(
            ["observed_at"], "observed_at is before the date of birth of a pupil of the concern."
        )
