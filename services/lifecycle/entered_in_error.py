"""Entered in error: a DSL marks a concern as recorded in error, or against the wrong
child, naming the right ones (docs/adr/0090).

Nothing is deleted and the concern's rows are never changed: the mark is a row of its own
beside the concern (``concern_error_mark``), and the children it is really about rows of
``concern_error_pupil``. From then on the concern is in the chronology and export of those
children only (``services.concerns.links``), and the DSL desk sees the mark on it.
"""

from __future__ import annotations

import uuid

from sqlmodel import Session, col, select

from core.errors import Conflict, InvalidInput
from models.concern import ConcernPublic
from models.lifecycle import ConcernErrorMark, ConcernErrorPupil, EnteredInErrorCreate
from models.pupil import Pupil
from services import access, audit
from services.audit import probes
from services.concerns.reading import concern_row, lookup_concern
from services.concerns.shaping import add_caller, caller_as_recorder, shape_rows
from services.context import RequestContext


def mark_entered_in_error(
    session: Session,
    context: RequestContext,
    *,
    concern_id: uuid.UUID,
    mark: EnteredInErrorCreate,
) -> ConcernPublic:
    """Mark the concern entered in error (DSLs and deputies of its school; 404 for another
    school's or none, leaving a ``security.probe``). ``correct_pupil_ids`` must be pupils of
    the school (422 naming it); a concern already marked is a 409. Records
    ``concern.entered_in_error`` for every child the concern named and every child it is
    now about. Returns the concern as the DSL desk sees it, with its mark."""
    principal = context.principal
    access.require_dsl(principal)
    found = audit.read_with_head_locked(
        session,
        school_id=principal.school_id,
        batch=add_caller(lookup_concern(principal, concern_id), principal),
    )
    with probes.watched(context, kind="concern", record_id=concern_id):
        row = concern_row(found)
    if found.get("error_marks"):
        raise Conflict(
            "This concern is already marked as entered in error; a mark is never changed."
        )
    correct = mark.correct_pupil_ids or []
    if correct:
        known = set(
            session.exec(
                select(Pupil.id).where(
                    col(Pupil.school_id) == principal.school_id, col(Pupil.id).in_(correct)
                )
            ).all()
        )
        unknown = [str(pupil_id) for pupil_id in correct if pupil_id not in known]
        if unknown:
            raise InvalidInput(
                f"No pupil of your school has the id {unknown[0]}.",
                loc=["correct_pupil_ids"],
                error_type="pupil_not_found",
            )
    by = caller_as_recorder(principal, found)
    session.add(
        ConcernErrorMark(
            concern_id=row.id,
            school_id=principal.school_id,
            reason=mark.reason,
            recorded_by=principal.id,
            recorded_by_name=by.display_name,
            recorded_at=context.now,
        )
    )
    session.add_all(
        ConcernErrorPupil(
            concern_id=row.id, pupil_id=pupil_id, school_id=principal.school_id, position=n
        )
        for n, pupil_id in enumerate(correct)
    )
    session.flush()
    named = [pupil.pupil_id for pupil in found["pupils"]]
    audit.record_per_pupil(
        session,
        actor=context.actor,
        action="concern.entered_in_error",
        now=context.now,
        request_id=context.request_id,
        entity_type="concern",
        entity_id=row.id,
        pupil_ids=list(dict.fromkeys([*named, *correct])),
    )
    (public,) = shape_rows(session, context, [row])
    return public
