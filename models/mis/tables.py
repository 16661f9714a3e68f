"""MIS sync's tables: which MIS record is which of our pupils or staff accounts, and the
sync runs that keep them in step (see ``models.mis``)."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    StringConstraints,
)
from sqlalchemy import JSON, CheckConstraint, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from core.clock import utcnow
from models.base import UTCDateTime, new_id

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
    # Kept active on purpose: a sync never deactivates a privileged account (a DSL's, deputy
    # DSL's or admin's), so never the school's last admin either (ADR 0046).
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
