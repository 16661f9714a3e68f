"""Identity: who the caller is, re-checked on every request.

A verified access token says who the caller was when it was issued. Whether that still
holds (the account exists, is active, is in the same school, has the same role and the
same token version) is read from the database on every request, in the request's own
transaction: ``check_account_in_transaction`` arranges for that read to be the first
statement of the transaction, whatever the request does first, and for a request that
never reaches the database to make it before its commit. A token whose account has
changed is refused (401) before anything is read or written for it.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from core.errors import Unauthenticated
from core.tokens import AccessClaims
from db.prepared import Prepared
from db.unit_of_work import UnitOfWork
from models.user import PRIVILEGED_ROLES, Role, ServiceAccount, User
from services.principal import Principal

_USERS: sa.Table = User.__table__  # type: ignore[attr-defined]
_SERVICE_ACCOUNTS: sa.Table = ServiceAccount.__table__  # type: ignore[attr-defined]
# Built once: the re-read runs on every authenticated request.
_READ_USER = Prepared(
    sa.select(
        _USERS.c.active,
        _USERS.c.school_id,
        _USERS.c.token_version,
        _USERS.c.role,
        _USERS.c.mfa_enrolled,
    ).where(_USERS.c.id == sa.bindparam("subject"))
)
_READ_SERVICE_ACCOUNT = Prepared(
    sa.select(
        _SERVICE_ACCOUNTS.c.active,
        _SERVICE_ACCOUNTS.c.school_id,
        _SERVICE_ACCOUNTS.c.token_version,
        _SERVICE_ACCOUNTS.c.role,
    ).where(_SERVICE_ACCOUNTS.c.id == sa.bindparam("subject"))
)


def _refused() -> Unauthenticated:
    return Unauthenticated("The bearer token is no longer valid; sign in again.")


def principal_from_claims(claims: AccessClaims) -> Principal:
    """The caller as the (verified) token describes them. Not yet checked against the
    account: see ``check_account_in_transaction``."""
    return Principal(
        id=claims.subject,
        school_id=claims.school_id,
        role=Role(claims.role),
        kind=claims.subject_type,
        mfa_enrollment_only=claims.mfa_enrollment_only,
        auth_time=claims.auth_time,
    )


def _principal_from_row(claims: AccessClaims, row: Any) -> Principal:
    """The caller as their account now is; 401 when it no longer matches the token."""
    if (
        row is None
        or not row.active
        or row.school_id != claims.school_id
        or row.token_version != claims.token_version
        or row.role != claims.role
    ):
        raise _refused()
    role = Role(row.role)
    if claims.subject_type == "service":
        return Principal(id=claims.subject, school_id=row.school_id, role=role, kind="service")
    enrolling = role in PRIVILEGED_ROLES and not row.mfa_enrolled
    return Principal(
        id=claims.subject,
        school_id=row.school_id,
        role=role,
        kind="user",
        mfa_enrollment_only=enrolling or claims.mfa_enrollment_only,
        auth_time=claims.auth_time,
    )


def _check(connection: sa.Connection, claims: AccessClaims) -> Principal:
    statement = _READ_SERVICE_ACCOUNT if claims.subject_type == "service" else _READ_USER
    row = statement.one_or_none(connection, {"subject": claims.subject})
    return _principal_from_row(claims, row)


def check_account_in_transaction(uow: UnitOfWork, claims: AccessClaims) -> Principal:
    """The caller per ``claims``, with the account re-read as the unit of work's first
    check (``UnitOfWork.check_first``): the first statement of its transaction (or, if the
    request never uses the database, just before its commit), and a mismatch raises
    ``Unauthenticated`` there, so nothing the request reads or writes outlives it.

    What the token says and what the account says agree whenever the check passes (a
    change of role, MFA enrolment, password or activity bumps the token version), so the
    principal returned here is the one the check would return; the check also refuses a
    principal that differs in any field.

    The transaction must not have begun yet (``RuntimeError`` otherwise): a check
    arranged after it began would never run first."""
    promised = principal_from_claims(claims)

    def check(connection: sa.Connection) -> None:
        if _check(connection, claims) != promised:
            raise _refused()

    uow.check_first(check)
    return promised
