"""A school's own guidance: drafts its DSLs write, and the versions they publish.

A draft is a document without a version (``models.guidance.GuidanceContent``). Publishing
a draft makes the next version of its key for the school (1, 2, ...): a row that is never
changed again and holds the whole document as it is served. A draft is published once;
publishing the key again takes a new draft.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic import Field as PydanticField
from sqlalchemy import Column, Index, Integer, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.base import UTCDateTime, new_id
from models.concern import Person
from models.guidance import (
    ID_MAX,
    TITLE_MAX,
    GuidanceAction,
    GuidanceContent,
    GuidanceSection,
    Indicator,
)


class GuidanceDraft(SQLModel, table=True):
    __tablename__ = "guidance_draft"
    __table_args__ = (Index("ix_guidance_draft_school_id_id", "school_id", "id"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    school_id: uuid.UUID = Field(foreign_key="school.id")
    key: str = Field(max_length=ID_MAX)
    title: str = Field(max_length=TITLE_MAX)
    category: str = Field(max_length=ID_MAX)
    # The sections, indicators and actions as JSON, exactly as validated.
    content: str = Field(sa_column=Column(Text, nullable=False))
    created_by: uuid.UUID = Field(foreign_key="user_account.id")
    created_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    published_version: int | None = Field(default=None, sa_column=Column(Integer, nullable=True))
    published_at: datetime | None = Field(
        default=None, sa_column=Column(UTCDateTime, nullable=True)
    )


class GuidanceVersion(SQLModel, table=True):
    """One published version of a school's document: never changed once written."""

    __tablename__ = "guidance_version"
    __table_args__ = (UniqueConstraint("school_id", "key", "version"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    school_id: uuid.UUID = Field(foreign_key="school.id")
    key: str = Field(max_length=ID_MAX)
    version: int = Field(sa_column=Column(Integer, nullable=False))
    title: str = Field(max_length=TITLE_MAX)
    category: str = Field(max_length=ID_MAX)
    # The whole document as served (``GuidanceDocument`` as JSON).
    document: str = Field(sa_column=Column(Text, nullable=False))
    draft_id: uuid.UUID = Field(foreign_key="guidance_draft.id")
    published_by: uuid.UUID = Field(foreign_key="user_account.id")
    published_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


# --- API schemas -------------------------------------------------------------------------

_ITEM = {"id": "changes-in-eating", "text": "Eats much more or much less than before"}
DRAFT_EXAMPLE: dict[str, Any] = {
    "key": "neglect-signs",
    "title": "Signs of neglect: what staff at our school look for",
    "category": "neglect",
    "sections": [
        {
            "id": "what-to-look-for",
            "heading": "What might I notice?",
            "lead": "A child may:",
            "items": [
                {**_ITEM, "indicator": "changes-in-eating"},
                {
                    "id": "often-hungry",
                    "text": "Arrive hungry or take food from others",
                    "indicator": "often-hungry",
                },
            ],
        },
        {
            "id": "what-to-do",
            "heading": "What do I do?",
            "items": [
                {
                    "id": "tell-the-dsl",
                    "text": "Tell the DSL the same day, and log what you saw",
                    "action": "tell-dsl",
                }
            ],
        },
    ],
    "indicators": [
        _ITEM,
        {"id": "often-hungry", "text": "Arrive hungry or take food from others"},
    ],
    "actions": [
        {
            "id": "tell-dsl",
            "text": "Tell the DSL the same day, and log what you saw",
            "when": "always",
        }
    ],
}


class GuidanceDraftCreate(GuidanceContent):
    """A document as a school writes it: the shape of a guidance document, with the
    category it belongs to and without a version (publishing gives it one)."""

    model_config = ConfigDict(json_schema_extra={"examples": [DRAFT_EXAMPLE]})


_PERSON = {"id": "01936b2e-6a01-7d11-9c3e-5b2f4e6a7b81", "display_name": "Jo Lead"}
_DRAFT_FIELDS: dict[str, Any] = {
    "id": "01936c00-0000-7000-8000-00000000d001",
    "key": "neglect-signs",
    "title": DRAFT_EXAMPLE["title"],
    "category": "neglect",
    "created_at": "2026-12-02T09:00:00Z",
    "created_by": _PERSON,
    "published_version": None,
    "published_at": None,
}


class GuidanceDraftSummary(BaseModel):
    model_config = ConfigDict(
        hide_input_in_errors=True, json_schema_extra={"examples": [_DRAFT_FIELDS]}
    )

    id: uuid.UUID
    key: str
    title: str
    category: str
    created_at: datetime
    created_by: Person
    published_version: str | None = PydanticField(
        default=None, description="The version publishing this draft made; null until then"
    )
    published_at: datetime | None = None


class GuidanceDraftPublic(GuidanceDraftSummary):
    model_config = ConfigDict(json_schema_extra={"examples": [{**_DRAFT_FIELDS, **DRAFT_EXAMPLE}]})

    sections: list[GuidanceSection]
    indicators: list[Indicator]
    actions: list[GuidanceAction]


class GuidanceDraftPage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"items": [_DRAFT_FIELDS], "next_cursor": None}]}
    )

    items: list[GuidanceDraftSummary] = PydanticField(description="Oldest first")
    next_cursor: str | None = PydanticField(
        description="Pass as ?cursor= for the next page; null on the last page"
    )


class PublishedGuidance(BaseModel):
    """What publishing made: the document's key and its new version."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"key": "neglect-signs", "version": "1"}]}
    )

    key: str
    version: str
