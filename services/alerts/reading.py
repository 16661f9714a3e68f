"""Reading the published events of a school, in order: what the stream (issue 18, point 4)
and anything else that follows the outbox read.

A reader resumes after the last event it saw (an SSE client's ``Last-Event-ID``: the
event's id, opaque; the sequence behind it is never shown). Sequences are given in commit
order under the publisher's lock (``publishing``), so everything after the one a reader
saw is there to read, none skipped.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session

from db.prepared import Prepared
from models.school import School
from services.alerts.events import EVENTS, payload

SCHOOLS: sa.Table = School.__table__  # type: ignore[attr-defined]

_SEQUENCE_OF = Prepared(
    sa.select(EVENTS.c.sequence).where(
        EVENTS.c.id == sa.bindparam("event_id"),
        EVENTS.c.school_id == sa.bindparam("school_id"),
        EVENTS.c.sequence.is_not(None),
    )
)
_AFTER = Prepared(
    sa.select(
        EVENTS.c.id,
        EVENTS.c.type,
        EVENTS.c.occurred_at,
        EVENTS.c.data,
        EVENTS.c.sequence,
        SCHOOLS.c.urn,
    )
    .join_from(EVENTS, SCHOOLS, SCHOOLS.c.id == EVENTS.c.school_id)
    .where(
        EVENTS.c.school_id == sa.bindparam("school_id"),
        EVENTS.c.sequence > sa.bindparam("after"),
    )
    .order_by(EVENTS.c.sequence)
    .limit(sa.bindparam("limit"))
)


@dataclass(frozen=True)
class PublishedEvent:
    """An event as a reader gets it: its id (``Last-Event-ID``), its place, its payload."""

    id: uuid.UUID
    sequence: int
    occurred_at: datetime
    payload: dict[str, Any]


def sequence_of(session: Session, *, school_id: uuid.UUID, event_id: uuid.UUID) -> int | None:
    """The place of the school's published event ``event_id``; None if it has no such
    event (another school's, or not published yet)."""
    row = _SEQUENCE_OF.one_or_none(session, {"event_id": event_id, "school_id": school_id})
    return None if row is None else int(row.sequence)


def events_after(
    session: Session, *, school_id: uuid.UUID, after: int, limit: int
) -> list[PublishedEvent]:
    """The school's published events after sequence ``after`` (0: from the first), in
    order, at most ``limit``."""
    return [
        PublishedEvent(
            id=row.id,
            sequence=int(row.sequence),
            occurred_at=row.occurred_at,
            payload=payload(
                event_type=row.type,
                occurred_at=row.occurred_at,
                data=row.data,
                school_urn=row.urn,
            ),
        )
        for row in _AFTER.rows(session, {"school_id": school_id, "after": after, "limit": limit})
    ]
