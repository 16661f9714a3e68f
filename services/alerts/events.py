"""The events alerts report, and the one way to record them: ``emit``.

An event is written in the caller's transaction, beside what it reports, so it exists
exactly when that does. Its data is ids, flags, counts and times, never text: a value
that is a string is refused (``ValueError``), whoever calls, so a pupil's name, a
description, an indicator or a category can never travel in an alert.

Every channel (email, webhooks, the stream) shows an event as ``payload``:
``{"type", "timestamp", "data": {..., "school_urn"}}``.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Literal

import sqlalchemy as sa
from sqlmodel import Session

from db.prepared import Prepared
from models.alert import AlertEvent
from models.base import new_id

EVENTS: sa.Table = AlertEvent.__table__  # type: ignore[attr-defined]

CONCERN_CREATED = "concern.created"
CONCERN_URGENT = "concern.urgent"
CONCERNS_UNACKNOWLEDGED = "concerns.unacknowledged"
TASK_ASSIGNED = "task.assigned"
TASK_DUE = "task.due"
REVIEW_DUE = "review.due"
TRANSFER_OVERDUE = "transfer.overdue"
PRIVILEGED_REQUESTED = "privileged.requested"
PRIVILEGED_DECIDED = "privileged.decided"
FLAG_RAISED = "flag.raised"


@dataclass(frozen=True)
class EventType:
    """What an event of a type carries (exactly these keys), what it is about (the key
    whose id is its ``subject_id``), and who an email of it goes to: the school's DSL desk,
    or the person named by ``data["assigned_to"]``."""

    keys: frozenset[str]
    subject: str | None
    recipients: Literal["dsl_desk", "assignee"]
    # Urgent events go to every recipient, whatever their own choice, marked URGENT.
    urgent: bool = False
    # Events that go to every recipient whatever their own choice, unmarked: what the DSL
    # desk must not be able to stop hearing of (a change to who reads concerns).
    mandatory: bool = False


EVENT_TYPES: dict[str, EventType] = {
    # Every concern logged; ``urgent``: it was logged as immediate danger (then the
    # ``concern.urgent`` beside it is what is emailed).
    CONCERN_CREATED: EventType(
        frozenset({"concern_id", "urgent", "recorded_at"}), "concern_id", "dsl_desk"
    ),
    # An immediate-danger concern, when logged (``reminder`` 0) and again every
    # ``escalate_after_minutes`` while it is still ``new`` (1, 2...).
    CONCERN_URGENT: EventType(
        frozenset({"concern_id", "recorded_at", "reminder"}), "concern_id", "dsl_desk", urgent=True
    ),
    # The daily digest: concerns still ``new`` after ``unacknowledged_after_hours``.
    CONCERNS_UNACKNOWLEDGED: EventType(
        frozenset({"count", "concern_ids", "oldest_recorded_at", "older_than_hours"}),
        None,
        "dsl_desk",
    ),
    # Emitted by the tasks and reviews (issue 18, point 6) and transfers (section 12).
    TASK_ASSIGNED: EventType(
        frozenset({"task_id", "case_id", "assigned_to", "due_on"}), "task_id", "assignee"
    ),
    TASK_DUE: EventType(
        frozenset({"task_id", "case_id", "assigned_to", "due_on"}), "task_id", "assignee"
    ),
    REVIEW_DUE: EventType(frozenset({"case_id", "review_on"}), "case_id", "dsl_desk"),
    TRANSFER_OVERDUE: EventType(frozenset({"transfer_id", "due_by"}), "transfer_id", "dsl_desk"),
    # A change that needs a DSL (a DSL role granted, a DSL's password or MFA reset) was
    # asked for, and then decided (approved, or rejected or withdrawn: ``approved`` false).
    # Never whose account, what change, or who asked (docs/adr/0080).
    PRIVILEGED_REQUESTED: EventType(
        frozenset({"request_id", "expires_at"}), "request_id", "dsl_desk", mandatory=True
    ),
    PRIVILEGED_DECIDED: EventType(
        frozenset({"request_id", "approved", "decided_at"}),
        "request_id",
        "dsl_desk",
        mandatory=True,
    ),
    # A pattern flag raised for a pupil, or reopened by new evidence (docs/adr/0110):
    # never whose, which rule, or which signs.
    FLAG_RAISED: EventType(frozenset({"flag_id", "raised_at", "reopened"}), "flag_id", "dsl_desk"),
}

# Of the kinds of value JSON has, what an event may carry: never a string of our own
# making, which is how text would get in.
Value = bool | int | uuid.UUID | datetime | date | None | Sequence[uuid.UUID]


def _encoded(key: str, value: Any) -> Any:
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, uuid.UUID):
        return str(value)
    if isinstance(value, datetime):
        if value.utcoffset() is None:
            raise ValueError(f"alert event data {key!r}: a naive datetime")
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | tuple) and all(isinstance(item, uuid.UUID) for item in value):
        return [str(item) for item in value]
    raise ValueError(
        f"alert event data {key!r} must be an id, a flag, a count or a time, never text "
        f"(got {type(value).__name__})"
    )


def encode_data(event_type: str, data: Mapping[str, Value]) -> str:
    """``data`` as stored: checked against its type's keys and kinds of value, as JSON."""
    spec = EVENT_TYPES.get(event_type)
    if spec is None:
        raise ValueError(f"unknown alert event type {event_type!r}")
    if set(data) != spec.keys:
        raise ValueError(f"an alert event {event_type!r} carries exactly {sorted(spec.keys)}")
    encoded = {key: _encoded(key, value) for key, value in data.items()}
    return json.dumps(encoded, sort_keys=True, separators=(",", ":"))


def event_row(
    *, school_id: uuid.UUID, event_type: str, data: Mapping[str, Value], now: datetime
) -> dict[str, Any]:
    """One ``alert_event`` row, checked (``encode_data``), for ``insert_events``."""
    spec = EVENT_TYPES.get(event_type)
    subject = data.get(spec.subject) if spec is not None and spec.subject else None
    return {
        "id": new_id(),
        "school_id": school_id,
        "type": event_type,
        "subject_id": subject if isinstance(subject, uuid.UUID) else None,
        "data": encode_data(event_type, data),
        "occurred_at": now,
        "sequence": None,
        "published_at": None,
    }


# Built once: a concern's log sends it with its own rows (``db.batch.sent_together``).
INSERT_EVENTS = Prepared(sa.insert(EVENTS))


def insert_events(session: Session, rows: Sequence[Mapping[str, Any]]) -> None:
    """Write event rows (``event_row``) in the caller's transaction: one statement, sent
    with the caller's own inside ``sent_together``."""
    INSERT_EVENTS.insert_many(session, rows)


def emit(
    session: Session,
    *,
    school_id: uuid.UUID,
    event_type: str,
    data: Mapping[str, Value],
    now: datetime,
) -> uuid.UUID:
    """Record that something happened the school's alerts report (``EVENT_TYPES``), in
    the caller's transaction: it is delivered (emailed, later posted and streamed) after
    the transaction commits, by the delivery worker, and never if it rolls back. ``data``
    holds exactly the type's keys, as ids, flags, counts, dates and times (``ValueError``
    otherwise, text above all). Returns the event's id, which every delivery keeps."""
    row = event_row(school_id=school_id, event_type=event_type, data=data, now=now)
    insert_events(session, [row])
    event_id: uuid.UUID = row["id"]
    return event_id


def decoded(data: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads(data)
    return found


def payload(
    *, event_type: str, occurred_at: datetime, data: str, school_urn: str
) -> dict[str, Any]:
    """An event as every channel shows it (contract section 9). Every concern event
    carries ``concern_id``, ``school_urn``, ``urgent`` and ``recorded_at``: a
    ``concern.urgent`` is urgent (and says which ``reminder`` it is, 0 when logged)."""
    shown = decoded(data)
    if event_type == CONCERN_URGENT:
        shown["urgent"] = True
    return {
        "type": event_type,
        "timestamp": occurred_at.isoformat().replace("+00:00", "Z"),
        "data": {**shown, "school_urn": school_urn},
    }
