"""What every write to a case leaves behind: its never-changed rows (history events,
concern links), each with who wrote it under the name they had then, and its audit row,
ids only, with the case's pupil."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from sqlmodel import Session

from core.errors import NotFound
from models.case import Case, CaseConcern, CaseEvent, CaseEventKind
from services import audit, concerns
from services.context import RequestContext


@dataclass(frozen=True)
class Writer:
    """Who writes a case's rows in this request: the request's context, and the caller's
    name as it is now, which every row they write keeps whatever they are called later
    (docs/adr/0056)."""

    context: RequestContext
    name: str

    @property
    def id(self) -> uuid.UUID:
        return self.context.principal.id


def writer(session: Session, context: RequestContext) -> Writer:
    """The caller as the writer of a case's rows (404 when their account no longer
    exists)."""
    principal = context.principal
    me = concerns.people_by_id(session, principal.school_id, [principal.id]).get(principal.id)
    if me is None:
        raise NotFound("Your account no longer exists.")
    return Writer(context=context, name=me.display_name)


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
    by: Writer,
    *,
    from_value: str | None = None,
    to_value: str | None = None,
    concern_id: uuid.UUID | None = None,
    text: str | None = None,
    reason: str | None = None,
) -> CaseEvent:
    """A history event of ``case``, by the writer, now."""
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
        recorded_by=by.id,
        recorded_by_name=by.name,
        recorded_at=by.context.now,
    )


def link_rows(
    case: Case, concern_ids: Iterable[uuid.UUID], by: Writer
) -> list[CaseConcern | CaseEvent]:
    """A link and a ``concern_linked`` event for each concern, in the order given."""
    rows: list[CaseConcern | CaseEvent] = []
    for concern_id in concern_ids:
        rows.append(
            CaseConcern(
                case_id=case.id,
                concern_id=concern_id,
                school_id=case.school_id,
                linked_by=by.id,
                linked_at=by.context.now,
            )
        )
        rows.append(event(case, CaseEventKind.concern_linked, by, concern_id=concern_id))
    return rows
