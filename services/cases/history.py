"""What every write to a case leaves behind: its never-changed rows (history events,
concern links) and its audit row, ids only, with the case's pupil."""

from __future__ import annotations

import uuid
from collections.abc import Iterable

from sqlmodel import Session

from models.case import Case, CaseConcern, CaseEvent, CaseEventKind
from services import audit
from services.context import RequestContext


def record_audit(
    session: Session,
    context: RequestContext,
    *,
    action: str,
    case: Case,
    entity_type: str = "case",
    entity_id: uuid.UUID | None = None,
) -> None:
    """Audit ``action`` on ``case`` (or on a row of it: ``entity_type``, ``entity_id``),
    with the case's pupil, in the caller's transaction."""
    audit.record(
        session,
        actor=context.actor,
        action=action,
        now=context.now,
        entity_type=entity_type,
        entity_id=entity_id or case.id,
        pupil_id=case.pupil_id,
        request_id=context.request_id,
    )


def event(
    case: Case,
    kind: CaseEventKind,
    context: RequestContext,
    *,
    from_value: str | None = None,
    to_value: str | None = None,
    concern_id: uuid.UUID | None = None,
    text: str | None = None,
    reason: str | None = None,
) -> CaseEvent:
    """A history event of ``case``, by the caller, now."""
    return CaseEvent(
        case_id=case.id,
        school_id=case.school_id,
        pupil_id=case.pupil_id,
        kind=kind.value,
        from_value=from_value,
        to_value=to_value,
        concern_id=concern_id,
        text=text,
        reason=reason,
        recorded_by=context.principal.id,
        recorded_at=context.now,
    )


def link_rows(
    case: Case, concern_ids: Iterable[uuid.UUID], context: RequestContext
) -> list[CaseConcern | CaseEvent]:
    """A link and a ``concern_linked`` event for each concern, in the order given."""
    rows: list[CaseConcern | CaseEvent] = []
    for concern_id in concern_ids:
        rows.append(
            CaseConcern(
                case_id=case.id,
                concern_id=concern_id,
                school_id=case.school_id,
                linked_by=context.principal.id,
                linked_at=context.now,
            )
        )
        rows.append(event(case, CaseEventKind.concern_linked, context, concern_id=concern_id))
    return rows
