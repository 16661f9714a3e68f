"""Pupils: search by name to pick a child; the full record for DSLs; entry by hand."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from api.deps import DSLOnly, NowDep, PupilEditor, RequestIdDep, SessionDep, StaffOrDSL
from api.errors import problem_responses
from models.pupil import PupilCreate, PupilPublic, PupilSearchPage, PupilUpdate
from services import pupils
from services.pagination import DEFAULT_LIMIT, MAX_LIMIT

router = APIRouter(prefix="/pupils", tags=["pupils"])


@router.get(
    "",
    summary="Search the school's pupils by name",
    description=(
        "Pupils whose given, family or preferred name starts with each word of `q`, "
        "ignoring case and accents (`zoe` finds Zoë), ordered by family name then given "
        "name. Active pupils only unless a DSL asks for `include_left=true`. Answers only "
        "`id`, `display_name` (the preferred name when there is one, then the family name), "
        "`year_group` and `registration_group`: enough to pick the right child."
    ),
    response_model=PupilSearchPage,
    responses=problem_responses(401, 403, 422),
)
def search_pupils(
    principal: StaffOrDSL,
    session: SessionDep,
    now: NowDep,
    request_id: RequestIdDep,
    q: Annotated[str, Query(min_length=1, max_length=100, description="A name or its start")],
    include_left: Annotated[
        bool, Query(description="Include pupils who have left (DSLs only)")
    ] = False,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> PupilSearchPage:
    return pupils.search_pupils(
        session,
        principal=principal,
        now=now,
        request_id=request_id,
        query=q,
        include_left=include_left,
        limit=limit,
        cursor=cursor,
    )


@router.get(
    "/{pupil_id}",
    summary="One pupil's full record",
    description="DSLs and deputy DSLs. Reading it is recorded in the audit log.",
    response_model=PupilPublic,
    responses=problem_responses(401, 403, 404, 422),
)
def get_pupil(
    pupil_id: uuid.UUID,
    principal: DSLOnly,
    session: SessionDep,
    now: NowDep,
    request_id: RequestIdDep,
) -> PupilPublic:
    return pupils.get_pupil(
        session, principal=principal, now=now, request_id=request_id, pupil_id=pupil_id
    )


@router.post(
    "",
    summary="Add a pupil by hand",
    description=(
        "For schools that enter pupils by hand (pupils synced from the MIS arrive through "
        "`/mis`). A UPN is checked for its form and check letter; one already held by "
        "another pupil of the school is a 409."
    ),
    status_code=201,
    response_model=PupilPublic,
    responses=problem_responses(401, 403, 409, 422),
)
def create_pupil(
    body: PupilCreate,
    request: Request,
    response: Response,
    principal: PupilEditor,
    session: SessionDep,
    now: NowDep,
    request_id: RequestIdDep,
) -> PupilPublic:
    created = pupils.create_pupil(
        session, principal=principal, now=now, request_id=request_id, pupil=body
    )
    response.headers["Location"] = request.url_for("get_pupil", pupil_id=created.id).path
    return created


@router.patch(
    "/{pupil_id}",
    summary="Change a pupil's details",
    description=(
        "Only the fields sent change. Names and date of birth cannot be cleared. "
        '`"status": "left"` records `left_on` (today unless given); `"status": "active"` '
        "clears it."
    ),
    response_model=PupilPublic,
    responses=problem_responses(401, 403, 404, 409, 422),
)
def update_pupil(
    pupil_id: uuid.UUID,
    body: PupilUpdate,
    principal: PupilEditor,
    session: SessionDep,
    now: NowDep,
    request_id: RequestIdDep,
) -> PupilPublic:
    return pupils.update_pupil(
        session,
        principal=principal,
        now=now,
        request_id=request_id,
        pupil_id=pupil_id,
        changes=body,
    )
