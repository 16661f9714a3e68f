"""Listing a school's cases: filters, newest opened first, keyset pages."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, exists, or_
from sqlmodel import Session, col, select

from models.case import Case, CaseConcern, CaseLevel, CaseStatus, CaseSummary
from models.concern import ConcernIndicator
from services import audit
from services.access import require_dsl
from services.cases.reading import summaries
from services.context import RequestContext
from services.pagination import decode_cursor, encode_cursor, invalid_cursor
from services.principal import Principal


@dataclass(frozen=True)
class CaseFilters:
    """``GET /cases`` filters; all given must match (a tuple: any of its values)."""

    statuses: tuple[CaseStatus, ...] = ()
    levels: tuple[CaseLevel, ...] = ()
    pupil_id: uuid.UUID | None = None
    assigned_to: uuid.UUID | None = None
    indicators: tuple[str, ...] = ()  # any linked concern shows one of them
    opened_from: datetime | None = None  # inclusive
    opened_to: datetime | None = None  # exclusive


@dataclass(frozen=True)
class CaseListPage:
    items: list[CaseSummary]
    next_cursor: str | None


def _filter_conditions(principal: Principal, filters: CaseFilters) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [col(Case.school_id) == principal.school_id]
    if filters.statuses:
        conditions.append(col(Case.status).in_([s.value for s in filters.statuses]))
    if filters.levels:
        conditions.append(col(Case.level).in_([level.value for level in filters.levels]))
    if filters.pupil_id is not None:
        conditions.append(col(Case.pupil_id) == filters.pupil_id)
    if filters.assigned_to is not None:
        conditions.append(col(Case.assigned_to) == filters.assigned_to)
    if filters.indicators:
        conditions.append(
            exists().where(
                col(CaseConcern.case_id) == Case.id,
                col(ConcernIndicator.concern_id) == CaseConcern.concern_id,
                col(ConcernIndicator.school_id) == principal.school_id,
                col(ConcernIndicator.indicator_id).in_(filters.indicators),
            )
        )
    if filters.opened_from is not None:
        conditions.append(col(Case.opened_at) >= filters.opened_from)
    if filters.opened_to is not None:
        conditions.append(col(Case.opened_at) < filters.opened_to)
    return conditions


def _after(cursor: str) -> ColumnElement[bool]:
    position = decode_cursor(cursor, fields=("opened_at", "id"))
    try:
        opened_at = datetime.fromisoformat(str(position["opened_at"]))
        after_id = uuid.UUID(str(position["id"]))
    except ValueError:
        raise invalid_cursor() from None
    if opened_at.tzinfo is None:
        raise invalid_cursor()
    return or_(
        col(Case.opened_at) < opened_at,
        and_(col(Case.opened_at) == opened_at, col(Case.id) < after_id),
    )


def list_cases(
    session: Session,
    context: RequestContext,
    *,
    filters: CaseFilters,
    limit: int,
    cursor: str | None = None,
) -> CaseListPage:
    """The school's cases matching ``filters``, newest opened first, a page at a time
    (keyset on ``opened_at`` and id). DSLs and deputy DSLs; records ``case.list``: one
    event for the page, with the children on it (ADR 0126)."""
    principal = context.principal
    require_dsl(principal)
    conditions = _filter_conditions(principal, filters)
    if cursor is not None:
        conditions.append(_after(cursor))
    found = list(
        session.exec(
            select(Case)
            .where(*conditions)
            .order_by(col(Case.opened_at).desc(), col(Case.id).desc())
            .limit(limit + 1)
        )
    )
    page = found[:limit]
    next_cursor = None
    if len(found) > limit:
        last = page[-1]
        next_cursor = encode_cursor({"opened_at": last.opened_at.isoformat(), "id": str(last.id)})
    pupils: list[uuid.UUID | None] = [*sorted({case.pupil_id for case in page})]
    audit.record_page(
        session,
        actor=context.actor,
        action="case.list",
        now=context.now,
        request_id=context.request_id,
        entity_type="case",
        entity_id=None,
        pupil_ids=pupils,
    )
    return CaseListPage(items=summaries(session, principal, page), next_cursor=next_cursor)
