"""MIS sync: the school's MIS service account (or its admin) keeps pupils and staff in step.

Every call is safe to retry: upserts are idempotent, leavers are idempotent, and completing
a completed run answers it again. See ``services.mis`` for the rules.
"""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Body, Query, Request, Response

from api.deps import MISContext, UnitOfWorkDep
from api.errors import problem_responses
from api.idempotency import Answer, Idempotent
from models.mis import (
    BatchResult,
    LeaverOutcome,
    Leavers,
    LeaversResult,
    PupilBatch,
    RecordResult,
    StaffBatch,
    SyncCounts,
    SyncRunComplete,
    SyncRunCreate,
    SyncRunPublic,
    WondeStudentsPage,
)
from services import mis

router = APIRouter(prefix="/mis", tags=["mis"])

_RESULTS = (
    "One result per record, in order: `created`, `updated`, `unchanged` (the same content "
    "as last time), `stale` (older than what we hold: nothing changes) or `rejected` (with "
    "its `reason`; the other records go on). `warnings` note data-quality problems that did "
    "not stop the record."
)


def _batch(outcome: mis.BatchOutcome) -> BatchResult:
    return BatchResult(
        run_id=outcome.run_id,
        results=[
            RecordResult(
                index=r.index,
                external_id=r.external_id,
                result=r.result,
                warnings=r.warnings,
                reason=r.reason,
            )
            for r in outcome.results
        ],
        counts=SyncCounts(**outcome.counts),
    )


def _leavers(outcome: mis.LeaversOutcome) -> LeaversResult:
    return LeaversResult(
        results=[LeaverOutcome(external_id=e, result=r) for e, r in outcome.results],
        counts=outcome.counts,
    )


@router.put(
    "/pupils",
    summary="Upsert a batch of pupils from the MIS",
    description=(
        "Up to 500 records, keyed by (`source`, `external_id`). Sending the same batch "
        "twice changes nothing the second time. A UPN with a wrong check letter "
        "(`upn_check_letter_invalid`) or a temporary UPN (`upn_temporary`) is kept with a "
        "warning; a malformed UPN is not stored (`upn_invalid_format`). A pupil who had left "
        "and arrives again is active again. With `run_id`, every record must come from the "
        "run's source and counts as seen by the run. " + _RESULTS
    ),
    response_model=BatchResult,
    responses=problem_responses(401, 403, 413, 422),
)
async def upsert_pupils(body: PupilBatch, context: MISContext, uow: UnitOfWorkDep) -> BatchResult:
    return await uow.run(
        lambda session: _batch(
            mis.upsert_pupils(session, context, records=body.records, run_id=body.run_id)
        )
    )


@router.post(
    "/wonde/students",
    summary="Upsert one page of Wonde students",
    description=(
        "The body is one page of Wonde's `GET /schools/{id}/students?include="
        "education_details,year,registration_group` response as Wonde sent it (`data`, "
        "`meta`). Each student becomes a record of source `wonde`: `id` is its external "
        "id; the legal names are the given and family names, and `forename` the preferred "
        "name when it differs; `date_of_birth.date`, `education_details.data.upn`, "
        "`year.data.name`, `registration_group.data.name` and `updated_at` (read in its "
        "own time zone) fill the rest. No URL in the payload is followed: walk the pages "
        "yourself and send each. " + _RESULTS
    ),
    response_model=BatchResult,
    responses=problem_responses(401, 403, 413, 422),
)
async def upsert_wonde_students(
    body: WondeStudentsPage,
    context: MISContext,
    uow: UnitOfWorkDep,
    run_id: Annotated[
        uuid.UUID | None, Query(description="An open sync run of source `wonde`")
    ] = None,
) -> BatchResult:
    return await uow.run(
        lambda session: _batch(
            mis.upsert_wonde_students(session, context, students=body.data, run_id=run_id)
        )
    )


@router.post(
    "/pupils/leavers",
    summary="Mark pupils as left",
    description=(
        "Pupils are never deleted: their records stay, under the retention rules. A later "
        "upsert of the same pupil makes them active again. `left_on` defaults to today and "
        "may not be in the future. Each id answers `left`, `already_left` or `not_found`."
    ),
    response_model=LeaversResult,
    responses=problem_responses(401, 403, 413, 422),
)
async def pupil_leavers(body: Leavers, context: MISContext, uow: UnitOfWorkDep) -> LeaversResult:
    return await uow.run(
        lambda session: _leavers(
            mis.mark_pupils_left(
                session,
                context,
                source=body.source,
                external_ids=body.external_ids,
                left_on=body.left_on,
                run_id=body.run_id,
            )
        )
    )


@router.put(
    "/staff",
    summary="Upsert a batch of staff from the MIS",
    description=(
        "Up to 500 records, keyed by (`source`, `external_id`). New staff get a `staff` "
        "account with no password: they cannot sign in until an admin sets one. A role is "
        "never changed. A new record whose email belongs to an account of the school is "
        "linked to it (`linked_existing_account`), unless the account is a DSL's, deputy "
        "DSL's or admin's: the MIS never links to, renames or deactivates those "
        "(`privileged_account_not_synced`). A member of staff whose `leaving_date` "
        "has passed is deactivated at once: their tokens stop working. " + _RESULTS
    ),
    response_model=BatchResult,
    responses=problem_responses(401, 403, 413, 422),
)
async def upsert_staff(body: StaffBatch, context: MISContext, uow: UnitOfWorkDep) -> BatchResult:
    return await uow.run(
        lambda session: _batch(
            mis.upsert_staff(session, context, records=body.records, run_id=body.run_id)
        )
    )


@router.post(
    "/staff/leavers",
    summary="Deactivate staff who have left",
    description=(
        "Their access tokens stop working on the next request and their refresh tokens are "
        "revoked. The school's last active admin is kept (`last_admin_kept`). Each id "
        "answers `deactivated`, `already_inactive`, `last_admin_kept` or `not_found`."
    ),
    response_model=LeaversResult,
    responses=problem_responses(401, 403, 413, 422),
)
async def staff_leavers(body: Leavers, context: MISContext, uow: UnitOfWorkDep) -> LeaversResult:
    return await uow.run(
        lambda session: _leavers(
            mis.mark_staff_left(
                session,
                context,
                source=body.source,
                external_ids=body.external_ids,
                left_on=body.left_on,
                run_id=body.run_id,
            )
        )
    )


@router.post(
    "/sync-runs",
    summary="Start a sync run",
    description=(
        "A `full` run is a walk through the whole roster of one source: send its batches "
        "with its `run_id`, then complete it to mark the pupils it did not see as left. A "
        "`delta` run only groups and counts batches. Starting a full run abandons an "
        "earlier open full run of the same source."
    ),
    status_code=201,
    response_model=SyncRunPublic,
    responses=problem_responses(401, 403, 422),
)
async def start_sync_run(
    body: SyncRunCreate,
    request: Request,
    context: MISContext,
    uow: UnitOfWorkDep,
    once: Idempotent,
) -> Response:
    def started(run: SyncRunPublic) -> Answer:
        return Answer(201, run, {"Location": f"{request.url.path}/{run.id}"})

    return await once.run(
        uow,
        context,
        body,
        lambda session: started(
            SyncRunPublic.of(mis.start_run(session, context, kind=body.kind, source=body.source))
        ),
    )


@router.get(
    "/sync-runs/{run_id}",
    summary="One sync run: its status and counts",
    response_model=SyncRunPublic,
    responses=problem_responses(401, 403, 404, 422),
)
async def get_sync_run(run_id: uuid.UUID, context: MISContext, uow: UnitOfWorkDep) -> SyncRunPublic:
    return await uow.run(
        lambda session: SyncRunPublic.of(mis.get_run(session, context, run_id=run_id))
    )


@router.post(
    "/sync-runs/{run_id}/complete",
    summary="Complete a sync run (a full run sweeps its leavers)",
    description=(
        "For a full run, the active pupils of its source that none of its batches carried "
        "are marked as left, and `sweep` lists them. If that would be more than 10 % of "
        "them the answer is 409 (`sweep-limit-exceeded`, with `would_mark_left` and "
        "`active`) and nothing changes, because a broken page walk must not make real "
        "pupils vanish; send `force: true` when the MIS really lost them. A delta run "
        "sweeps nothing. Completing a completed run answers it again; an abandoned run "
        "is a 409."
    ),
    response_model=SyncRunPublic,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def complete_sync_run(
    run_id: uuid.UUID,
    context: MISContext,
    uow: UnitOfWorkDep,
    body: Annotated[SyncRunComplete | None, Body()] = None,
) -> SyncRunPublic:
    force = body.force if body is not None else False
    return await uow.run(
        lambda session: SyncRunPublic.of(
            mis.complete_run(session, context, run_id=run_id, force=force)
        )
    )
