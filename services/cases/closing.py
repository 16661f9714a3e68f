"""Closing a case (and the concerns it dealt with), and reopening one."""

from __future__ import annotations

from sqlalchemy import update
from sqlmodel import Session, col, select

from models.case import Case, CaseClose, CaseConcern, CaseEventKind, CaseReopen, CaseStatus
from models.concern import ConcernPupil
from models.triage import FINISHED, ConcernTriage, TriageEvent, TriageField, TriageStatus
from services import audit
from services.cases.changes import CaseChange, CaseWrite, no_check
from services.cases.history import Writer, event
from services.cases.reading import linked_concerns
from services.cases.validation import already_open, open_case_of
from services.context import RequestContext

_FINISHED = sorted(status.value for status in FINISHED)


def _close_writes(by: Writer, case: Case, close: CaseClose) -> CaseWrite:
    closed = event(
        case,
        CaseEventKind.closed,
        by,
        from_value=CaseStatus.open.value,
        to_value=CaseStatus.closed.value,
        text=close.outcome,
        reason=close.reason,
    )
    return CaseWrite(
        rows=[closed],
        columns={
            "status": CaseStatus.closed.value,
            "closed_at": by.context.now,
            "outcome": close.outcome,
            # A closed case has no review to come (its history keeps the dates it had).
            "review_on": None,
        },
    )


def close_linked_concerns(session: Session, by: Writer, case: Case, close: CaseClose) -> None:
    """Move each concern linked to ``case`` that is still open (not ``closed`` nor
    ``no_further_action``) to ``closed``: one triage event each, with the case's closing
    reason, its triage version moved on (its ETag changes), and ``concern.triage``
    recorded once per pupil of each, in the case's transaction. A concern linked to
    another case that is still open stays as it is: that case still works on it. A
    concern still ``new`` is closed too (closing the case is the DSL having dealt with it),
    which triage alone would not allow."""
    context, school_id = by.context, case.school_id
    linked = linked_concerns(session, [case.id])[case.id]
    if not linked:
        return
    still_worked_on = (
        select(CaseConcern.concern_id)
        .join(Case, col(Case.id) == col(CaseConcern.case_id))
        .where(
            col(CaseConcern.concern_id).in_(linked),
            col(Case.id) != case.id,
            col(Case.school_id) == school_id,
            col(Case.status) == CaseStatus.open.value,
        )
    )
    # Locked (on PostgreSQL) as they are read: a triage change racing this one waits, then
    # finds the version moved on (412).
    still_open = session.exec(
        select(ConcernTriage.concern_id, ConcernTriage.status)
        .where(
            col(ConcernTriage.concern_id).in_(linked),
            col(ConcernTriage.school_id) == school_id,
            col(ConcernTriage.status).not_in(_FINISHED),
            col(ConcernTriage.concern_id).not_in(still_worked_on),
        )
        .order_by(col(ConcernTriage.concern_id))
        .with_for_update()
    ).all()
    if not still_open:
        return
    closing = [concern_id for concern_id, _ in still_open]
    session.execute(
        update(ConcernTriage)
        .where(col(ConcernTriage.concern_id).in_(closing))
        .values(
            status=TriageStatus.closed.value,
            version=col(ConcernTriage.version) + 1,
            updated_at=context.now,
        )
        .execution_options(synchronize_session=False)
    )
    session.add_all(
        TriageEvent(
            concern_id=concern_id,
            school_id=school_id,
            field=TriageField.status.value,
            from_value=before,
            to_value=TriageStatus.closed.value,
            reason=close.reason,
            recorded_by=by.id,
            recorded_by_name=by.name,
            recorded_at=context.now,
        )
        for concern_id, before in still_open
    )
    session.flush()
    pupils = session.exec(
        select(ConcernPupil.concern_id, ConcernPupil.pupil_id)
        .where(col(ConcernPupil.concern_id).in_(closing))
        .order_by(col(ConcernPupil.concern_id), col(ConcernPupil.position))
    ).all()
    audit.record_many(
        session,
        actor=context.actor,
        now=context.now,
        request_id=context.request_id,
        entries=[
            audit.AuditEntry(
                action="concern.triage",
                entity_type="concern",
                entity_id=concern_id,
                pupil_id=pupil_id,
            )
            for concern_id, pupil_id in pupils
        ],
    )


CLOSE_CASE: CaseChange[CaseClose] = CaseChange(
    audit_action="case.close",
    case_must_be=CaseStatus.open,
    check=no_check,
    writes=_close_writes,
    then=close_linked_concerns,
)
"""Close an open case with its outcome and the reason (409 when already closed); its
review date is cleared, and its linked concerns still open are closed with the same
reason (``close_linked_concerns``). Records ``case.close``."""


def _check_reopen(
    session: Session, context: RequestContext, case: Case, reopen: CaseReopen
) -> None:
    open_already = open_case_of(session, context.principal, case.pupil_id, other_than=case.id)
    if open_already is not None:
        raise already_open(open_already)


def _reopen_writes(by: Writer, case: Case, reopen: CaseReopen) -> CaseWrite:
    reopened = event(
        case,
        CaseEventKind.reopened,
        by,
        from_value=CaseStatus.closed.value,
        to_value=CaseStatus.open.value,
        reason=reopen.reason,
    )
    return CaseWrite(
        rows=[reopened],
        columns={"status": CaseStatus.open.value, "closed_at": None, "outcome": None},
    )


REOPEN_CASE: CaseChange[CaseReopen] = CaseChange(
    audit_action="case.reopen",
    case_must_be=CaseStatus.closed,
    check=_check_reopen,
    writes=_reopen_writes,
)
"""Reopen a closed case, with the reason (409 when it is open, and 409
``open-case-exists`` when the pupil has another case open: one at a time). Its earlier
outcome stays in its history; the concerns its closing closed stay closed (a DSL reopens
those that need it). Records ``case.reopen``."""
