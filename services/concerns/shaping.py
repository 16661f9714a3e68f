"""Concern rows as the API shows them (``ConcernPublic``), and the lookups that shaping
needs beside a concern's own row: its pupils, indicators, addenda and assignees.

Names: a *concern row* is a row of ``statements.CONCERN_ROW_COLUMNS`` (the concern with
its triage state); its *lookups* are the queries of ``lookups_of``; to *shape* is to turn
rows into ``ConcernPublic``. Who wrote a concern or an addendum is shown from its own row,
under the name they had when they wrote it (docs/adr/0056); who has it now (its assignee)
under the name they have now. What a concern shows of the guidance it cites (its
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
    ASSIGNEES_OF,
    ERROR_MARKS_OF,
    INDICATORS_OF,
    PEOPLE,
    PUPILS_NAMED_OF,
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
    recorded_by_name: str
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
    """Rows of (id, display name) of the accounts as they are now, as records show them."""
    return {
        user_id: Person.model_construct(id=user_id, display_name=name) for user_id, name in rows
    }


def written_by(user_id: uuid.UUID, name: str) -> dict[str, Any]:
    """Who wrote a record, as it shows them: the name stored on the record (the one they
    had when they wrote it), validated with the record it is on."""
    return {"id": user_id, "display_name": name}


def people_by_id(
    session: Session, school_id: uuid.UUID, ids: Iterable[uuid.UUID]
) -> dict[uuid.UUID, Person]:
    """Staff of the school among ``ids``, under the names they have now (id and display
    name): for who has a record now, or who writes one now, never for who wrote one."""
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
    """The caller as a record they write now shows them (their name, to be stored on it),
    from the rows of ``add_caller``'s query (404 when their account no longer exists)."""
    person = persons(found["caller"]).get(principal.id)
    if person is None:
        raise NotFound("Your account no longer exists.")
    return person


def lookups_of(concern_ids: list[uuid.UUID], *, assignees: Batch, named: bool) -> Batch:
    """What shaping needs beside the concerns' own rows: their ``pupils`` (with their
    names when ``named``: ``access.sees_pupil_names``), ``indicators`` and ``addenda``,
    and ``assignees``' query if it has one (rows named ``assignees``: ``add_assignees``),
    four queries at most whatever the number of concerns (five for the DSL desk, who see
    the marks of concerns entered in error, rows named ``error_marks``)."""
    ids = {"concern_ids": concern_ids}
    batch = (
        Batch()
        .add("pupils", PUPILS_NAMED_OF if named else PUPILS_OF, ids)
        .add("indicators", INDICATORS_OF, ids)
        .add("addenda", ADDENDA_OF, ids)
        .include(assignees)
    )
    if named:  # the DSL desk sees a concern's mark of having been entered in error
        batch.add("error_marks", ERROR_MARKS_OF, ids)
    return batch


def add_assignees(batch: Batch, school_id: uuid.UUID, concern_ids: list[uuid.UUID]) -> Batch:
    """``batch`` with the query for who has each of ``concern_ids`` now (rows named
    ``assignees``), found by the concerns' ids: for a concern whose row is not read yet."""
    return batch.add(
        "assignees", ASSIGNEES_OF, {"concern_ids": concern_ids, "school_id": school_id}
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
    pupils: list[dict[str, Any]] | None,
    indicators: list[str],
    indicator_texts: dict[str, str],
    addenda: list[dict[str, Any]],
    recorded_by: Person | dict[str, Any],
    actions: list[GuidanceAction],
    sees_assessment: bool,
    assignee: Person | None,
    now: datetime,
    entered_in_error: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A concern row as the API shows it, the fields of a ``ConcernPublic``
    (``PUBLIC_CONCERNS`` makes the models)."""
    return dict(
        id=row.id,
        pupil_ids=pupil_ids,
        pupils=pupils,
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
        entered_in_error=entered_in_error,
        actions=actions,
    )


def addendum_fields(addendum: Any) -> dict[str, Any]:
    """An addendum (a row of ``ADDENDA_OF`` or one just written) as the API shows it, the
    fields of an ``AddendumPublic``: its writer under the name stored on it."""
    return dict(
        id=addendum.id,
        text=addendum.text,
        reason=addendum.reason,
        recorded_at=addendum.recorded_at,
        recorded_by=written_by(addendum.recorded_by, addendum.recorded_by_name),
    )


def error_marks(rows: Iterable[Any]) -> dict[uuid.UUID, dict[str, Any]]:
    """The rows of ``ERROR_MARKS_OF`` as each concern's ``entered_in_error``, by concern."""
    marks: dict[uuid.UUID, dict[str, Any]] = {}
    for row in rows:
        mark = marks.get(row.concern_id)
        if mark is None:
            mark = marks[row.concern_id] = dict(
                reason=row.reason,
                by=written_by(row.recorded_by, row.recorded_by_name),
                at=row.recorded_at,
                correct_pupil_ids=[],
            )
        if row.pupil_id is not None:
            mark["correct_pupil_ids"].append(row.pupil_id)
    return marks


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
    the names of ``lookups_of``; their pupils with names for a caller who sees them) and
    the guidance they cite (``cited_by``)."""
    pupils: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    names: dict[uuid.UUID, list[dict[str, Any]]] | None = (
        defaultdict(list) if access.sees_pupil_names(context.principal) else None
    )
    for pupil in found["pupils"]:
        pupils[pupil.concern_id].append(pupil.pupil_id)
        if names is not None:
            names[pupil.concern_id].append(
                {
                    "id": pupil.pupil_id,
                    "display_name": pupil.display_name,
                    "year_group": pupil.year_group,
                }
            )
    indicators: dict[uuid.UUID, list[str]] = defaultdict(list)
    for concern_id, indicator_id in found["indicators"]:
        indicators[concern_id].append(indicator_id)
    addenda: dict[uuid.UUID, list[Any]] = defaultdict(list)
    for addendum in found["addenda"]:
        addenda[addendum.concern_id].append(addendum)
    assignees = persons(found.get("assignees", ()))
    marks = error_marks(found.get("error_marks", ()))
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
                pupils=None if names is None else names[row.id],
                indicators=signs,
                indicator_texts=edition.texts_of(signs) if edition else {i: i for i in signs},
                addenda=[addendum_fields(a) for a in addenda[row.id]],
                recorded_by=written_by(row.recorded_by, row.recorded_by_name),
                actions=(
                    list(edition.actions_for(immediate_danger=row.immediate_danger))
                    if edition
                    else []
                ),
                sees_assessment=sees,
                assignee=assignees.get(row.assigned_to) if row.assigned_to else None,
                now=now,
                entered_in_error=marks.get(row.id),
            )
        )
    return PUBLIC_CONCERNS.validate_python(shaped)


def shape_rows(
    session: Session, context: RequestContext, rows: Sequence[Any]
) -> list[ConcernPublic]:
    """Concern rows already read (a page, a case's concerns) as the API shows them: their
    lookups in three queries whatever the number of concerns (sent together on
    PostgreSQL), and a fourth when any of them is assigned to someone."""
    if not rows:
        return []
    school_id = rows[0].school_id
    assigned = {row.assigned_to for row in rows if row.assigned_to is not None}
    assignees = Batch()
    if assigned:
        assignees.add("assignees", PEOPLE, {"school_id": school_id, "user_ids": list(assigned)})
    named = access.sees_pupil_names(context.principal)
    found = lookups_of([row.id for row in rows], assignees=assignees, named=named).run(session)
    return shape_concerns(context, rows, found, cited_by(session, context, rows))
