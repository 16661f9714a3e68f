"""People and systems that act: staff accounts, MIS service accounts, their sessions."""

from __future__ import annotations

import uuid
from datetime import datetime
from enum import StrEnum

from pydantic import EmailStr, field_validator
from sqlalchemy import Column, Index
from sqlmodel import Field, SQLModel

from models.base import FORBID_EXTRA, UTCDateTime, new_id, utcnow


class Role(StrEnum):
    staff = "staff"
    deputy_dsl = "deputy_dsl"
    dsl = "dsl"
    admin = "admin"
    mis = "mis"


USER_ROLES = (Role.staff, Role.deputy_dsl, Role.dsl, Role.admin)
PRIVILEGED_ROLES = frozenset({Role.dsl, Role.deputy_dsl, Role.admin})
DSL_ROLES = frozenset({Role.dsl, Role.deputy_dsl})


def _timestamp(*, nullable: bool = False) -> Column[datetime]:
    return Column(UTCDateTime, nullable=nullable)


class User(SQLModel, table=True):
    """A member of school staff who can log in. ``email`` is stored lower-cased, which is
    what makes its uniqueness case-insensitive."""

    __tablename__ = "user_account"

    id: uuid.UUID = Field(default_factory=new_id, primary_key=True)
    school_id: uuid.UUID = Field(foreign_key="school.id", index=True)
    email: str = Field(max_length=320, unique=True)
    display_name: str = Field(max_length=200)
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


class Me(SQLModel):
    id: uuid.UUID
    email: str
    display_name: str
    role: Role
    school_id: uuid.UUID
    mfa_enrolled: bool


class UserPublic(Me):
    active: bool
    can_log_in: bool
    created_at: datetime


class UserCreate(SQLModel):
    model_config = FORBID_EXTRA

    email: EmailStr
    display_name: str = Field(min_length=1, max_length=200)
    role: Role
    password: str | None = Field(default=None, min_length=1, max_length=1024)

    @field_validator("role")
    @classmethod
    def _people_only(cls, role: Role) -> Role:
        if role == Role.mis:
            raise ValueError("mis is the role of service accounts, not people")
        return role


class UserUpdate(SQLModel):
    model_config = FORBID_EXTRA

    display_name: str | None = Field(default=None, min_length=1, max_length=200)
    role: Role | None = None
    active: bool | None = None

    @field_validator("role")
    @classmethod
    def _people_only(cls, role: Role | None) -> Role | None:
        if role == Role.mis:
            raise ValueError("mis is the role of service accounts, not people")
        return role


class PasswordSet(SQLModel):
    model_config = FORBID_EXTRA

    password: str = Field(min_length=1, max_length=1024)


class ServiceAccountCreate(SQLModel):
    model_config = FORBID_EXTRA

    name: str = Field(min_length=1, max_length=200)


class ServiceAccountUpdate(SQLModel):
    model_config = FORBID_EXTRA

    active: bool


class ServiceAccountPublic(SQLModel):
    id: uuid.UUID
    name: str
    role: Role
    client_id: str
    active: bool
    created_at: datetime


class ServiceAccountCreated(ServiceAccountPublic):
    client_secret: str = Field(description="Shown once, now; only its hash is kept")


class UserPage(SQLModel):
    items: list[UserPublic]
    next_cursor: str | None = Field(description="Opaque; null on the last page")


class ServiceAccountPage(SQLModel):
    items: list[ServiceAccountPublic]
    next_cursor: str | None = Field(description="Opaque; null on the last page")
