"""Pupils: search by name to pick a child; the full record, chronology and export for
DSLs; entry by hand."""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from api.deps import (
    DSLPupilFileContext,
    PupilEditorContext,
    StaffOrDSLContext,
    StepUp,
    UnitOfWorkDep,
)
from api.errors import problem_responses
from api.idempotency import Answer, Idempotent
from api.responses import json_answer
from models.chronology import ChronologyPage, PupilFile
from models.pupil import PupilCreate, PupilFilePublic, PupilPublic, PupilSearchPage, PupilUpdate
from services import chronology, export, pupils
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
async def search_pupils(
    context: StaffOrDSLContext,
    uow: UnitOfWorkDep,
    q: Annotated[str, Query(min_length=1, max_length=100, description="A name or its start")],
    include_left: Annotated[
        bool, Query(description="Include pupils who have left (DSLs only)")
    ] = False,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> PupilSearchPage:
    return await uow.run(
        lambda session: pupils.search_pupils(
            session, context, query=q, include_left=include_left, limit=limit, cursor=cursor
        )
    )


@router.get(
    "/{pupil_id}",
    summary="One pupil's full record",
    description=(
        "DSLs and deputy DSLs. With the lifecycle of the child's file: `retain_until`, "
        "`on_legal_hold`, `file_destroyed_at`. Reading it is recorded in the audit log."
    ),
    response_model=PupilFilePublic,
    responses=problem_responses(401, 403, 404, 422),
)
async def get_pupil(
    pupil_id: uuid.UUID, context: DSLPupilFileContext, uow: UnitOfWorkDep
) -> PupilFilePublic:
    return await uow.run(lambda session: pupils.get_pupil(session, context, pupil_id=pupil_id))


@router.post(
    "",
    summary="Add a pupil by hand",
    description=(
        "For schools that enter pupils by hand (pupils synced from the MIS arrive through "
        "`/mis`). A UPN is checked for its form and check letter; one already held by "
        "another pupil of the school is a 409. An admin is answered the pupil's record "
        "alone, never anything of a child's safeguarding file."
    ),
    status_code=201,
    response_model=PupilPublic,
    responses=problem_responses(401, 403, 409, 422),
)
async def create_pupil(
    body: PupilCreate,
    request: Request,
    context: PupilEditorContext,
    uow: UnitOfWorkDep,
    once: Idempotent,
) -> Response:
    def created(pupil: PupilPublic) -> Answer:
        return Answer(201, pupil, {"Location": f"{request.url.path}/{pupil.id}"})

    return await once.run(
        uow,
        context,
        body,
        lambda session: created(pupils.create_pupil(session, context, pupil=body)),
    )


@router.patch(
    "/{pupil_id}",
    summary="Change a pupil's details",
    description=(
        "Only the fields sent change. Names and date of birth cannot be cleared. "
        '`"status": "left"` records `left_on` (today unless given); `"status": "active"` '
        "clears it. An admin is answered the pupil's record alone: the same answer whether "
        "or not the child has concerns or a case."
    ),
    response_model=PupilPublic,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def update_pupil(
    pupil_id: uuid.UUID, body: PupilUpdate, context: PupilEditorContext, uow: UnitOfWorkDep
) -> PupilPublic:
    return await uow.run(
        lambda session: pupils.update_pupil(session, context, pupil_id=pupil_id, changes=body)
    )


@router.get(
    "/{pupil_id}/chronology",
    summary="A pupil's chronology",
    description=(
        "DSLs and deputy DSLs. Every concern, addendum, triage change, case event, action "
        "and decision about the pupil, oldest first by `occurred_at` (when it happened: a "
        "concern's `observed_at`, an action's `occurred_at`, otherwise when it was "
        "recorded), ties by `recorded_at` then id; a backdated concern sits where it "
        "happened. Each entry has `type`, `occurred_at`, `recorded_at`, `by`, a `source` "
        "link to the concern or case, a one-line `summary` (long texts cut at 280 "
        "characters) and its full `details`. Keyset pages. Reading it is recorded in the "
        "audit log. Needs a sign-in with a one-time code in the last 15 minutes (401 "
        "`step-up-required` otherwise: `POST /auth/step-up`)."
    ),
    response_model=ChronologyPage,
    responses=problem_responses(401, 403, 404, 422),
)
async def get_chronology(
    pupil_id: uuid.UUID,
    context: DSLPupilFileContext,
    _fresh: StepUp,
    uow: UnitOfWorkDep,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> Response:
    page = await uow.run(
        lambda session: chronology.get_chronology(
            session, context, pupil_id=pupil_id, limit=limit, cursor=cursor
        )
    )
    return json_answer(page)


_EXPORT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "model": PupilFile,
        "description": "The file, as a download",
        "content": {
            "application/json": {"schema": {"$ref": "#/components/schemas/PupilFile"}},
            "text/csv": {"schema": {"type": "string"}},
            "application/pdf": {"schema": {"type": "string", "format": "binary"}},
        },
    },
    **problem_responses(401, 403, 404, 422),
}


@router.get(
    "/{pupil_id}/export",
    summary="Export a pupil's whole file",
    description=(
        "DSLs and deputy DSLs. The pupil, every case in full and the whole chronology, as "
        "a download (`Content-Disposition: attachment`, named by the pupil's id and the "
        "time, never by name):\n\n"
        "- `json`: the `PupilFile` document;\n"
        "- `csv`: the chronology, one row per entry with its full text (columns "
        "`occurred_at, recorded_at, type, recorded_by, entry, source_type, source_id`; "
        "UTF-8 with a byte-order mark; cells that a spreadsheet would run as formulas are "
        "prefixed with `'`);\n"
        "- `pdf`: for people: the pupil's details, each case, the chronology as a table, "
        "OFFICIAL-SENSITIVE on every page, page numbers, who generated it and when.\n\n"
        "The export, with its format, is recorded in the audit log. Needs a sign-in with a "
        "one-time code in the last 15 minutes (401 `step-up-required` otherwise: "
        "`POST /auth/step-up`)."
    ),
    response_class=Response,
    responses=_EXPORT_RESPONSES,
)
async def export_pupil_file(
    pupil_id: uuid.UUID,
    context: DSLPupilFileContext,
    _fresh: StepUp,
    uow: UnitOfWorkDep,
    format: export.ExportFormat = export.ExportFormat.json,
) -> Response:
    # The whole file is read and rendered (a PDF is CPU work) in the unit of work, so the
    # export is recorded only once it exists: off the event loop. The answer is sent once
    # the unit of work has committed.
    exported = await uow.run(
        lambda session: export.export_pupil_file(
            session, context, pupil_id=pupil_id, format=format
        ),
        cpu_bound=True,
    )
    return Response(
        content=exported.content,
        media_type=exported.media_type,
        headers={"Content-Disposition": f'attachment; filename="{exported.filename}"'},
    )
