"""Referrals on a case, their outcomes, and the school's referral settings. DSLs and
deputy DSLs."""

from __future__ import annotations

import uuid

from fastapi import APIRouter, Request, Response

from api.deps import DSLCaseContext, DSLContext, UnitOfWorkDep
from api.errors import problem_responses
from api.idempotency import Answer, Idempotent
from models.referral import (
    ReferralCreate,
    ReferralList,
    ReferralOutcomeCreate,
    ReferralPublic,
    ReferralSettingsBody,
    ReferralSettingsPublic,
)
from services import referrals

router = APIRouter(tags=["referrals"])

AGENCIES = (
    "`agency` is one of `childrens_social_care` (children's social care, including the "
    "MASH), `police`, `early_help`, `camhs`, `lado`, `channel`, `health`, `other`."
)


def _referrals_url(request: Request, case_id: uuid.UUID) -> str:
    prefix = request.url.path.split("/cases", 1)[0]
    return f"{prefix}/cases/{case_id}/referrals"


@router.post(
    "/cases/{case_id}/referrals",
    summary="Record a referral made on a case",
    description=(
        AGENCIES + " `made_at` is when it was made (not more than 5 minutes ahead). The "
        "outcome may be given now (`outcome`, and `outcome_at`: now when not given, not "
        "before `made_at`) or later (`POST .../referrals/{id}/outcome`). A closed case is a "
        "409. A referral still without an outcome `outcome_due_days` after it was made "
        "(`/referral-settings`) gives the case's owner a task. Does not change the case: no "
        "`If-Match`. Answers 201 with the referral."
    ),
    status_code=201,
    response_model=ReferralPublic,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def add_referral(
    case_id: uuid.UUID,
    body: ReferralCreate,
    request: Request,
    context: DSLCaseContext,
    uow: UnitOfWorkDep,
    once: Idempotent,
) -> Response:
    where = _referrals_url(request, case_id)

    def added(referral: ReferralPublic) -> Answer:
        return Answer(201, referral, {"Location": f"{where}/{referral.id}"})

    return await once.run(
        uow,
        context,
        body,
        lambda session: added(referrals.add_referral(session, context, case_id=case_id, body=body)),
    )


@router.get(
    "/cases/{case_id}/referrals",
    summary="A case's referrals",
    description=(
        "By when they were made, oldest first, each with its outcomes (oldest recorded "
        "first; `outcome` and `outcome_at` are the newest's). Reading them is recorded in "
        "the audit log."
    ),
    response_model=ReferralList,
    responses=problem_responses(401, 403, 404, 422),
)
async def list_referrals(
    case_id: uuid.UUID, context: DSLCaseContext, uow: UnitOfWorkDep
) -> ReferralList:
    return await uow.run(
        lambda session: referrals.list_referrals(session, context, case_id=case_id)
    )


@router.post(
    "/cases/{case_id}/referrals/{referral_id}/outcome",
    summary="Record a referral's outcome",
    description=(
        "Append-only: an outcome recorded earlier stays as it was written, and the newest "
        "is the referral's outcome. `outcome_at` (now when not given) is not before the "
        "referral was made nor more than 5 minutes ahead. Open and closed cases alike. "
        "Answers 201 with the referral."
    ),
    status_code=201,
    response_model=ReferralPublic,
    responses=problem_responses(401, 403, 404, 422),
)
async def record_outcome(
    case_id: uuid.UUID,
    referral_id: uuid.UUID,
    body: ReferralOutcomeCreate,
    request: Request,
    context: DSLCaseContext,
    uow: UnitOfWorkDep,
    once: Idempotent,
) -> Response:
    where = _referrals_url(request, case_id)

    def recorded(referral: ReferralPublic) -> Answer:
        return Answer(201, referral, {"Location": f"{where}/{referral.id}"})

    return await once.run(
        uow,
        context,
        body,
        lambda session: recorded(
            referrals.record_outcome(
                session, context, case_id=case_id, referral_id=referral_id, body=body
            )
        ),
    )


@router.get(
    "/referral-settings",
    summary="The school's referral settings",
    description="`outcome_due_days`: 10 until a DSL changes it.",
    response_model=ReferralSettingsPublic,
    responses=problem_responses(401, 403),
)
async def get_referral_settings(context: DSLContext, uow: UnitOfWorkDep) -> ReferralSettingsPublic:
    return await uow.run(lambda session: referrals.get_referral_settings(session, context))


@router.put(
    "/referral-settings",
    summary="Change the school's referral settings",
    description=(
        "`outcome_due_days` (1 to 90): a referral still without an outcome this many days "
        "after it was made gives the case's owner a task, due that day (once per referral; "
        "the worker looks every few minutes)."
    ),
    response_model=ReferralSettingsPublic,
    responses=problem_responses(401, 403, 422),
)
async def put_referral_settings(
    body: ReferralSettingsBody, context: DSLContext, uow: UnitOfWorkDep
) -> ReferralSettingsPublic:
    return await uow.run(
        lambda session: referrals.put_referral_settings(session, context, body=body)
    )
