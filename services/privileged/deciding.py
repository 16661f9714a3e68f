"""Deciding a request for a change that needs a DSL: a DSL approves (the change applies, in
the same transaction) or rejects it; an admin withdraws it; the service's operator may
approve at the command line (docs/adr/0080-privileged-changes-need-a-dsl.md).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlmodel import Session, select

from core.errors import Conflict, NotFound
from models.privileged_request import PrivilegedKind, PrivilegedRequest, PrivilegedStatus
from models.user import User
from services import access, accounts, audit
from services.actor import Actor
from services.auth import revoke_all_refresh_tokens
from services.context import RequestContext
from services.privileged.alerts import alert_decided
from services.privileged.requesting import effective_status, lock_account

NOT_PENDING = "request-not-pending"


def request_in_school(
    session: Session, *, school_id: uuid.UUID, request_id: uuid.UUID
) -> PrivilegedRequest:
    """The request, if it is of the school (404 otherwise, whoever asks)."""
    request = session.get(PrivilegedRequest, request_id)
    if request is None or request.school_id != school_id:
        raise NotFound("There is no request with that id.")
    return request


def _locked(session: Session, request: PrivilegedRequest, now: datetime) -> User:
    """Lock the account and then the request (``services.privileged.requesting``'s
    order), read both again, and refuse (409) a request that is no longer pending."""
    user = lock_account(session, request.user_id)
    session.exec(
        select(PrivilegedRequest)
        .where(PrivilegedRequest.id == request.id)
        .with_for_update()
        .execution_options(populate_existing=True)
    ).one()
    status = effective_status(request, now)
    if status != PrivilegedStatus.pending:
        raise Conflict(
            f"This request is {status.value}: it can no longer be decided.",
            slug=NOT_PENDING,
            extra={"request_status": status.value},
        )
    return user


def _settle(
    session: Session,
    request: PrivilegedRequest,
    *,
    status: PrivilegedStatus,
    decided_by: User | None,
    now: datetime,
) -> None:
    request.status = status.value
    request.decided_by = decided_by.id if decided_by is not None else None
    request.decided_by_name = decided_by.display_name if decided_by is not None else None
    request.decided_at = now
    # The password an admin set is applied or dropped; either way it is not kept.
    request.password_hash = None
    session.add(request)


def _apply(
    session: Session,
    request: PrivilegedRequest,
    user: User,
    *,
    actor: Actor,
    now: datetime,
    request_id: str | None,
) -> None:
    """What the request asks for, done to ``user`` (locked), as the administration
    services do it: every kind ends the account's tokens at once."""
    kind = PrivilegedKind(request.kind)
    if kind == PrivilegedKind.grant_role:
        assert request.role is not None
        # Approving a grant to the school's last active admin would take them away.
        accounts.keep_an_active_admin(
            session, school_id=user.school_id, user=user, role=request.role, active=user.active
        )
        user.role = request.role
        action = "user.update"
    elif kind == PrivilegedKind.set_password:
        assert request.password_hash is not None
        user.password_hash = request.password_hash
        action = "user.password_set"
    else:
        user.totp_secret = None
        user.totp_last_step = None
        user.mfa_enrolled = False
        action = "user.mfa_reset"
    user.token_version += 1
    user.updated_at = now
    session.add(user)
    revoke_all_refresh_tokens(session, user_id=user.id, now=now)
    audit.record(
        session,
        actor=actor,
        action=action,
        now=now,
        entity_type="user",
        entity_id=user.id,
        request_id=request_id,
    )


def _decided(
    session: Session,
    request: PrivilegedRequest,
    *,
    action: str,
    actor: Actor,
    now: datetime,
    request_id: str | None,
) -> None:
    alert_decided(session, request)
    audit.record(
        session,
        actor=actor,
        action=action,
        now=now,
        entity_type="privileged_request",
        entity_id=request.id,
        request_id=request_id,
    )


def _settled_by_caller(
    session: Session,
    context: RequestContext,
    request: PrivilegedRequest,
    status: PrivilegedStatus,
    verb: str,
) -> PrivilegedRequest:
    """Settle ``request`` as the caller's decision (``status``), audited as
    ``privileged_request.<verb>`` and alerted to the school's DSLs."""
    caller = session.get(User, context.principal.id)
    _settle(session, request, status=status, decided_by=caller, now=context.now)
    _decided(
        session,
        request,
        action=f"privileged_request.{verb}",
        actor=context.actor,
        now=context.now,
        request_id=context.request_id,
    )
    return request


def approve(
    session: Session, context: RequestContext, *, request_id: uuid.UUID
) -> PrivilegedRequest:
    """Approve a pending request and apply it (a DSL or deputy DSL of the school, never
    about their own account or on a request they made: 403; 404 for another school's; 409
    when it is no longer pending or has expired). Audits the change (``user.update``,
    ``user.password_set`` or ``user.mfa_reset``) and ``privileged_request.approve``, ids
    only, and alerts the school's DSLs."""
    principal, now = context.principal, context.now
    access.require_dsl(principal)
    request = request_in_school(session, school_id=principal.school_id, request_id=request_id)
    access.require_decider(principal, user_id=request.user_id, requested_by=request.requested_by)
    if request.kind == PrivilegedKind.grant_role.value:
        # The school's admins first, when the grant could take one away (the lock order).
        target = session.get(User, request.user_id)
        assert target is not None and request.role is not None
        accounts.keep_an_active_admin(
            session,
            school_id=target.school_id,
            user=target,
            role=request.role,
            active=target.active,
        )
    user = _locked(session, request, now)
    _apply(session, request, user, actor=context.actor, now=now, request_id=context.request_id)
    return _settled_by_caller(session, context, request, PrivilegedStatus.approved, "approve")


def reject(
    session: Session, context: RequestContext, *, request_id: uuid.UUID
) -> PrivilegedRequest:
    """Reject a pending request; nothing of it is applied and a password it held is
    forgotten (who may: as ``approve``). Audits ``privileged_request.reject`` and alerts
    the school's DSLs."""
    principal, now = context.principal, context.now
    access.require_dsl(principal)
    request = request_in_school(session, school_id=principal.school_id, request_id=request_id)
    access.require_decider(principal, user_id=request.user_id, requested_by=request.requested_by)
    _locked(session, request, now)
    return _settled_by_caller(session, context, request, PrivilegedStatus.rejected, "reject")


def withdraw(
    session: Session, context: RequestContext, *, request_id: uuid.UUID
) -> PrivilegedRequest:
    """Withdraw a pending request (any admin of the school; 404 for another school's, 409
    when it is no longer pending). Nothing of it is applied. Audits
    ``privileged_request.withdraw`` and alerts the school's DSLs."""
    principal, now = context.principal, context.now
    access.require_withdrawer(principal)
    request = request_in_school(session, school_id=principal.school_id, request_id=request_id)
    _locked(session, request, now)
    return _settled_by_caller(session, context, request, PrivilegedStatus.withdrawn, "withdraw")


def approve_as_operator(
    session: Session, *, request_id: uuid.UUID, now: datetime
) -> PrivilegedRequest:
    """Approve a pending request at the command line (``concernlog privileged-requests
    approve``): the service's operator, who creates a school's first DSL the same way, for
    a school with no other DSL to decide (its only DSL lost their phone). Recorded as the
    system's act (``decided_by`` null); audited and alerted as ``approve``."""
    request = session.get(PrivilegedRequest, request_id)
    if request is None:
        raise NotFound("There is no request with that id.")
    actor = Actor(type="system", id=None, role=None, school_id=request.school_id)
    if request.kind == PrivilegedKind.grant_role.value:
        target = session.get(User, request.user_id)
        assert target is not None and request.role is not None
        accounts.keep_an_active_admin(
            session,
            school_id=target.school_id,
            user=target,
            role=request.role,
            active=target.active,
        )
    user = _locked(session, request, now)
    _apply(session, request, user, actor=actor, now=now, request_id=None)
    _settle(session, request, status=PrivilegedStatus.approved, decided_by=None, now=now)
    _decided(
        session,
        request,
        action="privileged_request.approve",
        actor=actor,
        now=now,
        request_id=None,
    )
    return request
