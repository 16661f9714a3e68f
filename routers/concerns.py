"""Concerns: log one, read your own (or, as a DSL, the school's), add to it. Never edit."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse

from api.deps import (
    AnyRoleContext,
    ConcernReaderContext,
    DSLConcernContext,
    StaffOrDSLContext,
    Timestamp,
    UnitOfWorkDep,
)
from api.errors import problem_response, problem_responses
from api.idempotency import Answer, Idempotent
from api.responses import answer_headers, json_answer
from models.concern import (
    AddendumCreate,
    AddendumPublic,
    ConcernCreate,
    ConcernPage,
    ConcernPublic,
    ConcernSort,
)
from models.lifecycle import EnteredInErrorCreate
from models.triage import RiskLevel, TriageStatus
from services import concerns, lifecycle
from services.pagination import DEFAULT_LIMIT, MAX_LIMIT

router = APIRouter(prefix="/concerns", tags=["concerns"])

APPEND_ONLY = (
    "A concern is append-only: it is never edited or deleted. Add an addendum with "
    "POST /concerns/{id}/addenda to correct or add to it."
)


@router.post(
    "",
    summary="Log a concern",
    description=(
        "Staff, DSLs and deputy DSLs. `recorded_at`, `recorded_by`, `status` and `id` are "
        "the server's: sending them is a 422. When `immediate_danger` is true the answer's "
        "`actions` include the guidance's `contact-police` action, to show at once."
    ),
    status_code=201,
    response_model=ConcernPublic,
    responses=problem_responses(401, 403, 409, 422),
)
async def create_concern(
    body: ConcernCreate,
    request: Request,
    context: StaffOrDSLContext,
    uow: UnitOfWorkDep,
    once: Idempotent,
) -> Response:
    # The new concern's own URL: this request's path and its id (``url_for`` would try
    # every route of the app in turn, raising an exception for each that does not match).
    path = request.url.path.rstrip("/")

    def created(concern: ConcernPublic) -> Answer:
        return Answer(201, concern, {"Location": f"{path}/{concern.id}"})

    return await once.run(
        uow,
        context,
        body,
        lambda session: created(concerns.create_concern(session, context, concern=body)),
    )


LIST_DESCRIPTION = """\
A DSL or deputy DSL sees every concern of the school; a member of staff sees only the
concerns they recorded (no filter widens that). Filters combine (all must match); a
repeatable filter (`indicator`, `category`, `status`, `risk_level`) matches any of its values.

- `from` (inclusive) and `to` (exclusive) are on `observed_at`, with an offset.
- `q` searches the description and the addenda's text. On PostgreSQL it is full-text
  search in English (`websearch_to_tsquery`: words match their stem, "quoted phrases",
  `or`, `-word`); on SQLite every word must start a word of the text. Both ignore case.
- `year_group` is the pupil's year group now (any pupil of the concern).
- `category` is a category id of `GET /categories` (an unknown one is a 422 naming the
  valid ids).
- `risk_level` and `assigned_to` are for DSLs only (403 for staff): they would reveal the
  DSLs' assessment.
- `status=new` lists what no DSL has moved on yet; each item's `waiting_hours` says how
  long it has waited (DSLs only).

`sort` is `-recorded_at` (newest recorded first, the default), `recorded_at`,
`-observed_at` or `observed_at`: a leading `-` means descending. Pages are keyset-based
on the sort key and id, and the cursor remembers the sort it was made with (another
`sort` with it is a 422): concerns recorded while you page never shift or repeat the
later pages.
"""


@router.get(
    "",
    summary="List and search concerns",
    description=LIST_DESCRIPTION,
    response_model=ConcernPage,
    responses=problem_responses(401, 403, 422),
)
async def list_concerns(
    context: ConcernReaderContext,
    uow: UnitOfWorkDep,
    pupil_id: uuid.UUID | None = None,
    indicator: Annotated[list[str] | None, Query(max_length=50)] = None,
    category: Annotated[list[str] | None, Query(max_length=30)] = None,
    status: Annotated[list[TriageStatus] | None, Query(max_length=5)] = None,
    observed_from: Annotated[Timestamp | None, Query(alias="from")] = None,
    observed_to: Annotated[Timestamp | None, Query(alias="to")] = None,
    recorded_by: uuid.UUID | None = None,
    q: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    immediate_danger: bool | None = None,
    risk_level: Annotated[list[RiskLevel] | None, Query(max_length=4)] = None,
    assigned_to: uuid.UUID | None = None,
    year_group: Annotated[str | None, Query(min_length=1, max_length=20)] = None,
    sort: Annotated[ConcernSort, Query()] = ConcernSort.recorded_desc,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> Response:
    filters = concerns.ConcernFilters(
        pupil_id=pupil_id,
        indicators=tuple(indicator or ()),
        statuses=tuple(status or ()),
        observed_from=observed_from,
        observed_to=observed_to,
        recorded_by=recorded_by,
        text=q,
        immediate_danger=immediate_danger,
        risk_levels=tuple(risk_level or ()),
        assigned_to=assigned_to,
        year_group=year_group,
        categories=tuple(category or ()),
    )
    page = await uow.run(
        lambda session: concerns.list_concerns(
            session, context, filters=filters, sort=sort.value, limit=limit, cursor=cursor
        )
    )
    return json_answer(ConcernPage(items=page.items, next_cursor=page.next_cursor))


@router.get(
    "/{concern_id}",
    summary="One concern, with its addenda",
    description=(
        "Its recorder, or a DSL or deputy DSL of the school. Anyone else: 404. The `ETag` "
        "header is the version of the concern's triage state: send it as `If-Match` to "
        "`POST /concerns/{id}/triage`."
    ),
    response_model=ConcernPublic,
    responses=problem_responses(401, 403, 404, 422) | answer_headers(200, "ETag"),
)
async def get_concern(
    concern_id: uuid.UUID, context: ConcernReaderContext, uow: UnitOfWorkDep
) -> Response:
    read = await uow.run(
        lambda session: concerns.get_concern(session, context, concern_id=concern_id)
    )
    return json_answer(read.concern, headers={"ETag": read.etag})


@router.post(
    "/{concern_id}/addenda",
    summary="Add to a concern",
    description=(
        "Further information or a correction, with the reason for it. The concern itself "
        "is never changed; addenda are shown inside it, oldest first (`Location` points at "
        "the concern). Its recorder, or a DSL or deputy DSL of the school."
    ),
    status_code=201,
    response_model=AddendumPublic,
    responses=problem_responses(401, 403, 404, 422),
)
async def add_addendum(
    concern_id: uuid.UUID,
    body: AddendumCreate,
    request: Request,
    context: ConcernReaderContext,
    uow: UnitOfWorkDep,
    once: Idempotent,
) -> Response:
    location = f"{request.url.path.rsplit('/', 2)[0]}/{concern_id}"  # the concern's URL

    def added(addendum: AddendumPublic) -> Answer:
        return Answer(201, addendum, {"Location": location})

    return await once.run(
        uow,
        context,
        body,
        lambda session: added(
            concerns.add_addendum(session, context, concern_id=concern_id, addendum=body)
        ),
    )


@router.post(
    "/{concern_id}/entered-in-error",
    summary="Mark a concern entered in error, or recorded against the wrong child",
    description=(
        "DSLs and deputy DSLs. A reason is required. Without `correct_pupil_ids` the "
        "concern was recorded in error: it leaves the chronology, export and pupil filter "
        "of every child it named. With them it was recorded against the wrong child: it "
        "is about exactly those children from now on (a child it named and who is among "
        "them keeps it). Nothing is deleted and the concern itself is never changed: DSLs "
        "still read it, with `entered_in_error` (reason, who, when, the correct pupils). "
        "A concern already marked is a 409. Recorded in the audit log for every child."
    ),
    response_model=ConcernPublic,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def mark_entered_in_error(
    concern_id: uuid.UUID,
    body: EnteredInErrorCreate,
    context: DSLConcernContext,
    uow: UnitOfWorkDep,
    once: Idempotent,
) -> Response:
    return await once.run(
        uow,
        context,
        body,
        lambda session: Answer(
            200,
            lifecycle.mark_entered_in_error(session, context, concern_id=concern_id, mark=body),
        ),
    )


async def _append_only(concern_id: str, request: Request, _context: AnyRoleContext) -> JSONResponse:
    # Any caller gets the same answer for any id: it says nothing about what exists.
    return problem_response(
        405,
        f"{request.method} is not allowed. {APPEND_ONLY}",
        slug="method-not-allowed",
        headers={"Allow": "GET"},
    )


for _method, _name in (
    ("PUT", "replace_concern"),
    ("PATCH", "edit_concern"),
    ("DELETE", "delete_concern"),
):
    router.add_api_route(
        "/{concern_id}",
        _append_only,
        methods=[_method],
        name=_name,
        summary=f"{_method} is not allowed: a concern is append-only",
        description=APPEND_ONLY + " Always 405, with `Allow: GET`.",
        status_code=405,
        response_class=JSONResponse,
        responses=problem_responses(401, 403, 405),
    )
