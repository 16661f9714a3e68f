"""The records lifecycle (issue 21): concerns entered in error, how long a child's file is
kept (retention), legal holds, and what destroying a file leaves behind.

Every row here is written once and never edited, but a legal hold, which is lifted by a
row of its own (``LegalHoldRelease``). A concern is never changed by being marked in
error: the mark is a row beside it (``ConcernErrorMark``), and the children it is really
about, for a concern recorded against the wrong child, rows of their own
(``ConcernErrorPupil``).
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator
from sqlalchemy import Column, Index, SmallInteger, Text, UniqueConstraint
from sqlmodel import Field, SQLModel
from sqlmodel._compat import SQLModelConfig

from models.base import FORBID_EXTRA, UTCDateTime, new_id, non_blank_text
from models.concern import MAX_PUPILS, REASON_MAX, Person
from models.user import name_as_written

# Child protection files are kept until the child's 25th birthday unless the school says
# otherwise (IRMS toolkit for schools).
DEFAULT_RETENTION_YEARS = 25
# What destruction leaves in a text a record must hold (its columns are NOT NULL).
DESTROYED = "[destroyed]"


def _timestamp(*, nullable: bool = False) -> Column[datetime]:
    return Column(UTCDateTime, nullable=nullable)


class ConcernErrorMark(SQLModel, table=True):
    """A DSL's mark that a concern was recorded in error, or against the wrong child: the
    concern leaves the chronology and export of every child it named, and joins those of
    the children it is really about (``ConcernErrorPupil``). One per concern."""

    __tablename__ = "concern_error_mark"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    concern_id: uuid.UUID = Field(foreign_key="concern.id", unique=True)
    school_id: uuid.UUID = Field(foreign_key="school.id")
    reason: str = Field(sa_column=Column(Text, nullable=False))
    recorded_by: uuid.UUID = Field(foreign_key="user_account.id")
    recorded_by_name: str = name_as_written()
    recorded_at: datetime = Field(sa_column=_timestamp())


class ConcernErrorPupil(SQLModel, table=True):
    """A child a concern marked in error is really about (``correct_pupil_ids``)."""

    __tablename__ = "concern_error_pupil"
    __table_args__ = (Index("ix_concern_error_pupil_school_id_pupil_id", "school_id", "pupil_id"),)

    concern_id: uuid.UUID = Field(foreign_key="concern.id", primary_key=True)
    pupil_id: uuid.UUID = Field(foreign_key="pupil.id", primary_key=True)
    school_id: uuid.UUID = Field(foreign_key="school.id")
    position: int = Field(sa_column=Column(SmallInteger, nullable=False))


class RetentionSetting(SQLModel, table=True):
    """How many years after a child's date of birth the school keeps their file; a
    school without a row keeps it ``DEFAULT_RETENTION_YEARS``."""

    __tablename__ = "retention_setting"

    school_id: uuid.UUID = Field(foreign_key="school.id", primary_key=True)
    years: int
    updated_by: uuid.UUID = Field(foreign_key="user_account.id")
    updated_at: datetime = Field(sa_column=_timestamp())


class LegalHold(SQLModel, table=True):
    """A hold on a child's file (litigation, an inquiry): it is not destroyed while one is
    in force (no ``LegalHoldRelease`` for it)."""

    __tablename__ = "legal_hold"
    __table_args__ = (Index("ix_legal_hold_school_id_pupil_id", "school_id", "pupil_id"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    school_id: uuid.UUID = Field(foreign_key="school.id")
    pupil_id: uuid.UUID = Field(foreign_key="pupil.id")
    reason: str = Field(sa_column=Column(Text, nullable=False))
    placed_by: uuid.UUID = Field(foreign_key="user_account.id")
    placed_by_name: str = name_as_written()
    placed_at: datetime = Field(sa_column=_timestamp())


class LegalHoldRelease(SQLModel, table=True):
    """A legal hold lifted: by whom, when and why."""

    __tablename__ = "legal_hold_release"

    hold_id: uuid.UUID = Field(foreign_key="legal_hold.id", primary_key=True)
    school_id: uuid.UUID = Field(foreign_key="school.id")
    reason: str = Field(sa_column=Column(Text, nullable=False))
    released_by: uuid.UUID = Field(foreign_key="user_account.id")
    released_by_name: str = name_as_written()
    released_at: datetime = Field(sa_column=_timestamp())


class FileDestruction(SQLModel, table=True):
    """A child's file destroyed: its records stay as tombstones (ids, dates, who wrote
    them), their content gone. One per child."""

    __tablename__ = "file_destruction"
    __table_args__ = (UniqueConstraint("school_id", "pupil_id"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    school_id: uuid.UUID = Field(foreign_key="school.id")
    pupil_id: uuid.UUID = Field(foreign_key="pupil.id")
    reason: str = Field(sa_column=Column(Text, nullable=False))
    retain_until: date
    destroyed_by: uuid.UUID = Field(foreign_key="user_account.id")
    destroyed_by_name: str = name_as_written()
    destroyed_at: datetime = Field(sa_column=_timestamp())
    records: int = Field(description="How many records were left as tombstones")


# --- API schemas -----------------------------------------------------------------------------


def _reason(value: str) -> str:
    return non_blank_text(value)


class EnteredInErrorCreate(SQLModel):
    model_config = SQLModelConfig(
        **FORBID_EXTRA,
        json_schema_extra={
            "examples": [
                {
                    "reason": "Logged against Zack by mistake; it is about Zoë.",
                    "correct_pupil_ids": ["01936b2e-5f7a-7cc0-8a38-2c1f1c5d9a10"],
                }
            ]
        },
    )

    reason: str = Field(min_length=1, max_length=REASON_MAX, description="Why: required")
    correct_pupil_ids: list[uuid.UUID] | None = Field(
        default=None,
        max_length=MAX_PUPILS,
        description="For a concern recorded against the wrong child: every child it is "
        "really about (pupils of your school; one it already named stays). Left out or "
        "empty: recorded in error, about no child",
    )

    _reason_is_text = field_validator("reason")(_reason)

    @field_validator("correct_pupil_ids")
    @classmethod
    def _once_each(cls, values: list[uuid.UUID] | None) -> list[uuid.UUID] | None:
        return None if values is None else list(dict.fromkeys(values))


class ReasonBody(SQLModel):
    model_config = SQLModelConfig(
        **FORBID_EXTRA,
        json_schema_extra={"examples": [{"reason": "Claim notified by the family's solicitor."}]},
    )

    reason: str = Field(min_length=1, max_length=REASON_MAX, description="Why: required")

    _reason_is_text = field_validator("reason")(_reason)


_PERSON: dict[str, Any] = {"id": "01936b2e-6a01-7d11-9c3e-5b2f4e6a7b81", "display_name": "Jo Lead"}
_PUPIL_ID = "01936b2e-5f7a-7cc0-8a38-2c1f1c5d9a10"


class LegalHoldPublic(BaseModel):
    model_config = ConfigDict(
        hide_input_in_errors=True,
        json_schema_extra={
            "examples": [
                {
                    "id": "01936b40-0000-7000-8000-000000000001",
                    "pupil_id": _PUPIL_ID,
                    "reason": "Claim notified by the family's solicitor.",
                    "placed_by": _PERSON,
                    "placed_at": "2051-04-01T09:00:00Z",
                    "released_at": None,
                    "released_by": None,
                    "release_reason": None,
                }
            ]
        },
    )

    id: uuid.UUID
    pupil_id: uuid.UUID
    reason: str
    placed_by: Person
    placed_at: datetime
    released_at: datetime | None = None
    released_by: Person | None = None
    release_reason: str | None = None


class RetentionSettingBody(SQLModel):
    model_config = SQLModelConfig(**FORBID_EXTRA, json_schema_extra={"examples": [{"years": 25}]})

    years: int = Field(
        ge=1, le=100, description="Years after the child's date of birth the file is kept"
    )


class RetentionSettingPublic(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"years": 25, "default": True}]})

    years: int
    default: bool = Field(description="True when the school has not set it (25 years)")


class RetentionFile(BaseModel):
    model_config = ConfigDict(hide_input_in_errors=True)

    pupil_id: uuid.UUID
    display_name: str
    date_of_birth: date
    retain_until: date
    on_legal_hold: bool


class RetentionDuePage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "items": [
                        {
                            "pupil_id": _PUPIL_ID,
                            "display_name": "Zo Fictional",
                            "date_of_birth": "2014-03-09",
                            "retain_until": "2039-03-09",
                            "on_legal_hold": False,
                        }
                    ],
                    "next_cursor": None,
                }
            ]
        }
    )

    items: list[RetentionFile] = Field(description="Longest past their date first")
    next_cursor: str | None = Field(
        description="Pass as ?cursor= for the next page; null on the last page"
    )


class DestructionPublic(BaseModel):
    model_config = ConfigDict(
        hide_input_in_errors=True,
        json_schema_extra={
            "examples": [
                {
                    "id": "01936b40-0000-7000-8000-000000000002",
                    "pupil_id": _PUPIL_ID,
                    "reason": "Past retention; reviewed by the DSL.",
                    "retain_until": "2039-03-09",
                    "destroyed_at": "2039-04-01T09:00:00Z",
                    "destroyed_by": _PERSON,
                    "records": 12,
                    "erased": {"concern": 3, "addendum": 4, "case": 1, "action": 4},
                    "kept_shared": [],
                }
            ]
        },
    )

    id: uuid.UUID
    pupil_id: uuid.UUID
    reason: str
    retain_until: date
    destroyed_at: datetime
    destroyed_by: Person
    records: int = Field(description="How many records were left as tombstones")
    erased: dict[str, int] = Field(
        description="Of those, by kind (concern, addendum, case, ...)", default_factory=dict
    )
    kept_shared: list[uuid.UUID] = Field(
        default_factory=list,
        description="Concerns also about another child whose file is kept: left whole",
    )
