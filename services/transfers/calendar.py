"""A school's own closure days (INSET days, its own holidays): weekdays that are no bank
holiday but are not school days either, when a transfer's 5 school days are counted."""

from __future__ import annotations

import uuid
from datetime import date

from sqlalchemy import delete
from sqlmodel import Session, col, select

from models.transfer import SchoolCalendar, SchoolClosureDay
from services import audit
from services.access import require_dsl
from services.context import RequestContext


def closure_days(session: Session, *, school_id: uuid.UUID, since: date) -> frozenset[date]:
    """The school's closure days from ``since`` on."""
    return frozenset(
        session.exec(
            select(col(SchoolClosureDay.closed_on)).where(
                col(SchoolClosureDay.school_id) == school_id,
                col(SchoolClosureDay.closed_on) >= since,
            )
        )
    )


def _calendar(session: Session, school_id: uuid.UUID) -> SchoolCalendar:
    days = session.exec(
        select(col(SchoolClosureDay.closed_on))
        .where(col(SchoolClosureDay.school_id) == school_id)
        .order_by(col(SchoolClosureDay.closed_on))
    )
    return SchoolCalendar(closure_days=list(days))


def _record(session: Session, context: RequestContext, action: str) -> None:
    audit.record(
        session,
        actor=context.actor,
        action=action,
        now=context.now,
        entity_type="school_calendar",
        entity_id=context.principal.school_id,
        request_id=context.request_id,
    )


def get_calendar(session: Session, context: RequestContext) -> SchoolCalendar:
    """The school's closure days, earliest first. DSLs and deputy DSLs; records
    ``school_calendar.read``."""
    require_dsl(context.principal)
    _record(session, context, "school_calendar.read")
    return _calendar(session, context.principal.school_id)


def put_calendar(
    session: Session, context: RequestContext, *, calendar: SchoolCalendar
) -> SchoolCalendar:
    """Replace the school's closure days (transfers sent from now on count them; a due
    date already given stays). DSLs and deputy DSLs; records ``school_calendar.update``."""
    require_dsl(context.principal)
    school_id = context.principal.school_id
    session.execute(delete(SchoolClosureDay).where(col(SchoolClosureDay.school_id) == school_id))
    for day in sorted(set(calendar.closure_days)):
        session.add(SchoolClosureDay(school_id=school_id, closed_on=day))
    session.flush()
    _record(session, context, "school_calendar.update")
    return _calendar(session, school_id)
