"""Publishing: the worker gives each new event its place in the stream and fans it out
into deliveries, one per channel and target.

One publisher at a time (a PostgreSQL advisory lock taken for the transaction, skipped by
any other worker that finds it held; SQLite's write lock on SQLite), so ``sequence``
numbers are given in commit order: an event committed later never gets a smaller one,
and a reader resuming after sequence n misses nothing. The events' own ids never change.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import sqlalchemy as sa
from sqlmodel import Session

from db.driver import connection_of
from db.prepared import Prepared
from models.alert import AlertDelivery, AlertPreference, DeliveryStatus
from models.base import new_id
from models.user import User
from services import access
from services.alerts.events import CONCERN_CREATED, EVENT_TYPES, EVENTS, decoded

DELIVERIES: sa.Table = AlertDelivery.__table__  # type: ignore[attr-defined]
USERS: sa.Table = User.__table__  # type: ignore[attr-defined]
PREFERENCES: sa.Table = AlertPreference.__table__  # type: ignore[attr-defined]

EMAIL = "email"
# New concerns told of in one email at most.
COALESCED_AT_MOST = 50
_DESK_ROLES = sorted(role.value for role in access.ALERT_RECIPIENTS)
# Events published per transaction.
PUBLISH_BATCH = 500
# The advisory lock key the publisher holds for its transaction (PostgreSQL).
PUBLISHER_LOCK = 1_818_000_001


@dataclass(frozen=True)
class Published:
    """An event as the channels see it when it is published."""

    id: uuid.UUID
    school_id: uuid.UUID
    type: str
    subject_id: uuid.UUID | None
    data: str
    occurred_at: datetime
    sequence: int


class FanOut(Protocol):
    """A channel's share of publishing: the deliveries (``delivery_row``) it owes for
    these events. The webhooks (point 3) add one, a delivery per subscription."""

    channel: str

    def deliveries(
        self, session: Session, events: Sequence[Published], now: datetime
    ) -> list[dict[str, Any]]: ...


def delivery_row(
    events: Sequence[Published], *, channel: str, target_id: uuid.UUID, now: datetime
) -> dict[str, Any]:
    """A delivery of ``events`` (one, or several told of in one message; of one school)."""
    first = events[0]
    return {
        "id": new_id(),
        "event_id": first.id,
        # What json.dumps of the ids' strings writes; by hand for the one-event case, a
        # webhook's every delivery.
        "event_ids": (
            f'["{first.id}"]'
            if len(events) == 1
            else json.dumps([str(event.id) for event in events])
        ),
        "school_id": first.school_id,
        "channel": channel,
        "target_id": target_id,
        "status": DeliveryStatus.pending.value,
        "attempts": 0,
        "created_at": now,
        "next_attempt_at": now,
    }


def is_urgent(event_type: str) -> bool:
    spec = EVENT_TYPES.get(event_type)
    return spec is not None and spec.urgent


def is_mandatory(event_type: str) -> bool:
    """Sent to every recipient whatever their own choice (``EventType.mandatory``)."""
    spec = EVENT_TYPES.get(event_type)
    return spec is not None and (spec.urgent or spec.mandatory)


class EmailFanOut:
    """An email per event to each person it is for (``EventType.recipients``): the active
    members of the school's DSL desk, or the assignee. Non-urgent events leave out whoever
    turned their non-urgent emails off (but for the mandatory ones: a change to who reads
    concerns). A concern logged as immediate danger is emailed
    once, as its ``concern.urgent``. New concerns published together are told of in one
    email to each person (up to ``COALESCED_AT_MOST``): a busy hour does not bury a DSL's
    inbox, nor the worker in deliveries."""

    channel = EMAIL

    def deliveries(
        self, session: Session, events: Sequence[Published], now: datetime
    ) -> list[dict[str, Any]]:
        desk_schools: set[uuid.UUID] = set()
        # Each event emailed, with the assignee it is for (None: the school's desk).
        emailed: list[tuple[Published, uuid.UUID | None]] = []
        for event in events:
            spec = EVENT_TYPES.get(event.type)
            if spec is None or (event.type == CONCERN_CREATED and decoded(event.data)["urgent"]):
                continue  # an urgent concern is emailed as its concern.urgent
            if spec.recipients == "dsl_desk":
                desk_schools.add(event.school_id)
                emailed.append((event, None))
            else:
                emailed.append((event, uuid.UUID(decoded(event.data)["assigned_to"])))
        if not emailed:
            return []
        desk = self._people(session, school_ids=desk_schools, user_ids=None)
        assignees = {assignee for _, assignee in emailed if assignee is not None}
        named = self._people(session, school_ids=None, user_ids=assignees)
        rows = []
        together: dict[tuple[uuid.UUID, uuid.UUID], list[Published]] = {}
        # Urgent ones first: their deliveries' ids (time-ordered) are claimed first.
        emailed.sort(key=lambda pair: not is_urgent(pair[0].type))
        for event, assignee in emailed:
            mandatory = is_mandatory(event.type)
            if assignee is None:
                people = desk.get(event.school_id, [])
            else:
                people = [p for p in named.get(event.school_id, []) if p[0] == assignee]
            for user_id, wants_non_urgent in people:
                if not (mandatory or wants_non_urgent):
                    continue
                if event.type == CONCERN_CREATED:
                    together.setdefault((user_id, event.school_id), []).append(event)
                else:
                    rows.append(delivery_row([event], channel=EMAIL, target_id=user_id, now=now))
        for (user_id, _), created in together.items():
            for start in range(0, len(created), COALESCED_AT_MOST):
                chunk = created[start : start + COALESCED_AT_MOST]
                rows.append(delivery_row(chunk, channel=EMAIL, target_id=user_id, now=now))
        return rows

    @staticmethod
    def _people(
        session: Session,
        *,
        school_ids: set[uuid.UUID] | None,
        user_ids: set[uuid.UUID] | None,
    ) -> dict[uuid.UUID, list[tuple[uuid.UUID, bool]]]:
        """Active people, by school, with whether they want non-urgent emails: the DSL
        desk of ``school_ids``, or the people ``user_ids`` whatever their role."""
        query = (
            sa.select(USERS.c.id, USERS.c.school_id, PREFERENCES.c.email_non_urgent)
            .select_from(USERS.outerjoin(PREFERENCES, PREFERENCES.c.user_id == USERS.c.id))
            .where(USERS.c.active.is_(True))
            .order_by(USERS.c.id)
        )
        if school_ids is not None:
            if not school_ids:
                return {}
            query = query.where(USERS.c.school_id.in_(school_ids), USERS.c.role.in_(_DESK_ROLES))
        if user_ids is not None:
            if not user_ids:
                return {}
            query = query.where(USERS.c.id.in_(user_ids))
        found: dict[uuid.UUID, list[tuple[uuid.UUID, bool]]] = {}
        for user_id, school_id, wants in session.connection().execute(query):
            found.setdefault(school_id, []).append((user_id, wants is not False))
        return found


def take_publisher_lock(session: Session) -> bool:
    """Whether this transaction may publish (and schedule): True for one worker at a
    time, until its transaction ends."""
    connection = connection_of(session)
    if connection.dialect.name != "postgresql":
        return True  # SQLite: the transaction holds the database's write lock
    taken = connection.execute(
        sa.select(sa.func.pg_try_advisory_xact_lock(PUBLISHER_LOCK))
    ).scalar_one()
    return bool(taken)


# The next events to publish, numbered in the order they were recorded (their ids are
# time-ordered): sequenced in one statement, whatever their number.
_NUMBERED = (
    sa.select(
        EVENTS.c.id.label("event_id"),
        sa.func.row_number().over(order_by=EVENTS.c.id).label("position"),
    )
    .where(EVENTS.c.sequence.is_(None))
    .order_by(EVENTS.c.id)
    .limit(PUBLISH_BATCH)
    .subquery("numbered")
)
_SEQUENCE = (
    sa.update(EVENTS)
    .where(EVENTS.c.id == _NUMBERED.c.event_id)
    .values(
        sequence=sa.bindparam("base", type_=sa.BigInteger) + _NUMBERED.c.position,
        published_at=sa.bindparam("published"),
    )
)
_JUST_PUBLISHED = Prepared(
    sa.select(
        EVENTS.c.id,
        EVENTS.c.school_id,
        EVENTS.c.type,
        EVENTS.c.subject_id,
        EVENTS.c.data,
        EVENTS.c.occurred_at,
        EVENTS.c.sequence,
    )
    .where(EVENTS.c.sequence > sa.bindparam("base", type_=sa.BigInteger))
    .order_by(EVENTS.c.sequence)
)
_LAST_SEQUENCE = sa.select(sa.func.max(EVENTS.c.sequence))
# By COPY on PostgreSQL: a batch's deliveries are many rows of ids and times.
_INSERT_DELIVERIES = Prepared(sa.insert(DELIVERIES), copy_on_postgresql=True)


def publish(session: Session, *, now: datetime, fan_outs: Sequence[FanOut]) -> int:
    """Publish up to ``PUBLISH_BATCH`` events in the caller's transaction: each gets the
    next ``sequence`` (in the order they were recorded) and its deliveries on every
    channel in ``fan_outs``. Returns how many were published. The caller holds the
    publisher's lock (``take_publisher_lock``)."""
    connection = session.connection()
    base = connection.execute(_LAST_SEQUENCE).scalar() or 0
    published = connection.execute(_SEQUENCE, {"base": base, "published": now}).rowcount
    if not published or not fan_outs:
        return int(published)
    events = [
        Published(
            id=row.id,
            school_id=row.school_id,
            type=row.type,
            subject_id=row.subject_id,
            data=row.data,
            occurred_at=row.occurred_at,
            sequence=row.sequence,
        )
        for row in _JUST_PUBLISHED.rows(session, {"base": base})
    ]
    deliveries = [row for fan_out in fan_outs for row in fan_out.deliveries(session, events, now)]
    # By COPY on PostgreSQL; on SQLite the one-row statement run per row by the driver's
    # executemany (a publish's number of rows changes with every batch: a multi-row
    # statement would be compiled for each).
    _INSERT_DELIVERIES.insert_each(session, deliveries)
    return len(events)
