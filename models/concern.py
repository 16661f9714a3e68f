"""Concerns: what a member of staff saw or heard, about which children, and when.

A concern row is written once and never edited; corrections and further information are
addenda, and what a DSL decides about it is its triage (``models.triage``). Its pupils and
indicators are rows of their own, so that "every concern about this child" and "every
concern showing this sign" are index lookups. Its categories are both: a column of the
concern (the ids, read with the row itself) and rows of ``concern_category`` (for "every
concern of this kind, in this period"), written once, together.

Text search (``GET /concerns?q=``) covers the description and the addenda's text. On
PostgreSQL it is full-text search over GIN indexes keyed by school and by the words of
each column (``btree_gin``; declared here, created by the migrations on PostgreSQL only;
SQLite cannot hold them and Alembic does not compare expression indexes there), so a
search reads only the school's matches. On SQLite the application keeps an inverted
index, ``concern_search_term``: one row per distinct word of a concern's text, written in
the same transaction as the concern or addendum it comes from. FTS5 would do the same
job, but its virtual and shadow tables cannot be declared in the metadata, so models and
migrations could no longer be compared.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator
from sqlalchemy import Column, Index, Integer, SmallInteger, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel
from sqlmodel._compat import SQLModelConfig

from core.clock import utcnow
from models.base import (
    FORBID_EXTRA,
    Moment,
    UTCDateTime,
    new_id,
    non_blank_text,
    rfc3339_only,
    storable_text,
)
from models.category import MAX_CATEGORIES
from models.guidance import KEBAB_CASE, GuidanceAction
from models.lifecycle_marks import EnteredInError
from models.people import Person as Person
from models.pupil import PupilName, name_words
from models.triage import RiskLevel, TriageStatus
from models.user import name_as_written

MAX_PUPILS = 20
MAX_INDICATORS = 50
DESCRIPTION_MAX = 20_000
ADDENDUM_TEXT_MAX = 20_000
REASON_MAX = 1_000
LOCATION_MAX = 500
SEARCH_TERM_MAX = 64
# A concern's category ids, comma-separated: at most five ids of at most 64 characters.
CATEGORIES_MAX = MAX_CATEGORIES * 65
# The text-search configuration: its expression must be spelt exactly the same in the
# indexes and in the queries, or PostgreSQL will not use the indexes.
TSVECTOR_DESCRIPTION = "to_tsvector('english'::regconfig, description)"
TSVECTOR_ADDENDUM_TEXT = "to_tsvector('english'::regconfig, text)"


def _timestamp(*, nullable: bool = False) -> Column[datetime]:
    return Column(UTCDateTime, nullable=nullable)


class Concern(SQLModel, table=True):
    __tablename__ = "concern"
    __table_args__ = (
        # Lists are newest-recorded first, for the school (DSLs) or for one recorder (staff).
        Index("ix_concern_school_id_recorded_at_id", "school_id", "recorded_at", "id"),
        Index(
            "ix_concern_school_id_recorded_by_recorded_at_id",
            "school_id",
            "recorded_by",
            "recorded_at",
            "id",
        ),
        Index("ix_concern_school_id_observed_at_id", "school_id", "observed_at", "id"),
        # PostgreSQL only (see the module docstring).
        Index(
            "ix_concern_school_id_description_tsvector",
            "school_id",
            text(TSVECTOR_DESCRIPTION),
            postgresql_using="gin",
        ),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    school_id: uuid.UUID = Field(foreign_key="school.id")
    recorded_by: uuid.UUID = Field(foreign_key="user_account.id")
    recorded_by_name: str = name_as_written()
    recorded_at: datetime = Field(sa_column=_timestamp())
    observed_at: datetime = Field(sa_column=_timestamp())
    guidance_key: str = Field(max_length=64)
    guidance_version: str = Field(max_length=64)
    # The category ids, comma-separated, in order; always written (null only in a
    # migration's reach: a column added to a table with rows, see docs/adr/0075).
    categories: str | None = Field(default=None, max_length=CATEGORIES_MAX)
    description: str = Field(sa_column=Column(Text, nullable=False))
    location: str | None = Field(default=None, max_length=LOCATION_MAX)
    immediate_danger: bool
    police_contacted: bool


class ConcernPupil(SQLModel, table=True):
    """One child a concern is about; ``position`` keeps the order the recorder gave.
    ``observed_at``, copied from the concern (always written; null only for rows older
    than its migration, which filled them), makes "this child's concerns in this period"
    (the pattern rules, docs/adr/0110) a range of an index."""

    __tablename__ = "concern_pupil"
    __table_args__ = (
        Index("ix_concern_pupil_school_id_pupil_id", "school_id", "pupil_id"),
        Index("ix_concern_pupil_period", "school_id", "pupil_id", "observed_at", "concern_id"),
    )

    concern_id: uuid.UUID = Field(foreign_key="concern.id", primary_key=True)
    pupil_id: uuid.UUID = Field(foreign_key="pupil.id", primary_key=True)
    school_id: uuid.UUID = Field(foreign_key="school.id")
    position: int = Field(sa_column=Column(SmallInteger, nullable=False))
    observed_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))


class ConcernIndicator(SQLModel, table=True):
    """One indicator a concern shows. ``observed_at`` is copied from the concern so that
    "this sign, in this period" is answered from this table's index alone."""

    __tablename__ = "concern_indicator"
    __table_args__ = (
        # "These signs in this period": the concern's id is in the index, so the period's
        # concerns of a sign come from the index alone (migration 07).
        Index(
            "ix_concern_indicator_school_sign_period_concern",
            "school_id",
            "indicator_id",
            "observed_at",
            "concern_id",
        ),
        # Reports: every indicator of a period, grouped (an index-only range scan).
        Index(
            "ix_concern_indicator_school_id_observed_at_indicator_id",
            "school_id",
            "observed_at",
            "indicator_id",
        ),
    )

    concern_id: uuid.UUID = Field(foreign_key="concern.id", primary_key=True)
    indicator_id: str = Field(max_length=64, primary_key=True)
    school_id: uuid.UUID = Field(foreign_key="school.id")
    observed_at: datetime = Field(sa_column=_timestamp())
    position: int = Field(sa_column=Column(SmallInteger, nullable=False))


class Addendum(SQLModel, table=True):
    """Further information or a correction, added to a concern by its recorder or a DSL:
    who, when and why. The original concern is never changed."""

    __tablename__ = "addendum"
    __table_args__ = (
        Index("ix_addendum_concern_id_recorded_at", "concern_id", "recorded_at"),
        # PostgreSQL only (see the module docstring).
        Index(
            "ix_addendum_school_id_text_tsvector",
            "school_id",
            text(TSVECTOR_ADDENDUM_TEXT),
            postgresql_using="gin",
        ),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    concern_id: uuid.UUID = Field(foreign_key="concern.id")
    school_id: uuid.UUID = Field(foreign_key="school.id")
    text: str = Field(sa_column=Column(Text, nullable=False))
    reason: str = Field(sa_column=Column(Text, nullable=False))
    recorded_by: uuid.UUID = Field(foreign_key="user_account.id")
    recorded_by_name: str = name_as_written()
    recorded_at: datetime = Field(sa_column=_timestamp())


class ConcernSearchTerm(SQLModel, table=True):
    """One word of a concern's text (description or an addendum), for text search on
    SQLite; PostgreSQL searches with its full-text indexes and leaves this table empty.
    Words are normalised as ``search_terms`` says; a search matches each word of the
    query as a prefix, which the primary key's order serves as a range scan."""

    __tablename__ = "concern_search_term"

    school_id: uuid.UUID = Field(foreign_key="school.id", primary_key=True)
    term: str = Field(max_length=SEARCH_TERM_MAX, primary_key=True)
    concern_id: uuid.UUID = Field(foreign_key="concern.id", primary_key=True)


def search_terms(text_: str) -> set[str]:
    """The distinct words of ``text_`` as SQLite's search index keeps them: case-folded,
    accents stripped (so "Zoë" is found by "zoe"), cut to 64 characters."""
    return {word[:SEARCH_TERM_MAX] for word in name_words(text_)}


class IdempotencyKey(SQLModel, table=True):
    """A client's ``Idempotency-Key`` for a create, and the answer it got.

    The unique constraint on (caller, key) is what decides between concurrent duplicates:
    the first insert wins, the others read its stored answer. The caller is a user or a
    service account (ids are UUIDs of either table, so no foreign key). The request is an
    HMAC fingerprint and the answer is sealed (``services.idempotency``); rows expire after
    the configured window and expired rows are deleted (``purge_expired``)."""

    __tablename__ = "idempotency_key"
    __table_args__ = (
        UniqueConstraint("caller_id", "key"),
        Index("ix_idempotency_key_expires_at", "expires_at"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    caller_id: uuid.UUID
    key: str = Field(max_length=255)
    request_hash: str = Field(max_length=64)
    response_status: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    response_body: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())
    expires_at: datetime = Field(sa_column=_timestamp())


# --- API schemas -------------------------------------------------------------------------

_CONCERN_EXAMPLE: dict[str, Any] = {
    "pupil_ids": ["01936b2e-5f7a-7cc0-8a38-2c1f1c5d9a10"],
    "guidance_key": "cse",
    "indicators": ["secretive", "unexplained-money-or-items"],
    "categories": ["cse"],
    "description": (
        'Zoë Fictional had a new phone and said "a friend gave it me, I can\'t say who". '
        "She would not say more and seemed frightened."
    ),
    "observed_at": "2026-11-27T15:40:00Z",
    "location": "Bus stop outside school",
    "immediate_danger": False,
    "police_contacted": False,
}
_PERSON_EXAMPLE: dict[str, Any] = {
    "id": "01936b2e-6a01-7d11-9c3e-5b2f4e6a7b80",
    "display_name": "Sam Teacher",
}


def _in_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


class ConcernCreate(SQLModel):
    """What the recorder says. Everything else (id, who, when recorded, status, school) is
    the server's, and sending it is a 422."""

    model_config = SQLModelConfig(
        **FORBID_EXTRA, json_schema_extra={"examples": [_CONCERN_EXAMPLE]}
    )

    pupil_ids: list[uuid.UUID] = Field(
        min_length=1,
        max_length=MAX_PUPILS,
        description="1 to 20 pupils of your school; a repeated id counts once",
    )
    guidance_key: str = Field(max_length=64, regex=KEBAB_CASE)
    indicators: list[str] = Field(
        max_length=MAX_INDICATORS,
        description="Indicator ids of that guidance (GET /schools/{urn}/guidance/{key}/"
        "indicators); may be empty when none fits",
    )
    categories: list[str] | None = Field(
        default=None,
        min_length=1,
        max_length=MAX_CATEGORIES,
        description="1 to 5 category ids (GET /categories); left out, the category of the "
        "guidance document cited (`cse` for the CSE leaflet)",
    )
    description: str = Field(
        min_length=1,
        max_length=DESCRIPTION_MAX,
        description="What was seen or heard, in the child's own words where possible",
    )
    _observed_at_is_rfc3339 = field_validator("observed_at", mode="before")(rfc3339_only)
    observed_at: Moment = Field(
        description="When it happened, with an offset; not more than 5 minutes in the future"
    )
    location: str | None = Field(
        default=None, max_length=LOCATION_MAX, description="Where it happened; blank means none"
    )
    immediate_danger: bool
    police_contacted: bool

    @field_validator("pupil_ids", "indicators", "categories")
    @classmethod
    def _once_each(cls, values: list[Any] | None) -> list[Any] | None:
        return None if values is None else list(dict.fromkeys(values))

    @field_validator("description")
    @classmethod
    def _text(cls, value: str) -> str:
        return non_blank_text(value)

    @field_validator("location")
    @classmethod
    def _location(cls, value: str | None) -> str | None:
        # Blank means "no location" (an optional field), but NUL is refused like anywhere.
        if value is None or not value.strip():
            return None
        return storable_text(value)

    @field_validator("observed_at")
    @classmethod
    def _utc(cls, value: datetime) -> datetime:
        return _in_utc(value)


class AddendumCreate(SQLModel):
    model_config = SQLModelConfig(
        **FORBID_EXTRA,
        json_schema_extra={
            "examples": [
                {
                    "text": "The bus stop was the one on Fictional Road, not outside school.",
                    "reason": "Correcting the location after speaking to the driver.",
                }
            ]
        },
    )

    text: str = Field(min_length=1, max_length=ADDENDUM_TEXT_MAX)
    reason: str = Field(min_length=1, max_length=REASON_MAX, description="Why this is being added")

    @field_validator("text", "reason")
    @classmethod
    def _text(cls, value: str) -> str:
        return non_blank_text(value)


class AddendumPublic(BaseModel):
    model_config = ConfigDict(
        # Built from stored records by validation (services.concerns): an error must never
        # carry a record's text into the log.
        hide_input_in_errors=True,
        json_schema_extra={
            "examples": [
                {
                    "id": "01936b30-0000-7000-8000-000000000001",
                    "text": "The bus stop was the one on Fictional Road, not outside school.",
                    "reason": "Correcting the location after speaking to the driver.",
                    "recorded_at": "2026-11-28T08:30:00Z",
                    "recorded_by": _PERSON_EXAMPLE,
                }
            ]
        },
    )

    id: uuid.UUID
    text: str
    reason: str
    recorded_at: datetime
    recorded_by: Person


_CONCERN_PUBLIC_EXAMPLE: dict[str, Any] = {
    "id": "01936b2f-1111-7abc-8def-0123456789ab",
    **_CONCERN_EXAMPLE,
    "pupils": [
        {
            "id": "01936b2e-5f7a-7cc0-8a38-2c1f1c5d9a10",
            "display_name": "Zo Fictional",
            "year_group": "Year 7",
        }
    ],
    "guidance_version": "1",
    "indicator_texts": {
        "secretive": "Be secretive",
        "unexplained-money-or-items": (
            "Have money or items that they can\u2019t or won\u2019t explain"
        ),
    },
    "recorded_at": "2026-11-27T16:05:12.345678Z",
    "recorded_by": _PERSON_EXAMPLE,
    "status": "new",
    "risk_level": None,
    "assigned_to": None,
    "waiting_hours": 16.9,
    "addenda": [],
    "actions": [
        {
            "id": "tell-dsl",
            "text": "Talk to our designated safeguarding lead (DSL) or deputy as soon as possible",
            "when": "always",
        }
    ],
}


class ConcernPublic(BaseModel):
    # Built from stored records by validation (services.concerns): an error must never
    # carry a concern's text into the log.
    model_config = ConfigDict(
        json_schema_extra={"examples": [_CONCERN_PUBLIC_EXAMPLE]}, hide_input_in_errors=True
    )

    id: uuid.UUID
    pupil_ids: list[uuid.UUID]
    pupils: list[PupilName] | None = Field(
        default=None,
        description="The same pupils by name and year group, in the same order: for DSLs "
        "and deputies; null for staff",
    )
    guidance_key: str
    guidance_version: str
    indicators: list[str]
    # Defaults only for answers stored before these fields existed (an Idempotency-Key's
    # replay); every concern shaped now has both.
    # A map, not a list of objects: a page of concerns shows a few per concern, and
    # pydantic checks and writes a map of strings for a third of what objects cost.
    indicator_texts: dict[str, str] = Field(
        default_factory=dict,
        description="The text of each of `indicators`, by id, in the wording of the guidance "
        "version the concern was logged against (a later version never rewords an old "
        "concern)",
    )
    categories: list[str] = Field(
        default_factory=list, description="Category ids (GET /categories), in order"
    )
    description: str
    observed_at: datetime
    location: str | None
    immediate_danger: bool
    police_contacted: bool
    recorded_at: datetime = Field(description="When the server received it (server clock)")
    recorded_by: Person
    status: TriageStatus = Field(
        description="Where the DSLs are with it: new, acknowledged, in_progress, closed or "
        "no_further_action (changed with POST /concerns/{id}/triage)"
    )
    risk_level: RiskLevel | None = Field(
        default=None, description="The DSL's assessment; null until set, and always for staff"
    )
    assigned_to: Person | None = Field(
        default=None, description="The DSL or deputy who has it; null for staff"
    )
    waiting_hours: float | None = Field(
        default=None,
        description="Hours since it was recorded, while its status is still new (one "
        "decimal); null once a DSL has moved it on, and always for staff",
    )
    addenda: list[AddendumPublic] = Field(description="Oldest first")
    entered_in_error: EnteredInError | None = Field(
        default=None, description="DSLs only: the mark of a concern entered in error; else null"
    )
    actions: list[GuidanceAction] = Field(
        description="What the guidance says to do now: its actions for every concern, and "
        "those for immediate danger (contact the police) when immediate_danger is true"
    )


class ConcernSort(StrEnum):
    """A list's order: the field, descending with a leading ``-``."""

    recorded_desc = "-recorded_at"
    recorded_asc = "recorded_at"
    observed_desc = "-observed_at"
    observed_asc = "observed_at"


class ConcernPage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "items": [_CONCERN_PUBLIC_EXAMPLE],
                    "next_cursor": "eyJpZCI6IjAxOTM2YjJmLTExMTEtN2FiYy04ZGVmLTAxMjM0NTY3ODlhYiJ9",
                }
            ]
        }
    )

    items: list[ConcernPublic]
    next_cursor: str | None = Field(
        description="Pass as ?cursor= for the next page; null on the last page"
    )
