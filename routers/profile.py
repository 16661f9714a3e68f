"""A child's safeguarding profile: statuses, people, professionals. DSLs and deputy DSLs."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Response

from api.deps import DSLPupilFileContext, UnitOfWorkDep
from api.errors import problem_responses
from api.responses import answer_headers
from models.profile import ProfileBody, ProfileHistoryPage, ProfilePublic
from routers._shaping import IfMatch, with_etag
from services import profile
from services.pagination import DEFAULT_LIMIT, MAX_LIMIT

router = APIRouter(prefix="/pupils", tags=["profile"])


@router.get(
    "/{pupil_id}/profile",
    summary="A pupil's safeguarding profile",
    description=(
        "The child's statuses (`child_protection_plan`, `child_in_need`, `looked_after`, "
        "`previously_looked_after`, `early_help`, `ehcp`, `young_carer`, "
        "`private_fostering`; each with `from`, and `to` once it has ended), the people in "
        "their life (who has parental responsibility) and the professionals around them. "
        "A pupil whose profile was never written answers version 0 with empty lists. The "
        '`ETag` (`"profile-<version>"`) is what `PUT` needs in `If-Match`. Reading it '
        "is recorded in the audit log."
    ),
    response_model=ProfilePublic,
    responses=problem_responses(401, 403, 404, 422) | answer_headers(200, "ETag"),
)
async def get_profile(
    pupil_id: uuid.UUID, response: Response, context: DSLPupilFileContext, uow: UnitOfWorkDep
) -> ProfilePublic:
    read = await uow.run(lambda session: profile.get_profile(session, context, pupil_id=pupil_id))
    return with_etag(response, read.etag, read.profile)


@router.put(
    "/{pupil_id}/profile",
    summary="Replace a pupil's safeguarding profile",
    description=(
        "Replaces the whole profile (each list whole; an empty list clears it) by writing "
        "its next version: every earlier version is kept (`GET .../profile/history`) and "
        "the change is an entry of the pupil's chronology. Requires `If-Match` with the "
        'profile\'s current `ETag` (`"profile-0"` for a pupil without one): 428 without '
        "it, 412 if someone changed it since, and nothing is written. Dates are "
        "`YYYY-MM-DD`, `to` on or after `from`; telephone numbers are numbers a person "
        "could dial (UK numbers without +44), emails addresses. Answers the profile with "
        "its new `ETag`."
    ),
    response_model=ProfilePublic,
    responses=problem_responses(401, 403, 404, 412, 422, 428) | answer_headers(200, "ETag"),
)
async def put_profile(
    pupil_id: uuid.UUID,
    body: ProfileBody,
    response: Response,
    context: DSLPupilFileContext,
    uow: UnitOfWorkDep,
    if_match: IfMatch = None,
) -> ProfilePublic:
    read = await uow.run(
        lambda session: profile.put_profile(
            session, context, pupil_id=pupil_id, body=body, if_match=if_match
        )
    )
    return with_etag(response, read.etag, read.profile)


@router.get(
    "/{pupil_id}/profile/history",
    summary="Every version of a pupil's safeguarding profile",
    description=(
        "Newest first, each with who wrote it (under the name they had) and when. Keyset "
        "pages. Reading it is recorded in the audit log."
    ),
    response_model=ProfileHistoryPage,
    responses=problem_responses(401, 403, 404, 422),
)
async def profile_history(
    pupil_id: uuid.UUID,
    context: DSLPupilFileContext,
    uow: UnitOfWorkDep,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> ProfileHistoryPage:
    return await uow.run(
        lambda session: profile.profile_history(
            session, context, pupil_id=pupil_id, limit=limit, cursor=cursor
        )
    )
