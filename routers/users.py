"""User administration: the school's admin manages accounts and roles."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from api.deps import AdminOnly, NowDep, RequestIdDep, SessionDep
from api.errors import problem_responses
from models.user import PasswordSet, User, UserCreate, UserPage, UserPublic, UserUpdate
from services import users
from services.pagination import DEFAULT_LIMIT, MAX_LIMIT

router = APIRouter(prefix="/users", tags=["users"])


def _public(user: User) -> UserPublic:
    return UserPublic(
        id=user.id,
        email=user.email,
        display_name=user.display_name,
        role=user.role,  # type: ignore[arg-type]
        school_id=user.school_id,
        mfa_enrolled=user.mfa_enrolled,
        active=user.active,
        can_log_in=user.active and user.password_hash is not None,
        created_at=user.created_at,
    )


@router.post(
    "",
    summary="Create a user (with an initial password, or none: then they cannot sign in yet)",
    status_code=201,
    response_model=UserPublic,
    responses=problem_responses(401, 403, 409, 422),
)
def create_user(
    body: UserCreate,
    admin: AdminOnly,
    session: SessionDep,
    now: NowDep,
    request_id: RequestIdDep,
    response: Response,
) -> UserPublic:
    user = users.create_user(session, principal=admin, data=body, now=now, request_id=request_id)
    response.headers["Location"] = f"/api/v1/users/{user.id}"
    return _public(user)


@router.get(
    "",
    summary="The school's users, oldest account first",
    response_model=UserPage,
    responses=problem_responses(401, 403, 422),
)
def list_users(
    admin: AdminOnly,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size (at most 200)")] = (
        DEFAULT_LIMIT
    ),
    cursor: Annotated[
        str | None, Query(max_length=200, description="`next_cursor` of the previous page")
    ] = None,
) -> UserPage:
    rows, next_cursor = users.list_users(session, principal=admin, limit=limit, cursor=cursor)
    return UserPage(items=[_public(u) for u in rows], next_cursor=next_cursor)


@router.get(
    "/{user_id}",
    summary="One user",
    response_model=UserPublic,
    responses=problem_responses(401, 403, 404),
)
def get_user(user_id: uuid.UUID, admin: AdminOnly, session: SessionDep) -> UserPublic:
    return _public(users.get_user(session, principal=admin, user_id=user_id))


@router.patch(
    "/{user_id}",
    summary="Change a user's display name, role or active flag",
    response_model=UserPublic,
    responses=problem_responses(401, 403, 404, 409, 422),
)
def update_user(
    user_id: uuid.UUID,
    body: UserUpdate,
    admin: AdminOnly,
    session: SessionDep,
    now: NowDep,
    request_id: RequestIdDep,
) -> UserPublic:
    user = users.update_user(
        session, principal=admin, user_id=user_id, data=body, now=now, request_id=request_id
    )
    return _public(user)


@router.post(
    "/{user_id}/password",
    summary="Set or reset a user's password",
    status_code=204,
    responses=problem_responses(401, 403, 404, 422),
)
def set_password(
    user_id: uuid.UUID,
    body: PasswordSet,
    admin: AdminOnly,
    session: SessionDep,
    now: NowDep,
    request_id: RequestIdDep,
) -> Response:
    users.set_password(
        session,
        principal=admin,
        user_id=user_id,
        password=body.password,
        now=now,
        request_id=request_id,
    )
    return Response(status_code=204)


@router.post(
    "/{user_id}/reset-mfa",
    summary="Clear a user's TOTP enrolment (lost phone)",
    status_code=204,
    responses=problem_responses(401, 403, 404),
)
def reset_mfa(
    user_id: uuid.UUID, admin: AdminOnly, session: SessionDep, now: NowDep, request_id: RequestIdDep
) -> Response:
    users.reset_mfa(session, principal=admin, user_id=user_id, now=now, request_id=request_id)
    return Response(status_code=204)
