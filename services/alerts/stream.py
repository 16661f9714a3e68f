"""The desk's stream (issue 18, point 4): the school's published events, in sequence,
as every channel shows them (``events.payload``: ids, flags and times, never content).

The HTTP shell polls ``events_after`` in a short transaction of its own every second or
so and holds no database connection between polls; an event's ``sequence`` is its id in
the stream (``Last-Event-ID``), given in commit order by the publisher, so a client that
resumes after n misses nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from core.errors import NotFound
from models.school import School
from services import access
from services.alerts.events import EVENTS, payload
from services.context import RequestContext

SCHOOLS: sa.Table = School.__table__  # type: ignore[attr-defined]
# Events read per poll at most (then the next poll at once).
STREAM_BATCH = 100


@dataclass(frozen=True)
class StreamStart:
    school_urn: str
    # The last event published for the school (0: none yet).
    last_sequence: int


@dataclass(frozen=True)
class StreamEvent:
    sequence: int
    type: str
    payload: dict[str, Any]


def stream_start(session: Session, context: RequestContext) -> StreamStart:
    """Where a new stream starts: after the school's last published event. The DSL desk."""
    principal = context.principal
    access.require_alert_settings(principal)
    urn = (
        session.connection()
        .execute(sa.select(SCHOOLS.c.urn).where(SCHOOLS.c.id == principal.school_id))
        .scalar()
    )
    if urn is None:
        raise NotFound("Your school no longer exists.")
    last = (
        session.connection()
        .execute(
            sa.select(sa.func.max(EVENTS.c.sequence)).where(
                EVENTS.c.school_id == principal.school_id
            )
        )
        .scalar()
    )
    return StreamStart(school_urn=str(urn), last_sequence=int(last or 0))


def events_after(
    session: Session, context: RequestContext, *, after: int, school_urn: str
) -> list[StreamEvent]:
    """The school's published events after sequence ``after``, in order, at most
    ``STREAM_BATCH``. Ids and times only: not audited."""
    principal = context.principal
    access.require_alert_settings(principal)
    rows = session.connection().execute(
        sa.select(EVENTS.c.sequence, EVENTS.c.type, EVENTS.c.occurred_at, EVENTS.c.data)
        .where(EVENTS.c.school_id == principal.school_id, EVENTS.c.sequence > after)
        .order_by(EVENTS.c.sequence)
        .limit(STREAM_BATCH)
    )
    return [
        StreamEvent(
            sequence=row.sequence,
            type=row.type,
            payload=payload(
                event_type=row.type,
                occurred_at=row.occurred_at,
                data=row.data,
                school_urn=school_urn,
            ),
        )
        for row in rows
    ]
