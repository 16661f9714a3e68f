"""Requests for changes that need a DSL: admins ask (through ``/users``), the school's DSLs
and deputy DSLs approve or reject, admins withdraw (docs/adr/0080)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import AdminContext, AdminOrDSLContext, DSLContext, UnitOfWorkDep
from api.errors import problem_responses
from models.privileged_request import (
    PrivilegedRequestPage,
    PrivilegedRequestPublic,
    PrivilegedStatus,
)
from services import privileged
from services.pagination import DEFAULT_LIMIT, MAX_LIMIT

router = APIRouter(prefix="/privileged-requests", tags=["users"])

_DECIDERS = (
    "DSLs and deputy DSLs of the school, never about their own account or on a request they "
    "made (403, problem type ending `another-dsl-required`: another DSL decides, or, if the "
    "school has none, the service's operator with `concernlog privileged-requests approve`). "
    "409 (`request-not-pending`) when it is no longer pending: decided, withdrawn or expired."
)


@router.get(
    "",
    summary="Requests for changes that need a DSL, oldest first",
    description=(
        "Admins (who ask, through `/users`) and DSLs and deputy DSLs (who decide). A grant "
        "of `dsl` or `deputy_dsl`, and a password or MFA reset of an account that holds (or "
        "is being granted) one of those roles, waits here for a DSL of the school. Never "
        "the password a request holds."
    ),
    response_model=PrivilegedRequestPage,
    responses=problem_responses(401, 403, 422),
)
async def list_privileged_requests(
    context: AdminOrDSLContext,
    uow: UnitOfWorkDep,
    status: Annotated[PrivilegedStatus | None, Query(description="Only these")] = None,
    user_id: Annotated[uuid.UUID | None, Query(description="Only about this account")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size (at most 200)")] = (
        DEFAULT_LIMIT
    ),
    cursor: Annotated[
        str | None, Query(max_length=200, description="`next_cursor` of the previous page")
    ] = None,
) -> PrivilegedRequestPage:
    return await uow.run(
        lambda session: privileged.list_requests(
            session, context, status=status, user_id=user_id, limit=limit, cursor=cursor
        )
    )


@router.get(
    "/{request_id}",
    summary="One request for a change that needs a DSL",
    response_model=PrivilegedRequestPublic,
    responses=problem_responses(401, 403, 404),
)
async def get_privileged_request(
    request_id: uuid.UUID, context: AdminOrDSLContext, uow: UnitOfWorkDep
) -> PrivilegedRequestPublic:
    return await uow.run(
        lambda session: privileged.get_request(session, context, request_id=request_id)
    )


@router.post(
    "/{request_id}/approve",
    summary="Approve a request: the change is made now",
    description=(
        f"{_DECIDERS} The change is made in the same transaction (a role given, a password "
        "set, an enrolment cleared), ending the account's tokens; the school's DSLs are "
        "told, without saying whose account or what."
    ),
    response_model=PrivilegedRequestPublic,
    responses=problem_responses(401, 403, 404, 409),
)
async def approve_privileged_request(
    request_id: uuid.UUID, context: DSLContext, uow: UnitOfWorkDep
) -> PrivilegedRequestPublic:
    return await uow.run(
        lambda session: privileged.one(
            session, context, privileged.approve(session, context, request_id=request_id)
        )
    )


@router.post(
    "/{request_id}/reject",
    summary="Reject a request: nothing changes",
    description=f"{_DECIDERS} A password the request held is forgotten.",
    response_model=PrivilegedRequestPublic,
    responses=problem_responses(401, 403, 404, 409),
)
async def reject_privileged_request(
    request_id: uuid.UUID, context: DSLContext, uow: UnitOfWorkDep
) -> PrivilegedRequestPublic:
    return await uow.run(
        lambda session: privileged.one(
            session, context, privileged.reject(session, context, request_id=request_id)
        )
    )


@router.post(
    "/{request_id}/withdraw",
    summary="Withdraw a pending request: nothing changes",
    description=(
        "Admins of the school (a mistake, or to ask for something else: one request is "
        "pending per account and kind). 409 (`request-not-pending`) when it is no longer "
        "pending."
    ),
    response_model=PrivilegedRequestPublic,
    responses=problem_responses(401, 403, 404, 409),
)
async def withdraw_privileged_request(
    request_id: uuid.UUID, context: AdminContext, uow: UnitOfWorkDep
) -> PrivilegedRequestPublic:
    return await uow.run(
        lambda session: privileged.one(
            session, context, privileged.withdraw(session, context, request_id=request_id)
        )
    )
