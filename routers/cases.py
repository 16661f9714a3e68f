"""Cases: the child protection file. DSLs and deputy DSLs only."""

from __future__ import annotations

import uuid
from typing import Annotated, TypeVar

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel

from api.deps import DSLCaseContext, DSLContext, Timestamp, UnitOfWorkDep
from api.errors import problem_responses
from api.idempotency import Answer, Idempotent, IdempotentCreate
from api.responses import answer_headers
from db.unit_of_work import UnitOfWork
from models.case import (
    ActionCreate,
    CaseClose,
    CaseCreate,
    CaseLevel,
    CaseLevelChange,
    CaseLink,
    CasePage,
    CasePublic,
    CaseReassign,
    CaseReopen,
    CaseReview,
    CaseStatus,
    DecisionCreate,
)
from models.task import TaskCreate, TaskPublic
from routers._shaping import IfMatch, with_etag
from services import cases, tasks
from services.context import RequestContext
from services.pagination import DEFAULT_LIMIT, MAX_LIMIT

Body = TypeVar("Body", bound=BaseModel)

router = APIRouter(prefix="/cases", tags=["cases"])

CHANGE_NOTE = (
    "\n\nRequires `If-Match` with the case's current `ETag` (from `GET /cases/{id}` or the "
    "last change): 428 without it, 412 if the case changed since, and nothing is written. "
    "Answers the whole case as it now is, with its new `ETag`. A closed case takes no "
    "change but reopening (409 `case-closed`)."
)
CHANGE_ERRORS = problem_responses(401, 403, 404, 409, 412, 422, 428)


async def _changed(
    once: IdempotentCreate,
    uow: UnitOfWork,
    context: RequestContext,
    change: cases.CaseChange[Body],
    body: Body,
    *,
    case_id: uuid.UUID,
    if_match: str | None,
    request: Request,
    status: int = 200,
) -> Response:
    """Every change route's one path: run ``change`` on the case, answer it with its ETag
    (and, for a change that adds a record, 201 with the case's URL as ``Location``)."""
    headers = {"Location": _case_url(request, case_id)} if status == 201 else {}

    def changed(session: UnitOfWork) -> Answer:
        read = cases.change_case(
            session, context, case_id=case_id, if_match=if_match, change=change, body=body
        )
        return Answer(status, read.case, {**headers, "ETag": read.etag})

    return await once.run(uow, context, body, changed)


def _case_url(request: Request, case_id: uuid.UUID) -> str:
    # /api/v1/cases/{id} from this request's own path (``url_for`` would try every route).
    prefix = request.url.path.split("/cases", 1)[0]
    return f"{prefix}/cases/{case_id}"


@router.post(
    "",
    summary="Open a case",
    description=(
        "Opens a child protection case for one pupil of the school, linking concerns about "
        "that pupil (all must be the school's and about this pupil, else 422). `level` is "
        "one of `monitoring`, `early_help`, `child_in_need`, `child_protection`, "
        "`looked_after`; `assigned_to` must be an active DSL or deputy DSL of the school "
        "(you, when not given); `review_on`, when given, is today or later. A pupil has "
        "one open case at a time: a second is a 409 (`open-case-exists`) naming the open "
        "one in `open_case_id`. Answers 201 with the case, its `ETag` and `Location`."
    ),
    status_code=201,
    response_model=CasePublic,
    responses=problem_responses(401, 403, 409, 422) | answer_headers(201, "ETag"),
)
async def create_case(
    body: CaseCreate,
    request: Request,
    context: DSLContext,
    uow: UnitOfWorkDep,
    once: Idempotent,
) -> Response:
    def opened(read: cases.ReadCase) -> Answer:
        headers = {"Location": _case_url(request, read.case.id), "ETag": read.etag}
        return Answer(201, read.case, headers)

    return await once.run(
        uow, context, body, lambda session: opened(cases.create_case(session, context, case=body))
    )


@router.get(
    "",
    summary="List cases",
    description=(
        "The school's cases, newest opened first. Filters combine (all must match); "
        "`status` and `level` may be repeated (any of); `indicator` (repeatable) matches a "
        "case any of whose linked concerns shows one of them; `opened_from` is inclusive "
        "and `opened_to` exclusive. Keyset pages: cases opened while you page never shift "
        "the later pages."
    ),
    response_model=CasePage,
    responses=problem_responses(401, 403, 422),
)
async def list_cases(
    context: DSLCaseContext,
    uow: UnitOfWorkDep,
    status: Annotated[list[CaseStatus] | None, Query(max_length=2)] = None,
    level: Annotated[list[CaseLevel] | None, Query(max_length=5)] = None,
    pupil_id: uuid.UUID | None = None,
    assigned_to: uuid.UUID | None = None,
    indicator: Annotated[list[str] | None, Query(max_length=50)] = None,
    opened_from: Timestamp | None = None,
    opened_to: Timestamp | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> CasePage:
    filters = cases.CaseFilters(
        statuses=tuple(status or ()),
        levels=tuple(level or ()),
        pupil_id=pupil_id,
        assigned_to=assigned_to,
        indicators=tuple(indicator or ()),
        opened_from=opened_from,
        opened_to=opened_to,
    )
    page = await uow.run(
        lambda session: cases.list_cases(
            session, context, filters=filters, limit=limit, cursor=cursor
        )
    )
    return CasePage(items=page.items, next_cursor=page.next_cursor)


@router.get(
    "/{case_id}",
    summary="One case, in full",
    description=(
        "The case with its linked concerns, actions (in the order they happened), "
        "decisions and history. The `ETag` header is the case's version: send it as "
        "`If-Match` to change the case. Reading it is recorded in the audit log."
    ),
    response_model=CasePublic,
    responses=problem_responses(401, 403, 404, 422) | answer_headers(200, "ETag"),
)
async def get_case(
    case_id: uuid.UUID, response: Response, context: DSLCaseContext, uow: UnitOfWorkDep
) -> CasePublic:
    read = await uow.run(lambda session: cases.get_case(session, context, case_id=case_id))
    return with_etag(response, read.etag, read.case)


@router.post(
    "/{case_id}/concerns",
    summary="Link more concerns to a case",
    description=(
        "Concerns about the case's pupil, of the school (else 422); one already linked to "
        "this case is a 409." + CHANGE_NOTE
    ),
    response_model=CasePublic,
    responses=CHANGE_ERRORS,
)
async def link_concerns(
    case_id: uuid.UUID,
    body: CaseLink,
    request: Request,
    context: DSLCaseContext,
    uow: UnitOfWorkDep,
    once: Idempotent,
    if_match: IfMatch = None,
) -> Response:
    return await _changed(
        once,
        uow,
        context,
        cases.LINK_CONCERNS,
        body,
        case_id=case_id,
        if_match=if_match,
        request=request,
    )


@router.post(
    "/{case_id}/actions",
    summary="Record an action",
    description=(
        "What was done: `type` is one of `discussion`, `contact_parent`, `contact_police`, "
        "`referral_childrens_social_care`, `referral_early_help`, `referral_other_agency`, "
        "`meeting`, `other`. `occurred_at` is when it happened (it may be in the past, not "
        "more than 5 minutes ahead); the chronology places it there. Answers 201." + CHANGE_NOTE
    ),
    status_code=201,
    response_model=CasePublic,
    responses=CHANGE_ERRORS,
)
async def add_action(
    case_id: uuid.UUID,
    body: ActionCreate,
    request: Request,
    context: DSLCaseContext,
    uow: UnitOfWorkDep,
    once: Idempotent,
    if_match: IfMatch = None,
) -> Response:
    return await _changed(
        once,
        uow,
        context,
        cases.ADD_ACTION,
        body,
        case_id=case_id,
        if_match=if_match,
        request=request,
        status=201,
    )


@router.post(
    "/{case_id}/decisions",
    summary="Record a decision and its reason",
    description=(
        "KCSIE: decisions and the reasons for them, in writing. `decided_at` is when it was "
        "decided (now when not given; not more than 5 minutes ahead, else 422): the case and "
        "the chronology place the decision there. Answers 201." + CHANGE_NOTE
    ),
    status_code=201,
    response_model=CasePublic,
    responses=CHANGE_ERRORS,
)
async def add_decision(
    case_id: uuid.UUID,
    body: DecisionCreate,
    request: Request,
    context: DSLCaseContext,
    uow: UnitOfWorkDep,
    once: Idempotent,
    if_match: IfMatch = None,
) -> Response:
    return await _changed(
        once,
        uow,
        context,
        cases.ADD_DECISION,
        body,
        case_id=case_id,
        if_match=if_match,
        request=request,
        status=201,
    )


@router.post(
    "/{case_id}/close",
    summary="Close a case with its outcome",
    description=(
        "The outcome and the reason for closing are kept in the case's history; the review "
        "date is cleared. Each linked concern still open (not `closed` or "
        "`no_further_action`) moves to `closed` with the same reason, one triage event "
        "each, in the same transaction (a concern also linked to another open case stays "
        "as it is)." + CHANGE_NOTE
    ),
    response_model=CasePublic,
    responses=CHANGE_ERRORS,
)
async def close_case(
    case_id: uuid.UUID,
    body: CaseClose,
    request: Request,
    context: DSLCaseContext,
    uow: UnitOfWorkDep,
    once: Idempotent,
    if_match: IfMatch = None,
) -> Response:
    return await _changed(
        once,
        uow,
        context,
        cases.CLOSE_CASE,
        body,
        case_id=case_id,
        if_match=if_match,
        request=request,
    )


@router.post(
    "/{case_id}/reopen",
    summary="Reopen a closed case",
    description=(
        "With the reason; the earlier outcome stays in the history. An open case is a 409, "
        "and so is another open case of the pupil (`open-case-exists`, naming it in "
        "`open_case_id`). Requires `If-Match` like every change (428 without, 412 when "
        "stale)."
    ),
    response_model=CasePublic,
    responses=CHANGE_ERRORS,
)
async def reopen_case(
    case_id: uuid.UUID,
    body: CaseReopen,
    request: Request,
    context: DSLCaseContext,
    uow: UnitOfWorkDep,
    once: Idempotent,
    if_match: IfMatch = None,
) -> Response:
    return await _changed(
        once,
        uow,
        context,
        cases.REOPEN_CASE,
        body,
        case_id=case_id,
        if_match=if_match,
        request=request,
    )


@router.post(
    "/{case_id}/level",
    summary="Change a case's level",
    description="With the reason; moving to the level it is at already is a 422." + CHANGE_NOTE,
    response_model=CasePublic,
    responses=CHANGE_ERRORS,
)
async def change_level(
    case_id: uuid.UUID,
    body: CaseLevelChange,
    request: Request,
    context: DSLCaseContext,
    uow: UnitOfWorkDep,
    once: Idempotent,
    if_match: IfMatch = None,
) -> Response:
    return await _changed(
        once,
        uow,
        context,
        cases.CHANGE_LEVEL,
        body,
        case_id=case_id,
        if_match=if_match,
        request=request,
    )


@router.post(
    "/{case_id}/review",
    summary="Set, move or clear a case's review date",
    description=(
        "`review_on` is today or later (in England), or null for none; with the reason. The "
        "inbox lists an open case once its review date has come." + CHANGE_NOTE
    ),
    response_model=CasePublic,
    responses=CHANGE_ERRORS,
)
async def change_review(
    case_id: uuid.UUID,
    body: CaseReview,
    request: Request,
    context: DSLCaseContext,
    uow: UnitOfWorkDep,
    once: Idempotent,
    if_match: IfMatch = None,
) -> Response:
    return await _changed(
        once,
        uow,
        context,
        cases.CHANGE_REVIEW,
        body,
        case_id=case_id,
        if_match=if_match,
        request=request,
    )


@router.post(
    "/{case_id}/assign",
    summary="Give a case to another DSL",
    description=(
        "`assigned_to` must be an active DSL or deputy DSL of the school (else 422), not "
        "the one who has it; with the reason." + CHANGE_NOTE
    ),
    response_model=CasePublic,
    responses=CHANGE_ERRORS,
)
async def reassign_case(
    case_id: uuid.UUID,
    body: CaseReassign,
    request: Request,
    context: DSLCaseContext,
    uow: UnitOfWorkDep,
    once: Idempotent,
    if_match: IfMatch = None,
) -> Response:
    return await _changed(
        once,
        uow,
        context,
        cases.REASSIGN_CASE,
        body,
        case_id=case_id,
        if_match=if_match,
        request=request,
    )


@router.post(
    "/{case_id}/tasks",
    summary="Set a task on a case",
    description=(
        "A follow-up for a member of staff (a form tutor, the attendance officer), due by "
        "`due_on` (today or later in England, else 422). `assigned_to` is any active member "
        "of staff of the school who signs in (staff, DSL or deputy DSL): someone of another "
        "school is a 404, a deactivated account or an admin's a 422. A closed case is a 409. "
        "The assignee sees the task (GET /tasks), never the case. Does not change the case: "
        "no `If-Match`. Answers 201 with the task."
    ),
    status_code=201,
    response_model=TaskPublic,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def set_task(
    case_id: uuid.UUID,
    body: TaskCreate,
    request: Request,
    context: DSLCaseContext,
    uow: UnitOfWorkDep,
    once: Idempotent,
) -> Response:
    prefix = request.url.path.split("/cases", 1)[0]

    def set_(task: TaskPublic) -> Answer:
        return Answer(201, task, {"Location": f"{prefix}/tasks/{task.id}"})

    return await once.run(
        uow,
        context,
        body,
        lambda session: set_(tasks.set_task(session, context, case_id=case_id, task=body)),
    )
