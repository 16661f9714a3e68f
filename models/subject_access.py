"""Subject access exports (UK GDPR Article 15): a DSL prepares a copy of a child's file for
the child or a parent, with other pupils and staff redacted and chosen entries withheld
under an exemption.

The request is what is stored (docs/adr/0095): who asked for what, when (``requested_at``:
the export holds what was recorded by then), which entries are withheld and why, and a
SHA-256 of the JSON it made, so that each download is rendered again from the records as
they were and can be told apart from the first if a record has since been corrected or
destroyed.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, StringConstraints
from pydantic import Field as PydanticField
from sqlalchemy import Column, Index, Text
from sqlmodel import Field, SQLModel

from models.base import UTCDateTime, new_id
from models.concern import Person
from models.user import name_as_written

REASON_MAX = 1000
WITHHOLD_MAX = 500


class SubjectAccessExport(SQLModel, table=True):
    __tablename__ = "subject_access_export"
    __table_args__ = (
        Index("ix_subject_access_export_school_id_pupil_id", "school_id", "pupil_id"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    school_id: uuid.UUID = Field(foreign_key="school.id")
    pupil_id: uuid.UUID = Field(foreign_key="pupil.id")
    requested_by: uuid.UUID = Field(foreign_key="user_account.id")
    requested_by_name: str | None = name_as_written()
    # The export holds what was recorded by then, whenever it is downloaded.
    requested_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    redact_other_pupils: bool
    redact_staff: bool
    # The entries withheld and why, as a JSON list of {"entry_id", "reason"}.
    withheld: str = Field(sa_column=Column(Text, nullable=False))
    # SHA-256 (hex) of the JSON export as first made.
    json_sha256: str = Field(max_length=64)


Reason = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=REASON_MAX)
]


class WithheldEntry(BaseModel):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    entry_id: uuid.UUID = PydanticField(
        description="A chronology entry of the pupil's file (a concern, addendum, action, "
        "decision...): shown as withheld. A concern withheld takes its addenda and triage "
        "changes with it."
    )
    reason: Reason = PydanticField(
        description="The exemption relied on, and why (kept with the request; not shown "
        "in the export)"
    )


_CREATE_EXAMPLE: dict[str, Any] = {
    "redact_other_pupils": True,
    "redact_staff": True,
    "withhold": [
        {
            "entry_id": "01936b2f-1111-7abc-8def-0123456789ab",
            "reason": "Serious harm exemption (DPA 2018 Sch 3 Part 2): disclosure would put "
            "the child at risk.",
        }
    ],
}


class SubjectAccessCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        hide_input_in_errors=True,
        json_schema_extra={"examples": [_CREATE_EXAMPLE]},
    )

    redact_other_pupils: bool = PydanticField(
        default=True,
        description="Replace other pupils' names (also in the text) by [another pupil] and "
        "leave out their ids",
    )
    redact_staff: bool = PydanticField(
        default=True,
        description="Replace staff names (also in the text) by [member of staff]",
    )
    withhold: list[WithheldEntry] = PydanticField(default_factory=list, max_length=WITHHOLD_MAX)


class SubjectAccessLinks(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    pdf: str = PydanticField(description="The export as a PDF, for the requester")
    json_url: str = PydanticField(alias="json", description="The export as JSON")


class SubjectAccessPublic(BaseModel):
    model_config = ConfigDict(
        populate_by_name=True,
        hide_input_in_errors=True,
        json_schema_extra={
            "examples": [
                {
                    "id": "01936b2e-5f7a-7cc0-8a38-2c1f1c5d9a40",
                    "pupil_id": "01936b2e-5f7a-7cc0-8a38-2c1f1c5d9a10",
                    "requested_by": {
                        "id": "01936b2e-6a01-7d11-9c3e-5b2f4e6a7b81",
                        "display_name": "Jo Lead",
                    },
                    "requested_at": "2026-12-03T09:00:00Z",
                    **_CREATE_EXAMPLE,
                    "json_sha256": "9f2c" + "0" * 60,
                    "links": {
                        "pdf": "/api/v1/pupils/01936b2e-5f7a-7cc0-8a38-2c1f1c5d9a10/"
                        "subject-access-exports/01936b2e-5f7a-7cc0-8a38-2c1f1c5d9a40/pdf",
                        "json": "/api/v1/pupils/01936b2e-5f7a-7cc0-8a38-2c1f1c5d9a10/"
                        "subject-access-exports/01936b2e-5f7a-7cc0-8a38-2c1f1c5d9a40/json",
                    },
                }
            ]
        },
    )

    id: uuid.UUID
    pupil_id: uuid.UUID
    requested_by: Person
    requested_at: datetime = PydanticField(
        description="The export holds what was recorded by then, whenever it is downloaded"
    )
    redact_other_pupils: bool
    redact_staff: bool
    withhold: list[WithheldEntry] = PydanticField(description="With the reasons recorded")
    json_sha256: str = PydanticField(description="SHA-256 (hex) of the JSON as first made")
    links: SubjectAccessLinks
