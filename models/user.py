"""People and systems that act: staff accounts, MIS service accounts, their sessions."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import AfterValidator, EmailStr, WithJsonSchema, field_validator
from pydantic import Field as PydanticField
from sqlalchemy import Column, Index
from sqlmodel import Field, SQLModel
from sqlmodel._compat import SQLModelConfig

from core.clock import utcnow
from models.base import FORBID_EXTRA, UTCDateTime, new_id


class Role(StrEnum):
    staff = "staff"
    deputy_dsl = "deputy_dsl"
    dsl = "dsl"
    admin = "admin"
    mis = "mis"


USER_ROLES = (Role.staff, Role.deputy_dsl, Role.dsl, Role.admin)
PRIVILEGED_ROLES = frozenset({Role.dsl, Role.deputy_dsl, Role.admin})
DSL_ROLES = frozenset({Role.dsl, Role.deputy_dsl})


DISPLAY_NAME_MAX = 200


def _timestamp(*, nullable: bool = False) -> Column[datetime]:
    return Column(UTCDateTime, nullable=nullable)


def name_as_written() -> Any:
    """The column beside a ``*_by`` user id that keeps that member of staff's display name
    as it was when the row was written, filled by the same insert: a record shows the
    name it was written under, whatever the account is called later (docs/adr/0056).

    Nullable only because SQLite cannot add a NOT NULL column without a default, nor
    rebuild a table its children's foreign keys point at; every writer fills it and the
    migration filled every older row."""
    return Field(max_length=DISPLAY_NAME_MAX, nullable=True)


class User(SQLModel, table=True):
    """A member of school staff who can log in. ``email`` is stored lower-cased, which is
    what makes its uniqueness case-insensitive."""

    __tablename__ = "user_account"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    school_id: uuid.UUID = Field(foreign_key="school.id", index=True)
    email: str = Field(max_length=320, unique=True)
    display_name: str = Field(max_length=DISPLAY_NAME_MAX)
    role: str = Field(max_length=20)
    active: bool = Field(default=True)
    password_hash: str | None = Field(default=None, max_length=512)
    totp_secret: str | None = Field(default=None, max_length=64)
    mfa_enrolled: bool = Field(default=False)
    totp_last_step: int | None = Field(default=None)
    # Bumped whenever role, password, active flag or MFA changes: every token carries the
    # version it was issued under and dies when it no longer matches.
    token_version: int = Field(default=1)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())
    updated_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())


class ServiceAccount(SQLModel, table=True):
    """A machine client of one school (its MIS integration), using client credentials."""

    __tablename__ = "service_account"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    school_id: uuid.UUID = Field(foreign_key="school.id", index=True)
    name: str = Field(max_length=200)
    role: str = Field(default=Role.mis.value, max_length=20)
    client_id: str = Field(max_length=64, unique=True)
    secret_hash: str = Field(max_length=512)
    active: bool = Field(default=True)
    token_version: int = Field(default=1)
    created_at: datetime = Field(default_factory=utcnow, sa_column=_timestamp())


class RefreshToken(SQLModel, table=True):
    """One opaque refresh token (stored as a SHA-256 hash), member of a login's family.

    Spending one issues its successor in the same family; presenting a spent one means it
    was stolen or replayed, and the whole family is revoked."""

    __tablename__ = "refresh_token"
    __table_args__ = (Index("ix_refresh_token_family_id", "family_id"),)

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    family_id: uuid.UUID
    user_id: uuid.UUID = Field(foreign_key="user_account.id", index=True)
    token_hash: str = Field(max_length=64, unique=True)
    # The user's token version at issue: a role, password, MFA or active change since
    # then makes the token unusable even if it escaped revocation.
    token_version: int
    issued_at: datetime = Field(sa_column=_timestamp())
    expires_at: datetime = Field(sa_column=_timestamp())
    spent_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))
    # The sign-in with a one-time code the family descends from (RFC 9470 ``auth_time``):
    # every access token of the family carries it, so a refresh never counts as a new
    # proof of the second factor. None: signed in without one.
    auth_time: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))
    revoked_at: datetime | None = Field(default=None, sa_column=_timestamp(nullable=True))


class LoginAttempt(SQLModel, table=True):
    """A failed sign-in, kept in the database so throttling holds across processes."""

    __tablename__ = "login_attempt"
    __table_args__ = (
        Index("ix_login_attempt_account_key_attempted_at", "account_key", "attempted_at"),
        Index("ix_login_attempt_client_address_attempted_at", "client_address", "attempted_at"),
    )

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    account_key: str = Field(max_length=320)
    client_address: str = Field(max_length=64)
    attempted_at: datetime = Field(sa_column=_timestamp())


# --- API schemas -------------------------------------------------------------------------


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("must not contain the NUL character (U+0000)")
    return value


# Text that every database can store: PostgreSQL refuses U+0000 in text (and would answer
# a 500 for it), so it is a 422 here, and the pattern says so in the OpenAPI document.
StorableText = Annotated[
    str, AfterValidator(_no_nul), PydanticField(json_schema_extra={"pattern": "^[^\\u0000]*$"})
]

# A person's role: every role but ``mis``, which belongs to service accounts only.
PersonRole = Annotated[
    Role,
    WithJsonSchema(
        {
            "type": "string",
            "enum": [role.value for role in USER_ROLES],
            "description": "`mis` is the role of service accounts, never of a person",
        }
    ),
]
# A role only a DSL's approval gives (docs/adr/0080-privileged-changes-need-a-dsl.md).
GrantedRole = Annotated[
    Role,
    WithJsonSchema(
        {
            "type": "string",
            "enum": [Role.dsl.value, Role.deputy_dsl.value],
            "description": "A role that reads every concern: given only when a DSL approves",
        }
    ),
]
# What services.password_policy enforces (with its own error types, `password_too_short` and
# `password_too_common`); documented here so that clients can check before sending.
PASSWORD_MIN_LENGTH = 12


def _password_schema(schema: dict[str, Any]) -> None:
    for branch in schema.get("anyOf", [schema]):
        if branch.get("type") == "string":
            branch["minLength"] = PASSWORD_MIN_LENGTH
    schema["description"] = (
        f"At least {PASSWORD_MIN_LENGTH} characters, not one of the most common passwords, "
        "and hard to guess (a passphrase of several uncommon words is)"
    )


_USER_ID = "01936b2e-6a01-7d11-9c3e-5b2f4e6a7b80"
_SCHOOL_ID = "01936b2e-1a2b-7c3d-8e4f-5a6b7c8d9e0f"
_ME_EXAMPLE: dict[str, Any] = {
    "id": _USER_ID,
    "email": "sam.teacher@fictional-school.example",
    "display_name": "Sam Teacher",
    "role": "staff",
    "school_id": _SCHOOL_ID,
    "mfa_enrolled": False,
}
_USER_EXAMPLE: dict[str, Any] = {
    **_ME_EXAMPLE,
    "active": True,
    "can_log_in": True,
    "created_at": "2026-09-01T08:00:00Z",
    "pending_role": None,
}
_ACCOUNT_EXAMPLE: dict[str, Any] = {
    "id": "01936b2e-7b02-7e22-8d4f-6c3a5f7b8c91",
    "name": "Fictional MIS sync",
    "role": "mis",
    "client_id": "cl_3f9a1c2e7b6d",
    "active": True,
    "created_at": "2026-09-01T08:05:00Z",
}


class Me(SQLModel):
    model_config = SQLModelConfig(json_schema_extra={"examples": [_ME_EXAMPLE]})

    id: uuid.UUID
    email: str
    display_name: str
    role: PersonRole
    school_id: uuid.UUID
    mfa_enrolled: bool


class UserPublic(Me):
    model_config = SQLModelConfig(json_schema_extra={"examples": [_USER_EXAMPLE]})

    active: bool
    can_log_in: bool = Field(description="Active and has a password")
    created_at: datetime
    pending_role: GrantedRole | None = Field(
        description="The role asked for and waiting for a DSL's approval (`dsl` or "
        "`deputy_dsl`: an admin's grant of either is a request, docs/adr/0080); null when "
        "none is pending",
    )


class UserCreate(SQLModel):
    model_config = SQLModelConfig(
        **FORBID_EXTRA,
        json_schema_extra={
            "examples": [
                {
                    "email": "sam.teacher@fictional-school.example",
                    "display_name": "Sam Teacher",
                    "role": "staff",
                    "password": "a-long-fictional-passphrase",
                }
            ]
        },
    )

    email: EmailStr
    display_name: StorableText = Field(min_length=1, max_length=DISPLAY_NAME_MAX)
    role: PersonRole
    password: str | None = Field(
        default=None,
        min_length=1,
        max_length=1024,
        schema_extra={"json_schema_extra": _password_schema},
    )

    @field_validator("role")
    @classmethod
    def _people_only(cls, role: Role) -> Role:
        if role == Role.mis:
            raise ValueError("mis is the role of service accounts, not people")
        return role


class UserUpdate(SQLModel):
    model_config = SQLModelConfig(
        **FORBID_EXTRA,
        json_schema_extra={"examples": [{"role": "deputy_dsl"}, {"active": False}]},
    )

    display_name: StorableText | None = Field(
        default=None, min_length=1, max_length=DISPLAY_NAME_MAX
    )
    role: PersonRole | None = None
    active: bool | None = None

    @field_validator("role")
    @classmethod
    def _people_only(cls, role: Role | None) -> Role | None:
        if role == Role.mis:
            raise ValueError("mis is the role of service accounts, not people")
        return role


class PasswordSet(SQLModel):
    model_config = SQLModelConfig(
        **FORBID_EXTRA, json_schema_extra={"examples": [{"password": "a-new-fictional-passphrase"}]}
    )

    password: str = Field(
        min_length=1, max_length=1024, schema_extra={"json_schema_extra": _password_schema}
    )


class ServiceAccountCreate(SQLModel):
    model_config = SQLModelConfig(
        **FORBID_EXTRA, json_schema_extra={"examples": [{"name": "Fictional MIS sync"}]}
    )

    name: StorableText = Field(min_length=1, max_length=200)


class ServiceAccountUpdate(SQLModel):
    model_config = SQLModelConfig(
        **FORBID_EXTRA, json_schema_extra={"examples": [{"active": False}]}
    )

    active: bool


class ServiceAccountPublic(SQLModel):
    model_config = SQLModelConfig(json_schema_extra={"examples": [_ACCOUNT_EXAMPLE]})

    id: uuid.UUID
    name: str
    role: Role
    client_id: str
    active: bool
    created_at: datetime


class ServiceAccountCreated(ServiceAccountPublic):
    model_config = SQLModelConfig(
        json_schema_extra={
            "examples": [{**_ACCOUNT_EXAMPLE, "client_secret": "cs_fictional_0123456789abcdef"}]
        }
    )

    client_secret: str = Field(description="Shown once, now; only its hash is kept")


class UserPage(SQLModel):
    model_config = SQLModelConfig(
        json_schema_extra={"examples": [{"items": [_USER_EXAMPLE], "next_cursor": None}]}
    )

    items: list[UserPublic]
    next_cursor: str | None = Field(description="Opaque; null on the last page")


class ServiceAccountPage(SQLModel):
    model_config = SQLModelConfig(
        json_schema_extra={"examples": [{"items": [_ACCOUNT_EXAMPLE], "next_cursor": None}]}
    )

    items: list[ServiceAccountPublic]
    next_cursor: str | None = Field(description="Opaque; null on the last page")


class StaffMember(SQLModel):
    """A member of the school's staff as the DSL desk picks one to give work to."""

    id: uuid.UUID
    display_name: str
    role: PersonRole
    active: bool


class StaffList(SQLModel):
    model_config = SQLModelConfig(
        json_schema_extra={
            "examples": [
                {
                    "items": [
                        {
                            "id": "01936b2e-6a01-7d11-9c3e-5b2f4e6a7b80",
                            "display_name": "Sam Teacher",
                            "role": "staff",
                            "active": True,
                        }
                    ]
                }
            ]
        }
    )

    items: list[StaffMember] = Field(
        description="Every person's account of the school (never a service account), by "
        "display name"
    )
