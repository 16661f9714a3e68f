"""Deliveries: claimed by a worker for a lease, settled by the claim's holder only.

A claim is not a removal: it moves the delivery's ``next_attempt_at`` to the end of a
lease and gives it a ``claim_token``. A worker killed mid-delivery loses nothing: when
the lease runs out, another claims it again (at least once; the event keeps its id).
Several workers share the queue: on PostgreSQL each claims with ``FOR UPDATE SKIP
LOCKED`` and never waits for, nor takes, another's rows; SQLite has one writer at a time.

A failed attempt is tried again after 30 s, then twice as long each time (at most an
hour between tries), for a day from when the delivery was made; then it is dead, and the
desk lists it (``list_dead_letters``). A refusal for good (an SMTP 5xx for the message)
is dead at once.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session

from db.prepared import Prepared
from models.alert import DeadLetter, DeadLetterPage, DeliveryStatus
from models.concern import Person
from models.school import School
from services import access
from services.alerts.events import EVENTS
from services.alerts.publishing import DELIVERIES, USERS
from services.context import RequestContext
from services.pagination import decode_cursor, encode_cursor, invalid_cursor

SCHOOLS: sa.Table = School.__table__  # type: ignore[attr-defined]

FIRST_RETRY = timedelta(seconds=30)
LONGEST_WAIT = timedelta(hours=1)
GIVE_UP_AFTER = timedelta(hours=24)
ERROR_LENGTH = 300


def retry_delay(attempts: int) -> timedelta:
    """How long to wait after the ``attempts``-th failed attempt."""
    doublings: int = min(max(attempts - 1, 0), 20)
    return min(FIRST_RETRY * (1 << doublings), LONGEST_WAIT)


@dataclass(slots=True)
class Claimed:
    """A delivery this worker holds, with what it needs to send it. Not frozen: one is
    made per delivery claimed, and a frozen dataclass sets each of its fields through
    ``object.__setattr__``; nothing changes one after the claim."""

    id: uuid.UUID
    claim_token: uuid.UUID
    attempts: int
    created_at: datetime
    event_id: uuid.UUID
    # Every event it tells of (JSON): the first, or new concerns published together.
    event_ids: str
    event_type: str
    data: str
    occurred_at: datetime
    school_id: uuid.UUID
    school_name: str
    school_urn: str
    target_id: uuid.UUID
    # The recipient of an email, as they are now (None: no such person).
    recipient_email: str | None
    recipient_active: bool
    recipient_role: str | None


# As literals, so that the partial indexes on them are used (``models.alert``).
_PENDING: sa.ColumnElement[str] = sa.literal_column(f"'{DeliveryStatus.pending.value}'")
_DEAD: sa.ColumnElement[str] = sa.literal_column(f"'{DeliveryStatus.dead.value}'")

# The due deliveries a claim takes: never one another worker holds (PostgreSQL's row
# locks; SQLite has one writer at a time and ignores them).
_DUE = (
    sa.select(DELIVERIES.c.id)
    .where(
        DELIVERIES.c.channel == sa.bindparam("on_channel"),
        DELIVERIES.c.status == _PENDING,
        DELIVERIES.c.next_attempt_at <= sa.bindparam("now"),
    )
    .order_by(DELIVERIES.c.next_attempt_at, DELIVERIES.c.id)
    .limit(sa.bindparam("batch"))
    .with_for_update(skip_locked=True)
    .cte("due")
)
_CLAIM = (
    sa.update(DELIVERIES)
    .where(DELIVERIES.c.id == _DUE.c.id)
    .values(
        claim_token=sa.bindparam("token"),
        attempts=DELIVERIES.c.attempts + 1,
        last_attempt_at=sa.bindparam("now"),
        next_attempt_at=sa.bindparam("lease_until"),
    )
)
_CLAIMED = Prepared(
    sa.select(
        DELIVERIES.c.id,
        DELIVERIES.c.attempts,
        DELIVERIES.c.created_at,
        DELIVERIES.c.event_id,
        DELIVERIES.c.event_ids,
        EVENTS.c.type,
        EVENTS.c.data,
        EVENTS.c.occurred_at,
        DELIVERIES.c.school_id,
        SCHOOLS.c.name,
        SCHOOLS.c.urn,
        DELIVERIES.c.target_id,
        USERS.c.email,
        USERS.c.active,
        USERS.c.role,
    )
    .select_from(
        DELIVERIES.join(EVENTS, EVENTS.c.id == DELIVERIES.c.event_id)
        .join(SCHOOLS, SCHOOLS.c.id == DELIVERIES.c.school_id)
        .outerjoin(USERS, USERS.c.id == DELIVERIES.c.target_id)
    )
    .where(DELIVERIES.c.claim_token == sa.bindparam("token"))
    .order_by(DELIVERIES.c.next_attempt_at, DELIVERIES.c.id)
)


def claim(
    session: Session, *, channel: str, now: datetime, lease: timedelta, batch: int
) -> list[Claimed]:
    """Claim up to ``batch`` deliveries on ``channel`` that are due, for ``lease``: none
    of them is claimed again until it ends, unless settled first. Commit the caller's
    transaction before sending (the claim must outlive a worker that dies sending)."""
    connection = session.connection()
    token = uuid.uuid4()
    taken = connection.execute(
        _CLAIM,
        {
            "on_channel": channel,
            "now": now,
            "batch": batch,
            "token": token,
            "lease_until": now + lease,
        },
    ).rowcount
    if not taken:
        return []
    return [
        Claimed(
            id=row.id,
            claim_token=token,
            attempts=row.attempts,
            created_at=row.created_at,
            event_id=row.event_id,
            event_ids=row.event_ids,
            event_type=row.type,
            data=row.data,
            occurred_at=row.occurred_at,
            school_id=row.school_id,
            school_name=row.name,
            school_urn=row.urn,
            target_id=row.target_id,
            recipient_email=row.email,
            recipient_active=bool(row.active),
            recipient_role=row.role,
        )
        for row in _CLAIMED.rows(session, {"token": token})
    ]


@dataclass(frozen=True)
class Outcome:
    """What became of one claimed delivery: sent (``error`` None), failed (``error``: our
    own short words, ``permanent`` if trying again cannot help), or ``skipped``."""

    delivery: Claimed
    error: str | None = None
    permanent: bool = False
    skipped: bool = False
    # A webhook's: the receiver's HTTP status.
    response_code: int | None = None
    # Not tried (the round ran out of time): due again at once, its attempt not counted.
    released: bool = False


@dataclass(frozen=True)
class Settled:
    delivered: int
    retried: int
    dead: int
    skipped: int


def settle(session: Session, outcomes: Sequence[Outcome], *, now: datetime) -> Settled:
    """Record what became of claimed deliveries, each only if this worker still holds
    its claim (one whose lease ran out and was claimed again is the new holder's). One
    statement per kind of outcome (and error), not one per delivery."""
    # (status, error, next attempt, response code) -> the claims it applies to.
    groups: dict[tuple[str, str | None, datetime | None, int | None], list[Claimed]] = {}
    connection = session.connection()
    released = [outcome.delivery for outcome in outcomes if outcome.released]
    for token in {item.claim_token for item in released}:
        connection.execute(
            sa.update(DELIVERIES)
            .where(
                DELIVERIES.c.claim_token == token,
                DELIVERIES.c.id.in_([item.id for item in released if item.claim_token == token]),
            )
            .values(claim_token=None, next_attempt_at=now, attempts=DELIVERIES.c.attempts - 1)
        )
    outcomes = [outcome for outcome in outcomes if not outcome.released]
    for outcome in outcomes:
        item = outcome.delivery
        error = outcome.error[:ERROR_LENGTH] if outcome.error else None
        code = outcome.response_code
        if outcome.skipped:
            key: tuple[str, str | None, datetime | None, int | None] = (
                DeliveryStatus.skipped.value,
                None,
                None,
                None,
            )
        elif error is None:
            key = (DeliveryStatus.delivered.value, None, None, code)
        elif outcome.permanent or now - item.created_at >= GIVE_UP_AFTER:
            key = (DeliveryStatus.dead.value, error, None, code)
        else:
            key = (DeliveryStatus.pending.value, error, now + retry_delay(item.attempts), code)
        groups.setdefault(key, []).append(item)
    per_claim: dict[uuid.UUID, int] = {}
    for outcome in outcomes:
        token = outcome.delivery.claim_token
        per_claim[token] = per_claim.get(token, 0) + 1
    counts = dict.fromkeys(DeliveryStatus, 0)
    for (status, error, retry_at, code), items in groups.items():
        values: dict[str, object] = {"claim_token": None, "last_error": error}
        if code is not None or status != DeliveryStatus.skipped.value:
            values["last_response_code"] = code
        if retry_at is not None:
            values["next_attempt_at"] = retry_at
        else:
            values |= {"status": status, "finished_at": now}
        for token in {item.claim_token for item in items}:
            ids = [item.id for item in items if item.claim_token == token]
            mine = [DELIVERIES.c.claim_token == token]
            if len(ids) < per_claim[token]:  # the claim's other deliveries fared otherwise
                mine.append(DELIVERIES.c.id.in_(ids))
            connection.execute(sa.update(DELIVERIES).where(*mine).values(**values))
        counts[DeliveryStatus(status)] += len(items)
    return Settled(
        delivered=counts[DeliveryStatus.delivered],
        retried=counts[DeliveryStatus.pending],
        dead=counts[DeliveryStatus.dead],
        skipped=counts[DeliveryStatus.skipped],
    )


def list_dead_letters(
    session: Session, context: RequestContext, *, limit: int, cursor: str | None
) -> DeadLetterPage:
    """The school's deliveries given up on, oldest first: which event, on which channel,
    to whom, how many attempts and the last error. DSLs and deputy DSLs. Nothing in them
    is safeguarding content (events carry ids and times only): not audited."""
    principal = context.principal
    access.require_alert_settings(principal)
    query = (
        sa.select(
            DELIVERIES.c.id,
            DELIVERIES.c.event_id,
            DELIVERIES.c.event_ids,
            EVENTS.c.type,
            EVENTS.c.occurred_at,
            DELIVERIES.c.channel,
            DELIVERIES.c.target_id,
            USERS.c.display_name,
            DELIVERIES.c.attempts,
            DELIVERIES.c.last_attempt_at,
            DELIVERIES.c.last_error,
        )
        .select_from(
            DELIVERIES.join(EVENTS, EVENTS.c.id == DELIVERIES.c.event_id).outerjoin(
                USERS,
                sa.and_(
                    USERS.c.id == DELIVERIES.c.target_id,
                    USERS.c.school_id == DELIVERIES.c.school_id,
                ),
            )
        )
        .where(
            DELIVERIES.c.school_id == principal.school_id,
            DELIVERIES.c.status == _DEAD,
        )
        .order_by(DELIVERIES.c.id)
        .limit(limit + 1)
    )
    if cursor is not None:
        try:
            after = uuid.UUID(str(decode_cursor(cursor, fields=("id",))["id"]))
        except ValueError:
            raise invalid_cursor() from None
        query = query.where(DELIVERIES.c.id > after)
    rows = session.connection().execute(query).all()
    more = len(rows) > limit
    rows = rows[:limit]
    items = [
        DeadLetter(
            id=row.id,
            event_id=row.event_id,
            event_type=row.type,
            event_ids=json.loads(row.event_ids),
            occurred_at=row.occurred_at,
            channel=row.channel,
            recipient=(
                Person(id=row.target_id, display_name=row.display_name)
                if row.display_name is not None
                else None
            ),
            attempts=row.attempts,
            last_attempt_at=row.last_attempt_at,
            last_error=row.last_error,
        )
        for row in rows
    ]
    return DeadLetterPage(
        items=items, next_cursor=encode_cursor({"id": str(rows[-1].id)}) if more else None
    )
