"""Retention (issue 21 point 3): how long a child's file is kept, the files past it, legal
holds, and destroying a file. The DSL desk only."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from api.deps import DSLContext, DSLPupilFileContext, StepUp, UnitOfWorkDep
from api.errors import problem_responses
from api.idempotency import Answer, Idempotent
from api.responses import json_answer
from models.lifecycle import (
    DestructionPublic,
    LegalHoldPublic,
    ReasonBody,
    RetentionDuePage,
    RetentionSettingBody,
    RetentionSettingPublic,
)
from services import lifecycle, retention
from services.pagination import DEFAULT_LIMIT, MAX_LIMIT

router = APIRouter(tags=["retention"])


@router.get(
    "/retention/due",
    summary="Children's files past their retention date",
    description=(
        "DSLs and deputy DSLs. The files of the school (children with a concern or a case) "
        "whose `retain_until` (date of birth plus the school's retention period, 25 years "
        "unless set) has passed and that have not been destroyed, longest past first, each "
        "saying whether a legal hold keeps it. Keyset pages. Recorded in the audit log as "
        "one event per page, with each child listed in its `pupil_ids`."
    ),
    response_model=RetentionDuePage,
    responses=problem_responses(401, 403, 422),
)
async def files_due(
    context: DSLContext,
    uow: UnitOfWorkDep,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> Response:
    page = await uow.run(
        lambda session: retention.files_due(session, context, limit=limit, cursor=cursor)
    )
    return json_answer(page)


@router.get(
    "/retention/settings",
    summary="The school's retention period",
    response_model=RetentionSettingPublic,
    responses=problem_responses(401, 403),
)
async def get_retention_setting(context: DSLContext, uow: UnitOfWorkDep) -> RetentionSettingPublic:
    return await uow.run(lambda session: retention.get_setting(session, context))


@router.put(
    "/retention/settings",
    summary="Set the school's retention period (years after the date of birth)",
    description="DSLs and deputy DSLs. 1 to 100 years; recorded in the audit log.",
    response_model=RetentionSettingPublic,
    responses=problem_responses(401, 403, 422),
)
async def set_retention_setting(
    body: RetentionSettingBody, context: DSLContext, uow: UnitOfWorkDep
) -> RetentionSettingPublic:
    return await uow.run(lambda session: retention.set_setting(session, context, years=body.years))


@router.post(
    "/pupils/{pupil_id}/legal-hold",
    summary="Put a child's file on legal hold",
    description=(
        "DSLs and deputy DSLs. A reason is required. While the hold is in force the file "
        "is not destroyed (`POST /pupils/{id}/destruction` is a 409 `legal-hold`). One "
        "hold at a time (409 when one is in force). Recorded in the audit log."
    ),
    status_code=201,
    response_model=LegalHoldPublic,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def place_legal_hold(
    pupil_id: uuid.UUID,
    body: ReasonBody,
    request: Request,
    context: DSLPupilFileContext,
    uow: UnitOfWorkDep,
    once: Idempotent,
) -> Response:
    return await once.run(
        uow,
        context,
        body,
        lambda session: Answer(
            201,
            lifecycle.place_hold(session, context, pupil_id=pupil_id, reason=body.reason),
            # The pupil's record shows the hold (``on_legal_hold``).
            {"Location": request.url.path.rsplit("/", 1)[0]},
        ),
    )


@router.post(
    "/pupils/{pupil_id}/legal-hold/release",
    summary="Lift the legal hold on a child's file",
    description=(
        "DSLs and deputy DSLs. A reason is required; 409 when no hold is in force. The "
        "hold and its release are both kept. Recorded in the audit log."
    ),
    response_model=LegalHoldPublic,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def release_legal_hold(
    pupil_id: uuid.UUID,
    body: ReasonBody,
    context: DSLPupilFileContext,
    uow: UnitOfWorkDep,
    once: Idempotent,
) -> Response:
    return await once.run(
        uow,
        context,
        body,
        lambda session: Answer(
            200,
            lifecycle.release_hold(session, context, pupil_id=pupil_id, reason=body.reason),
        ),
    )


@router.post(
    "/pupils/{pupil_id}/destruction",
    summary="Destroy a child's file past its retention date",
    description=(
        "DSLs and deputy DSLs, with a sign-in with a one-time code in the last 15 minutes "
        "(401 `step-up-required` otherwise: `POST /auth/step-up`). A reason is required. "
        "Only after `retain_until` (409 `retention-not-passed`) and with no legal hold in "
        "force (409 `legal-hold`); once (409 `file-destroyed`). The content of the file "
        "(concerns' descriptions, locations and classification, addenda, triage reasons, "
        "cases, their events, actions, decisions and tasks) is removed; every record stays "
        "as a tombstone with its id, dates and who wrote it, and the chronology and "
        "export show them as `[destroyed]`. A concern also about a child whose file is "
        "kept is left whole (`kept_shared`). All in one transaction; recorded in the audit "
        "log, whose hash chain still verifies."
    ),
    response_model=DestructionPublic,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def destroy_file(
    request: Request,
    pupil_id: uuid.UUID,
    body: ReasonBody,
    context: DSLPupilFileContext,
    _fresh: StepUp,
    uow: UnitOfWorkDep,
    once: Idempotent,
) -> Response:
    return await once.run(
        uow,
        context,
        body,
        lambda session: Answer(
            200,
            lifecycle.destroy_file(
                session,
                context,
                pupil_id=pupil_id,
                reason=body.reason,
                files=request.app.state.files,
            ),
        ),
    )
