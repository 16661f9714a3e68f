"""The answers of ``/api/v1/mis``."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlmodel import Field, SQLModel
from sqlmodel._compat import SQLModelConfig

from models.mis.tables import LeaverResult, SyncResult, SyncRun, SyncRunKind, SyncRunStatus

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
            "privileged_account_not_synced (a DSL's, deputy DSL's or admin's account: "
            "never linked to, renamed or deactivated by a sync)"
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
