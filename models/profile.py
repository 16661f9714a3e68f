"""A child's safeguarding profile: what a DSL works from every day. Their statuses (on a
child protection plan, a child in need, looked after... and since when), the people in
their life (who has parental responsibility) and the professionals around them.

A profile is a series of versions, one row each (``pupil_profile_version``): a ``PUT``
replaces the whole profile by writing the next version; none is ever changed or deleted
through the API, so the history shows every version, who wrote it and when. The lists
are stored as JSON text, exactly as validated. The destruction of a child's file blanks
every version's content (``services.profile.erase_profile``), keeping ids and dates.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr
from pydantic import Field as PField
from sqlalchemy import Column, Index, Integer, Text, UniqueConstraint
from sqlmodel import Field, SQLModel
from sqlmodel._compat import SQLModelConfig

from models.base import FORBID_EXTRA, NonBlankText, UTCDateTime, new_id
from models.concern import Person
from models.profile_status import STATUS_EXAMPLE, ProfileStatus
from models.user import name_as_written

NAME_MAX = 200
RELATIONSHIP_MAX = 100
ROLE_MAX = 100
AGENCY_MAX = 200
PHONE_MAX = 40
EMAIL_MAX = 254
# Enough for any child's real profile; more is a mistake or a probe.
MAX_STATUSES = 50
MAX_PEOPLE = 50
MAX_PROFESSIONALS = 50


class PupilProfileVersion(SQLModel, table=True):
    """One version of a pupil's profile. ``version`` counts from 1 per pupil; the newest
    is the profile. ``erased_at`` is set when the file was destroyed (content blanked)."""

    __tablename__ = "pupil_profile_version"
    __table_args__ = (
        UniqueConstraint("pupil_id", "version", name="uq_pupil_profile_version_pupil_id_version"),
        Index(
            "ix_pupil_profile_version_school_id_pupil_id_recorded_at",
            "school_id",
            "pupil_id",
            "recorded_at",
        ),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    school_id: uuid.UUID = Field(foreign_key="school.id")
    pupil_id: uuid.UUID = Field(foreign_key="pupil.id")
    version: int = Field(sa_column=Column(Integer, nullable=False))
    statuses: str = Field(sa_column=Column(Text, nullable=False))
    people: str = Field(sa_column=Column(Text, nullable=False))
    professionals: str = Field(sa_column=Column(Text, nullable=False))
    recorded_by: uuid.UUID = Field(foreign_key="user_account.id")
    recorded_by_name: str = name_as_written()
    recorded_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    erased_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime, nullable=True))


# --- API schemas -------------------------------------------------------------------------


def _phone(value: str) -> str:
    """A telephone number a person could dial: digits with spaces, brackets, dashes and a
    leading +, of a possible length (UK numbers without +44; any other with its code).
    Kept as written."""
    if not all(c in "0123456789 +()-." for c in value) or "+" in value[1:]:
        raise ValueError("must be a telephone number: digits, spaces, brackets, dashes, +")
    import phonenumbers  # loaded when a profile first gives a number (~1 MiB)

    try:
        number = phonenumbers.parse(value, "GB")
    except phonenumbers.NumberParseException:
        raise ValueError("must be a telephone number, e.g. 01632 960123") from None
    if not phonenumbers.is_possible_number(number):
        raise ValueError("is not a possible telephone number (too short or too long)")
    return value


Phone = Annotated[
    str,
    PField(min_length=1, max_length=PHONE_MAX, pattern=r"^\+?[0-9 ().\-]+$"),
    AfterValidator(_phone),
]

_PERSON_EXAMPLE: dict[str, Any] = {
    "name": "Dana Fictional",
    "relationship": "mother",
    "parental_responsibility": True,
    "phone": "01632 960123",
    "email": "dana@fictional.example",
}
_PROFESSIONAL_EXAMPLE: dict[str, Any] = {
    "name": "Riley Caseworker",
    "role": "social worker",
    "agency": "Fictionshire children's social care",
    "phone": "01632 960456",
    "email": None,
}
_PROFILE_EXAMPLE: dict[str, Any] = {
    "statuses": [STATUS_EXAMPLE],
    "people": [_PERSON_EXAMPLE],
    "professionals": [_PROFESSIONAL_EXAMPLE],
}


class ProfilePerson(BaseModel):
    """Someone in the child's life: a parent, a carer, a relative."""

    model_config = ConfigDict(
        extra="forbid", hide_input_in_errors=True, json_schema_extra={"examples": [_PERSON_EXAMPLE]}
    )

    name: NonBlankText = PField(min_length=1, max_length=NAME_MAX)
    relationship: NonBlankText = PField(
        min_length=1, max_length=RELATIONSHIP_MAX, description="mother, stepfather, foster carer…"
    )
    parental_responsibility: bool = PField(strict=True)
    phone: Phone | None = None
    email: EmailStr | None = PField(default=None, max_length=EMAIL_MAX)


class ProfileProfessional(BaseModel):
    """A professional working with the child: a social worker, a school nurse, CAMHS."""

    model_config = ConfigDict(
        extra="forbid",
        hide_input_in_errors=True,
        json_schema_extra={"examples": [_PROFESSIONAL_EXAMPLE]},
    )

    name: NonBlankText = PField(min_length=1, max_length=NAME_MAX)
    role: NonBlankText = PField(min_length=1, max_length=ROLE_MAX)
    agency: NonBlankText = PField(min_length=1, max_length=AGENCY_MAX)
    phone: Phone | None = None
    email: EmailStr | None = PField(default=None, max_length=EMAIL_MAX)


class ProfileBody(SQLModel):
    """The whole profile: a ``PUT`` replaces it (each list whole; an empty list clears it)."""

    model_config = SQLModelConfig(
        **FORBID_EXTRA, json_schema_extra={"examples": [_PROFILE_EXAMPLE]}
    )

    statuses: list[ProfileStatus] = Field(max_length=MAX_STATUSES)
    people: list[ProfilePerson] = Field(max_length=MAX_PEOPLE)
    professionals: list[ProfileProfessional] = Field(max_length=MAX_PROFESSIONALS)


_DSL = {"id": "01936b2e-6a01-7d11-9c3e-5b2f4e6a7b81", "display_name": "Jo Lead"}
_PUBLIC_EXAMPLE: dict[str, Any] = _PROFILE_EXAMPLE | {
    "pupil_id": "01936b2e-5f7a-7cc0-8a38-2c1f1c5d9a10",
    "version": 2,
    "recorded_at": "2026-11-28T09:15:00Z",
    "recorded_by": _DSL,
    "erased": False,
}


class ProfilePublic(SQLModel):
    """A version of the profile (the newest: the profile as it is). A pupil whose profile
    was never written has version 0, empty lists and no ``recorded_at``."""

    model_config = SQLModelConfig(
        json_schema_extra={"examples": [_PUBLIC_EXAMPLE]}, hide_input_in_errors=True
    )

    pupil_id: uuid.UUID
    version: int = Field(description="1 for the first version; 0 when there is none yet")
    statuses: list[ProfileStatus]
    people: list[ProfilePerson]
    professionals: list[ProfileProfessional]
    recorded_at: datetime | None = Field(description="When this version was written")
    recorded_by: Person | None = Field(description="Who wrote it, under the name they had")
    erased: bool = Field(
        default=False, description="The file was destroyed: the content of this version is gone"
    )


class ProfileHistoryPage(SQLModel):
    model_config = SQLModelConfig(
        json_schema_extra={"examples": [{"items": [_PUBLIC_EXAMPLE], "next_cursor": None}]}
    )

    items: list[ProfilePublic] = Field(description="Newest first")
    next_cursor: str | None = Field(
        description="Pass as ?cursor= for the next page; null on the last page"
    )
