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
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import field_validator
from sqlalchemy import CheckConstraint, Column, Index, Integer, Text
from sqlmodel import Field, SQLModel
from sqlmodel._compat import SQLModelConfig

from models.base import FORBID_EXTRA, Moment, NonBlankText, UTCDateTime, new_id, rfc3339_only
from models.concern import ConcernPublic, Person
from models.triage import REASON_MAX
from models.user import name_as_written

SUMMARY_MAX = 5_000
TEXT_MAX = 20_000
WITH_WHOM_MAX = 500
MAX_LINKED = 200


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


def _in(values: type[StrEnum]) -> str:
    return ", ".join(f"'{value.value}'" for value in values)


def _timestamp(*, nullable: bool = False) -> Column[datetime]:
    return Column(UTCDateTime, nullable=nullable)


class Case(SQLModel, table=True):
    __tablename__ = "safeguarding_case"
    __table_args__ = (
        CheckConstraint(f"status IN ({_in(CaseStatus)})", name="status"),
        CheckConstraint(f"level IN ({_in(CaseLevel)})", name="level"),
        Index("ix_safeguarding_case_school_id_pupil_id", "school_id", "pupil_id"),
        Index("ix_safeguarding_case_school_id_status_level", "school_id", "status", "level"),
        Index("ix_safeguarding_case_school_id_opened_at_id", "school_id", "opened_at", "id"),
        Index("ix_safeguarding_case_school_id_assigned_to", "school_id", "assigned_to"),
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
    changed, closed, reopened. ``from_value``/``to_value`` carry the level or status;
    ``text`` the summary (opened) or outcome (closed)."""

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
    from_value: str | None = Field(default=None, max_length=30)
    to_value: str | None = Field(default=None, max_length=30)
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
    """A decision and the reason for it (KCSIE: decisions and their reasons in writing)."""

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
    recorded_by: uuid.UUID = Field(foreign_key="user_account.id")
    recorded_by_name: str = name_as_written()
    recorded_at: datetime = Field(sa_column=_timestamp())


# --- API schemas -------------------------------------------------------------------------

_PUPIL_ID = "01936b2e-5f7a-7cc0-8a38-2c1f1c5d9a10"
_CONCERN_ID = "01936b2f-1111-7abc-8def-0123456789ab"
_CASE_ID = "01936b50-2222-7abc-8def-0123456789ab"
_DSL = {"id": "01936b2e-6a01-7d11-9c3e-5b2f4e6a7b81", "display_name": "Jo Lead"}


class CaseCreate(SQLModel):
    model_config = SQLModelConfig(
        **FORBID_EXTRA,
        json_schema_extra={
            "examples": [
                {
                    "pupil_id": _PUPIL_ID,
                    "concern_ids": [_CONCERN_ID],
                    "level": "early_help",
                    "summary": "Three staff have noticed new items, secrecy and late nights.",
                    "assigned_to": _DSL["id"],
                }
            ]
        },
    )

    pupil_id: uuid.UUID
    concern_ids: list[uuid.UUID] = Field(
        default_factory=list,
        max_length=MAX_LINKED,
        description="Concerns about this pupil to link now (more can be linked later)",
    )
    level: CaseLevel
    summary: NonBlankText = Field(min_length=1, max_length=SUMMARY_MAX)
    assigned_to: uuid.UUID | None = Field(
        default=None,
        description="An active DSL or deputy DSL of your school; you, when not given",
    )

    @field_validator("concern_ids")
    @classmethod
    def _once_each(cls, values: list[uuid.UUID]) -> list[uuid.UUID]:
        return list(dict.fromkeys(values))


class CaseLink(SQLModel):
    model_config = SQLModelConfig(
        **FORBID_EXTRA, json_schema_extra={"examples": [{"concern_ids": [_CONCERN_ID]}]}
    )

    concern_ids: list[uuid.UUID] = Field(min_length=1, max_length=MAX_LINKED)

    @field_validator("concern_ids")
    @classmethod
    def _once_each(cls, values: list[uuid.UUID]) -> list[uuid.UUID]:
        return list(dict.fromkeys(values))


class ActionCreate(SQLModel):
    model_config = SQLModelConfig(
        **FORBID_EXTRA,
        json_schema_extra={
            "examples": [
                {
                    "type": "contact_parent",
                    "description": "Phoned her mother to share the school's worries.",
                    "occurred_at": "2026-11-28T10:30:00Z",
                    "with_whom": "Mother (fictional)",
                }
            ]
        },
    )

    type: ActionType
    description: NonBlankText = Field(min_length=1, max_length=TEXT_MAX)
    _occurred_at_is_rfc3339 = field_validator("occurred_at", mode="before")(rfc3339_only)
    occurred_at: Moment = Field(
        description="When it happened, with an offset; not more than 5 minutes in the future"
    )
    with_whom: NonBlankText | None = Field(default=None, min_length=1, max_length=WITH_WHOM_MAX)

    @field_validator("occurred_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return value.astimezone(UTC)


class DecisionCreate(SQLModel):
    model_config = SQLModelConfig(
        **FORBID_EXTRA,
        json_schema_extra={
            "examples": [
                {
                    "decision": "Refer to children's social care (MASH).",
                    "reason": "Pattern of gifts and an older 'friend' meets the threshold.",
                }
            ]
        },
    )

    decision: NonBlankText = Field(min_length=1, max_length=TEXT_MAX)
    reason: NonBlankText = Field(min_length=1, max_length=TEXT_MAX)


class CaseClose(SQLModel):
    model_config = SQLModelConfig(
        **FORBID_EXTRA,
        json_schema_extra={
            "examples": [
                {
                    "outcome": "Social care assessment completed; family engaging with support.",
                    "reason": "No further concerns for six weeks; agreed at review meeting.",
                }
            ]
        },
    )

    outcome: NonBlankText = Field(min_length=1, max_length=TEXT_MAX)
    reason: NonBlankText = Field(min_length=1, max_length=REASON_MAX)


class CaseReopen(SQLModel):
    model_config = SQLModelConfig(
        **FORBID_EXTRA,
        json_schema_extra={"examples": [{"reason": "A new concern shows the same pattern."}]},
    )

    reason: NonBlankText = Field(min_length=1, max_length=REASON_MAX)


class CaseLevelChange(SQLModel):
    model_config = SQLModelConfig(
        **FORBID_EXTRA,
        json_schema_extra={
            "examples": [{"level": "child_in_need", "reason": "Social care accepted the referral."}]
        },
    )

    level: CaseLevel
    reason: NonBlankText = Field(min_length=1, max_length=REASON_MAX)


class ActionPublic(SQLModel):
    id: uuid.UUID
    type: ActionType
    description: str
    occurred_at: datetime
    with_whom: str | None
    recorded_at: datetime
    recorded_by: Person


class DecisionPublic(SQLModel):
    id: uuid.UUID
    decision: str
    reason: str
    recorded_at: datetime
    recorded_by: Person


class CaseEventPublic(SQLModel):
    id: uuid.UUID
    kind: CaseEventKind
    from_value: str | None = Field(description="The level or status before")
    to_value: str | None = Field(description="The level or status after")
    concern_id: uuid.UUID | None = Field(description="The concern linked (concern_linked)")
    text: str | None = Field(description="The summary (opened) or outcome (closed)")
    reason: str | None
    recorded_at: datetime
    recorded_by: Person


_ACTION_EXAMPLE: dict[str, Any] = {
    "id": "01936b51-0000-7000-8000-000000000001",
    "type": "contact_parent",
    "description": "Phoned her mother to share the school's worries.",
    "occurred_at": "2026-11-28T10:30:00Z",
    "with_whom": "Mother (fictional)",
    "recorded_at": "2026-11-28T10:45:00Z",
    "recorded_by": _DSL,
}
_DECISION_EXAMPLE: dict[str, Any] = {
    "id": "01936b52-0000-7000-8000-000000000001",
    "decision": "Refer to children's social care (MASH).",
    "reason": "Pattern of gifts and an older 'friend' meets the threshold.",
    "recorded_at": "2026-11-28T11:00:00Z",
    "recorded_by": _DSL,
}
_CASE_SUMMARY_EXAMPLE: dict[str, Any] = {
    "id": _CASE_ID,
    "pupil_id": _PUPIL_ID,
    "status": "open",
    "level": "early_help",
    "summary": "Three staff have noticed new items, secrecy and late nights.",
    "assigned_to": _DSL,
    "opened_by": _DSL,
    "opened_at": "2026-11-28T09:00:00Z",
    "closed_at": None,
    "outcome": None,
    "concern_ids": [_CONCERN_ID],
}


class CaseSummary(SQLModel):
    """A case as listed: its state, without its contents."""

    model_config = SQLModelConfig(json_schema_extra={"examples": [_CASE_SUMMARY_EXAMPLE]})

    id: uuid.UUID
    pupil_id: uuid.UUID
    status: CaseStatus
    level: CaseLevel
    summary: str
    assigned_to: Person | None
    opened_by: Person
    opened_at: datetime
    closed_at: datetime | None
    outcome: str | None
    concern_ids: list[uuid.UUID] = Field(description="Linked concerns, in the order linked")


class CasePublic(CaseSummary):
    """The whole case: linked concerns, actions (by when they happened), decisions and its
    history (oldest first)."""

    model_config = SQLModelConfig(
        json_schema_extra={
            "examples": [
                _CASE_SUMMARY_EXAMPLE
                | {
                    "concerns": [],
                    "actions": [_ACTION_EXAMPLE],
                    "decisions": [_DECISION_EXAMPLE],
                    "history": [
                        {
                            "id": "01936b53-0000-7000-8000-000000000001",
                            "kind": "opened",
                            "from_value": None,
                            "to_value": "early_help",
                            "concern_id": None,
                            "text": "Three staff have noticed new items, secrecy and late nights.",
                            "reason": None,
                            "recorded_at": "2026-11-28T09:00:00Z",
                            "recorded_by": _DSL,
                        }
                    ],
                }
            ]
        }
    )

    concerns: list[ConcernPublic]
    actions: list[ActionPublic]
    decisions: list[DecisionPublic]
    history: list[CaseEventPublic]


class CasePage(SQLModel):
    model_config = SQLModelConfig(
        json_schema_extra={"examples": [{"items": [_CASE_SUMMARY_EXAMPLE], "next_cursor": None}]}
    )

    items: list[CaseSummary]
    next_cursor: str | None = Field(
        description="Pass as ?cursor= for the next page; null on the last page"
    )
