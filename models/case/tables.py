"""Cases: a child's child protection file, opened by a DSL from one or more concerns.

A case belongs to one pupil of one school. Its current state (status, level, who has
it, outcome) is on the ``safeguarding_case`` row, with a ``version`` that grows with every
change (it is the case's ``ETag``, checked by a compare-and-set update); everything that
happens to it is a row of its own that is never changed: ``case_event`` (opened, concern
linked, level changed, closed, reopened, each with its reason), ``case_action`` (what was
done, with whom, when) and ``case_decision`` (what was decided and why). The pupil is
copied onto every one of those rows so that a child's chronology is an index lookup per
table.

A closed case takes no more actions, decisions, links or level changes: reopen it first
(with a reason), so that anything added after closure is visibly part of a reopened file.

A pupil has at most one open case: a partial unique index on ``pupil_id`` where the status
is ``open`` (PostgreSQL and SQLite alike) decides between two DSLs opening (or reopening)
a case for the same child at once. ``review_on`` is the date the DSL set to review the
case (the inbox lists open cases whose date has come); a decision's ``decided_at`` is
when it was decided, which is where the chronology places it.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, Column, Date, Index, Integer, Text, text
from sqlmodel import Field, SQLModel

from models.base import UTCDateTime, new_id
from models.user import name_as_written

SUMMARY_MAX = 5_000
TEXT_MAX = 20_000
WITH_WHOM_MAX = 500
MAX_LINKED = 200
# A case event's before and after: a level, a status, a date or a person's id.
EVENT_VALUE_MAX = 64


class CaseStatus(StrEnum):
    open = "open"
    closed = "closed"


class CaseLevel(StrEnum):
    """Rising levels of statutory involvement; a case moves between them over time."""

    monitoring = "monitoring"
    early_help = "early_help"
    child_in_need = "child_in_need"
    child_protection = "child_protection"
    looked_after = "looked_after"


class ActionType(StrEnum):
    discussion = "discussion"
    contact_parent = "contact_parent"
    contact_police = "contact_police"
    referral_childrens_social_care = "referral_childrens_social_care"
    referral_early_help = "referral_early_help"
    referral_other_agency = "referral_other_agency"
    meeting = "meeting"
    other = "other"


class CaseEventKind(StrEnum):
    opened = "opened"
    concern_linked = "concern_linked"
    level_changed = "level_changed"
    closed = "closed"
    reopened = "reopened"
    review_changed = "review_changed"
    reassigned = "reassigned"


def _in(values: type[StrEnum]) -> str:
    return ", ".join(f"'{value.value}'" for value in values)


def _timestamp(*, nullable: bool = False) -> Column[datetime]:
    return Column(UTCDateTime, nullable=nullable)


# The condition of the partial indexes on open cases, spelt as the queries spell it.
OPEN_ONLY = "status = 'open'"


class Case(SQLModel, table=True):
    __tablename__ = "safeguarding_case"
    __table_args__ = (
        CheckConstraint(f"status IN ({_in(CaseStatus)})", name="status"),
        CheckConstraint(f"level IN ({_in(CaseLevel)})", name="level"),
        Index("ix_safeguarding_case_school_id_pupil_id", "school_id", "pupil_id"),
        Index("ix_safeguarding_case_school_id_status_level", "school_id", "status", "level"),
        Index("ix_safeguarding_case_school_id_opened_at_id", "school_id", "opened_at", "id"),
        Index("ix_safeguarding_case_school_id_assigned_to", "school_id", "assigned_to"),
        # One open case per pupil, whoever opens or reopens one at the same moment.
        Index(
            "ux_safeguarding_case_pupil_id_open",
            "pupil_id",
            unique=True,
            postgresql_where=text(OPEN_ONLY),
            sqlite_where=text(OPEN_ONLY),
        ),
        # The inbox's reviews due: the school's open cases by review date, from the index.
        Index(
            "ix_safeguarding_case_school_id_review_on_open",
            "school_id",
            "review_on",
            postgresql_where=text(OPEN_ONLY),
            sqlite_where=text(OPEN_ONLY),
        ),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    school_id: uuid.UUID = Field(foreign_key="school.id")
    pupil_id: uuid.UUID = Field(foreign_key="pupil.id")
    status: str = Field(default=CaseStatus.open.value, max_length=10)
    level: str = Field(max_length=30)
    summary: str = Field(sa_column=Column(Text, nullable=False))
    assigned_to: uuid.UUID | None = Field(default=None, foreign_key="user_account.id")
    opened_by: uuid.UUID = Field(foreign_key="user_account.id")
    opened_by_name: str = name_as_written()
    opened_at: datetime = Field(sa_column=_timestamp())
    closed_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))
    outcome: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    review_on: date | None = Field(default=None, sa_column=Column(Date, nullable=True))
    version: int = Field(default=1, sa_column=Column(Integer, nullable=False))
    updated_at: datetime = Field(sa_column=_timestamp())


class CaseConcern(SQLModel, table=True):
    """A concern linked to a case (the same pupil, the same school)."""

    __tablename__ = "case_concern"
    __table_args__ = (Index("ix_case_concern_school_id_concern_id", "school_id", "concern_id"),)

    case_id: uuid.UUID = Field(foreign_key="safeguarding_case.id", primary_key=True)
    concern_id: uuid.UUID = Field(foreign_key="concern.id", primary_key=True)
    school_id: uuid.UUID = Field(foreign_key="school.id")
    linked_by: uuid.UUID = Field(foreign_key="user_account.id")
    linked_at: datetime = Field(sa_column=_timestamp())


class CaseEvent(SQLModel, table=True):
    """Something that happened to the case itself: opened, a concern linked, the level
    changed, closed, reopened, its review date changed, given to another DSL.
    ``from_value``/``to_value`` carry the level, status, review date (ISO) or assignee's
    id; ``text`` the summary (opened) or outcome (closed)."""

    __tablename__ = "case_event"
    __table_args__ = (
        CheckConstraint(f"kind IN ({_in(CaseEventKind)})", name="kind"),
        Index("ix_case_event_case_id_recorded_at", "case_id", "recorded_at"),
        Index(
            "ix_case_event_school_id_pupil_id_recorded_at", "school_id", "pupil_id", "recorded_at"
        ),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    case_id: uuid.UUID = Field(foreign_key="safeguarding_case.id")
    school_id: uuid.UUID = Field(foreign_key="school.id")
    pupil_id: uuid.UUID = Field(foreign_key="pupil.id")
    kind: str = Field(max_length=20)
    from_value: str | None = Field(default=None, max_length=EVENT_VALUE_MAX)
    to_value: str | None = Field(default=None, max_length=EVENT_VALUE_MAX)
    concern_id: uuid.UUID | None = Field(default=None, foreign_key="concern.id")
    text: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    recorded_by: uuid.UUID = Field(foreign_key="user_account.id")
    recorded_by_name: str = name_as_written()
    recorded_at: datetime = Field(sa_column=_timestamp())


class CaseAction(SQLModel, table=True):
    """Something a DSL did or arranged: a discussion, a call, a referral, a meeting."""

    __tablename__ = "case_action"
    __table_args__ = (
        CheckConstraint(f"type IN ({_in(ActionType)})", name="type"),
        Index("ix_case_action_case_id_occurred_at", "case_id", "occurred_at"),
        Index(
            "ix_case_action_school_id_pupil_id_occurred_at", "school_id", "pupil_id", "occurred_at"
        ),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    case_id: uuid.UUID = Field(foreign_key="safeguarding_case.id")
    school_id: uuid.UUID = Field(foreign_key="school.id")
    pupil_id: uuid.UUID = Field(foreign_key="pupil.id")
    type: str = Field(max_length=40)
    description: str = Field(sa_column=Column(Text, nullable=False))
    occurred_at: datetime = Field(sa_column=_timestamp())
    with_whom: str | None = Field(default=None, max_length=WITH_WHOM_MAX)
    recorded_by: uuid.UUID = Field(foreign_key="user_account.id")
    recorded_by_name: str = name_as_written()
    recorded_at: datetime = Field(sa_column=_timestamp())


class CaseDecision(SQLModel, table=True):
    """A decision and the reason for it (KCSIE: decisions and their reasons in writing).
    ``decided_at`` is when it was decided (a meeting last week), ``recorded_at`` when it
    was written down."""

    __tablename__ = "case_decision"
    __table_args__ = (
        Index("ix_case_decision_case_id_recorded_at", "case_id", "recorded_at"),
        Index(
            "ix_case_decision_school_id_pupil_id_recorded_at",
            "school_id",
            "pupil_id",
            "recorded_at",
        ),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    case_id: uuid.UUID = Field(foreign_key="safeguarding_case.id")
    school_id: uuid.UUID = Field(foreign_key="school.id")
    pupil_id: uuid.UUID = Field(foreign_key="pupil.id")
    decision: str = Field(sa_column=Column(Text, nullable=False))
    reason: str = Field(sa_column=Column(Text, nullable=False))
    decided_at: datetime = Field(sa_column=_timestamp())
    recorded_by: uuid.UUID = Field(foreign_key="user_account.id")
    recorded_by_name: str = name_as_written()
    recorded_at: datetime = Field(sa_column=_timestamp())
