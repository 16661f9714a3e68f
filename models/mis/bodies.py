"""The request bodies of ``/api/v1/mis``."""

from __future__ import annotations

import uuid
from datetime import date
from typing import Annotated, Any

from pydantic import BaseModel, GetJsonSchemaHandler, TypeAdapter, field_validator
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema
from sqlmodel import Field, SQLModel
from sqlmodel._compat import SQLModelConfig

from models.base import FORBID_EXTRA, iso_date_only
from models.mis.records import MISPupilRecord, MISStaffRecord, clean_source, no_nul
from models.mis.tables import EXTERNAL_ID_MAX, MAX_BATCH, Source, SyncRunKind

# --- request bodies ----------------------------------------------------------------------------


class _RecordsOf:
    """The JSON schema of a batch's records: an array of ``record`` (a named component, so
    that a generated client has its type), though the records are validated one by one in
    the service: a record that breaks its schema is answered ``rejected`` in the 200,
    never a 422 for the batch (the body itself only needs objects)."""

    def __init__(self, record: type[BaseModel], kind: str) -> None:
        self.record = record
        self.kind = kind

    def __get_pydantic_json_schema__(
        self, _core_schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        schema = handler(TypeAdapter(list[self.record]).core_schema)  # type: ignore[name-defined]
        return {
            **schema,
            "maxItems": MAX_BATCH,
            "description": (
                f"At most {MAX_BATCH} {self.kind} records. Each is judged on its own: one that "
                "does not fit its schema is answered `rejected` with its reason, and the "
                "others go on (the batch is not refused)."
            ),
        }


PupilRecords = Annotated[list[dict[str, Any]], _RecordsOf(MISPupilRecord, "pupil")]
StaffRecords = Annotated[list[dict[str, Any]], _RecordsOf(MISStaffRecord, "staff")]

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
        return clean_source(value) if isinstance(value, str) else value

    @field_validator("external_ids")
    @classmethod
    def _ids(cls, value: list[str]) -> list[str]:
        for external_id in value:
            no_nul(external_id)
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
        return clean_source(value) if isinstance(value, str) else value


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
