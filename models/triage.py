"""Triage: a DSL's working state for one concern, kept off the concern row itself.

A concern is never edited. What a DSL decides about it (status, risk level, who has it)
lives in ``concern_triage``, one row per concern, created with the concern; every change
to that row is also written to ``triage_event`` (who, when, which field, from, to, why),
so the history is never rewritten. ``version`` grows by one with every change: it is the
concern's ``ETag`` and what a compare-and-set update checks.

Status moves (anything else is a 409):

- ``new`` -> ``acknowledged``, ``in_progress`` or ``no_further_action``
- ``acknowledged`` -> ``in_progress``, ``closed`` or ``no_further_action``
- ``in_progress`` -> ``closed`` or ``no_further_action``
- ``closed`` or ``no_further_action`` -> ``in_progress`` (reopened: new information)

Nothing ever goes back to ``new`` (it means "no DSL has looked at this yet"), and a
concern cannot be ``closed`` straight from ``new``: closing says it was dealt with, which
needs someone to have acknowledged it first; ``no_further_action`` is the decision that
nothing needs doing.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from sqlalchemy import Boolean, CheckConstraint, Column, Index, Integer, Text, text
from sqlmodel import Field, SQLModel
from sqlmodel._compat import SQLModelConfig

from models.base import FORBID_EXTRA, NonBlankText, UTCDateTime, new_id
from models.user import DISPLAY_NAME_MAX, name_as_written

REASON_MAX = 2_000


class TriageStatus(StrEnum):
    new = "new"
    acknowledged = "acknowledged"
    in_progress = "in_progress"
    closed = "closed"
    no_further_action = "no_further_action"


class RiskLevel(StrEnum):
    low = "low"
    medium = "medium"
    high = "high"
    critical = "critical"


class TriageField(StrEnum):
    status = "status"
    risk_level = "risk_level"
    assigned_to = "assigned_to"


# The condition of the partial index of urgent concerns still new, spelt exactly as the
# inbox's query spells it (SQLite uses a partial index only for a query that repeats its
# condition; PostgreSQL proves it from the same terms).
URGENT_AND_NEW = "status = 'new' AND immediate_danger"

# Statuses that count as dealt with: a concern in one of them is not waiting for anyone.
FINISHED = frozenset({TriageStatus.closed, TriageStatus.no_further_action})

ALLOWED_MOVES: dict[TriageStatus, frozenset[TriageStatus]] = {
    TriageStatus.new: frozenset(
        {TriageStatus.acknowledged, TriageStatus.in_progress, TriageStatus.no_further_action}
    ),
    TriageStatus.acknowledged: frozenset(
        {TriageStatus.in_progress, TriageStatus.closed, TriageStatus.no_further_action}
    ),
    TriageStatus.in_progress: frozenset({TriageStatus.closed, TriageStatus.no_further_action}),
    TriageStatus.closed: frozenset({TriageStatus.in_progress}),
    TriageStatus.no_further_action: frozenset({TriageStatus.in_progress}),
}


def _in(values: type[StrEnum]) -> str:
    return ", ".join(f"'{value.value}'" for value in values)


class ConcernTriage(SQLModel, table=True):
    """The current triage state of one concern (one row per concern, made with it).

    ``recorded_at`` and ``immediate_danger`` are copied from the concern (which never
    changes) so that "new concerns, oldest first", "urgent concerns still new" (the
    inbox) and "unacknowledged for more than 24 hours" are answered from this table's
    indexes alone."""

    __tablename__ = "concern_triage"
    __table_args__ = (
        CheckConstraint(f"status IN ({_in(TriageStatus)})", name="status"),
        CheckConstraint(f"risk_level IN ({_in(RiskLevel)})", name="risk_level"),
        Index(
            "ix_concern_triage_school_id_status_recorded_at", "school_id", "status", "recorded_at"
        ),
        Index("ix_concern_triage_school_id_risk_level", "school_id", "risk_level"),
        Index("ix_concern_triage_school_id_assigned_to", "school_id", "assigned_to"),
        # "Is this concern in one of these statuses?" from the index alone, for each
        # concern a filter on signs finds (migration 07).
        Index("ix_concern_triage_concern_id_status", "concern_id", "status"),
        # The inbox's urgent list: only concerns in immediate danger still new are in it,
        # in the list's order. (``status`` is the same in every row, but SQLite's planner,
        # before ANALYZE, prefers the index with more equalities: with it, this one ties
        # with the one above and wins as the partial one.)
        Index(
            "ix_concern_triage_urgent_new",
            "school_id",
            "status",
            "recorded_at",
            "concern_id",
            postgresql_where=text(URGENT_AND_NEW),
            sqlite_where=text(URGENT_AND_NEW),
        ),
    )

    concern_id: uuid.UUID = Field(foreign_key="concern.id", primary_key=True)
    school_id: uuid.UUID = Field(foreign_key="school.id")
    status: str = Field(default=TriageStatus.new.value, max_length=20)
    risk_level: str | None = Field(default=None, max_length=10)
    assigned_to: uuid.UUID | None = Field(default=None, foreign_key="user_account.id")
    recorded_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    immediate_danger: bool = Field(sa_column=Column(Boolean, nullable=False))
    version: int = Field(default=1, sa_column=Column(Integer, nullable=False))
    updated_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class TriageEvent(SQLModel, table=True):
    """One change to one triage field, with its reason. Never updated or deleted.

    For a change of assignee, ``from_value`` and ``to_value`` are user ids, and
    ``from_name`` and ``to_name`` those people's names as they were when the change was
    recorded (null for nobody, and for the other fields)."""

    __tablename__ = "triage_event"
    __table_args__ = (Index("ix_triage_event_concern_id_recorded_at", "concern_id", "recorded_at"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    concern_id: uuid.UUID = Field(foreign_key="concern.id")
    school_id: uuid.UUID = Field(foreign_key="school.id")
    field: str = Field(max_length=20)
    from_value: str | None = Field(default=None, max_length=64)
    to_value: str | None = Field(default=None, max_length=64)
    from_name: str | None = Field(default=None, max_length=DISPLAY_NAME_MAX)
    to_name: str | None = Field(default=None, max_length=DISPLAY_NAME_MAX)
    reason: str = Field(sa_column=Column(Text, nullable=False))
    recorded_by: uuid.UUID = Field(foreign_key="user_account.id")
    recorded_by_name: str = name_as_written()
    recorded_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


# --- API schemas -------------------------------------------------------------------------


class TriageChange(SQLModel):
    """What a DSL changes, and why. Send only the fields that change; ``assigned_to: null``
    takes the concern off whoever had it."""

    model_config = SQLModelConfig(
        **FORBID_EXTRA,
        json_schema_extra={
            "examples": [
                {
                    "status": "acknowledged",
                    "risk_level": "medium",
                    "assigned_to": "01936b2e-6a01-7d11-9c3e-5b2f4e6a7b81",
                    "reason": "Read and discussed with the form tutor; deputy DSL to follow up.",
                }
            ]
        },
    )

    status: TriageStatus | None = None
    risk_level: RiskLevel | None = None
    assigned_to: uuid.UUID | None = Field(
        default=None, description="An active DSL or deputy DSL of your school; null: nobody"
    )
    reason: NonBlankText = Field(
        min_length=1, max_length=REASON_MAX, description="Why: required for every change"
    )
