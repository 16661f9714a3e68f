"""Changing a case: one code path for every change, each change described as data.

A change needs ``If-Match`` with the case's ETag (428 without, 412 when stale) and is a
compare-and-set on ``safeguarding_case.version``, so two DSLs never overwrite each other.
``change_case`` runs any ``CaseChange``: load the case (404), check the ETag, check the
status the change needs (409), run the change's own checks (422, 409), compare-and-set the
version with the columns the change sets (412 before anything is written), add its
never-changed rows, audit it, and answer the case as it now is.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, TypeVar

from pydantic import BaseModel
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col

from core.errors import Conflict, InvalidInput
from models.case import (
    ActionCreate,
    Case,
    CaseAction,
    CaseConcern,
    CaseDecision,
    CaseEvent,
    CaseEventKind,
    CaseLevelChange,
    CaseLink,
    CaseStatus,
    DecisionCreate,
)
from services.access import require_dsl
from services.audit import probes
from services.cases.history import Writer, event, link_rows, record_audit, writer
from services.cases.reading import ETAG_KIND, ReadCase, linked_concerns, load_case, read_case
from services.cases.validation import (
    already_open,
    check_concerns,
    check_not_in_future,
    open_case_of,
)
from services.context import RequestContext
from services.preconditions import expected_version, stale

Body = TypeVar("Body", bound=BaseModel)


@dataclass(frozen=True)
class CaseWrite:
    """What one change writes: its never-changed ``rows``, the case's ``columns`` it sets
    (beside the version), and the row its audit names when not the case itself
    (``(entity_type, id)``)."""

    rows: Sequence[CaseConcern | CaseEvent | CaseAction | CaseDecision]
    columns: Mapping[str, object] = field(default_factory=dict)
    audited_row: tuple[str, uuid.UUID] | None = None


@dataclass(frozen=True)
class CaseChange(Generic[Body]):
    """One kind of change to a case, with its request body of type ``Body``: the audit
    action it records, the status the case must be in, its own checks (run after the
    status, before anything is written), what it writes (as the request's ``Writer``:
    every row keeps the caller's name as it is now), and what it does beyond the case
    once that is written (``then``: closing moves the case's concerns on), in the same
    transaction."""

    audit_action: str
    case_must_be: CaseStatus
    check: Callable[[Session, RequestContext, Case, Body], None]
    writes: Callable[[Writer, Case, Body], CaseWrite]
    then: Callable[[Session, Writer, Case, Body], None] | None = None


def change_case(
    session: Session,
    context: RequestContext,
    *,
    case_id: uuid.UUID,
    if_match: str | None,
    change: CaseChange[Body],
    body: Body,
) -> ReadCase:
    """Apply ``change`` with ``body`` to the case of the caller's school read at the
    version ``if_match`` names. DSLs and deputy DSLs; 404 for a case of another school
    (a ``security.probe``: ``services.audit.probes``),
    428 without ``If-Match``, 412 when the case changed since (nothing is written), 409
    when the case is not in the status the change needs, then the change's own 422 and
    409. Writes the change's never-changed rows and records ``change.audit_action`` with
    the pupil. Answers the whole case as it now is, with its new ETag."""
    require_dsl(context.principal)
    with probes.watched(context, kind="case", record_id=case_id):
        case = load_case(session, context.principal, case_id)
    expected = expected_version(if_match, kind=ETAG_KIND, current=case.version, what="case")
    if case.status != change.case_must_be:
        raise _not_in_status(change.case_must_be)
    change.check(session, context, case, body)
    by = writer(session, context)
    written = change.writes(by, case, body)
    if written.columns.get("status") == CaseStatus.open.value:
        _reopen_and_set(session, context, case, expected=expected, **written.columns)
    else:
        _compare_and_set(session, case, expected=expected, now=context.now, **written.columns)
    session.add_all(written.rows)
    session.flush()
    if change.then is not None:
        change.then(session, by, case, body)
    entity_type, entity_id = written.audited_row or ("case", case.id)
    record_audit(
        session,
        context,
        action=change.audit_action,
        case=case,
        entity_type=entity_type,
        entity_id=entity_id,
    )
    return read_case(session, context, load_case(session, context.principal, case.id))


def _not_in_status(wanted: CaseStatus) -> Conflict:
    if wanted is CaseStatus.open:
        return Conflict(
            "The case is closed. Reopen it (POST /cases/{id}/reopen, with a reason) first.",
            slug="case-closed",
        )
    return Conflict("The case is open already.", slug="case-open")


def _compare_and_set(
    session: Session, case: Case, *, expected: int, now: datetime, **values: object
) -> None:
    """Bump the case's version (and set ``values``) only if nobody changed it since the
    caller read version ``expected``; 412 otherwise, before anything else is written."""
    result = session.execute(
        update(Case)
        .where(col(Case.id) == case.id, col(Case.version) == expected)
        .values(version=expected + 1, updated_at=now, **values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        raise stale("case")


def _reopen_and_set(
    session: Session, context: RequestContext, case: Case, *, expected: int, **values: object
) -> None:
    """``_compare_and_set`` for a change that opens the case again, in a savepoint: when
    another DSL opens a case for the pupil at the same moment, the unique index refuses
    one of the two, and the refused one is told which case is open (409)."""
    try:
        with session.begin_nested():
            _compare_and_set(session, case, expected=expected, now=context.now, **values)
    except IntegrityError:
        open_already = open_case_of(session, context.principal, case.pupil_id, other_than=case.id)
        if open_already is None:
            raise
        raise already_open(open_already) from None


def no_check(session: Session, context: RequestContext, case: Case, body: BaseModel) -> None:
    return None


# --- the changes --------------------------------------------------------------------------


def _check_link(session: Session, context: RequestContext, case: Case, link: CaseLink) -> None:
    check_concerns(session, context.principal, case.pupil_id, link.concern_ids)
    already = set(linked_concerns(session, [case.id])[case.id]) & set(link.concern_ids)
    if already:
        raise Conflict(
            "Already linked to this case: " + ", ".join(sorted(str(c) for c in already)) + ".",
            slug="already-linked",
        )


def _link_writes(by: Writer, case: Case, link: CaseLink) -> CaseWrite:
    return CaseWrite(rows=link_rows(case, link.concern_ids, by))


LINK_CONCERNS: CaseChange[CaseLink] = CaseChange(
    audit_action="case.link",
    case_must_be=CaseStatus.open,
    check=_check_link,
    writes=_link_writes,
)
"""Link more concerns about the case's pupil (same school) to an open case; 409 for a
concern already linked to it. Records ``case.link``."""


def _check_action(
    session: Session, context: RequestContext, case: Case, action: ActionCreate
) -> None:
    check_not_in_future(action.occurred_at, context.now, "occurred_at")


def _action_writes(by: Writer, case: Case, action: ActionCreate) -> CaseWrite:
    record = CaseAction(
        case_id=case.id,
        school_id=case.school_id,
        pupil_id=case.pupil_id,
        type=action.type.value,
        description=action.description,
        occurred_at=action.occurred_at,
        with_whom=action.with_whom,
        recorded_by=by.id,
        recorded_by_name=by.name,
        recorded_at=by.context.now,
    )
    return CaseWrite(rows=[record], audited_row=("case_action", record.id))


ADD_ACTION: CaseChange[ActionCreate] = CaseChange(
    audit_action="case.action",
    case_must_be=CaseStatus.open,
    check=_check_action,
    writes=_action_writes,
)
"""Record what was done (a discussion, a call, a referral, a meeting) in an open case;
``occurred_at`` may be in the past (it is where the action sits in the chronology) but
not more than 5 minutes ahead. Records ``case.action``."""


def _check_decision(
    session: Session, context: RequestContext, case: Case, decision: DecisionCreate
) -> None:
    if decision.decided_at is not None:
        check_not_in_future(decision.decided_at, context.now, "decided_at")


def _decision_writes(by: Writer, case: Case, decision: DecisionCreate) -> CaseWrite:
    record = CaseDecision(
        case_id=case.id,
        school_id=case.school_id,
        pupil_id=case.pupil_id,
        decision=decision.decision,
        reason=decision.reason,
        decided_at=decision.decided_at or by.context.now,
        recorded_by=by.id,
        recorded_by_name=by.name,
        recorded_at=by.context.now,
    )
    return CaseWrite(rows=[record], audited_row=("case_decision", record.id))


ADD_DECISION: CaseChange[DecisionCreate] = CaseChange(
    audit_action="case.decision",
    case_must_be=CaseStatus.open,
    check=_check_decision,
    writes=_decision_writes,
)
"""Record a decision and the reason for it in an open case, with when it was decided
(``decided_at``: now when not given; not more than 5 minutes ahead, 422). The case and
the chronology place it there. Records ``case.decision``."""


def _check_level(
    session: Session, context: RequestContext, case: Case, change: CaseLevelChange
) -> None:
    if change.level == case.level:
        raise InvalidInput(f"The case is at level {case.level} already.", loc=("level",))


def _level_writes(by: Writer, case: Case, change: CaseLevelChange) -> CaseWrite:
    level_changed = event(
        case,
        CaseEventKind.level_changed,
        by,
        from_value=case.level,
        to_value=change.level.value,
        reason=change.reason,
    )
    return CaseWrite(rows=[level_changed], columns={"level": change.level.value})


CHANGE_LEVEL: CaseChange[CaseLevelChange] = CaseChange(
    audit_action="case.level",
    case_must_be=CaseStatus.open,
    check=_check_level,
    writes=_level_writes,
)
"""Move an open case to another level, with the reason (422 for its current level).
Records ``case.level``."""
