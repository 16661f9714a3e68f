"""The tenant: a school, identified publicly by its DfE URN."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Column
from sqlmodel import Field, SQLModel
from sqlmodel._compat import SQLModelConfig

from core.clock import utcnow
from models.base import FORBID_EXTRA, UTCDateTime, new_id


class SchoolBase(SQLModel):
    name: str = Field(min_length=1, max_length=200)
    urn: str = Field(
        min_length=6,
        max_length=6,
        regex=r"^\d{6}$",
        description="The DfE's 6-digit Unique Reference Number",
    )


class School(SchoolBase, table=True):
    __tablename__ = "school"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    urn: str = Field(max_length=6, unique=True)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False)
    )


_SCHOOL_EXAMPLE: dict[str, Any] = {"name": "Fictional Academy", "urn": "700001"}


class SchoolCreate(SchoolBase):
    model_config = SQLModelConfig(**FORBID_EXTRA, json_schema_extra={"examples": [_SCHOOL_EXAMPLE]})


class SchoolPublic(SchoolBase):
    model_config = SQLModelConfig(
        json_schema_extra={
            "examples": [{"id": "01936b2e-1a2b-7c3d-8e4f-5a6b7c8d9e0f", **_SCHOOL_EXAMPLE}]
        }
    )

    id: uuid.UUID
