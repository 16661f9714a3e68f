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
from sqlalchemy import orm
from sqlmodel import Session

from core.errors import Unauthenticated
from core.tokens import AccessClaims
from db.prepared import Prepared
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

# session.info key: the token whose account the session's transaction must check first.
_PENDING_CHECK = "concernlog.identity.pending_check"


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
    )


def _check(connection: sa.Connection, claims: AccessClaims) -> Principal:
    statement = _READ_SERVICE_ACCOUNT if claims.subject_type == "service" else _READ_USER
    row = statement.one_or_none(connection, {"subject": claims.subject})
    return _principal_from_row(claims, row)


def check_account_in_transaction(session: Session, claims: AccessClaims) -> Principal:
    """The caller per ``claims``, with the account re-read deferred to the session's
    transaction: it is the first statement of that transaction (or, if the request never
    uses the database, runs just before its commit), and a mismatch raises
    ``Unauthenticated`` there, so nothing the request reads or writes outlives it.

    What the token says and what the account says agree whenever the check passes (a
    change of role, MFA enrolment, password or activity bumps the token version), so the
    principal returned here is the one the check would return; the check also refuses a
    principal that differs in any field.

    The session must not have begun its transaction yet (a check deferred to a
    transaction that has already begun would never run): a ``RuntimeError`` otherwise."""
    if session.in_transaction():
        raise RuntimeError("the account check must be arranged before the transaction begins")
    principal = principal_from_claims(claims)
    session.info[_PENDING_CHECK] = (claims, principal)
    return principal


def has_pending_check(session: orm.Session) -> bool:
    return _PENDING_CHECK in session.info


def _run_pending(session: orm.Session, connection: sa.Connection) -> None:
    pending = session.info.pop(_PENDING_CHECK, None)
    if pending is None:
        return
    claims, promised = pending
    if _check(connection, claims) != promised:
        raise _refused()


def check_pending_account(session: orm.Session) -> None:
    """Run the deferred account check now, if it has not run yet (``Unauthenticated`` when
    the account no longer matches the token)."""
    if has_pending_check(session):
        # Beginning the transaction runs it (``_check_first``); this runs it anyway.
        _run_pending(session, session.connection())


@sa.event.listens_for(orm.Session, "after_begin")
def _check_first(session: orm.Session, _transaction: Any, connection: sa.Connection) -> None:
    _run_pending(session, connection)


@sa.event.listens_for(orm.Session, "before_commit")
def _check_before_commit(session: orm.Session) -> None:
    check_pending_account(session)
