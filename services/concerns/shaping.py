"""Concern rows as the API shows them (``ConcernPublic``), and the lookups that shaping
needs beside a concern's own row: its pupils, indicators, addenda and people.

Names: a *concern row* is a row of ``statements.CONCERN_ROW_COLUMNS`` (the concern with
its triage state); its *lookups* are the four queries of ``lookups_of``; to *shape* is to
turn rows into ``ConcernPublic``. What a concern shows of the guidance it cites (its
indicators' words, the actions to take) comes from the version it was logged against
(``GuidanceLibrary.cited``: in memory, but for a school's version not read yet by this
process).
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ConfigDict, TypeAdapter
from sqlmodel import Session

from core.errors import NotFound
from db.batch import Batch
from models.concern import ConcernPublic, Person
from models.guidance import GuidanceAction
from models.triage import TriageStatus
from services import access
from services.concerns.statements import (
    ADDENDA_OF,
    INDICATORS_OF,
    PEOPLE,
    PUPILS_OF,
)
from services.context import RequestContext
from services.guidance import Cited
from services.principal import Principal

# Concerns are shaped as plain dicts and validated into their models in one call into
# pydantic-core: every value is still checked, at a fraction of the cost of building each
# concern's models in Python. Inputs stay out of its errors: stored text must never reach
# the log.
PUBLIC_CONCERNS: TypeAdapter[list[ConcernPublic]] = TypeAdapter(
    list[ConcernPublic], config=ConfigDict(hide_input_in_errors=True)
)


@dataclass(frozen=True)
class NewConcernRow:
    """A concern just recorded, with the same fields as a concern row."""

    id: uuid.UUID
    school_id: uuid.UUID
    recorded_by: uuid.UUID
    recorded_at: datetime
    observed_at: datetime
    guidance_key: str
    guidance_version: str
    categories: str
    description: str
    location: str | None
    immediate_danger: bool
    police_contacted: bool
    status: str
    risk_level: str | None
    assigned_to: uuid.UUID | None


def persons(rows: Iterable[Any]) -> dict[uuid.UUID, Person]:
    """Rows of (id, display name) as the people records show."""
    return {
        user_id: Person.model_construct(id=user_id, display_name=name) for user_id, name in rows
    }


def people_by_id(
    session: Session, school_id: uuid.UUID, ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, Person]:
    """Staff of the school among ``ids``, as records show them (id and display name)."""
    wanted = set(ids)
    if not wanted:
        return {}
    return persons(PEOPLE.rows(session, {"school_id": school_id, "user_ids": list(wanted)}))


def add_caller(batch: Batch, principal: Principal) -> Batch:
    """``batch`` with the query for the caller as a concern shows its recorder (rows named
    ``caller``, for ``caller_as_recorder``)."""
    return batch.add(
        "caller", PEOPLE, {"school_id": principal.school_id, "user_ids": [principal.id]}
    )


def caller_as_recorder(principal: Principal, found: dict[str, list[Any]]) -> Person:
    """The caller as a concern shows its recorder, from the rows of ``add_caller``'s query
    (404 when their account no longer exists)."""
    person = persons(found["caller"]).get(principal.id)
    if person is None:
        raise NotFound("Your account no longer exists.")
    return person


def lookups_of(concern_ids: list[uuid.UUID], *, people: Batch) -> Batch:
    """What shaping needs beside the concerns' own rows: their ``pupils``, ``indicators``
    and ``addenda``, and ``people``'s query (named ``people``), four queries whatever the
    number of concerns."""
    ids = {"concern_ids": concern_ids}
    return (
        Batch()
        .add("pupils", PUPILS_OF, ids)
        .add("indicators", INDICATORS_OF, ids)
        .add("addenda", ADDENDA_OF, ids)
        .include(people)
    )


def waiting_hours(status: str, recorded_at: datetime, now: datetime) -> float | None:
    """Hours since the concern was recorded, while nobody has moved it on from new."""
    if status != TriageStatus.new:
        return None
    return round(max((now - recorded_at).total_seconds(), 0) / 3600, 1)


def categories_of(row: Any) -> list[str]:
    """A concern row's category ids, in order."""
    return row.categories.split(",") if row.categories else []


def concern_fields(
    row: Any,
    *,
    pupil_ids: list[uuid.UUID],
    indicators: list[str],
    indicator_texts: dict[str, str],
    addenda: list[dict[str, Any]],
    recorded_by: Person,
    actions: list[GuidanceAction],
    sees_assessment: bool,
    assignee: Person | None,
    now: datetime,
) -> dict[str, Any]:
    """A concern row as the API shows it, the fields of a ``ConcernPublic``
    (``PUBLIC_CONCERNS`` makes the models)."""
    return dict(
        id=row.id,
        pupil_ids=pupil_ids,
        guidance_key=row.guidance_key,
        guidance_version=row.guidance_version,
        indicators=indicators,
        indicator_texts=indicator_texts,
        categories=categories_of(row),
        description=row.description,
        observed_at=row.observed_at,
        location=row.location,
        immediate_danger=row.immediate_danger,
        police_contacted=row.police_contacted,
        recorded_at=row.recorded_at,
        recorded_by=recorded_by,
        status=row.status,
        risk_level=row.risk_level if sees_assessment else None,
        assigned_to=assignee if sees_assessment else None,
        waiting_hours=waiting_hours(row.status, row.recorded_at, now) if sees_assessment else None,
        addenda=addenda,
        actions=actions,
    )


def addendum_fields(addendum: Any, recorded_by: Person) -> dict[str, Any]:
    """An addendum as the API shows it, the fields of an ``AddendumPublic``."""
    return dict(
        id=addendum.id,
        text=addendum.text,
        reason=addendum.reason,
        recorded_at=addendum.recorded_at,
        recorded_by=recorded_by,
    )


def cited_by(session: Session, context: RequestContext, rows: Sequence[Any]) -> Cited:
    """The guidance versions ``rows`` (concerns of the caller's school) cite."""
    return context.guidance.cited(
        session,
        context.principal.school_id,
        ((row.guidance_key, row.guidance_version) for row in rows),
    )


def shape_concerns(
    context: RequestContext, rows: Sequence[Any], found: dict[str, list[Any]], cited: Cited
) -> list[ConcernPublic]:
    """Concern rows as the API shows them, from the rows of their lookups (``found``, by
    the names of ``lookups_of``) and the guidance they cite (``cited_by``)."""
    pupils: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    for concern_id, pupil_id in found["pupils"]:
        pupils[concern_id].append(pupil_id)
    indicators: dict[uuid.UUID, list[str]] = defaultdict(list)
    for concern_id, indicator_id in found["indicators"]:
        indicators[concern_id].append(indicator_id)
    addenda: dict[uuid.UUID, list[Any]] = defaultdict(list)
    for addendum in found["addenda"]:
        addenda[addendum.concern_id].append(addendum)
    people = persons(found["people"])
    sees = access.sees_assessment(context.principal)
    now = context.now
    shaped = []
    for row in rows:
        edition = cited.get(row.guidance_key, row.guidance_version)
        signs = indicators[row.id]
        shaped.append(
            concern_fields(
                row,
                pupil_ids=pupils[row.id],
                indicators=signs,
                indicator_texts=edition.texts_of(signs) if edition else {i: i for i in signs},
                addenda=[addendum_fields(a, people[a.recorded_by]) for a in addenda[row.id]],
                recorded_by=people[row.recorded_by],
                actions=(
                    list(edition.actions_for(immediate_danger=row.immediate_danger))
                    if edition
                    else []
                ),
                sees_assessment=sees,
                assignee=people.get(row.assigned_to) if row.assigned_to else None,
                now=now,
            )
        )
    return PUBLIC_CONCERNS.validate_python(shaped)


def shape_rows(
    session: Session, context: RequestContext, rows: Sequence[Any]
) -> list[ConcernPublic]:
    """Concern rows already read (a page, a case's concerns) as the API shows them: their
    lookups in four queries whatever the number of concerns (sent together on
    PostgreSQL), and a fifth when someone else added to them."""
    if not rows:
        return []
    school_id = rows[0].school_id
    recorders = {row.recorded_by for row in rows} | {
        row.assigned_to for row in rows if row.assigned_to is not None
    }
    people = Batch().add("people", PEOPLE, {"school_id": school_id, "user_ids": list(recorders)})
    found = lookups_of([row.id for row in rows], people=people).run(session)
    # Addenda by someone else than the rows' recorders and assignees: a second lookup.
    others = {addendum.recorded_by for addendum in found["addenda"]} - recorders
    if others:
        found["people"] += PEOPLE.rows(session, {"school_id": school_id, "user_ids": list(others)})
    return shape_concerns(context, rows, found, cited_by(session, context, rows))
