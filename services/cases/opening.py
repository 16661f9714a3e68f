"""Opening a case: a DSL's child protection file for one pupil, from concerns about them."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session

from models.case import Case, CaseCreate, CaseEventKind
from services.access import require_dsl
from services.cases.history import event, link_rows, record_audit, writer
from services.cases.reading import ReadCase, read_case
from services.cases.validation import (
    already_open,
    check_concerns,
    check_pupil,
    check_review_on,
    open_case_of,
)
from services.context import RequestContext
from services.triage import check_assignee


def create_case(session: Session, context: RequestContext, *, case: CaseCreate) -> ReadCase:
    """Open a case for a pupil of the school, linking concerns about that pupil.

    DSLs and deputy DSLs. 422 for a pupil or concern that is not the school's (or a
    concern about another pupil), for an assignee who is not an active DSL of the school
    and for a review date before today; the assignee is the caller when not given. 409
    (``open-case-exists``, naming it in ``open_case_id``) when the pupil has an open case
    already, also when another DSL opens one at the same moment (the database's partial
    unique index decides). Writes an ``opened`` event and a ``concern_linked`` event per
    concern, each (and the case's ``opened_by``) with the caller's name as it is now;
    records ``case.create``."""
    principal, now = context.principal, context.now
    require_dsl(principal)
    check_review_on(case.review_on, now)
    check_pupil(session, principal, case.pupil_id)
    check_concerns(session, principal, case.pupil_id, case.concern_ids)
    assignee = check_assignee(session, principal, case.assigned_to or principal.id)
    by = writer(session, context)
    open_already = open_case_of(session, principal, case.pupil_id)
    if open_already is not None:
        raise already_open(open_already)
    record = Case(
        school_id=principal.school_id,
        pupil_id=case.pupil_id,
        level=case.level.value,
        summary=case.summary,
        assigned_to=assignee.id,
        opened_by=principal.id,
        opened_by_name=by.name,
        opened_at=now,
        review_on=case.review_on,
        updated_at=now,
    )
    try:
        # In a savepoint: when another DSL's case for the pupil commits first, the unique
        # index refuses this one, and the answer must still name theirs.
        with session.begin_nested():
            session.add(record)
    except IntegrityError:
        open_already = open_case_of(session, principal, case.pupil_id)
        if open_already is None:
            raise
        raise already_open(open_already) from None
    session.add(event(record, CaseEventKind.opened, by, to_value=record.level, text=record.summary))
    session.flush()  # the opened event first: ids are time-ordered, and so is the history
    session.add_all(link_rows(record, case.concern_ids, by))
    session.flush()
    record_audit(session, context, action="case.create", case=record)
    return read_case(session, context, record)
