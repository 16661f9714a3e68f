"""Asking for a change that needs a DSL (docs/adr/0080-privileged-changes-need-a-dsl.md).

An admin's grant of ``dsl`` or ``deputy_dsl``, and an admin's password or MFA reset of an
account that holds such a role (or is being granted one), becomes a pending request here;
nothing is applied until a DSL of the school approves it (``services.privileged.deciding``).

Locks, in one order everywhere (so that two requests never wait for each other in a
circle): the school's active admins (``services.accounts``, when a change could take one
away), then the account the request is about (``lock_account``), then its request rows.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, select

from core.errors import Conflict
from models.privileged_request import PrivilegedKind, PrivilegedRequest, PrivilegedStatus
from models.user import User
from services import audit
from services.context import RequestContext
from services.privileged.alerts import alert_requested

_REQUESTS: sa.Table = PrivilegedRequest.__table__  # type: ignore[attr-defined]
_PENDING = PrivilegedStatus.pending.value
REQUEST_PENDING = "request-pending"


def lock_account(session: Session, user_id: uuid.UUID) -> User:
    """The account, read again with its row locked for the rest of the transaction
    (PostgreSQL; SQLite's ``BEGIN IMMEDIATE`` serialises every writer already): whoever
    changes an account's requests takes it first, so two admins asking at once, or an
    admin asking while a DSL decides, take turns."""
    query = (
        select(User)
        .where(User.id == user_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return session.exec(query).one()


def expire_due(
    session: Session, *, school_id: uuid.UUID, now: datetime, user_id: uuid.UUID | None = None
) -> None:
    """Mark the school's pending requests (one account's, with ``user_id``) whose time is
    up as ``expired``, and forget the password any of them held. Reads answer such a
    request ``expired`` whether or not this has run yet (``effective_status``); this makes
    room for a new request (one pending per account and kind) and clears what it held."""
    conditions = [
        _REQUESTS.c.school_id == school_id,
        _REQUESTS.c.status == _PENDING,
        _REQUESTS.c.expires_at <= now,
    ]
    if user_id is not None:
        conditions.append(_REQUESTS.c.user_id == user_id)
    session.execute(
        sa.update(_REQUESTS)
        .where(*conditions)
        .values(
            status=PrivilegedStatus.expired.value,
            password_hash=None,
            decided_at=_REQUESTS.c.expires_at,
        )
    )


def effective_status(request: PrivilegedRequest, now: datetime) -> PrivilegedStatus:
    """A request's status as of ``now``: a pending one whose time is up is ``expired``."""
    if request.status == _PENDING and request.expires_at <= now:
        return PrivilegedStatus.expired
    return PrivilegedStatus(request.status)


def pending_roles(
    session: Session, *, user_ids: list[uuid.UUID], now: datetime
) -> dict[uuid.UUID, str]:
    """The role each of these accounts has been asked for and not yet given (a pending,
    unexpired ``grant_role`` request), by account id."""
    if not user_ids:
        return {}
    rows = session.execute(
        sa.select(_REQUESTS.c.user_id, _REQUESTS.c.role).where(
            _REQUESTS.c.user_id.in_(user_ids),
            _REQUESTS.c.kind == PrivilegedKind.grant_role.value,
            _REQUESTS.c.status == _PENDING,
            _REQUESTS.c.expires_at > now,
        )
    ).all()
    return {user_id: str(role) for user_id, role in rows}


def request_change(
    session: Session,
    context: RequestContext,
    *,
    user: User,
    kind: PrivilegedKind,
    window: timedelta,
    role: str | None = None,
    password_hash: str | None = None,
) -> PrivilegedRequest:
    """A pending request (an admin's; the caller checks who may ask) for ``kind`` on
    ``user``, expiring after ``window``: ``role`` for a grant, the argon2id
    ``password_hash`` for a password. Applies nothing. At most one request is pending per
    account and kind: asking again for the same thing (the same role; an MFA reset)
    answers the pending request, recording nothing new; asking for something else (another
    role, another password) is a 409 naming the pending one, which an admin withdraws
    first. Audits ``privileged_request.create`` (ids only) and alerts the school's DSLs."""
    now = context.now
    lock_account(session, user.id)
    expire_due(session, school_id=user.school_id, now=now, user_id=user.id)
    pending = session.exec(
        select(PrivilegedRequest).where(
            PrivilegedRequest.user_id == user.id,
            PrivilegedRequest.kind == kind.value,
            PrivilegedRequest.status == _PENDING,
        )
    ).first()
    if pending is not None:
        if kind == PrivilegedKind.reset_mfa or (
            kind == PrivilegedKind.grant_role and pending.role == role
        ):
            return pending
        raise Conflict(
            f"A request of this kind ({kind.value}) for this account is already waiting for "
            "a DSL's decision: withdraw it first (POST /api/v1/privileged-requests/"
            f"{pending.id}/withdraw).",
            slug=REQUEST_PENDING,
            extra={"pending_request_id": str(pending.id)},
        )
    requester = session.get(User, context.principal.id)
    request = PrivilegedRequest(
        school_id=user.school_id,
        kind=kind.value,
        user_id=user.id,
        role=role,
        password_hash=password_hash,
        status=_PENDING,
        requested_by=context.principal.id,
        requested_by_name=requester.display_name if requester is not None else "",
        requested_at=now,
        expires_at=now + window,
    )
    session.add(request)
    session.flush()
    alert_requested(session, request)
    audit.record(
        session,
        actor=context.actor,
        action="privileged_request.create",
        now=now,
        entity_type="privileged_request",
        entity_id=request.id,
        request_id=context.request_id,
    )
    return request


def pending_grant(
    session: Session, *, user_id: uuid.UUID, now: datetime
) -> PrivilegedRequest | None:
    """The account's pending, unexpired ``grant_role`` request, if any."""
    return session.exec(
        select(PrivilegedRequest).where(
            PrivilegedRequest.user_id == user_id,
            PrivilegedRequest.kind == PrivilegedKind.grant_role.value,
            PrivilegedRequest.status == _PENDING,
            col(PrivilegedRequest.expires_at) > now,
        )
    ).first()
