"""MIS sync: which record of the school's MIS is which of our pupils or staff accounts, and
the sync runs that keep them in step.

The bookkeeping lives here, not on ``pupil`` or ``user_account``: a ``mis_record`` row says
that the MIS ``source`` knows one of our pupils (or users) as ``external_id``, when the MIS
last changed it (``source_updated_at``, which is what makes an older record ``stale``) and
a hash of what it last said (``content_hash``, which is what makes a repeat ``unchanged``).

A ``sync_run`` groups the batches of one walk through the MIS. A *full* run says "this is
the whole roster": completing it marks the source's active pupils it did not see as left,
within a safety limit. A *delta* run only tags and counts its batches.

Besides the tables, this module holds the API schemas of ``/api/v1/mis`` and the model
each pushed record is validated with, one record at a time, so that one bad record is
reported as ``rejected`` instead of failing its whole batch.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    EmailStr,
    StringConstraints,
    WithJsonSchema,
    field_validator,
)
from pydantic import Field as PydanticField
from sqlalchemy import JSON, CheckConstraint, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel
from sqlmodel.main import SQLModelConfig

from core.clock import utcnow
from models.base import FORBID_EXTRA, UTCDateTime, iso_date_only, new_id, rfc3339_only

MAX_BATCH = 500
SOURCE_MAX = 40
EXTERNAL_ID_MAX = 128
NAME_MAX = 100
# A lower-case slug: "wonde", "sims", "arbor", "csv", "oneroster"...
SOURCE_PATTERN = r"^[a-z0-9][a-z0-9_.-]*$"
Source = Annotated[
    str,
    StringConstraints(min_length=1, max_length=SOURCE_MAX, pattern=SOURCE_PATTERN),
]


class MISKind(StrEnum):
    pupil = "pupil"
    staff = "staff"


class SyncRunKind(StrEnum):
    full = "full"
    delta = "delta"


class SyncRunStatus(StrEnum):
    open = "open"
    completed = "completed"
    # A full run superseded by a newer full run of the same source before it completed.
    abandoned = "abandoned"


class SyncResult(StrEnum):
    created = "created"
    updated = "updated"
    unchanged = "unchanged"
    stale = "stale"
    rejected = "rejected"


class LeaverResult(StrEnum):
    left = "left"
    already_left = "already_left"
    deactivated = "deactivated"
    already_inactive = "already_inactive"
    # The school's last active admin is never deactivated by a sync.
    last_admin_kept = "last_admin_kept"
    not_found = "not_found"


def _timestamp(*, nullable: bool = False) -> Column[datetime]:
    return Column(UTCDateTime, nullable=nullable)


# --- tables --------------------------------------------------------------------------------


class SyncRun(SQLModel, table=True):
    __tablename__ = "sync_run"
    __table_args__ = (
        CheckConstraint("kind IN ('full', 'delta')", name="kind"),
        CheckConstraint("status IN ('open', 'completed', 'abandoned')", name="status"),
        Index("ix_sync_run_school_id_source_status", "school_id", "source", "status"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    school_id: uuid.UUID = Field(foreign_key="school.id")
    kind: str = Field(max_length=10)
    source: str = Field(max_length=SOURCE_MAX)
    status: str = Field(default=SyncRunStatus.open.value, max_length=12)
    # Who started it, as the audit log names actors: ids and type only.
    started_by_type: str = Field(max_length=20)
    started_by_id: uuid.UUID | None = None
    created_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())
    completed_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))
    forced: bool = Field(default=False)
    # {"pupils": {"created": n, ...}, "staff": {...}}, summed over the run's batches.
    counts: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    # Filled in on completion: {"active_before": n, "marked_left": n, "pupil_ids": [...]}.
    sweep: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON, nullable=True))


class MISRecord(SQLModel, table=True):
    """One MIS record we hold: a pupil or a staff account of the school, as the MIS
    ``source`` knows it (``external_id``)."""

    __tablename__ = "mis_record"
    __table_args__ = (
        UniqueConstraint("school_id", "kind", "source", "external_id"),
        CheckConstraint("kind IN ('pupil', 'staff')", name="kind"),
        Index("ix_mis_record_entity_id", "entity_id"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    school_id: uuid.UUID = Field(foreign_key="school.id")
    kind: str = Field(max_length=10)
    source: str = Field(max_length=SOURCE_MAX)
    external_id: str = Field(max_length=EXTERNAL_ID_MAX)
    # The pupil's id (kind pupil) or the user account's id (kind staff).
    entity_id: uuid.UUID
    source_updated_at: datetime = Field(sa_column=_timestamp())
    content_hash: str = Field(max_length=64)
    # The last run whose batch carried this record, whatever its kind.
    last_run_id: uuid.UUID | None = Field(default=None, foreign_key="sync_run.id")
    # The last *full* run that saw it: what the sweep compares with. Kept apart from
    # last_run_id so that a delta run overlapping a full run cannot make a pupil the full
    # run did see look unseen.
    last_full_run_id: uuid.UUID | None = Field(default=None, foreign_key="sync_run.id")
    created_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())


# --- one pushed record, validated on its own -------------------------------------------------


def _clean_name(value: str) -> str:
    cleaned = " ".join(value.split())
    if not cleaned:
        raise ValueError("must not be blank")
    return cleaned


def _clean_source(value: str) -> str:
    return value.strip().lower()


def is_clean_text(value: str) -> bool:
    """Text every database can store: no NUL (PostgreSQL refuses it) and valid Unicode (a
    lone surrogate from a JSON escape cannot be encoded)."""
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _no_nul(value: Any) -> Any:
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("must not contain a NUL character")
    return value


class MISRecordBase(BaseModel):
    """What every pushed record carries: which MIS, its id there, and when it changed."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    source: str = PydanticField(
        min_length=1,
        max_length=SOURCE_MAX,
        pattern=SOURCE_PATTERN,
        description="The MIS or feed the record comes from, as a lower-case slug",
    )
    external_id: str = PydanticField(
        min_length=1, max_length=EXTERNAL_ID_MAX, description="The MIS's own id for the record"
    )
    # A bare number would otherwise be read as seconds since 1970: the record is rejected.
    _source_updated_at_is_rfc3339 = field_validator("source_updated_at", mode="before")(
        rfc3339_only
    )
    source_updated_at: AwareDatetime = PydanticField(
        description="When the MIS last changed the record (RFC 3339, with an offset)"
    )

    @field_validator("source", mode="before")
    @classmethod
    def _source(cls, value: Any) -> Any:
        return _clean_source(value) if isinstance(value, str) else value

    @field_validator("*", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        return _no_nul(value)


class MISPupilRecord(MISRecordBase):
    """One pupil as the MIS has them. ``upn``, ``preferred_name``, ``year_group`` and
    ``registration_group`` are optional: a bad value there is dropped with a warning, never
    a reason to leave the child out."""

    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [
                {
                    "source": "sims",
                    "external_id": "MIS-PUPIL-0001",
                    "upn": "P207000016049",
                    "given_name": "Zoë",
                    "family_name": "Fictional",
                    "preferred_name": "Zo",
                    "date_of_birth": "2014-03-09",
                    "year_group": "Year 7",
                    "registration_group": "7F",
                    "source_updated_at": "2026-11-27T18:00:00Z",
                }
            ]
        },
    )

    upn: str | None = PydanticField(
        default=None, description="DfE Unique Pupil Number (13 characters)"
    )
    given_name: str = PydanticField(
        min_length=1, max_length=NAME_MAX, description="Legal given name"
    )
    family_name: str = PydanticField(
        min_length=1, max_length=NAME_MAX, description="Legal family name"
    )
    preferred_name: str | None = PydanticField(default=None, max_length=NAME_MAX)
    date_of_birth: date
    year_group: str | None = PydanticField(default=None, max_length=20)
    registration_group: str | None = PydanticField(default=None, max_length=40)

    _date_of_birth_is_a_date = field_validator("date_of_birth", mode="before")(iso_date_only)

    @field_validator("given_name", "family_name")
    @classmethod
    def _names(cls, value: str) -> str:
        return _clean_name(value)


class MISStaffRecord(MISRecordBase):
    """One member of staff as the MIS has them."""

    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [
                {
                    "source": "sims",
                    "external_id": "MIS-STAFF-0042",
                    "email": "a.teacher@fictional-school.example",
                    "given_name": "Alex",
                    "family_name": "Teacher",
                    "source_updated_at": "2026-11-27T18:00:00Z",
                    "leaving_date": None,
                }
            ]
        },
    )

    email: EmailStr
    given_name: str = PydanticField(min_length=1, max_length=NAME_MAX)
    family_name: str = PydanticField(min_length=1, max_length=NAME_MAX)
    leaving_date: date | None = PydanticField(
        default=None,
        description="Their last day; once it has passed their account is deactivated",
    )

    _leaving_date_is_a_date = field_validator("leaving_date", mode="before")(iso_date_only)

    @field_validator("given_name", "family_name")
    @classmethod
    def _names(cls, value: str) -> str:
        return _clean_name(value)


# --- request bodies ----------------------------------------------------------------------------


def _records_schema(record: type[BaseModel], kind: str) -> WithJsonSchema:
    # The records are validated one by one in the service: a record that breaks its schema
    # is answered "rejected" in a 200, never a 422 for the batch. So the document promises
    # only objects, and carries each record's own schema under an extension keyword for
    # readers (validators and fuzzers ignore it).
    return WithJsonSchema(
        {
            "type": "array",
            "maxItems": MAX_BATCH,
            "items": {
                "type": "object",
                "description": (
                    f"One {kind} record, shaped as `x-record-schema`. Each is validated on its "
                    "own: one that does not fit is answered `rejected`, with its reason, and "
                    "the others go on."
                ),
                "x-record-schema": record.model_json_schema(),
            },
            "description": f"At most {MAX_BATCH} records",
        }
    )


PupilRecords = Annotated[list[dict[str, Any]], _records_schema(MISPupilRecord, "pupil")]
StaffRecords = Annotated[list[dict[str, Any]], _records_schema(MISStaffRecord, "staff")]

_RUN_ID = Field(
    default=None,
    description="An open sync run of the school that this batch belongs to",
)


class PupilBatch(SQLModel):
    model_config = SQLModelConfig(
        **FORBID_EXTRA,
        json_schema_extra={
            "examples": [
                {
                    "run_id": "01936b2e-5f7a-7cc0-8a38-2c1f1c5d9a10",
                    "records": [MISPupilRecord.model_config["json_schema_extra"]["examples"][0]],  # type: ignore[index]
                }
            ]
        },
    )

    run_id: uuid.UUID | None = _RUN_ID
    records: PupilRecords = Field(max_length=MAX_BATCH)


class StaffBatch(SQLModel):
    model_config = SQLModelConfig(
        **FORBID_EXTRA,
        json_schema_extra={
            "examples": [
                {
                    "records": [MISStaffRecord.model_config["json_schema_extra"]["examples"][0]],  # type: ignore[index]
                }
            ]
        },
    )

    run_id: uuid.UUID | None = _RUN_ID
    records: StaffRecords = Field(max_length=MAX_BATCH)


class Leavers(SQLModel):
    model_config = SQLModelConfig(
        **FORBID_EXTRA,
        json_schema_extra={
            "examples": [
                {
                    "source": "sims",
                    "external_ids": ["MIS-PUPIL-0001", "MIS-PUPIL-0002"],
                    "left_on": "2026-11-27",
                }
            ]
        },
    )

    source: Source = Field(description="The MIS or feed, as a lower-case slug")
    external_ids: list[Annotated[str, Field(min_length=1, max_length=EXTERNAL_ID_MAX)]] = Field(
        min_length=1, max_length=MAX_BATCH
    )
    left_on: date | None = Field(
        default=None, description="The day they left; today when not given. Not in the future"
    )
    run_id: uuid.UUID | None = _RUN_ID

    _left_on_is_a_date = field_validator("left_on", mode="before")(iso_date_only)

    @field_validator("source", mode="before")
    @classmethod
    def _source(cls, value: Any) -> Any:
        return _clean_source(value) if isinstance(value, str) else value

    @field_validator("external_ids")
    @classmethod
    def _ids(cls, value: list[str]) -> list[str]:
        for external_id in value:
            _no_nul(external_id)
        return value


class SyncRunCreate(SQLModel):
    model_config = SQLModelConfig(
        **FORBID_EXTRA, json_schema_extra={"examples": [{"kind": "full", "source": "wonde"}]}
    )

    kind: SyncRunKind
    source: Source = Field(description="The MIS or feed, as a lower-case slug")

    @field_validator("source", mode="before")
    @classmethod
    def _source(cls, value: Any) -> Any:
        return _clean_source(value) if isinstance(value, str) else value


class SyncRunComplete(SQLModel):
    model_config = SQLModelConfig(
        **FORBID_EXTRA, json_schema_extra={"examples": [{"force": False}]}
    )

    force: bool = Field(
        default=False,
        description="Sweep even when it would mark more than 10 % of the roster as left",
    )


class WondeStudentsPage(SQLModel):
    """One page of Wonde's ``GET /schools/{id}/students?include=education_details,year,
    registration_group`` response, exactly as Wonde sent it. ``meta`` (pagination) is
    accepted and ignored: no URL in it is ever fetched."""

    model_config = SQLModelConfig(
        **FORBID_EXTRA,
        json_schema_extra={
            "examples": [
                {
                    "data": [
                        {
                            "id": "A1329183376",
                            "mis_id": "1001",
                            "upi": "f1e2d3c4b5a6",
                            "forename": "Zo",
                            "surname": "Fictional",
                            "legal_forename": "Zoë",
                            "legal_surname": "Fictional",
                            "date_of_birth": {
                                "date": "2014-03-09 00:00:00.000000",
                                "timezone_type": 3,
                                "timezone": "Europe/London",
                            },
                            "updated_at": {
                                "date": "2026-11-27 18:00:00.000000",
                                "timezone_type": 3,
                                "timezone": "UTC",
                            },
                            "education_details": {"data": {"upn": "P207000016049"}},
                            "year": {"data": {"id": "A2", "name": "Year 7"}},
                            "registration_group": {"data": {"id": "A3", "name": "7F"}},
                        }
                    ],
                    "meta": {
                        "pagination": {
                            "next": None,
                            "previous": None,
                            "more": False,
                            "per_page": 50,
                            "current_page": 1,
                        }
                    },
                }
            ]
        },
    )

    data: list[dict[str, Any]] = Field(max_length=MAX_BATCH)
    meta: dict[str, Any] | None = None


# --- responses -------------------------------------------------------------------------------


class RecordResult(SQLModel):
    index: int = Field(description="The record's position in the batch, from 0")
    external_id: str | None = Field(description="Null only when the record had none")
    result: SyncResult
    warnings: list[str] = Field(
        description=(
            "Data-quality notes that did not stop the record: upn_temporary, "
            "upn_check_letter_invalid, upn_invalid_format (the UPN was not stored), "
            "upn_duplicate, <field>_invalid (an optional field dropped), "
            "linked_existing_pupil, pupil_restored, preferred_surname_differs, "
            "linked_existing_account, account_deactivated, account_inactive, "
            "last_admin_not_deactivated"
        )
    )
    reason: str | None = Field(default=None, description="Why the record was rejected")


class SyncCounts(SQLModel):
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    stale: int = 0
    rejected: int = 0


class BatchResult(SQLModel):
    model_config = SQLModelConfig(
        json_schema_extra={
            "examples": [
                {
                    "run_id": "01936b2e-5f7a-7cc0-8a38-2c1f1c5d9a10",
                    "results": [
                        {
                            "index": 0,
                            "external_id": "MIS-PUPIL-0001",
                            "result": "created",
                            "warnings": [],
                            "reason": None,
                        },
                        {
                            "index": 1,
                            "external_id": "MIS-PUPIL-0002",
                            "result": "created",
                            "warnings": ["upn_temporary"],
                            "reason": None,
                        },
                        {
                            "index": 2,
                            "external_id": "MIS-PUPIL-0003",
                            "result": "rejected",
                            "warnings": [],
                            "reason": "date_of_birth: Field required",
                        },
                    ],
                    "counts": {
                        "created": 2,
                        "updated": 0,
                        "unchanged": 0,
                        "stale": 0,
                        "rejected": 1,
                    },
                }
            ]
        }
    )

    run_id: uuid.UUID | None
    results: list[RecordResult]
    counts: SyncCounts


class LeaverOutcome(SQLModel):
    external_id: str
    result: LeaverResult


class LeaversResult(SQLModel):
    model_config = SQLModelConfig(
        json_schema_extra={
            "examples": [
                {
                    "results": [
                        {"external_id": "MIS-PUPIL-0001", "result": "left"},
                        {"external_id": "MIS-PUPIL-0002", "result": "not_found"},
                    ],
                    "counts": {"left": 1, "not_found": 1},
                }
            ]
        }
    )

    results: list[LeaverOutcome]
    counts: dict[str, int] = Field(description="How many ids had each result")


class SweepSummary(SQLModel):
    active_before: int = Field(description="Active pupils of the run's source before the sweep")
    marked_left: int
    pupil_ids: list[uuid.UUID] = Field(description="The pupils the sweep marked as left")


class SyncRunPublic(SQLModel):
    model_config = SQLModelConfig(
        json_schema_extra={
            "examples": [
                {
                    "id": "01936b2e-5f7a-7cc0-8a38-2c1f1c5d9a10",
                    "kind": "full",
                    "source": "wonde",
                    "status": "completed",
                    "created_at": "2026-11-28T02:00:00Z",
                    "completed_at": "2026-11-28T02:04:10Z",
                    "forced": False,
                    "pupils": {
                        "created": 3,
                        "updated": 12,
                        "unchanged": 1190,
                        "stale": 0,
                        "rejected": 1,
                    },
                    "staff": {
                        "created": 0,
                        "updated": 0,
                        "unchanged": 0,
                        "stale": 0,
                        "rejected": 0,
                    },
                    "sweep": {
                        "active_before": 1210,
                        "marked_left": 4,
                        "pupil_ids": ["01936b2e-5f7a-7cc0-8a38-2c1f1c5d9a11"],
                    },
                }
            ]
        }
    )

    id: uuid.UUID
    kind: SyncRunKind
    source: str
    status: SyncRunStatus
    created_at: datetime
    completed_at: datetime | None
    forced: bool
    pupils: SyncCounts
    staff: SyncCounts
    sweep: SweepSummary | None = Field(
        description="What completing the run did; null until it is completed"
    )

    @classmethod
    def of(cls, run: SyncRun) -> SyncRunPublic:
        counts = run.counts or {}
        return cls(
            id=run.id,
            kind=SyncRunKind(run.kind),
            source=run.source,
            status=SyncRunStatus(run.status),
            created_at=run.created_at,
            completed_at=run.completed_at,
            forced=run.forced,
            pupils=SyncCounts(**counts.get("pupils", {})),
            staff=SyncCounts(**counts.get("staff", {})),
            sweep=SweepSummary.model_validate(run.sweep) if run.sweep is not None else None,
        )
