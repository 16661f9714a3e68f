"""User administration: the school's admin manages accounts and roles."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from api.deps import AdminContext, UnitOfWorkDep
from api.errors import problem_responses
from api.idempotency import Answer, Idempotent
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
async def create_user(
    body: UserCreate,
    request: Request,
    context: AdminContext,
    uow: UnitOfWorkDep,
    once: Idempotent,
) -> Response:
    def created(user: User) -> Answer:
        return Answer(201, _public(user), {"Location": f"{request.url.path}/{user.id}"})

    # An initial password is hashed with argon2id: off the event loop.
    return await once.run(
        uow,
        context,
        body,
        lambda session: created(users.create_user(session, context, data=body)),
        cpu_bound=True,
    )


@router.get(
    "",
    summary="The school's users, oldest account first",
    response_model=UserPage,
    responses=problem_responses(401, 403, 422),
)
async def list_users(
    context: AdminContext,
    uow: UnitOfWorkDep,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size (at most 200)")] = (
        DEFAULT_LIMIT
    ),
    cursor: Annotated[
        str | None, Query(max_length=200, description="`next_cursor` of the previous page")
    ] = None,
) -> UserPage:
    rows, next_cursor = await uow.run(
        lambda session: users.list_users(
            session, principal=context.principal, limit=limit, cursor=cursor
        )
    )
    return UserPage(items=[_public(u) for u in rows], next_cursor=next_cursor)


@router.get(
    "/{user_id}",
    summary="One user",
    response_model=UserPublic,
    responses=problem_responses(401, 403, 404),
)
async def get_user(user_id: uuid.UUID, context: AdminContext, uow: UnitOfWorkDep) -> UserPublic:
    user = await uow.run(
        lambda session: users.get_user(session, principal=context.principal, user_id=user_id)
    )
    return _public(user)


@router.patch(
    "/{user_id}",
    summary="Change a user's display name, role or active flag",
    description=(
        "An admin cannot change their own role, and the school's last active admin cannot "
        "be deactivated or given another role (409), whoever asks, even two admins at once."
    ),
    response_model=UserPublic,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def update_user(
    user_id: uuid.UUID, body: UserUpdate, context: AdminContext, uow: UnitOfWorkDep
) -> UserPublic:
    user = await uow.run(
        lambda session: users.update_user(session, context, user_id=user_id, data=body)
    )
    return _public(user)


@router.post(
    "/{user_id}/password",
    summary="Set or reset a user's password",
    description=(
        "Not the caller's own: that is a 403 whose problem type ends "
        "`self-service-required` (change it at `POST /auth/password`, with the current "
        "password and a one-time code)."
    ),
    status_code=204,
    responses=problem_responses(401, 403, 404, 422),
)
async def set_password(
    user_id: uuid.UUID, body: PasswordSet, context: AdminContext, uow: UnitOfWorkDep
) -> Response:
    # Hashed with argon2id: off the event loop.
    await uow.run(
        lambda session: users.set_password(
            session, context, user_id=user_id, password=body.password
        ),
        cpu_bound=True,
    )
    return Response(status_code=204)


@router.post(
    "/{user_id}/reset-mfa",
    summary="Clear a user's TOTP enrolment (lost phone)",
    description=(
        "Not the caller's own: that is a 403 whose problem type ends "
        "`self-service-required` (`POST /auth/mfa/reset` with the password and a current "
        "code, to move to a new device; a lost device is another admin's to reset)."
    ),
    status_code=204,
    responses=problem_responses(401, 403, 404),
)
async def reset_mfa(user_id: uuid.UUID, context: AdminContext, uow: UnitOfWorkDep) -> Response:
    await uow.run(lambda session: users.reset_mfa(session, context, user_id=user_id))
    return Response(status_code=204)
