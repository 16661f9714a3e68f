"""Reading requests for changes that need a DSL, and shaping them as answers: never the
password a request holds (docs/adr/0080-privileged-changes-need-a-dsl.md)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, and_
from sqlmodel import Session, col, select

from models.privileged_request import (
    PrivilegedRequest,
    PrivilegedRequestPage,
    PrivilegedRequestPublic,
    PrivilegedStatus,
)
from models.user import User
from services import access
from services.context import RequestContext
from services.pagination import page_by_id
from services.privileged.deciding import request_in_school
from services.privileged.requesting import effective_status, expire_due


def _person(user_id: uuid.UUID | None, name: str | None) -> dict[str, object] | None:
    return None if user_id is None else {"id": user_id, "display_name": name or ""}


def shape(
    session: Session, requests: Sequence[PrivilegedRequest], *, now: datetime
) -> list[PrivilegedRequestPublic]:
    """The answers for ``requests``: each with its account as it is now, its status as of
    ``now``, and who asked and decided under the names they had then."""
    user_ids = {request.user_id for request in requests}
    accounts = (
        {u.id: u for u in session.exec(select(User).where(col(User.id).in_(user_ids)))}
        if user_ids
        else {}
    )
    shaped = []
    for request in requests:
        account = accounts[request.user_id]
        shaped.append(
            PrivilegedRequestPublic.model_validate(
                {
                    "id": request.id,
                    "kind": request.kind,
                    "user": {
                        "id": account.id,
                        "display_name": account.display_name,
                        "email": account.email,
                        "role": account.role,
                        "active": account.active,
                    },
                    "role": request.role,
                    "status": effective_status(request, now),
                    "requested_by": _person(request.requested_by, request.requested_by_name),
                    "requested_at": request.requested_at,
                    "expires_at": request.expires_at,
                    "decided_by": _person(request.decided_by, request.decided_by_name),
                    "decided_at": request.decided_at,
                }
            )
        )
    return shaped


def one(
    session: Session, context: RequestContext, request: PrivilegedRequest
) -> PrivilegedRequestPublic:
    """One request as an answer (see ``shape``)."""
    return shape(session, [request], now=context.now)[0]


def get_request(
    session: Session, context: RequestContext, *, request_id: uuid.UUID
) -> PrivilegedRequestPublic:
    """One request of the caller's school (admins and the DSL desk; 404 for any other)."""
    access.require_privileged_request_reader(context.principal)
    request = request_in_school(
        session, school_id=context.principal.school_id, request_id=request_id
    )
    return one(session, context, request)


def _status_is(status: PrivilegedStatus, now: datetime) -> ColumnElement[bool]:
    stored = col(PrivilegedRequest.status)
    if status == PrivilegedStatus.pending:
        return and_(stored == status.value, col(PrivilegedRequest.expires_at) > now)
    return stored == status.value


def list_requests(
    session: Session,
    context: RequestContext,
    *,
    status: PrivilegedStatus | None,
    user_id: uuid.UUID | None,
    limit: int,
    cursor: str | None,
) -> PrivilegedRequestPage:
    """A page of the school's requests, oldest first (admins and the DSL desk), by status
    and account if asked. Requests whose time ran out are marked ``expired`` first."""
    principal, now = context.principal, context.now
    access.require_privileged_request_reader(principal)
    expire_due(session, school_id=principal.school_id, now=now)
    query = select(PrivilegedRequest).where(PrivilegedRequest.school_id == principal.school_id)
    if status is not None:
        query = query.where(_status_is(status, now))
    if user_id is not None:
        query = query.where(PrivilegedRequest.user_id == user_id)
    rows, next_cursor = page_by_id(
        session, query, col(PrivilegedRequest.id), limit=limit, cursor=cursor
    )
    return PrivilegedRequestPage(items=shape(session, rows, now=now), next_cursor=next_cursor)


def pending_in_school(
    session: Session, *, school_id: uuid.UUID, now: datetime
) -> list[tuple[PrivilegedRequest, User]]:
    """The school's pending requests, oldest first, each with its account: for the
    service's operator at the command line (``concernlog privileged-requests list``)."""
    expire_due(session, school_id=school_id, now=now)
    query = (
        select(PrivilegedRequest, User)
        .join(User, col(User.id) == col(PrivilegedRequest.user_id))
        .where(
            PrivilegedRequest.school_id == school_id,
            PrivilegedRequest.status == PrivilegedStatus.pending.value,
        )
        .order_by(col(PrivilegedRequest.id))
    )
    return [(request, user) for request, user in session.exec(query).all()]
