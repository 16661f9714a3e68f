"""Reading a case: loading it in the caller's school, and shaping it whole or as a summary.

Who opened a case and who wrote each of its rows are shown under the names stored on those
rows (the names they had then, docs/adr/0056); who has the case now under the name they
have now."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from sqlmodel import Session, col, select

from core.errors import NotFound
from models.case import (
    ActionPublic,
    Case,
    CaseAction,
    CaseConcern,
    CaseDecision,
    CaseEvent,
    CaseEventKind,
    CaseEventPublic,
    CaseLevel,
    CasePublic,
    CaseStatus,
    CaseSummary,
    DecisionPublic,
)
from models.concern import Person
from models.pupil import PupilName
from services import concerns, pupils, referrals, tasks
from services.access import require_dsl
from services.audit import probes
from services.cases.history import record_audit
from services.context import RequestContext
from services.preconditions import etag
from services.principal import Principal

ETAG_KIND = "case"


@dataclass(frozen=True)
class ReadCase:
    case: CasePublic
    etag: str


def load_case(session: Session, principal: Principal, case_id: uuid.UUID) -> Case:
    """The case of the caller's school with ``case_id``, as the database has it now; 404
    for a case of another school or none."""
    found = session.exec(
        select(Case)
        .where(col(Case.id) == case_id, col(Case.school_id) == principal.school_id)
        # After a compare-and-set UPDATE the row must be read as it now is.
        .execution_options(populate_existing=True)
    ).one_or_none()
    if found is None:
        raise NotFound("There is no case with that id.")
    return found


def linked_concerns(
    session: Session, case_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[uuid.UUID]]:
    """The concerns linked to each case, in the order they were linked."""
    linked: dict[uuid.UUID, list[uuid.UUID]] = defaultdict(list)
    for link in session.exec(
        select(CaseConcern)
        .where(col(CaseConcern.case_id).in_(case_ids))
        .order_by(col(CaseConcern.linked_at), col(CaseConcern.concern_id))
    ):
        linked[link.case_id].append(link.concern_id)
    return linked


def _by(user_id: uuid.UUID, name: str) -> Person:
    """Who wrote a row, under the name stored on it."""
    return Person(id=user_id, display_name=name)


def _summary(
    case: Case,
    *,
    concern_ids: list[uuid.UUID],
    assignees: dict[uuid.UUID, Person],
    names: dict[uuid.UUID, PupilName],
) -> CaseSummary:
    return CaseSummary(
        id=case.id,
        pupil_id=case.pupil_id,
        pupils=[names[case.pupil_id]] if case.pupil_id in names else [],
        status=CaseStatus(case.status),
        level=CaseLevel(case.level),
        summary=case.summary,
        assigned_to=assignees.get(case.assigned_to) if case.assigned_to else None,
        opened_by=_by(case.opened_by, case.opened_by_name),
        opened_at=case.opened_at,
        closed_at=case.closed_at,
        outcome=case.outcome,
        review_on=case.review_on,
        concern_ids=concern_ids,
    )


def summaries(session: Session, principal: Principal, cases: Sequence[Case]) -> list[CaseSummary]:
    """Shape listed cases in three queries whatever their number (the DSL desk only:
    their pupils are named)."""
    if not cases:
        return []
    linked = linked_concerns(session, [case.id for case in cases])
    assignees = concerns.people_by_id(
        session,
        principal.school_id,
        [case.assigned_to for case in cases if case.assigned_to is not None],
    )
    names = pupils.names_by_id(session, principal.school_id, [case.pupil_id for case in cases])
    return [
        _summary(case, concern_ids=linked[case.id], assignees=assignees, names=names)
        for case in cases
    ]


def render_case(session: Session, context: RequestContext, case: Case) -> CasePublic:
    """The whole case: its pupil by name, linked concerns, actions, decisions (by when they
    were decided), tasks and history. Records nothing."""
    concern_ids = linked_concerns(session, [case.id])[case.id]
    actions = list(
        session.exec(
            select(CaseAction)
            .where(col(CaseAction.case_id) == case.id)
            .order_by(col(CaseAction.occurred_at), col(CaseAction.recorded_at), col(CaseAction.id))
        )
    )
    decisions = list(
        session.exec(
            select(CaseDecision)
            .where(col(CaseDecision.case_id) == case.id)
            .order_by(
                col(CaseDecision.decided_at), col(CaseDecision.recorded_at), col(CaseDecision.id)
            )
        )
    )
    history = list(
        session.exec(
            select(CaseEvent)
            .where(col(CaseEvent.case_id) == case.id)
            .order_by(col(CaseEvent.recorded_at), col(CaseEvent.id))
        )
    )
    assignees = concerns.people_by_id(
        session, case.school_id, [case.assigned_to] if case.assigned_to else []
    )
    names = pupils.names_by_id(session, case.school_id, [case.pupil_id])
    summary = _summary(case, concern_ids=concern_ids, assignees=assignees, names=names)
    return CasePublic(
        **summary.model_dump(),
        concerns=concerns.shape_concerns_by_id(session, context, concern_ids=concern_ids),
        actions=[
            ActionPublic(
                id=action.id,
                type=action.type,  # type: ignore[arg-type]
                description=action.description,
                occurred_at=action.occurred_at,
                with_whom=action.with_whom,
                recorded_at=action.recorded_at,
                recorded_by=_by(action.recorded_by, action.recorded_by_name),
            )
            for action in actions
        ],
        decisions=[
            DecisionPublic(
                id=decision.id,
                decision=decision.decision,
                reason=decision.reason,
                decided_at=decision.decided_at,
                recorded_at=decision.recorded_at,
                recorded_by=_by(decision.recorded_by, decision.recorded_by_name),
            )
            for decision in decisions
        ],
        tasks=tasks.tasks_of_case(session, context, case.id),
        referrals=referrals.referrals_of_case(session, context, case.id),
        history=[
            CaseEventPublic(
                id=event.id,
                kind=CaseEventKind(event.kind),
                from_value=event.from_value,
                to_value=event.to_value,
                concern_id=event.concern_id,
                text=event.text,
                reason=event.reason,
                recorded_at=event.recorded_at,
                recorded_by=_by(event.recorded_by, event.recorded_by_name),
            )
            for event in history
        ],
    )


def read_case(session: Session, context: RequestContext, case: Case) -> ReadCase:
    """The whole case and its ETag. Records nothing."""
    return ReadCase(case=render_case(session, context, case), etag=etag(ETAG_KIND, case.version))


def get_case(session: Session, context: RequestContext, *, case_id: uuid.UUID) -> ReadCase:
    """The whole case and its ETag. DSLs and deputy DSLs of its school; records
    ``case.read`` (with the pupil); the 404 of a case of another school or none leaves a
    ``security.probe`` (``services.audit.probes``)."""
    require_dsl(context.principal)
    with probes.watched(context, kind="case", record_id=case_id):
        case = load_case(session, context.principal, case_id)
    read = read_case(session, context, case)
    record_audit(session, context, action="case.read", case=case)
    return read


def cases_of_pupil(
    session: Session, context: RequestContext, *, pupil_id: uuid.UUID
) -> list[CasePublic]:
    """Every case of a pupil, oldest opened first, in full (for the export). DSLs and
    deputy DSLs of the pupil's school. Records nothing: the export records itself."""
    principal = context.principal
    require_dsl(principal)
    found = session.exec(
        select(Case)
        .where(col(Case.school_id) == principal.school_id, col(Case.pupil_id) == pupil_id)
        .order_by(col(Case.opened_at), col(Case.id))
    )
    return [render_case(session, context, case) for case in found]
