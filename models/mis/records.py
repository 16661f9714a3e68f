"""One pushed MIS record, validated on its own: a record that does not fit is answered
``rejected`` with its reason, and the rest of its batch goes on."""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    EmailStr,
    field_validator,
)
from pydantic import Field as PydanticField

from models.base import Moment, iso_date_only, rfc3339_only
from models.mis.tables import EXTERNAL_ID_MAX, NAME_MAX, SOURCE_MAX, SOURCE_PATTERN

# --- one pushed record, validated on its own -------------------------------------------------


def _clean_name(value: str) -> str:
    cleaned = " ".join(value.split())
    if not cleaned:
        raise ValueError("must not be blank")
    return cleaned


def clean_source(value: str) -> str:
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


def no_nul(value: Any) -> Any:
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
    source_updated_at: Moment = PydanticField(
        description="When the MIS last changed the record (RFC 3339, with an offset)"
    )

    @field_validator("source", mode="before")
    @classmethod
    def _source(cls, value: Any) -> Any:
        return clean_source(value) if isinstance(value, str) else value

    @field_validator("*", mode="before")
    @classmethod
    def _text(cls, value: Any) -> Any:
        return no_nul(value)


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
