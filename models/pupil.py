"""Pupils of a school: entered by hand or synced from the school's MIS.

A pupil row carries, beside the names as given, a normalised form of each name (lower
case, accents stripped) that the name search matches by prefix. The keys are kept in step
by the ORM on every insert and update, whoever writes the row.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import ConfigDict, WithJsonSchema, field_validator, with_config
from sqlalchemy import CheckConstraint, Column, ColumnElement, Index, UniqueConstraint, event, func
from sqlmodel import Field, SQLModel
from sqlmodel._compat import SQLModelConfig
from typing_extensions import TypedDict

from core.clock import utcnow
from models.base import FORBID_EXTRA, UTCDateTime, iso_date_only, new_id
from models.profile_status import ProfileStatus

NAME_MAX = 100
NAME_KEY_MAX = 200


class PupilStatus(StrEnum):
    active = "active"
    left = "left"


# Apostrophes join ("O'Brien" is searched as "obrien"); any other non-alphanumeric
# character (space, hyphen, full stop) separates words.
_JOINERS = re.compile(r"['\u2019\u02bc`]")
_WORDS = re.compile(r"[^\W_]+")


def name_words(text: str) -> list[str]:
    """The words of ``text`` as the search compares them: accents stripped (NFKD, combining
    marks dropped), case-folded, punctuation removed."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return _WORDS.findall(_JOINERS.sub("", stripped.casefold()))


def name_key(name: str | None) -> str | None:
    """The normalised, searchable form of one name ("Zoë-Anne" -> "zoe anne")."""
    if name is None:
        return None
    return " ".join(name_words(name))[:NAME_KEY_MAX]


def display_name(given_name: str, family_name: str, preferred_name: str | None) -> str:
    """How a pupil is shown: the name they go by, then their family name (spelt in SQL by
    ``display_name_column``)."""
    return f"{preferred_name or given_name} {family_name}"


# The DfE's UPN as the OpenAPI document states it (the check letter itself is checked by
# ``_validate_upn``): a check letter, 11 digits, then a digit (permanent) or a letter
# (temporary); the letters never I, O or S. Either case is taken (and stored upper case).
_UPN_LETTER = "A-HJ-NP-RT-Za-hj-np-rt-z"
UPN_PATTERN = f"^[{_UPN_LETTER}][0-9]{{11}}[0-9{_UPN_LETTER}]$"
Upn = Annotated[
    str,
    WithJsonSchema(
        {
            "type": "string",
            "minLength": 13,
            "maxLength": 13,
            "pattern": UPN_PATTERN,
            "description": "The DfE's Unique Pupil Number: a check letter, 11 digits, then a "
            "digit (permanent) or a letter (temporary)",
            "examples": ["Z000000026001"],
        }
    ),
]


def _validate_upn(value: str | None) -> str | None:
    """The DfE's 13-character UPN: a check letter, 11 digits, then a digit (permanent) or a
    letter (temporary). The LA code is not checked against a list: new authorities appear."""
    if value is None:
        return None
    upn = value.replace(" ", "").upper()
    letters = "ABCDEFGHJKLMNPQRTUVWXYZ"  # never I, O or S (UPN_PATTERN)
    if (
        len(upn) != 13
        or not upn[1:12].isdigit()
        or not upn.isascii()
        or upn[0] not in letters
        or upn[12] not in letters + "0123456789"
    ):
        raise ValueError("a UPN is 13 characters: a check letter, 11 digits and a final character")
    # python-stdnum (~8 MiB with the pydoc it imports) is loaded with the first UPN checked.
    from stdnum.gb.upn import calc_check_digit

    if calc_check_digit(upn[1:]) != upn[0]:
        raise ValueError("the UPN's check letter does not match")
    return upn


def _clean_name(value: str | None) -> str | None:
    if value is None:
        return None
    cleaned = " ".join(value.split())
    if not cleaned:
        raise ValueError("must not be blank")
    return cleaned


class PupilFields(SQLModel):
    """The fields a school may set on a pupil by hand."""

    given_name: str = Field(min_length=1, max_length=NAME_MAX)
    family_name: str = Field(min_length=1, max_length=NAME_MAX)
    preferred_name: str | None = Field(
        default=None,
        min_length=1,
        max_length=NAME_MAX,
        description="The name the pupil goes by, when it differs from the given name",
    )
    date_of_birth: date
    upn: str | None = Field(
        default=None,
        max_length=13,
        description="The DfE's 13-character Unique Pupil Number (permanent or temporary)",
    )
    year_group: str | None = Field(default=None, min_length=1, max_length=20)
    registration_group: str | None = Field(default=None, min_length=1, max_length=40)


class Pupil(PupilFields, table=True):
    __tablename__ = "pupil"
    __table_args__ = (
        UniqueConstraint("school_id", "source", "external_id"),
        CheckConstraint("status IN ('active', 'left')", name="status"),
        # Name search is a prefix match within one school; ``varchar_pattern_ops`` lets
        # PostgreSQL use these indexes for ``LIKE 'abc%'`` whatever the database collation.
        Index(
            "ix_pupil_school_id_given_name_key",
            "school_id",
            "given_name_key",
            postgresql_ops={"given_name_key": "varchar_pattern_ops"},
        ),
        Index(
            "ix_pupil_school_id_family_name_key",
            "school_id",
            "family_name_key",
            postgresql_ops={"family_name_key": "varchar_pattern_ops"},
        ),
        Index(
            "ix_pupil_school_id_preferred_name_key",
            "school_id",
            "preferred_name_key",
            postgresql_ops={"preferred_name_key": "varchar_pattern_ops"},
        ),
        Index("ix_pupil_school_id_upn", "school_id", "upn"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    school_id: uuid.UUID = Field(foreign_key="school.id")
    status: str = Field(default=PupilStatus.active.value, max_length=10)
    left_on: date | None = None
    # For pupils synced from an MIS: the MIS (``source``) and its own id for the pupil.
    source: str | None = Field(default=None, max_length=40)
    external_id: str | None = Field(default=None, max_length=128)
    given_name_key: str = Field(default="", max_length=NAME_KEY_MAX)
    family_name_key: str = Field(default="", max_length=NAME_KEY_MAX)
    preferred_name_key: str | None = Field(default=None, max_length=NAME_KEY_MAX)
    created_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False)
    )
    updated_at: datetime = Field(
        default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False)
    )

    @property
    def display_name(self) -> str:
        return display_name(self.given_name, self.family_name, self.preferred_name)

    def refresh_name_keys(self) -> None:
        """Recompute the search keys from the names (done on every ORM insert and update;
        a writer using Core statements must call ``name_key`` itself)."""
        self.given_name_key = name_key(self.given_name) or ""
        self.family_name_key = name_key(self.family_name) or ""
        self.preferred_name_key = name_key(self.preferred_name)


@event.listens_for(Pupil, "before_insert")
@event.listens_for(Pupil, "before_update")
def _keep_name_keys(_mapper: Any, _connection: Any, pupil: Pupil) -> None:
    pupil.refresh_name_keys()


# --- API schemas -------------------------------------------------------------------------

_PUPIL_EXAMPLE: dict[str, Any] = {
    "given_name": "Zoë",
    "family_name": "Fictional",
    "preferred_name": "Zo",
    "date_of_birth": "2014-03-09",
    "upn": "Z000000026001",
    "year_group": "Year 7",
    "registration_group": "7F",
}


_UPN_FIELD_DESCRIPTION = "The DfE's 13-character Unique Pupil Number (permanent or temporary)"


class PupilCreate(PupilFields):
    model_config = SQLModelConfig(**FORBID_EXTRA, json_schema_extra={"examples": [_PUPIL_EXAMPLE]})

    upn: Upn | None = Field(default=None, max_length=13, description=_UPN_FIELD_DESCRIPTION)

    _date_of_birth_is_a_date = field_validator("date_of_birth", mode="before")(iso_date_only)

    @field_validator("given_name", "family_name", "preferred_name")
    @classmethod
    def _names(cls, value: str | None) -> str | None:
        return _clean_name(value)

    @field_validator("upn")
    @classmethod
    def _upn(cls, value: str | None) -> str | None:
        return _validate_upn(value)


class PupilUpdate(SQLModel):
    """Only the fields sent are changed. ``given_name``, ``family_name`` and
    ``date_of_birth`` cannot be cleared; marking a pupil ``left`` records ``left_on``
    (today when not given); marking them ``active`` again clears it."""

    model_config = SQLModelConfig(
        **FORBID_EXTRA,
        json_schema_extra={"examples": [{"preferred_name": "Zo", "registration_group": "7G"}]},
    )

    given_name: str | None = Field(default=None, min_length=1, max_length=NAME_MAX)
    family_name: str | None = Field(default=None, min_length=1, max_length=NAME_MAX)
    preferred_name: str | None = Field(default=None, min_length=1, max_length=NAME_MAX)
    date_of_birth: date | None = None
    _date_of_birth_is_a_date = field_validator("date_of_birth", mode="before")(iso_date_only)
    upn: Upn | None = Field(default=None, max_length=13, description=_UPN_FIELD_DESCRIPTION)
    year_group: str | None = Field(default=None, min_length=1, max_length=20)
    registration_group: str | None = Field(default=None, min_length=1, max_length=40)
    status: PupilStatus | None = None
    left_on: date | None = None

    @field_validator("given_name", "family_name", "preferred_name")
    @classmethod
    def _names(cls, value: str | None) -> str | None:
        return _clean_name(value)

    @field_validator("upn")
    @classmethod
    def _upn(cls, value: str | None) -> str | None:
        return _validate_upn(value)


class PupilPublic(PupilFields):
    """The pupil's record, as the school office and the MIS keep it (DSLs and those who
    manage pupils). It holds nothing of the child's safeguarding file: a field that would
    is the DSL desk's alone (``services.access.pupil_fields_shown``) and needs a default,
    which is what everyone else's answer shows."""

    model_config = SQLModelConfig(
        json_schema_extra={
            "examples": [
                {
                    "id": "01936b2e-5f7a-7cc0-8a38-2c1f1c5d9a10",
                    **_PUPIL_EXAMPLE,
                    "display_name": "Zo Fictional",
                    "status": "active",
                    "left_on": None,
                    "source": None,
                    "external_id": None,
                    "created_at": "2026-11-28T09:15:00Z",
                    "updated_at": "2026-11-28T09:15:00Z",
                }
            ]
        }
    )

    upn: Upn | None = Field(default=None, max_length=13, description=_UPN_FIELD_DESCRIPTION)
    id: uuid.UUID
    display_name: str
    status: PupilStatus
    left_on: date | None
    source: str | None
    external_id: str | None
    created_at: datetime
    updated_at: datetime
    safeguarding_statuses: list[ProfileStatus] | None = Field(
        default=None,
        description="The DSL desk's alone: the statuses of the child's safeguarding profile "
        "that hold today (GET /pupils/{id}/profile), an empty list when none does; null in "
        "every other answer and for anyone else",
    )

    @classmethod
    def of(cls, pupil: Pupil) -> PupilPublic:
        return cls.model_validate(pupil, from_attributes=True)


class PupilSearchResult(SQLModel):
    """Just enough to pick the right child: no date of birth, no UPN."""

    model_config = SQLModelConfig(
        json_schema_extra={
            "examples": [
                {
                    "id": "01936b2e-5f7a-7cc0-8a38-2c1f1c5d9a10",
                    "display_name": "Zo Fictional",
                    "year_group": "Year 7",
                    "registration_group": "7F",
                }
            ]
        }
    )

    id: uuid.UUID
    display_name: str
    year_group: str | None
    registration_group: str | None

    @classmethod
    def of(cls, pupil: Pupil) -> PupilSearchResult:
        return cls(
            id=pupil.id,
            display_name=pupil.display_name,
            year_group=pupil.year_group,
            registration_group=pupil.registration_group,
        )


class PupilSearchPage(SQLModel):
    model_config = SQLModelConfig(
        json_schema_extra={
            "examples": [
                {
                    "items": [
                        {
                            "id": "01936b2e-5f7a-7cc0-8a38-2c1f1c5d9a10",
                            "display_name": "Zo Fictional",
                            "year_group": "Year 7",
                            "registration_group": "7F",
                        }
                    ],
                    "next_cursor": None,
                }
            ]
        }
    )

    items: list[PupilSearchResult]
    next_cursor: str | None = Field(
        description="Pass as ?cursor= for the next page; null on the last page"
    )


# A typed dict, not a model: a list of 50 concerns carries one per child, and a dict is
# validated and written out at half a model's cost (docs/adr/0070).
@with_config(
    ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "01936b2e-5f7a-7cc0-8a38-2c1f1c5d9a10",
                    "display_name": "Zo Fictional",
                    "year_group": "Year 7",
                }
            ]
        },
        hide_input_in_errors=True,
    )
)
class PupilName(TypedDict):
    """A pupil as the DSL desk's records name them (``pupils`` beside ``pupil_ids``)."""

    id: uuid.UUID
    display_name: str
    year_group: str | None


def display_name_column(pupils: Any) -> ColumnElement[str]:
    """``display_name`` spelt in SQL, for the pupil table ``pupils`` (a ``Table`` or an
    alias): the same on both databases, so a list's names come with its rows."""
    columns = pupils.c
    shown: ColumnElement[str] = func.coalesce(
        func.nullif(columns.preferred_name, ""), columns.given_name
    )
    named: ColumnElement[str] = (shown + " " + columns.family_name).label("display_name")
    return named


class PupilFilePublic(PupilPublic):
    """A pupil as the DSL desk reads them (``GET /pupils/{id}``): the record, and the
    lifecycle of the child's safeguarding file (issue 21, ADR 0091)."""

    retain_until: date | None = Field(
        default=None,
        description="The last day the child's file is kept (date of birth plus "
        "the school's retention period, 25 years unless set)",
    )
    on_legal_hold: bool | None = Field(
        default=None, description="A legal hold keeps the file from destruction"
    )
    file_destroyed_at: datetime | None = Field(
        default=None, description="When the child's file was destroyed, if it was"
    )
