"""Reading one concern: ``get_concern``, and the lookup other services send with their own
queries (triage) so that the concern and what it shows cost one round trip.

A concern lookup is a ``Batch`` (``lookup_concern``) whose rows are named ``concern`` (the
concern row, none when the caller may not see it), ``pupils``, ``indicators``, ``addenda``
and ``assignees``; ``concern_row`` takes the row out of what it found, ``shape_concern``
shapes it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, select

from core.errors import NotFound
from db.batch import Batch
from models.concern import Concern, ConcernPublic, Person
from models.triage import ConcernTriage
from services import access, audit
from services.audit import probes
from services.concerns.shaping import add_assignees, lookups_of, shape_concerns
from services.concerns.statements import ONE_CONCERN_ROW
from services.context import RequestContext
from services.preconditions import etag
from services.principal import Principal

# The kind of ETag a concern's triage state carries (``services.preconditions``).
ETAG_KIND = "triage"


@dataclass(frozen=True)
class ReadConcern:
    concern: ConcernPublic
    etag: str  # of its triage state: what POST /concerns/{id}/triage must send in If-Match


def not_found() -> NotFound:
    return NotFound("There is no concern with that id.")


def lookup_concern(principal: Principal, concern_id: uuid.UUID) -> Batch:
    """The queries for one concern as the caller may see it (``access``'s scope: 403 for a
    role that sees no concerns) and for what it shows, to send with others (``Batch.include``,
    ``audit.read_with_head_locked``: one round trip on PostgreSQL). The lookups are sent
    before it is known whether the caller may see the concern: what they find of one they
    may not is dropped, never shaped, shown or logged (``concern_row``'s 404)."""
    statement, parameters = ONE_CONCERN_ROW.statement_for(principal, {"concern_id": concern_id})
    assignees = add_assignees(Batch(), principal.school_id, [concern_id])
    return (
        Batch()
        .add("concern", statement, parameters)
        .include(
            lookups_of([concern_id], assignees=assignees, named=access.sees_pupil_names(principal))
        )
    )


def concern_row(found: dict[str, list[Any]]) -> Any:
    """The concern row (with its triage state) from what a concern lookup found; 404 when
    the caller may not see it."""
    rows = found["concern"]
    if not rows:
        raise not_found()
    return rows[0]


def shape_concern(
    context: RequestContext,
    row: Any,
    found: dict[str, list[Any]],
    *,
    assignees: Iterable[Person] = (),
) -> ConcernPublic:
    """``row`` (from ``concern_row``, with any triage columns just written in this
    transaction replaced) as the API shows it, with what its lookup found. ``assignees``:
    whoever has it now that the lookup did not find (an assignee just given)."""
    extra = [(person.id, person.display_name) for person in assignees]
    if extra:
        found = {**found, "assignees": [*found.get("assignees", ()), *extra]}
    (public,) = shape_concerns(context, [row], found)
    return public


def get_concern(session: Session, context: RequestContext, *, concern_id: uuid.UUID) -> ReadConcern:
    """One concern with its addenda (oldest first), and the ETag of its triage state.

    Its recorder, or a DSL or deputy DSL of its school; anyone else of a recording role
    gets a 404, admins and MIS accounts a 403. Records ``concern.read`` once per pupil;
    the 404 leaves a ``security.probe`` (``services.audit.probes``).

    The concern, its lookups and the audit chain's head go in one round trip on
    PostgreSQL: what the lookups find of a concern the caller may not see is dropped
    without being shaped or shown (the answer is the 404), and the head, locked for
    nothing, is released as the request rolls back."""
    principal = context.principal
    found = audit.read_with_head_locked(
        session, school_id=principal.school_id, batch=lookup_concern(principal, concern_id)
    )
    with probes.watched(context, kind="concern", record_id=concern_id):
        row = concern_row(found)
    public = shape_concern(context, row, found)
    audit.record_per_pupil(
        session,
        actor=context.actor,
        action="concern.read",
        now=context.now,
        request_id=context.request_id,
        entity_type="concern",
        entity_id=row.id,
        pupil_ids=public.pupil_ids,
    )
    return ReadConcern(concern=public, etag=etag(ETAG_KIND, row.triage_version))


def load_with_triage(
    session: Session, principal: Principal, concern_id: uuid.UUID
) -> tuple[Concern, ConcernTriage]:
    """The concern and its triage state as ORM objects, as the caller may see them (404
    otherwise). Records nothing: for tools (the demo school), not requests."""
    row = session.exec(
        select(Concern, ConcernTriage)
        .join(ConcernTriage, col(ConcernTriage.concern_id) == col(Concern.id))
        .where(col(Concern.id) == concern_id, *access.concern_scope(principal))
        # A triage just changed by a compare-and-set UPDATE must be read as it now is.
        .execution_options(populate_existing=True)
    ).one_or_none()
    if row is None:
        raise not_found()
    return row[0], row[1]
