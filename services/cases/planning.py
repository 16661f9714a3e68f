"""Who has a case and when it is next reviewed: the changes that plan a case's work."""

from __future__ import annotations

from sqlmodel import Session

from core.errors import InvalidInput
from models.case import Case, CaseEventKind, CaseReassign, CaseReview, CaseStatus
from services.cases.changes import CaseChange, CaseWrite
from services.cases.history import Writer, event
from services.cases.validation import check_review_on
from services.context import RequestContext
from services.triage import check_assignee


def _check_review(
    session: Session, context: RequestContext, case: Case, review: CaseReview
) -> None:
    check_review_on(review.review_on, context.now)
    if review.review_on == case.review_on:
        raise InvalidInput(
            "The case has that review date already."
            if review.review_on
            else "The case has no review date already.",
            loc=("review_on",),
        )


def _review_writes(by: Writer, case: Case, review: CaseReview) -> CaseWrite:
    changed = event(
        case,
        CaseEventKind.review_changed,
        by,
        from_value=case.review_on.isoformat() if case.review_on else None,
        to_value=review.review_on.isoformat() if review.review_on else None,
        reason=review.reason,
    )
    return CaseWrite(rows=[changed], columns={"review_on": review.review_on})


CHANGE_REVIEW: CaseChange[CaseReview] = CaseChange(
    audit_action="case.review",
    case_must_be=CaseStatus.open,
    check=_check_review,
    writes=_review_writes,
)
"""Set, move or clear an open case's review date, with the reason (422 for a date before
today in England, or the date it has already). The inbox lists an open case once its
review date has come. Records ``case.review``."""


def _check_reassign(
    session: Session, context: RequestContext, case: Case, reassign: CaseReassign
) -> None:
    check_assignee(session, context.principal, reassign.assigned_to)
    if reassign.assigned_to == case.assigned_to:
        raise InvalidInput("The case is with that DSL already.", loc=("assigned_to",))


def _reassign_writes(by: Writer, case: Case, reassign: CaseReassign) -> CaseWrite:
    reassigned = event(
        case,
        CaseEventKind.reassigned,
        by,
        from_value=str(case.assigned_to) if case.assigned_to else None,
        to_value=str(reassign.assigned_to),
        reason=reassign.reason,
    )
    return CaseWrite(rows=[reassigned], columns={"assigned_to": reassign.assigned_to})


REASSIGN_CASE: CaseChange[CaseReassign] = CaseChange(
    audit_action="case.reassign",
    case_must_be=CaseStatus.open,
    check=_check_reassign,
    writes=_reassign_writes,
)
"""Give an open case to another active DSL or deputy DSL of the school, with the reason
(422 for anyone else, or for whoever has it already). Records ``case.reassign``."""
