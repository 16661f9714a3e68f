"""Service accounts: the school's MIS integration signs in with client credentials."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Response

from api.deps import AdminOnly, NowDep, RequestIdDep, SessionDep
from api.errors import problem_responses
from models.user import (
    ServiceAccount,
    ServiceAccountCreate,
    ServiceAccountCreated,
    ServiceAccountPublic,
    ServiceAccountUpdate,
)
from services import users

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
def create_service_account(
    body: ServiceAccountCreate,
    admin: AdminOnly,
    session: SessionDep,
    now: NowDep,
    request_id: RequestIdDep,
    response: Response,
) -> ServiceAccountCreated:
    account, secret = users.create_service_account_as(
        session, principal=admin, name=body.name, now=now, request_id=request_id
    )
    response.headers["Location"] = f"/api/v1/service-accounts/{account.id}"
    return ServiceAccountCreated(**_public(account).model_dump(), client_secret=secret)


@router.get(
    "",
    summary="The school's service accounts (never their secrets)",
    response_model=list[ServiceAccountPublic],
    responses=problem_responses(401, 403),
)
def list_service_accounts(admin: AdminOnly, session: SessionDep) -> list[ServiceAccountPublic]:
    return [_public(a) for a in users.list_service_accounts(session, principal=admin)]


@router.patch(
    "/{account_id}",
    summary="Activate or deactivate a service account",
    response_model=ServiceAccountPublic,
    responses=problem_responses(401, 403, 404, 422),
)
def update_service_account(
    account_id: uuid.UUID,
    body: ServiceAccountUpdate,
    admin: AdminOnly,
    session: SessionDep,
    now: NowDep,
    request_id: RequestIdDep,
) -> ServiceAccountPublic:
    account = users.set_service_account_active(
        session,
        principal=admin,
        account_id=account_id,
        active=body.active,
        now=now,
        request_id=request_id,
    )
    return _public(account)
