"""Transfers of a child's safeguarding file to their next school (KCSIE: within 5 school
days of leaving, receipt confirmed), the records received with one, and each school's own
closure days.

A ``pupil_transfer`` row is one file sent to one school: made by the sending school on
this service (``from_school_id``), or imported from another service's signed bundle
(``from_school_id`` null). Its ``bundle`` is the file as it was sent, a compact JWS signed
by the sending service (docs/transfer-bundle.md): the receiving school's copy, whoever
holds it. When the receiving school (``to_school_id``) confirms receipt it links the file
to its own pupil, and the bundle's chronology becomes ``transfer_received_record`` rows in
that pupil's chronology, read-only.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict
from pydantic import Field as PydanticField
from sqlalchemy import Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel
from sqlmodel._compat import SQLModelConfig

from models.base import FORBID_EXTRA, CalendarDate, UTCDateTime, new_id
from models.case import CasePublic
from models.chronology import ChronologyItem
from models.concern import ConcernPublic, Person

URN_PATTERN = r"^\d{6}$"
NAME_MAX = 200


class TransferSource(StrEnum):
    service = "service"  # sent by a school on this service
    bundle = "bundle"  # imported from another service's signed bundle


class TransferStatus(StrEnum):
    sent = "sent"
    received = "received"
    overdue = "overdue"  # not received by ``due_by``


class PupilTransfer(SQLModel, table=True):
    __tablename__ = "pupil_transfer"
    __table_args__ = (
        UniqueConstraint("to_school_urn", "bundle_id"),
        Index("ix_pupil_transfer_from_school_id_id", "from_school_id", "id"),
        Index("ix_pupil_transfer_to_school_id_id", "to_school_id", "id"),
        Index("ix_pupil_transfer_due_by", "due_by"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    source: str = Field(max_length=8)
    bundle_id: uuid.UUID
    from_school_id: uuid.UUID | None = Field(default=None, foreign_key="school.id")
    from_school_urn: str = Field(max_length=6)
    from_school_name: str = Field(max_length=NAME_MAX)
    # The child's record at the sending school (this service's senders only).
    pupil_id: uuid.UUID | None = Field(default=None, foreign_key="pupil.id")
    to_school_urn: str = Field(max_length=6)
    # The receiving school, when it is on this service.
    to_school_id: uuid.UUID | None = Field(default=None, foreign_key="school.id")
    left_on: date
    due_by: date
    sent_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    # Who sent it, as written (an id of another service's account, for an imported one).
    sent_by: uuid.UUID
    sent_by_name: str = Field(max_length=NAME_MAX)
    bundle: str = Field(sa_column=Column(Text, nullable=False))
    received_at: datetime | None = Field(default=None, sa_column=Column(UTCDateTime))
    received_by: uuid.UUID | None = Field(default=None, foreign_key="user_account.id")
    received_by_name: str | None = Field(default=None, max_length=NAME_MAX)
    # The receiving school's own record of the child, linked at receipt.
    received_pupil_id: uuid.UUID | None = Field(default=None, foreign_key="pupil.id")
    # The ``transfer.overdue`` event raised once it was not received by ``due_by``.
    overdue_event_id: uuid.UUID | None = Field(default=None)


class TransferReceivedRecord(SQLModel, table=True):
    """One entry of a received file's chronology, in the receiving pupil's chronology:
    as the sending school wrote it (``entry``: the bundle's JSON of it), never changed."""

    __tablename__ = "transfer_received_record"
    __table_args__ = (
        Index("ix_transfer_received_record_school_id_pupil_id", "school_id", "pupil_id"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    transfer_id: uuid.UUID = Field(foreign_key="pupil_transfer.id")
    school_id: uuid.UUID = Field(foreign_key="school.id")
    pupil_id: uuid.UUID = Field(foreign_key="pupil.id")
    entry_type: str = Field(max_length=40)
    occurred_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    recorded_at: datetime = Field(sa_column=Column(UTCDateTime, nullable=False))
    entry: str = Field(sa_column=Column(Text, nullable=False))


class SchoolClosureDay(SQLModel, table=True):
    """A day the school is closed though it is a weekday and no bank holiday (an INSET day,
    its own holidays): not a school day when a transfer's 5 days are counted."""

    __tablename__ = "school_closure_day"

    school_id: uuid.UUID = Field(foreign_key="school.id", primary_key=True)
    closed_on: date = Field(primary_key=True)


# --- API schemas -------------------------------------------------------------------------

_ID = "01936b2e-6a01-7d11-9c3e-5b2f4e6a7b90"
_TRANSFER_EXAMPLE: dict[str, Any] = {
    "id": _ID,
    "direction": "sent",
    "source": "service",
    "pupil_id": "01936b2e-5f7a-7cc0-8a38-2c1f1c5d9a10",
    "from_school_urn": "700001",
    "from_school_name": "Fictional Academy",
    "to_school_urn": "700002",
    "status": "sent",
    "left_on": "2026-12-18",
    "due_by": "2026-12-30",
    "sent_at": "2026-12-18T15:00:00Z",
    "sent_by": {"id": "01936b2e-6a01-7d11-9c3e-5b2f4e6a7b81", "display_name": "Jo Lead"},
    "received_at": None,
    "received_by": None,
    "child": None,
}


class TransferCreate(SQLModel):
    model_config = SQLModelConfig(
        **FORBID_EXTRA,
        json_schema_extra={"examples": [{"to_school_urn": "700002", "left_on": "2026-12-18"}]},
    )

    to_school_urn: str = PydanticField(
        pattern=URN_PATTERN, description="The DfE URN of the child's next school"
    )
    left_on: CalendarDate | None = PydanticField(
        default=None, description="The day the child left; today (in England) when absent"
    )


class TransferReceipt(SQLModel):
    model_config = SQLModelConfig(
        **FORBID_EXTRA,
        json_schema_extra={"examples": [{"pupil_id": "01936b2e-5f7a-7cc0-8a38-2c1f1c5d9a11"}]},
    )

    pupil_id: uuid.UUID = PydanticField(
        description="The receiving school's own record of the child, to link the file to"
    )


class TransferChild(BaseModel):
    """Who the file is about, as the sending school names the child: enough for the
    receiving DSL to find their own record."""

    given_name: str
    family_name: str
    preferred_name: str | None = None
    date_of_birth: date | None = None
    upn: str | None = None


class TransferPublic(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_TRANSFER_EXAMPLE]})

    id: uuid.UUID
    direction: Literal["sent", "incoming"] = PydanticField(
        description="`sent` by the caller's school, or `incoming` to it"
    )
    source: TransferSource = PydanticField(
        description="`service`: sent on this service; `bundle`: imported from a signed bundle"
    )
    pupil_id: uuid.UUID | None = PydanticField(
        description="The caller's school's record of the child: the leaver (sent), or the "
        "record the file was linked to at receipt (incoming; null until then)"
    )
    from_school_urn: str
    from_school_name: str
    to_school_urn: str
    status: TransferStatus = PydanticField(
        description="`sent`; `received` once the receiving school confirmed it; `overdue` "
        "when not received by `due_by`"
    )
    left_on: date
    due_by: date = PydanticField(description="5 school days in England after `left_on`")
    sent_at: datetime
    sent_by: Person = PydanticField(description="Who sent it, under the name they had then")
    received_at: datetime | None
    received_by: Person | None = PydanticField(
        description="Who confirmed receipt, under the name they had then"
    )
    child: TransferChild | None = PydanticField(
        default=None, description="Incoming: the child, as the sending school names them"
    )


class TransferPage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"items": [_TRANSFER_EXAMPLE], "next_cursor": None}]}
    )

    items: list[TransferPublic]
    next_cursor: str | None = PydanticField(description="Opaque; null on the last page")


class SchoolCalendar(SQLModel):
    model_config = SQLModelConfig(
        **FORBID_EXTRA,
        json_schema_extra={"examples": [{"closure_days": ["2027-01-04", "2027-02-15"]}]},
    )

    closure_days: list[CalendarDate] = PydanticField(
        max_length=400,
        description="Weekdays the school is closed though they are no bank holiday (INSET "
        "days, its own holidays); not school days when a transfer's due date is counted",
    )


# --- the bundle's payload (docs/transfer-bundle.md) ------------------------------------------

BUNDLE_FORMAT = "concernlog-transfer/1"


class BundleSchool(BaseModel):
    urn: str = PydanticField(pattern=URN_PATTERN, description="The DfE URN")
    name: str | None = PydanticField(default=None, max_length=NAME_MAX)


class BundlePupil(BaseModel):
    """The child, as the sending school records them."""

    id: uuid.UUID = PydanticField(description="The child's id at the sending school")
    given_name: str = PydanticField(min_length=1, max_length=NAME_MAX)
    family_name: str = PydanticField(min_length=1, max_length=NAME_MAX)
    preferred_name: str | None = PydanticField(default=None, max_length=NAME_MAX)
    date_of_birth: date | None = None
    upn: str | None = PydanticField(default=None, max_length=13)
    year_group: str | None = None
    registration_group: str | None = None


class TransferBundle(BaseModel):
    """The payload of a transfer bundle: a child's safeguarding file, addressed from one
    school to another."""

    model_config = ConfigDict(hide_input_in_errors=True, title="TransferBundle")

    format: Literal["concernlog-transfer/1"] = PydanticField(description="This format, v1")
    bundle_id: uuid.UUID = PydanticField(
        description="Unique per bundle: importing it again is a no-op"
    )
    issuer: BundleSchool = PydanticField(description="The sending school")
    addressee: BundleSchool = PydanticField(description="The receiving school")
    issued_at: datetime = PydanticField(description="When it was sent (RFC 3339)")
    issued_by: Person = PydanticField(description="Who sent it")
    marking: Literal["OFFICIAL-SENSITIVE"] = "OFFICIAL-SENSITIVE"
    left_on: date
    due_by: date
    pupil: BundlePupil
    chronology: list[ChronologyItem] = PydanticField(description="Every entry, oldest first")
    concerns: list[ConcernPublic] = PydanticField(description="Each concern with its addenda")
    cases: list[CasePublic] = PydanticField(description="Each case with actions and decisions")
