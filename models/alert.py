"""Alerts: the outbox of content-free events, their deliveries per channel, and the
settings that shape them.

An ``alert_event`` is written in the same transaction as what it reports (a concern
logged, an urgent concern, later a task assigned...). It holds ids, flags and times only,
never a pupil's name, a description, an indicator or a category. The delivery worker
*publishes* it (gives it its place in the stream, ``sequence``, in commit order) and fans
it out into one ``alert_delivery`` per channel and target (an email to one DSL; later a
webhook subscription), each retried with backoff until delivered or dead.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Any

from pydantic import Field as PydanticField
from sqlalchemy import BigInteger, CheckConstraint, Column, Index, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel
from sqlmodel._compat import SQLModelConfig

from models.base import FORBID_EXTRA, UTCDateTime, new_id
from models.concern import Person


def _timestamp(*, nullable: bool = False) -> Column[datetime]:
    return Column(UTCDateTime, nullable=nullable)


class DeliveryStatus(StrEnum):
    pending = "pending"  # waiting for its next attempt (or claimed: see ``claim_token``)
    delivered = "delivered"
    dead = "dead"  # retried for a day (or refused for good): the desk lists it
    skipped = "skipped"  # nobody to send it to any more (the recipient left the desk)


def _in(values: type[StrEnum]) -> str:
    return ", ".join(f"'{value.value}'" for value in values)


class AlertEvent(SQLModel, table=True):
    """One content-free event, in the outbox. ``id`` is its stable id (a redelivery keeps
    it); ``sequence`` its place in the published stream, given by the worker under a lock
    in commit order (null until published), so a reader that has seen ``sequence`` n has
    seen everything before it. ``data`` is JSON of ids, flags, counts and times only
    (``services.alerts.events`` refuses anything else)."""

    __tablename__ = "alert_event"
    __table_args__ = (
        UniqueConstraint("sequence"),
        Index("ix_alert_event_school_id_sequence", "school_id", "sequence"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    school_id: uuid.UUID = Field(foreign_key="school.id")
    type: str = Field(max_length=40)
    # What the event is about (a concern, a task, a case): found again by it.
    subject_id: uuid.UUID | None = Field(default=None)
    data: str = Field(sa_column=Column(Text, nullable=False))
    occurred_at: datetime = Field(sa_column=_timestamp())
    sequence: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    published_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))


class AlertDelivery(SQLModel, table=True):
    """One message to one target on one channel (an email to one DSL), at least once: of
    one event, or, for an email, of several new concerns published together (one email
    saying "3 new concerns", not three). ``event_id`` is its first event; ``event_ids``
    all of them, as a JSON list.

    A worker claims it by moving ``next_attempt_at`` to the end of a lease and setting
    ``claim_token``: a worker killed mid-delivery loses nothing, the lease runs out and
    another claims it again. Outcomes are written only by the claim's holder."""

    __tablename__ = "alert_delivery"
    __table_args__ = (
        CheckConstraint(f"status IN ({_in(DeliveryStatus)})", name="status"),
        # Partial indexes: each holds only the few rows it is for, so a delivery's writes
        # (made, claimed, settled) move few index entries. A query that uses one states
        # its condition as a literal (a parameter would not prove it).
        # The deliveries waiting, by when they are due: what claims read.
        Index(
            "ix_alert_delivery_pending",
            "channel",
            "next_attempt_at",
            postgresql_where=text("status = 'pending'"),
            sqlite_where=text("status = 'pending'"),
        ),
        # The dead letters, by school: what the desk lists.
        Index(
            "ix_alert_delivery_dead",
            "school_id",
            "id",
            postgresql_where=text("status = 'dead'"),
            sqlite_where=text("status = 'dead'"),
        ),
        # The deliveries one claim holds.
        Index(
            "ix_alert_delivery_claim_token",
            "claim_token",
            postgresql_where=text("claim_token IS NOT NULL"),
            sqlite_where=text("claim_token IS NOT NULL"),
        ),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    event_id: uuid.UUID = Field(foreign_key="alert_event.id")
    event_ids: str = Field(sa_column=Column(Text, nullable=False))
    school_id: uuid.UUID = Field(foreign_key="school.id")
    channel: str = Field(max_length=20)
    # The email's recipient (a user); a webhook subscription later.
    target_id: uuid.UUID
    status: str = Field(default=DeliveryStatus.pending.value, max_length=12)
    attempts: int = Field(default=0)
    created_at: datetime = Field(sa_column=_timestamp())
    next_attempt_at: datetime = Field(sa_column=_timestamp())
    last_attempt_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))
    finished_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))
    # Our own short words and the server's status code, never the message we sent.
    last_error: str | None = Field(default=None, max_length=300)
    # A webhook's: the receiver's last HTTP status.
    last_response_code: int | None = Field(default=None)
    claim_token: uuid.UUID | None = Field(default=None)


class AlertEscalation(SQLModel, table=True):
    """An urgent concern still to be chased: when its next reminder is due. Made with the
    concern; removed once a DSL has triaged the concern out of ``new``."""

    __tablename__ = "alert_escalation"
    __table_args__ = (Index("ix_alert_escalation_next_at", "next_at"),)

    concern_id: uuid.UUID = Field(foreign_key="concern.id", primary_key=True)
    school_id: uuid.UUID = Field(foreign_key="school.id")
    # When to look at it again: at once when made; then when the next reminder is due.
    next_at: datetime = Field(sa_column=_timestamp())
    # When every DSL and deputy was last told (the concern logged, or the last reminder).
    last_sent_at: datetime = Field(sa_column=_timestamp())
    reminders: int = Field(default=0)


class AlertDigest(SQLModel, table=True):
    """A school's daily digest, considered once a day: the event it raised, if any
    concern was waiting."""

    __tablename__ = "alert_digest"

    # The day first: "which schools are done today?" is read from the key.
    digest_on: date = Field(primary_key=True)
    school_id: uuid.UUID = Field(foreign_key="school.id", primary_key=True)
    event_id: uuid.UUID | None = Field(default=None)
    considered_at: datetime = Field(sa_column=_timestamp())


class AlertDueNotice(SQLModel, table=True):
    """That a task's due date or a case's review date was alerted: once for each date
    (``task.due`` / ``review.due``). A date moved is a new date, alerted when it comes."""

    __tablename__ = "alert_due_notice"
    __table_args__ = (CheckConstraint("kind IN ('task', 'review')", name="kind"),)

    kind: str = Field(max_length=8, primary_key=True)
    subject_id: uuid.UUID = Field(primary_key=True)
    due_on: date = Field(primary_key=True)
    school_id: uuid.UUID = Field(foreign_key="school.id")
    event_id: uuid.UUID
    raised_at: datetime = Field(sa_column=_timestamp())


DEFAULT_ESCALATE_AFTER_MINUTES = 15
DEFAULT_UNACKNOWLEDGED_AFTER_HOURS = 24


class AlertSettings(SQLModel, table=True):
    """A school's alert settings; a school without a row has the defaults."""

    __tablename__ = "alert_settings"

    school_id: uuid.UUID = Field(foreign_key="school.id", primary_key=True)
    escalate_after_minutes: int = Field(default=DEFAULT_ESCALATE_AFTER_MINUTES)
    unacknowledged_after_hours: int = Field(default=DEFAULT_UNACKNOWLEDGED_AFTER_HOURS)
    updated_at: datetime = Field(sa_column=_timestamp())
    updated_by: uuid.UUID | None = Field(default=None, foreign_key="user_account.id")


class AlertPreference(SQLModel, table=True):
    """One person's own choice of alert emails; a person without a row gets them all."""

    __tablename__ = "alert_preference"

    user_id: uuid.UUID = Field(foreign_key="user_account.id", primary_key=True)
    school_id: uuid.UUID = Field(foreign_key="school.id")
    email_non_urgent: bool = Field(default=True)
    updated_at: datetime = Field(sa_column=_timestamp())


# --- API schemas -------------------------------------------------------------------------

ESCALATE_MINUTES_RANGE = (5, 240)
UNACKNOWLEDGED_HOURS_RANGE = (1, 168)

_SETTINGS_EXAMPLE: dict[str, Any] = {"escalate_after_minutes": 15, "unacknowledged_after_hours": 24}


class AlertSettingsBody(SQLModel):
    """The school's alert settings, both given (a ``PUT`` replaces them)."""

    model_config = SQLModelConfig(
        **FORBID_EXTRA, json_schema_extra={"examples": [_SETTINGS_EXAMPLE]}
    )

    escalate_after_minutes: int = PydanticField(
        ge=ESCALATE_MINUTES_RANGE[0],
        le=ESCALATE_MINUTES_RANGE[1],
        description="An immediate-danger concern still `new` is emailed again to every DSL "
        "and deputy this often, in minutes (5 to 240)",
    )
    unacknowledged_after_hours: int = PydanticField(
        ge=UNACKNOWLEDGED_HOURS_RANGE[0],
        le=UNACKNOWLEDGED_HOURS_RANGE[1],
        description="A concern still `new` this many hours after it was logged goes into "
        "the daily digest (1 to 168)",
    )


class AlertSettingsPublic(AlertSettingsBody):
    model_config = SQLModelConfig(json_schema_extra={"examples": [_SETTINGS_EXAMPLE]})


class AlertPreferences(SQLModel):
    """A person's own alert emails. Urgent ones (an immediate-danger concern and its
    reminders) are always sent to the DSL desk, whatever this says."""

    model_config = SQLModelConfig(
        **FORBID_EXTRA, json_schema_extra={"examples": [{"email_non_urgent": False}]}
    )

    # Strict: "no" or 0 is a 422, not a quiet false.
    email_non_urgent: bool = PydanticField(
        strict=True,
        description="Emails that are not urgent (a concern logged, the daily digest, tasks)",
    )


class AlertPreferencesPublic(AlertPreferences):
    model_config = SQLModelConfig(json_schema_extra={"examples": [{"email_non_urgent": True}]})


_DEAD_LETTER_EXAMPLE: dict[str, Any] = {
    "id": "01936b2e-6a01-7d11-9c3e-5b2f4e6a7b81",
    "event_id": "01936b2e-6a00-7d11-9c3e-5b2f4e6a7b80",
    "event_type": "concern.created",
    "event_ids": ["01936b2e-6a00-7d11-9c3e-5b2f4e6a7b80"],
    "occurred_at": "2026-12-02T09:15:00Z",
    "channel": "email",
    "recipient": {"id": "01936b2e-1a2b-7c3d-8e4f-5a6b7c8d9e0f", "display_name": "Jo Lead"},
    "attempts": 14,
    "last_attempt_at": "2026-12-03T09:10:00Z",
    "last_error": "SMTP 550: mailbox unavailable",
}


class DeadLetter(SQLModel):
    """A delivery given up on: which events, to whom, how many tries, the last error."""

    model_config = SQLModelConfig(json_schema_extra={"examples": [_DEAD_LETTER_EXAMPLE]})

    id: uuid.UUID
    event_id: uuid.UUID = PydanticField(description="Its (first) event")
    event_type: str
    event_ids: list[uuid.UUID] = PydanticField(
        description="Every event it told of (new concerns published together go as one email)"
    )
    occurred_at: datetime
    channel: str
    recipient: Person | None = PydanticField(description="For an email: the person it was for")
    attempts: int
    last_attempt_at: datetime | None
    last_error: str | None


class DeadLetterPage(SQLModel):
    model_config = SQLModelConfig(
        json_schema_extra={"examples": [{"items": [_DEAD_LETTER_EXAMPLE], "next_cursor": None}]}
    )

    items: list[DeadLetter]
    next_cursor: str | None = PydanticField(description="Opaque; null on the last page")
