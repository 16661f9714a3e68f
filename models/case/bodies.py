"""What a DSL sends to open and change a case."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from pydantic import field_validator
from sqlmodel import Field, SQLModel
from sqlmodel._compat import SQLModelConfig

from models.base import (
    FORBID_EXTRA,
    CalendarDate,
    Moment,
    NonBlankText,
    rfc3339_only,
)
from models.case.tables import (
    MAX_LINKED,
    SUMMARY_MAX,
    TEXT_MAX,
    WITH_WHOM_MAX,
    ActionType,
    CaseLevel,
)
from models.triage import REASON_MAX

_PUPIL_ID = "01936b2e-5f7a-7cc0-8a38-2c1f1c5d9a10"
_CONCERN_ID = "01936b2f-1111-7abc-8def-0123456789ab"
_CASE_ID = "01936b50-2222-7abc-8def-0123456789ab"
_DSL = {"id": "01936b2e-6a01-7d11-9c3e-5b2f4e6a7b81", "display_name": "Jo Lead"}


def _rfc3339_or_none(value: object) -> object:
    return None if value is None else rfc3339_only(value)


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
                    "review_on": "2026-12-12",
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
    review_on: CalendarDate | None = Field(
        default=None,
        description="When to review the case: today or later (England); the inbox lists "
        "open cases whose review date has come",
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
                    "decided_at": "2026-11-27T16:30:00Z",
                }
            ]
        },
    )

    decision: NonBlankText = Field(min_length=1, max_length=TEXT_MAX)
    reason: NonBlankText = Field(min_length=1, max_length=TEXT_MAX)
    _decided_at_is_rfc3339 = field_validator("decided_at", mode="before")(_rfc3339_or_none)
    decided_at: Moment | None = Field(
        default=None,
        description="When it was decided, with an offset; not more than 5 minutes in the "
        "future. Now, when not given. The chronology places the decision here",
    )

    @field_validator("decided_at")
    @classmethod
    def _utc(cls, value: datetime | None) -> datetime | None:
        return None if value is None else value.astimezone(UTC)


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


class CaseReview(SQLModel):
    """A new review date for an open case (or none: ``null``), with the reason."""

    model_config = SQLModelConfig(
        **FORBID_EXTRA,
        json_schema_extra={
            "examples": [{"review_on": "2026-12-19", "reason": "Agreed at the review meeting."}]
        },
    )

    review_on: CalendarDate | None = Field(
        description="Today or later (England); null: no review date"
    )
    reason: NonBlankText = Field(min_length=1, max_length=REASON_MAX)


class CaseReassign(SQLModel):
    """Give an open case to another DSL or deputy DSL, with the reason."""

    model_config = SQLModelConfig(
        **FORBID_EXTRA,
        json_schema_extra={
            "examples": [
                {
                    "assigned_to": "01936b2e-6a01-7d11-9c3e-5b2f4e6a7b82",
                    "reason": "Jo is away for two weeks; the deputy DSL takes it on.",
                }
            ]
        },
    )

    assigned_to: uuid.UUID = Field(description="An active DSL or deputy DSL of your school")
    reason: NonBlankText = Field(min_length=1, max_length=REASON_MAX)
