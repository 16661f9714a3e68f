"""Changes to an account that make or keep someone a DSL, awaiting a DSL's decision.

Granting ``dsl`` or ``deputy_dsl``, and setting the password or clearing the MFA of an
account that holds (or is being granted) one of those roles, is asked for by an admin and
applied only when a DSL or deputy DSL of the school approves it
(docs/adr/0080-privileged-changes-need-a-dsl.md).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic import Field as Described
from sqlalchemy import Column, Index, text
from sqlmodel import Field, SQLModel

from models.base import UTCDateTime, new_id
from models.concern import Person
from models.user import DISPLAY_NAME_MAX, GrantedRole, Role


class PrivilegedKind(StrEnum):
    grant_role = "grant_role"
    set_password = "set_password"  # noqa: S105 (a kind of request, not a password)
    reset_mfa = "reset_mfa"


class PrivilegedStatus(StrEnum):
    pending = "pending"
    approved = "approved"
    rejected = "rejected"
    expired = "expired"
    withdrawn = "withdrawn"


# Decided: no longer pending (``expired`` included: nobody can decide it any more).
DECIDED = frozenset(
    {
        PrivilegedStatus.approved,
        PrivilegedStatus.rejected,
        PrivilegedStatus.expired,
        PrivilegedStatus.withdrawn,
    }
)


def _timestamp(*, nullable: bool = False) -> Any:
    return Field(sa_column=Column(UTCDateTime, nullable=nullable))


class PrivilegedRequest(SQLModel, table=True):
    """One request for a change that needs a DSL. At most one is pending per account and
    kind (the partial unique index). ``password_hash`` holds the argon2id hash of the
    password an admin set, until the request is decided (cleared then, applied or not)."""

    __tablename__ = "privileged_request"
    __table_args__ = (
        Index(
            "uq_privileged_request_pending_user_id_kind",
            "user_id",
            "kind",
            unique=True,
            sqlite_where=text("status = 'pending'"),
            postgresql_where=text("status = 'pending'"),
        ),
        Index("ix_privileged_request_school_id_status", "school_id", "status"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    school_id: uuid.UUID = Field(foreign_key="school.id")
    kind: str = Field(max_length=20)
    user_id: uuid.UUID = Field(foreign_key="user_account.id")
    role: str | None = Field(default=None, max_length=20)
    password_hash: str | None = Field(default=None, max_length=512)
    status: str = Field(default=PrivilegedStatus.pending.value, max_length=20)
    requested_by: uuid.UUID = Field(foreign_key="user_account.id")
    # Names as they were written (docs/adr/0056): a new table, so never null once written.
    requested_by_name: str = Field(max_length=DISPLAY_NAME_MAX)
    requested_at: datetime = _timestamp()
    expires_at: datetime = _timestamp()
    # Null for an expired request, and for one decided by the operator at the command line.
    decided_by: uuid.UUID | None = Field(default=None, foreign_key="user_account.id")
    decided_by_name: str | None = Field(default=None, max_length=DISPLAY_NAME_MAX)
    decided_at: datetime | None = _timestamp(nullable=True)


# --- API schemas -------------------------------------------------------------------------

_REQUEST_EXAMPLE: dict[str, Any] = {
    "id": "01936b2e-9c04-7a11-8b2c-3d4e5f6a7b01",
    "kind": "grant_role",
    "user": {
        "id": "01936b2e-6a01-7d11-9c3e-5b2f4e6a7b80",
        "display_name": "Sam Teacher",
        "email": "sam.teacher@fictional-school.example",
        "role": "staff",
        "active": True,
    },
    "role": "deputy_dsl",
    "status": "pending",
    "requested_by": {"id": "01936b2e-6a01-7d11-9c3e-5b2f4e6a7b81", "display_name": "Ash Office"},
    "requested_at": "2026-12-02T09:00:00Z",
    "expires_at": "2026-12-09T09:00:00Z",
    "decided_by": None,
    "decided_at": None,
}


class RequestedAccount(BaseModel):
    """The account a request is about, as it is now."""

    id: uuid.UUID
    display_name: str
    email: str
    role: Role
    active: bool


class PrivilegedRequestPublic(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [_REQUEST_EXAMPLE]})

    id: uuid.UUID
    kind: PrivilegedKind = Described(
        description="`grant_role`: give the account `role`; `set_password`: the password an "
        "admin set (never shown); `reset_mfa`: clear its two-factor enrolment"
    )
    user: RequestedAccount
    role: GrantedRole | None = Described(description="The role asked for (`grant_role` only)")
    status: PrivilegedStatus = Described(
        description="`pending` until a DSL approves or rejects it, an admin withdraws it, or "
        "it expires (`expires_at`)"
    )
    requested_by: Person = Described(description="The admin who asked, named as they were then")
    requested_at: datetime
    expires_at: datetime
    decided_by: Person | None = Described(
        description="Who approved, rejected or withdrew it; null while pending, when it "
        "expired, or when the service's operator decided it at the command line"
    )
    decided_at: datetime | None


class PrivilegedRequestPage(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={"examples": [{"items": [_REQUEST_EXAMPLE], "next_cursor": None}]}
    )

    items: list[PrivilegedRequestPublic]
    next_cursor: str | None = Described(description="Opaque; null on the last page")
