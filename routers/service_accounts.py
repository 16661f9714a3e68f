"""Service accounts: the school's MIS integration signs in with client credentials."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from api.deps import AdminContext, UnitOfWorkDep
from api.errors import problem_responses
from api.idempotency import Answer, Idempotent
from models.user import (
    ServiceAccount,
    ServiceAccountCreate,
    ServiceAccountCreated,
    ServiceAccountPage,
    ServiceAccountPublic,
    ServiceAccountUpdate,
)
from services import users
from services.pagination import DEFAULT_LIMIT, MAX_LIMIT

router = APIRouter(prefix="/service-accounts", tags=["users"])


def _public(account: ServiceAccount) -> ServiceAccountPublic:
    return ServiceAccountPublic.model_validate(account, from_attributes=True)


@router.post(
    "",
    summary="Create an MIS service account; the client secret is shown this once",
    status_code=201,
    response_model=ServiceAccountCreated,
    responses=problem_responses(401, 403, 422),
)
async def create_service_account(
    body: ServiceAccountCreate,
    request: Request,
    context: AdminContext,
    uow: UnitOfWorkDep,
    once: Idempotent,
) -> Response:
    def created(made: tuple[ServiceAccount, str]) -> Answer:
        account, secret = made
        shown = ServiceAccountCreated(**_public(account).model_dump(), client_secret=secret)
        return Answer(201, shown, {"Location": f"{request.url.path}/{account.id}"})

    return await once.run(
        uow,
        context,
        body,
        lambda session: created(users.create_service_account_as(session, context, name=body.name)),
    )


@router.get(
    "",
    summary="The school's service accounts (never their secrets)",
    response_model=ServiceAccountPage,
    responses=problem_responses(401, 403, 422),
)
async def list_service_accounts(
    context: AdminContext,
    uow: UnitOfWorkDep,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size (at most 200)")] = (
        DEFAULT_LIMIT
    ),
    cursor: Annotated[
        str | None, Query(max_length=200, description="`next_cursor` of the previous page")
    ] = None,
) -> ServiceAccountPage:
    rows, next_cursor = await uow.run(
        lambda session: users.list_service_accounts(
            session, principal=context.principal, limit=limit, cursor=cursor
        )
    )
    return ServiceAccountPage(items=[_public(a) for a in rows], next_cursor=next_cursor)


@router.patch(
    "/{account_id}",
    summary="Activate or deactivate a service account",
    response_model=ServiceAccountPublic,
    responses=problem_responses(401, 403, 404, 422),
)
async def update_service_account(
    account_id: uuid.UUID, body: ServiceAccountUpdate, context: AdminContext, uow: UnitOfWorkDep
) -> ServiceAccountPublic:
    account = await uow.run(
        lambda session: users.set_service_account_active(
            session, context, account_id=account_id, active=body.active
        )
    )
    return _public(account)
