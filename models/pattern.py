"""Pattern flags: a prompt for a DSL when signs about one child gather, and the school's
rules for raising them (docs/adr/0110).

A flag is never a finding and never changes a concern: it says "these concerns, read
together, may show a picture; look at them". The worker raises it (``services.patterns``)
from the queue the concern's own transaction fills (``pattern_queue``), never the request
that logs a concern.

- ``pattern_settings``: a school's rules (a school without a row has the defaults);
- ``pattern_queue``: a pupil named by a newly logged concern, waiting to be looked at;
- ``pattern_flag``: one per pupil and rule, open or acknowledged, with the evidence
  fingerprint it was acknowledged with (the same evidence never raises it again);
- ``pattern_flag_evidence``: the (concern, indicator) pairs that made it fire.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, StringConstraints, field_validator
from pydantic import Field as PydanticField
from sqlalchemy import CheckConstraint, Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel
from sqlmodel._compat import SQLModelConfig

from models.base import FORBID_EXTRA, UTCDateTime, new_id, non_blank_text
from models.concern import REASON_MAX, Person
from models.guidance import KEBAB_CASE
from models.user import name_as_written

DEFAULT_WINDOW_DAYS = 90
DEFAULT_MIN_INDICATORS = 3
DEFAULT_MIN_STAFF = 2
DEFAULT_RISING_MIN_CONCERNS = 3
WINDOW_DAYS_RANGE = (7, 365)
HIGH_WEIGHT_MAX = 50
# The comma-separated high-weight indicator ids: at most 50 ids of at most 64 characters.
HIGH_WEIGHT_COLUMN_MAX = HIGH_WEIGHT_MAX * 65
# "No indicator": a concern counted by the rising rule that names no sign.
NO_INDICATOR = ""
# An indicator id as guidance documents spell them (never a comma: the column joins them).
IndicatorId = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=KEBAB_CASE)]


def _timestamp(*, nullable: bool = False) -> Column[datetime]:
    return Column(UTCDateTime, nullable=nullable)


class PatternRule(StrEnum):
    """The rules a flag is raised by (docs/adr/0110)."""

    distinct_signs = "distinct-signs"
    high_weight = "high-weight"
    rising = "rising"


class FlagStatus(StrEnum):
    open = "open"
    acknowledged = "acknowledged"


def _in(values: type[StrEnum]) -> str:
    return ", ".join(f"'{value.value}'" for value in values)


class PatternSettings(SQLModel, table=True):
    """A school's pattern rules; a school without a row has the defaults."""

    __tablename__ = "pattern_settings"

    school_id: uuid.UUID = Field(foreign_key="school.id", primary_key=True)
    window_days: int = Field(default=DEFAULT_WINDOW_DAYS)
    distinct_signs_enabled: bool = Field(default=True)
    min_indicators: int = Field(default=DEFAULT_MIN_INDICATORS)
    min_staff: int = Field(default=DEFAULT_MIN_STAFF)
    high_weight_enabled: bool = Field(default=True)
    # Indicator ids, comma-separated (empty: none marked yet).
    high_weight_indicators: str = Field(default="", max_length=HIGH_WEIGHT_COLUMN_MAX)
    rising_enabled: bool = Field(default=True)
    rising_min_concerns: int = Field(default=DEFAULT_RISING_MIN_CONCERNS)
    updated_at: datetime = Field(sa_column=_timestamp())
    updated_by: uuid.UUID | None = Field(default=None, foreign_key="user_account.id")


class PatternQueue(SQLModel, table=True):
    """A pupil of a concern just logged, to be evaluated by the worker: written in the
    concern's transaction (one row per pupil of the concern), deleted once looked at."""

    __tablename__ = "pattern_queue"
    __table_args__ = (Index("ix_pattern_queue_queued_at", "queued_at"),)

    concern_id: uuid.UUID = Field(foreign_key="concern.id", primary_key=True)
    pupil_id: uuid.UUID = Field(foreign_key="pupil.id", primary_key=True)
    school_id: uuid.UUID = Field(foreign_key="school.id")
    queued_at: datetime = Field(sa_column=_timestamp())


class PatternFlag(SQLModel, table=True):
    """One rule fired for one pupil: open until a DSL acknowledges it. Acknowledged, it
    keeps ``acknowledged_fingerprint`` (the evidence it was acknowledged with): evidence
    that adds nothing to that leaves it acknowledged; new evidence reopens it."""

    __tablename__ = "pattern_flag"
    __table_args__ = (
        CheckConstraint(f"status IN ({_in(FlagStatus)})", name="status"),
        CheckConstraint(f"rule IN ({_in(PatternRule)})", name="rule"),
        UniqueConstraint("school_id", "pupil_id", "rule"),
        # Lists: the school's flags of a status, oldest raised first (ids are time-ordered).
        Index("ix_pattern_flag_school_id_status_id", "school_id", "status", "id"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    school_id: uuid.UUID = Field(foreign_key="school.id")
    pupil_id: uuid.UUID = Field(foreign_key="pupil.id")
    rule: str = Field(max_length=20)
    status: str = Field(default=FlagStatus.open.value, max_length=12)
    raised_at: datetime = Field(sa_column=_timestamp())
    # When new evidence last reopened it (null: never reopened).
    reopened_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))
    # A SHA-256 of its evidence pairs, sorted.
    fingerprint: str = Field(max_length=64)
    # The evidence pairs it was last acknowledged with, as "concern_id:indicator" lines.
    acknowledged_evidence: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    acknowledged_fingerprint: str | None = Field(default=None, max_length=64)
    acknowledged_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))
    acknowledged_by: uuid.UUID | None = Field(default=None, foreign_key="user_account.id")
    acknowledged_by_name: str | None = name_as_written()
    acknowledged_reason: str | None = Field(default=None, sa_column=Column(Text, nullable=True))


class PatternFlagEvidence(SQLModel, table=True):
    """One sign on one concern that made a flag fire (``indicator_id`` empty: a concern
    counted by the rising rule that names no sign)."""

    __tablename__ = "pattern_flag_evidence"

    flag_id: uuid.UUID = Field(foreign_key="pattern_flag.id", primary_key=True)
    concern_id: uuid.UUID = Field(foreign_key="concern.id", primary_key=True)
    indicator_id: str = Field(max_length=64, primary_key=True)
    school_id: uuid.UUID = Field(foreign_key="school.id")


# --- API schemas -------------------------------------------------------------------------

PROMPT_NOTE = (
    "A flag is a prompt for a human, never a finding: it says that some concerns about "
    "one child, read together, may show a picture a DSL should look at. It never changes "
    "a concern, its status or its risk level, and nothing is done automatically."
)

_EVIDENCE_EXAMPLE: dict[str, Any] = {
    "concern_id": "01936b2f-1111-7abc-8def-0123456789ab",
    "indicator": "secretive",
    "indicator_text": "Be secretive",
    "recorded_by": {"id": "01936b2e-6a01-7d11-9c3e-5b2f4e6a7b80", "display_name": "Sam Teacher"},
    "observed_at": "2026-11-27T15:40:00Z",
}
_FLAG_EXAMPLE: dict[str, Any] = {
    "id": "01936b40-0000-7000-8000-000000000001",
    "pupil_id": "01936b2e-5f7a-7cc0-8a38-2c1f1c5d9a10",
    "pupil": {"id": "01936b2e-5f7a-7cc0-8a38-2c1f1c5d9a10", "display_name": "Zo Fictional"},
    "rule": "distinct-signs",
    "status": "open",
    "raised_at": "2026-11-28T07:00:00Z",
    "reopened_at": None,
    "explanation": (
        "3 different signs were noticed by 2 members of staff in the 90 days to 28 November "
        "2026: \u201cBe secretive\u201d (Sam Teacher, 27 November 2026); ... This is a "
        "prompt to read these concerns together, not a finding."
    ),
    "evidence": [_EVIDENCE_EXAMPLE],
    "acknowledged": None,
}


class FlagEvidence(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [_EVIDENCE_EXAMPLE]}, hide_input_in_errors=True
    )

    concern_id: uuid.UUID
    indicator: str | None = PydanticField(
        description="The indicator id; null for a concern counted by the rising rule that "
        "names no sign"
    )
    indicator_text: str | None = PydanticField(
        description="The indicator in the wording of the guidance the concern cites"
    )
    recorded_by: Person = PydanticField(
        description="Who noticed it, by the name they wrote it under"
    )
    observed_at: datetime


class FlagAcknowledgement(BaseModel):
    model_config = ConfigDict(hide_input_in_errors=True)

    at: datetime
    by: Person
    reason: str


class FlagPublic(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [_FLAG_EXAMPLE]}, hide_input_in_errors=True
    )

    id: uuid.UUID
    pupil_id: uuid.UUID
    pupil: Person = PydanticField(description="The pupil, by the name they go by")
    rule: PatternRule = PydanticField(
        description="`distinct-signs`, `high-weight` or `rising` (see GET /pattern-settings)"
    )
    status: FlagStatus
    raised_at: datetime
    reopened_at: datetime | None = PydanticField(
        description="When new evidence last reopened it after it was acknowledged"
    )
    explanation: str = PydanticField(
        description="Why it was raised, in plain words for a DSL: which signs (in the "
        "guidance's wording), who noticed each, when, on which concerns. " + PROMPT_NOTE
    )
    evidence: list[FlagEvidence] = PydanticField(description="Oldest observed first")
    acknowledged: FlagAcknowledgement | None = PydanticField(
        description="The last acknowledgement: when, by whom and why (null if never)"
    )


class FlagPage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"items": [_FLAG_EXAMPLE], "next_cursor": None}]}
    )

    items: list[FlagPublic]
    next_cursor: str | None = PydanticField(description="Opaque; null on the last page")


class FlagAcknowledge(SQLModel):
    model_config = SQLModelConfig(
        **FORBID_EXTRA,
        json_schema_extra={"examples": [{"reason": "Already known: on a child protection plan."}]},
    )

    reason: str = Field(
        min_length=1, max_length=REASON_MAX, description="Why no more is needed for now"
    )

    @field_validator("reason")
    @classmethod
    def _text(cls, value: str) -> str:
        return non_blank_text(value)


_SETTINGS_EXAMPLE: dict[str, Any] = {
    "window_days": 90,
    "distinct_signs": {"enabled": True, "min_indicators": 3, "min_staff": 2},
    "high_weight": {"enabled": True, "indicators": ["older-partner-or-new-friends"]},
    "rising": {"enabled": True, "min_concerns": 3},
}


class DistinctSignsRule(SQLModel):
    model_config = SQLModelConfig(**FORBID_EXTRA)

    enabled: bool = PydanticField(strict=True)
    min_indicators: int = PydanticField(
        ge=2, le=20, description="Distinct indicators in the window (2 to 20; default 3)"
    )
    min_staff: int = PydanticField(
        ge=1, le=10, description="Distinct members of staff who noticed them (1 to 10; default 2)"
    )


class HighWeightRule(SQLModel):
    model_config = SQLModelConfig(**FORBID_EXTRA)

    enabled: bool = PydanticField(strict=True)
    indicators: list[IndicatorId] = PydanticField(
        max_length=HIGH_WEIGHT_MAX,
        description="Indicator ids (of any guidance the school uses) any one of which "
        "raises a flag; empty by default: the school chooses them",
    )

    @field_validator("indicators")
    @classmethod
    def _once_each(cls, values: list[str]) -> list[str]:
        return list(dict.fromkeys(values))


class RisingRule(SQLModel):
    model_config = SQLModelConfig(**FORBID_EXTRA)

    enabled: bool = PydanticField(strict=True)
    min_concerns: int = PydanticField(
        ge=2,
        le=50,
        description="Concerns in the window at least (2 to 50; default 3), and more than "
        "in the window before it, which had at least one",
    )


class PatternSettingsBody(SQLModel):
    """A school's pattern rules, all given (a ``PUT`` replaces them)."""

    model_config = SQLModelConfig(
        **FORBID_EXTRA, json_schema_extra={"examples": [_SETTINGS_EXAMPLE]}
    )

    window_days: int = PydanticField(
        ge=WINDOW_DAYS_RANGE[0],
        le=WINDOW_DAYS_RANGE[1],
        description="The rolling window, in days, by when concerns were observed (7 to 365; "
        "default 90)",
    )
    distinct_signs: DistinctSignsRule
    high_weight: HighWeightRule
    rising: RisingRule


class PatternSettingsPublic(PatternSettingsBody):
    model_config = SQLModelConfig(json_schema_extra={"examples": [_SETTINGS_EXAMPLE]})
