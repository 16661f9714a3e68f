"""User administration: the school's admin manages accounts and roles."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from api.deps import AdminContext, PrivilegedRequestWindow, UnitOfWorkDep
from api.errors import problem_responses
from api.idempotency import Answer, Idempotent
from api.responses import RESPONSE_HEADERS, json_answer
from models.privileged_request import PrivilegedRequestPublic
from models.user import PasswordSet, UserCreate, UserPage, UserPublic, UserUpdate
from services import users
from services.pagination import DEFAULT_LIMIT, MAX_LIMIT

router = APIRouter(prefix="/users", tags=["users"])

REQUESTS_PATH = "/api/v1/privileged-requests"

NEEDS_A_DSL = (
    "Granting `dsl` or `deputy_dsl` needs a DSL: the role is asked for, not given (the "
    "answer shows it as `pending_role`), and a DSL or deputy DSL of the school approves it "
    "at `POST /privileged-requests/{id}/approve` (docs/adr/0080)."
)


def _public(account: users.Account) -> UserPublic:
    user = account.user
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
        pending_role=account.pending_role,  # type: ignore[arg-type]
    )


def _requested(request: PrivilegedRequestPublic | None) -> Response:
    """204 for a change made; 202 with the request for one that waits for a DSL."""
    if request is None:
        return Response(status_code=204)
    return json_answer(
        request, status_code=202, headers={"Location": f"{REQUESTS_PATH}/{request.id}"}
    )


def _waits_for_a_dsl(what: str) -> dict[int | str, dict[str, Any]]:
    return {
        202: {
            "model": PrivilegedRequestPublic,
            "description": f"The account is a DSL's or deputy DSL's (or is being granted such "
            f"a role): {what} waits for a DSL of the school to approve it. The answer is the "
            "request; nothing has changed yet",
            "headers": {"Location": RESPONSE_HEADERS["Location"]},
        },
        204: {"description": f"Done: {what} is changed, and the account's tokens are ended"},
    }


@router.post(
    "",
    summary="Create a user (with an initial password, or none: then they cannot sign in yet)",
    description=NEEDS_A_DSL.replace(
        "the role is asked", "the account is created as `staff` and the role asked"
    ),
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
    window: PrivilegedRequestWindow,
) -> Response:
    def created(account: users.Account) -> Answer:
        location = f"{request.url.path}/{account.user.id}"
        return Answer(201, _public(account), {"Location": location})

    # An initial password is hashed with argon2id: off the event loop.
    return await once.run(
        uow,
        context,
        body,
        lambda session: created(users.create_user(session, context, data=body, window=window)),
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
        lambda session: users.list_users(session, context, limit=limit, cursor=cursor)
    )
    return UserPage(items=[_public(u) for u in rows], next_cursor=next_cursor)


@router.get(
    "/{user_id}",
    summary="One user",
    response_model=UserPublic,
    responses=problem_responses(401, 403, 404),
)
async def get_user(user_id: uuid.UUID, context: AdminContext, uow: UnitOfWorkDep) -> UserPublic:
    account = await uow.run(lambda session: users.get_user(session, context, user_id=user_id))
    return _public(account)


@router.patch(
    "/{user_id}",
    summary="Change a user's display name, role or active flag",
    description=(
        "An admin cannot change their own role, and the school's last active admin cannot "
        "be deactivated or given another role (409), whoever asks, even two admins at once.\n\n"
        + NEEDS_A_DSL.replace(
            "the role is asked", "the rest of the change applies now, the role is asked"
        )
        + " Asking again for the role already pending changes nothing; asking for the other "
        "one is a 409 (`request-pending`) until an admin withdraws the pending request."
    ),
    response_model=UserPublic,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def update_user(
    user_id: uuid.UUID,
    body: UserUpdate,
    context: AdminContext,
    uow: UnitOfWorkDep,
    window: PrivilegedRequestWindow,
) -> UserPublic:
    account = await uow.run(
        lambda session: users.update_user(
            session, context, user_id=user_id, data=body, window=window
        )
    )
    return _public(account)


@router.post(
    "/{user_id}/password",
    summary="Set or reset a user's password",
    description=(
        "Not the caller's own: that is a 403 whose problem type ends "
        "`self-service-required` (change it at `POST /auth/password`, with the current "
        "password and a one-time code).\n\n"
        "A DSL's or deputy DSL's password (or that of an account being granted such a role) "
        "needs a DSL: the answer is 202 with a request that a DSL or deputy DSL of the school "
        "approves (the password is applied then) or rejects. While one is pending, another "
        "is a 409 (`request-pending`) until an admin withdraws it."
    ),
    status_code=204,
    response_class=Response,
    responses=problem_responses(401, 403, 404, 409, 422) | _waits_for_a_dsl("the password"),
)
async def set_password(
    user_id: uuid.UUID,
    body: PasswordSet,
    context: AdminContext,
    uow: UnitOfWorkDep,
    window: PrivilegedRequestWindow,
) -> Response:
    # Hashed with argon2id: off the event loop.
    request = await uow.run(
        lambda session: users.set_password(
            session, context, user_id=user_id, password=body.password, window=window
        ),
        cpu_bound=True,
    )
    return _requested(request)


@router.post(
    "/{user_id}/reset-mfa",
    summary="Clear a user's TOTP enrolment (lost phone)",
    description=(
        "Not the caller's own: that is a 403 whose problem type ends "
        "`self-service-required` (`POST /auth/mfa/reset` with the password and a current "
        "code, to move to a new device; a lost device is another admin's to reset).\n\n"
        "A DSL's or deputy DSL's (or that of an account being granted such a role) needs a "
        "DSL: the answer is 202 with a request that a DSL or deputy DSL of the school "
        "approves (the enrolment is cleared then) or rejects. Asking again while it is "
        "pending answers the same request."
    ),
    status_code=204,
    response_class=Response,
    responses=problem_responses(401, 403, 404) | _waits_for_a_dsl("clearing the enrolment"),
)
async def reset_mfa(
    user_id: uuid.UUID, context: AdminContext, uow: UnitOfWorkDep, window: PrivilegedRequestWindow
) -> Response:
    request = await uow.run(
        lambda session: users.reset_mfa(session, context, user_id=user_id, window=window)
    )
    return _requested(request)
