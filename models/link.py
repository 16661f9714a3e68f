"""Links between children: people, vehicles, places and online accounts of concern that
DSLs record on concerns and cases (``entity``), and each concern's location as a
matching key (``concern_place``), so that children connected through them can be found
(docs/adr/0111).

Labels are kept as written and matched by a key (``label_key``): case-folded, accents
and punctuation dropped, whitespace collapsed, and for a vehicle no spaces at all
("AB12 CDE" and "ab12cde" are one car).
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator
from pydantic import Field as PydanticField
from sqlalchemy import CheckConstraint, Column, Index
from sqlmodel import Field, SQLModel
from sqlmodel._compat import SQLModelConfig

from models.base import FORBID_EXTRA, UTCDateTime, new_id, non_blank_text
from models.concern import LOCATION_MAX, Person
from models.user import name_as_written

LABEL_MAX = 200
KEY_MAX = 200
_NOT_WORD = re.compile(r"[^\w]+")


class EntityKind(StrEnum):
    person = "person"
    vehicle = "vehicle"
    place = "place"
    online = "online"


def label_key(kind: str, label: str) -> str:
    """The key a label is matched by (see the module docstring); "" when nothing is left."""
    decomposed = unicodedata.normalize("NFKD", label)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    words = _NOT_WORD.sub(" ", stripped.casefold().replace("_", " ")).split()
    joiner = "" if kind == EntityKind.vehicle.value else " "
    return joiner.join(words)[:KEY_MAX]


def _in(values: type[StrEnum]) -> str:
    return ", ".join(f"'{value.value}'" for value in values)


class Entity(SQLModel, table=True):
    """A person, vehicle, place or online account of concern, recorded by a DSL on one
    concern or one case (exactly one of the two)."""

    __tablename__ = "entity"
    __table_args__ = (
        CheckConstraint(f"kind IN ({_in(EntityKind)})", name="kind"),
        CheckConstraint("(concern_id IS NULL) <> (case_id IS NULL)", name="one_record"),
        # Matching: every record of the school carrying this entity.
        Index("ix_entity_school_id_kind_label_key", "school_id", "kind", "label_key"),
        Index("ix_entity_concern_id", "concern_id"),
        Index("ix_entity_case_id", "case_id"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    school_id: uuid.UUID = Field(foreign_key="school.id")
    kind: str = Field(max_length=10)
    label: str = Field(max_length=LABEL_MAX)
    label_key: str = Field(max_length=KEY_MAX)
    concern_id: uuid.UUID | None = Field(default=None, foreign_key="concern.id")
    case_id: uuid.UUID | None = Field(default=None, foreign_key="safeguarding_case.id")
    recorded_by: uuid.UUID = Field(foreign_key="user_account.id")
    recorded_by_name: str = name_as_written()
    recorded_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))


class ConcernPlace(SQLModel, table=True):
    """A concern's location as its matching key (``label_key`` of a place), written with
    the concern: "the same location text" is an index lookup, whatever the school's size."""

    __tablename__ = "concern_place"
    __table_args__ = (Index("ix_concern_place_school_id_place_key", "school_id", "place_key"),)

    concern_id: uuid.UUID = Field(foreign_key="concern.id", primary_key=True)
    school_id: uuid.UUID = Field(foreign_key="school.id")
    place_key: str = Field(max_length=KEY_MAX)


# --- API schemas -------------------------------------------------------------------------


class EntityCreate(SQLModel):
    model_config = SQLModelConfig(
        **FORBID_EXTRA,
        json_schema_extra={
            "examples": [{"kind": "vehicle", "label": "AB12 CDE (silver hatchback)"}]
        },
    )

    kind: EntityKind = Field(description="`person`, `vehicle`, `place` or `online`")
    label: str = Field(
        min_length=1,
        max_length=LABEL_MAX,
        description="As a DSL would write it: a name, a registration, a place, a username",
    )

    @field_validator("label")
    @classmethod
    def _text(cls, value: str) -> str:
        value = non_blank_text(value)
        if not label_key("person", value):
            raise ValueError("a label needs at least one letter or digit")
        return value


_ENTITY_EXAMPLE: dict[str, Any] = {
    "id": "01936b50-0000-7000-8000-000000000001",
    "kind": "vehicle",
    "label": "AB12 CDE (silver hatchback)",
    "concern_id": "01936b2f-1111-7abc-8def-0123456789ab",
    "case_id": None,
    "recorded_by": {"id": "01936b2e-6a01-7d11-9c3e-5b2f4e6a7b80", "display_name": "Jo Lead"},
    "recorded_at": "2026-12-02T10:00:00Z",
}


class EntityPublic(BaseModel):
    model_config = ConfigDict(
        hide_input_in_errors=True, json_schema_extra={"examples": [_ENTITY_EXAMPLE]}
    )

    id: uuid.UUID
    kind: EntityKind
    label: str
    concern_id: uuid.UUID | None
    case_id: uuid.UUID | None
    recorded_by: Person
    recorded_at: datetime


class EntityList(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"items": [_ENTITY_EXAMPLE]}]})

    items: list[EntityPublic] = PydanticField(description="Oldest recorded first")


class LinkVia(StrEnum):
    shared_concern = "shared_concern"
    shared_entity = "shared_entity"
    same_location = "same_location"


class LinkEvidence(BaseModel):
    model_config = ConfigDict(hide_input_in_errors=True)

    via: LinkVia = PydanticField(
        description="`shared_concern` (one concern about both children), `shared_entity` "
        "(the same person, vehicle, place or online account recorded on a record of each) "
        "or `same_location` (concerns about each with the same location text)"
    )
    kind: EntityKind | None = PydanticField(default=None, description="For `shared_entity`")
    label: str | None = PydanticField(
        default=None,
        max_length=max(LABEL_MAX, LOCATION_MAX),
        description="The entity's label or the location, as first written",
    )
    concern_ids: list[uuid.UUID] = PydanticField(
        description="The concerns (of either child) that carry it"
    )
    case_ids: list[uuid.UUID] = PydanticField(
        default_factory=list, description="The cases (of either child) that carry it"
    )


_LINK_EXAMPLE: dict[str, Any] = {
    "pupil_id": "01936b2e-5f7a-7cc0-8a38-2c1f1c5d9a11",
    "display_name": "Zack Madeup",
    "strength": 5,
    "evidence": [
        {"via": "shared_concern", "concern_ids": ["01936b2f-1111-7abc-8def-0123456789ab"]},
        {
            "via": "shared_entity",
            "kind": "vehicle",
            "label": "AB12 CDE",
            "concern_ids": ["01936b2f-1111-7abc-8def-0123456789ac"],
            "case_ids": [],
        },
    ],
}


class PupilLink(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_LINK_EXAMPLE]})

    pupil_id: uuid.UUID
    display_name: str
    strength: int = PydanticField(
        description="3 for each shared concern, 2 for each shared entity, 1 for each shared "
        "location: a guide to which link to read first, never a score of risk"
    )
    evidence: list[LinkEvidence]


class PupilLinks(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"items": [_LINK_EXAMPLE]}]})

    items: list[PupilLink] = PydanticField(description="Strongest first")


class ConnectingEntity(BaseModel):
    model_config = ConfigDict(hide_input_in_errors=True)

    kind: EntityKind
    label: str = PydanticField(description="As first written")
    children: int = PydanticField(description="How many children it connects")
    pupils: list[Person] = PydanticField(description="Those children, by the name they go by")


class ConnectingEntities(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "items": [
                        {
                            "kind": "vehicle",
                            "label": "AB12 CDE",
                            "children": 3,
                            "pupils": [
                                {
                                    "id": "01936b2e-5f7a-7cc0-8a38-2c1f1c5d9a10",
                                    "display_name": "Zo Fictional",
                                }
                            ],
                        }
                    ]
                }
            ]
        }
    )

    items: list[ConnectingEntity] = PydanticField(description="Most children first")
