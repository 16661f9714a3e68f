"""Attachments (a file on a concern or a case, sealed at rest) and body maps (marks on
outlines of a child's body, on a concern). Both immutable once recorded (ADR 0105, 0106).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict
from sqlalchemy import BigInteger, CheckConstraint, Column, Index, Text
from sqlmodel import Field, SQLModel
from sqlmodel._compat import SQLModelConfig

from models.base import FORBID_EXTRA, UTCDateTime, new_id
from models.concern import Person
from models.user import name_as_written

MEDIA_TYPES = ("application/pdf", "image/png", "image/jpeg")


class Attachment(SQLModel, table=True):
    """One file, on exactly one concern or one case. Its bytes are sealed at
    ``CONCERNLOG_FILES_URL`` under ``{school_id}/{id}.sealed``; ``sha256`` is the hash of
    the bytes served (an image's after its metadata was stripped), also in the audit
    event that recorded it. ``erased_at``: the file was destroyed with the child's file
    (the row stays, its filename blanked)."""

    __tablename__ = "attachment"
    __table_args__ = (
        CheckConstraint("(concern_id IS NULL) <> (case_id IS NULL)", name="on_one_record"),
        Index("ix_attachment_school_id_concern_id", "school_id", "concern_id"),
        Index("ix_attachment_school_id_case_id", "school_id", "case_id"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    school_id: uuid.UUID = Field(foreign_key="school.id")
    concern_id: uuid.UUID | None = Field(default=None, foreign_key="concern.id")
    case_id: uuid.UUID | None = Field(default=None, foreign_key="safeguarding_case.id")
    filename: str | None = Field(default=None, max_length=255)
    media_type: str = Field(max_length=40)
    size: int = Field(sa_column=Column(BigInteger, nullable=False))
    sha256: str = Field(max_length=64)
    uploaded_by: uuid.UUID = Field(foreign_key="user_account.id")
    uploaded_by_name: str | None = name_as_written()
    uploaded_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    erased_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))


class AttachmentPublic(BaseModel):
    """What an upload answers (contract section 11)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "01936b2f-4444-7abc-8def-0123456789ab",
                    "filename": "note-from-pupil.jpg",
                    "media_type": "image/jpeg",
                    "size": 482113,
                    "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
                }
            ]
        }
    )

    id: uuid.UUID
    filename: str | None = Field(description="As uploaded, made safe; null once erased")
    media_type: str = Field(description="application/pdf, image/png or image/jpeg, by content")
    size: int = Field(description="Bytes served (an image's after its metadata was stripped)")
    sha256: str = Field(description="Hex SHA-256 of the bytes served")


class AttachmentListed(AttachmentPublic):
    """An attachment as a record lists it (and the export)."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "01936b2f-4444-7abc-8def-0123456789ab",
                    "filename": "note-from-pupil.jpg",
                    "media_type": "image/jpeg",
                    "size": 482113,
                    "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
                    "concern_id": "01936b2f-1111-7abc-8def-0123456789ab",
                    "case_id": None,
                    "uploaded_at": "2026-11-27T16:05:12Z",
                    "uploaded_by": {
                        "id": "01936b2e-6a01-7d11-9c3e-5b2f4e6a7b80",
                        "display_name": "Sam Teacher",
                    },
                    "erased": False,
                }
            ]
        }
    )

    concern_id: uuid.UUID | None
    case_id: uuid.UUID | None
    uploaded_at: datetime
    uploaded_by: Person
    erased: bool = Field(default=False, description="Destroyed with the child's file")


class AttachmentList(BaseModel):
    items: list[AttachmentListed]


# --- body maps --------------------------------------------------------------------------------


class BodyView(StrEnum):
    front = "front"
    back = "back"
    left = "left"
    right = "right"
    head = "head"


class MarkKind(StrEnum):
    bruise = "bruise"
    cut = "cut"
    burn = "burn"
    mark = "mark"
    other = "other"


class BodyMark(SQLModel):
    model_config = FORBID_EXTRA

    view: BodyView
    x: float = Field(ge=0, le=1, description="Across the outline, 0 (left edge) to 1")
    y: float = Field(ge=0, le=1, description="Down the outline, 0 (top) to 1")
    kind: MarkKind
    note: str | None = Field(default=None, min_length=1, max_length=500)


class BodyMapCreate(SQLModel):
    model_config = SQLModelConfig(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "marks": [
                        {
                            "view": "front",
                            "x": 0.31,
                            "y": 0.42,
                            "kind": "bruise",
                            "note": "Yellowish, about 3 cm",
                        },
                        {"view": "head", "x": 0.2, "y": 0.45, "kind": "mark"},
                    ]
                }
            ]
        },
    )

    marks: list[BodyMark] = Field(min_length=1, max_length=100)


class BodyMap(SQLModel, table=True):
    """A body map on a concern: its marks as JSON (a list of ``BodyMark``), never changed;
    a later observation is another body map."""

    __tablename__ = "body_map"
    __table_args__ = (Index("ix_body_map_school_id_concern_id", "school_id", "concern_id"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    school_id: uuid.UUID = Field(foreign_key="school.id")
    concern_id: uuid.UUID = Field(foreign_key="concern.id")
    marks: str = Field(sa_column=Column(Text, nullable=False))
    recorded_by: uuid.UUID = Field(foreign_key="user_account.id")
    recorded_by_name: str | None = name_as_written()
    recorded_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class BodyMapPublic(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "01936b2f-5555-7abc-8def-0123456789ab",
                    "concern_id": "01936b2f-1111-7abc-8def-0123456789ab",
                    "marks": [
                        {
                            "view": "front",
                            "x": 0.31,
                            "y": 0.42,
                            "kind": "bruise",
                            "note": "Yellowish, about 3 cm",
                        }
                    ],
                    "recorded_at": "2026-11-27T16:05:12Z",
                    "recorded_by": {
                        "id": "01936b2e-6a01-7d11-9c3e-5b2f4e6a7b80",
                        "display_name": "Sam Teacher",
                    },
                }
            ]
        }
    )

    id: uuid.UUID
    concern_id: uuid.UUID
    marks: list[BodyMark]
    recorded_at: datetime
    recorded_by: Person


class BodyMapList(BaseModel):
    items: list[BodyMapPublic]


class UploadedFile(BaseModel):
    """What an upload's ``Idempotency-Key`` fingerprint covers (the multipart body as the
    service read it): the same file under the same name is the same request."""

    filename: str | None
    media_type: str
    sha256: str
