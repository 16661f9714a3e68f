"""Referrals a DSL makes on a case to another agency (children's social care, the police,
early help...), their reference, when made, and their outcome.

A referral belongs to one case, and through it to one pupil and one school (copied onto
the row, for the chronology's index lookups). Nothing about it is edited: its outcome is
recorded later as a row of its own (``referral_outcome``), append-only, kept as written;
a referral may carry more than one (a first answer, then a strategy meeting's), the
newest being its outcome. A referral still without one a school-set number of days after
it was made raises, once, a task for the case's owner (``services.referrals.overdue``);
``outcome_task_id`` names that task.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import field_validator, model_validator
from sqlalchemy import CheckConstraint, Column, Index, Integer, Text
from sqlmodel import Field, SQLModel
from sqlmodel._compat import SQLModelConfig

from models.base import FORBID_EXTRA, Moment, NonBlankText, UTCDateTime, new_id, rfc3339_only
from models.concern import Person
from models.user import name_as_written

REFERENCE_MAX = 100
OUTCOME_MAX = 5_000
DEFAULT_OUTCOME_DAYS = 10
OUTCOME_DAYS_RANGE = (1, 90)


class ReferralAgency(StrEnum):
    """Where a referral went. Stable values (docs/api-contract.md, section 11)."""

    childrens_social_care = "childrens_social_care"  # including the MASH
    police = "police"
    early_help = "early_help"
    camhs = "camhs"
    lado = "lado"
    channel = "channel"
    health = "health"
    other = "other"


AGENCY_NAMES = {
    ReferralAgency.childrens_social_care: "children's social care (MASH)",
    ReferralAgency.police: "the police",
    ReferralAgency.early_help: "early help",
    ReferralAgency.camhs: "CAMHS",
    ReferralAgency.lado: "the LADO",
    ReferralAgency.channel: "Channel (Prevent)",
    ReferralAgency.health: "health",
    ReferralAgency.other: "another agency",
}


def _in(values: type[StrEnum]) -> str:
    return ", ".join(f"'{value.value}'" for value in values)


class Referral(SQLModel, table=True):
    __tablename__ = "referral"
    __table_args__ = (
        CheckConstraint(f"agency IN ({_in(ReferralAgency)})", name="agency"),
        Index("ix_referral_case_id_made_at", "case_id", "made_at"),
        Index("ix_referral_school_id_pupil_id_made_at", "school_id", "pupil_id", "made_at"),
        # The worker's sweep: referrals not yet chased, oldest made first.
        Index("ix_referral_outcome_task_id_made_at", "outcome_task_id", "made_at"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    case_id: uuid.UUID = Field(foreign_key="safeguarding_case.id")
    school_id: uuid.UUID = Field(foreign_key="school.id")
    pupil_id: uuid.UUID = Field(foreign_key="pupil.id")
    agency: str = Field(max_length=30)
    reference: str | None = Field(default=None, max_length=REFERENCE_MAX)
    made_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    recorded_by: uuid.UUID = Field(foreign_key="user_account.id")
    recorded_by_name: str = name_as_written()
    recorded_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    outcome_task_id: uuid.UUID | None = Field(default=None, foreign_key="case_task.id")


class ReferralOutcome(SQLModel, table=True):
    __tablename__ = "referral_outcome"
    __table_args__ = (
        Index("ix_referral_outcome_referral_id_recorded_at", "referral_id", "recorded_at"),
        Index(
            "ix_referral_outcome_school_id_pupil_id_outcome_at",
            "school_id",
            "pupil_id",
            "outcome_at",
        ),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    referral_id: uuid.UUID = Field(foreign_key="referral.id")
    case_id: uuid.UUID = Field(foreign_key="safeguarding_case.id")
    school_id: uuid.UUID = Field(foreign_key="school.id")
    pupil_id: uuid.UUID = Field(foreign_key="pupil.id")
    outcome: str = Field(sa_column=Column(Text, nullable=False))
    outcome_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    recorded_by: uuid.UUID = Field(foreign_key="user_account.id")
    recorded_by_name: str = name_as_written()
    recorded_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class ReferralSettings(SQLModel, table=True):
    """A school's referral settings; a school without a row has the defaults."""

    __tablename__ = "referral_settings"

    school_id: uuid.UUID = Field(foreign_key="school.id", primary_key=True)
    outcome_due_days: int = Field(
        default=DEFAULT_OUTCOME_DAYS, sa_column=Column(Integer, nullable=False)
    )
    updated_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    updated_by: uuid.UUID | None = Field(default=None, foreign_key="user_account.id")


# --- API schemas -------------------------------------------------------------------------


def _rfc3339_or_none(value: object) -> object:
    return None if value is None else rfc3339_only(value)


def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(UTC)


_REFERRAL_EXAMPLE: dict[str, Any] = {
    "agency": "childrens_social_care",
    "reference": "MASH-2026-0042",
    "made_at": "2026-11-28T11:30:00Z",
    "outcome": None,
    "outcome_at": None,
}


class ReferralCreate(SQLModel):
    model_config = SQLModelConfig(
        **FORBID_EXTRA, json_schema_extra={"examples": [_REFERRAL_EXAMPLE]}
    )

    agency: ReferralAgency = Field(
        description="childrens_social_care (including the MASH), police, early_help, camhs, "
        "lado, channel, health or other"
    )
    reference: NonBlankText | None = Field(
        default=None, min_length=1, max_length=REFERENCE_MAX, description="The agency's reference"
    )
    _made_at_is_rfc3339 = field_validator("made_at", mode="before")(rfc3339_only)
    made_at: Moment = Field(description="When it was made; not more than 5 minutes ahead")
    outcome: NonBlankText | None = Field(default=None, min_length=1, max_length=OUTCOME_MAX)
    _outcome_at_is_rfc3339 = field_validator("outcome_at", mode="before")(_rfc3339_or_none)
    outcome_at: Moment | None = Field(
        default=None,
        description="When the outcome came (with `outcome` only; now when not given); on or "
        "after `made_at`",
    )

    _made_at_utc = field_validator("made_at")(_utc)
    _outcome_at_utc = field_validator("outcome_at")(_utc)

    @model_validator(mode="after")
    def _outcome_at_needs_outcome(self) -> ReferralCreate:
        if self.outcome_at is not None and self.outcome is None:
            raise ValueError("`outcome_at` is given without an `outcome`")
        return self


class ReferralOutcomeCreate(SQLModel):
    model_config = SQLModelConfig(
        **FORBID_EXTRA,
        json_schema_extra={
            "examples": [
                {
                    "outcome": "Accepted for a child and family assessment.",
                    "outcome_at": "2026-12-01T15:00:00Z",
                }
            ]
        },
    )

    outcome: NonBlankText = Field(min_length=1, max_length=OUTCOME_MAX)
    _outcome_at_is_rfc3339 = field_validator("outcome_at", mode="before")(_rfc3339_or_none)
    outcome_at: Moment | None = Field(
        default=None,
        description="When the outcome came (now when not given); on or after the referral "
        "was made, not more than 5 minutes ahead",
    )
    _outcome_at_utc = field_validator("outcome_at")(_utc)


class ReferralOutcomePublic(SQLModel):
    id: uuid.UUID
    outcome: str
    outcome_at: datetime
    recorded_at: datetime
    recorded_by: Person


_DSL = {"id": "01936b2e-6a01-7d11-9c3e-5b2f4e6a7b81", "display_name": "Jo Lead"}
_PUBLIC_EXAMPLE: dict[str, Any] = _REFERRAL_EXAMPLE | {
    "id": "01936b54-0000-7000-8000-000000000001",
    "case_id": "01936b50-2222-7abc-8def-0123456789ab",
    "recorded_at": "2026-11-28T11:45:00Z",
    "recorded_by": _DSL,
    "outcomes": [],
    "outcome_task_id": None,
}


class ReferralPublic(SQLModel):
    """A referral: ``outcome`` and ``outcome_at`` are its newest outcome's (null while it
    has none); ``outcomes`` all of them, oldest recorded first, as written."""

    model_config = SQLModelConfig(json_schema_extra={"examples": [_PUBLIC_EXAMPLE]})

    id: uuid.UUID
    case_id: uuid.UUID
    agency: ReferralAgency
    reference: str | None
    made_at: datetime
    outcome: str | None
    outcome_at: datetime | None
    recorded_at: datetime
    recorded_by: Person
    outcomes: list[ReferralOutcomePublic]
    outcome_task_id: uuid.UUID | None = Field(
        description="The task raised for the case's owner when no outcome came in time"
    )


class ReferralList(SQLModel):
    model_config = SQLModelConfig(json_schema_extra={"examples": [{"items": [_PUBLIC_EXAMPLE]}]})

    items: list[ReferralPublic] = Field(description="By when they were made, oldest first")


class ReferralSettingsBody(SQLModel):
    model_config = SQLModelConfig(
        **FORBID_EXTRA, json_schema_extra={"examples": [{"outcome_due_days": 10}]}
    )

    outcome_due_days: int = Field(
        ge=OUTCOME_DAYS_RANGE[0],
        le=OUTCOME_DAYS_RANGE[1],
        description="A referral still without an outcome this many days after it was made "
        "raises a task for the case's owner (1 to 90)",
    )


class ReferralSettingsPublic(ReferralSettingsBody):
    model_config = SQLModelConfig(json_schema_extra={"examples": [{"outcome_due_days": 10}]})
