"""Subject access exports of a pupil's file (contract section 12): prepared by a DSL, then
downloaded as PDF or JSON."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import APIRouter, Request, Response

from api.deps import DSLPupilFileContext, StepUp, UnitOfWorkDep
from api.errors import problem_responses
from api.idempotency import Answer, Idempotent
from models.chronology import PupilFile
from models.subject_access import SubjectAccessCreate, SubjectAccessPublic
from services import subject_access
from services.export import ExportFormat

router = APIRouter(prefix="/pupils", tags=["subject access"])


@router.post(
    "/{pupil_id}/subject-access-exports",
    summary="Prepare a subject access export of a pupil's file",
    description=(
        "DSLs and deputy DSLs. For a child's (or parent's) subject access request: the "
        "pupil's file as it is now, in the sections of every export, with other pupils' "
        "names and ids left out (`redact_other_pupils`; their names in the text become "
        "`[another pupil]`), staff names replaced by `[member of staff]` (`redact_staff`), "
        "and each entry of `withhold` (a chronology entry's id: a concern, addendum, "
        "action, decision...) shown as `Withheld`, its `reason` (the exemption) kept with "
        "the request and not shown in the export. An `entry_id` that is not an entry of "
        "the pupil's file is a 422 naming it. Answers the request with `links` to its PDF "
        "and JSON: each download renders it again as prepared (nothing recorded later "
        "appears). Recorded in the audit log (ids only)."
    ),
    status_code=201,
    response_model=SubjectAccessPublic,
    responses=problem_responses(401, 403, 404, 422),
)
async def create_subject_access_export(
    pupil_id: uuid.UUID,
    body: SubjectAccessCreate,
    request: Request,
    context: DSLPupilFileContext,
    _fresh: StepUp,
    uow: UnitOfWorkDep,
    once: Idempotent,
) -> Response:
    def created(made: SubjectAccessPublic) -> Answer:
        return Answer(201, made, {"Location": f"{request.url.path}/{made.id}"})

    return await once.run(
        uow,
        context,
        body,
        lambda session: created(
            subject_access.create_export(session, context, pupil_id=pupil_id, request=body)
        ),
        cpu_bound=True,
    )


@router.get(
    "/{pupil_id}/subject-access-exports/{export_id}",
    summary="A subject access export's request",
    description="DSLs and deputy DSLs: what was asked, by whom, when, and the reasons for "
    "each entry withheld. Recorded in the audit log.",
    response_model=SubjectAccessPublic,
    response_model_by_alias=True,
    responses=problem_responses(401, 403, 404, 422),
)
async def get_subject_access_export(
    pupil_id: uuid.UUID, export_id: uuid.UUID, context: DSLPupilFileContext, uow: UnitOfWorkDep
) -> SubjectAccessPublic:
    return await uow.run(
        lambda session: subject_access.get_export(
            session, context, pupil_id=pupil_id, export_id=export_id
        )
    )


def _download_responses(media_type: str, schema: dict[str, Any]) -> dict[int | str, Any]:
    return {
        200: {
            "description": "The export, as a download",
            "content": {media_type: {"schema": schema}},
        },
        **problem_responses(401, 403, 404, 422),
    }


async def _download(
    pupil_id: uuid.UUID,
    export_id: uuid.UUID,
    context: DSLPupilFileContext,
    uow: UnitOfWorkDep,
    format: ExportFormat,
) -> Response:
    exported = await uow.run(
        lambda session: subject_access.download_export(
            session, context, pupil_id=pupil_id, export_id=export_id, format=format
        ),
        cpu_bound=True,
    )
    return Response(
        content=exported.content,
        media_type=exported.media_type,
        headers={"Content-Disposition": f'attachment; filename="{exported.filename}"'},
    )


@router.get(
    "/{pupil_id}/subject-access-exports/{export_id}/pdf",
    summary="A subject access export as a PDF",
    description="DSLs and deputy DSLs. Rendered again as prepared; recorded in the audit log.",
    response_class=Response,
    responses=_download_responses("application/pdf", {"type": "string", "format": "binary"}),
)
async def subject_access_pdf(
    pupil_id: uuid.UUID,
    export_id: uuid.UUID,
    context: DSLPupilFileContext,
    _fresh: StepUp,
    uow: UnitOfWorkDep,
) -> Response:
    return await _download(pupil_id, export_id, context, uow, ExportFormat.pdf)


@router.get(
    "/{pupil_id}/subject-access-exports/{export_id}/json",
    summary="A subject access export as JSON",
    description="DSLs and deputy DSLs. The `PupilFile` document, redacted, with "
    "`subject_access` set. Rendered again as prepared; recorded in the audit log.",
    response_class=Response,
    responses=_download_responses(
        "application/json", {"$ref": "#/components/schemas/" + PupilFile.__name__}
    ),
)
async def subject_access_json(
    pupil_id: uuid.UUID,
    export_id: uuid.UUID,
    context: DSLPupilFileContext,
    _fresh: StepUp,
    uow: UnitOfWorkDep,
) -> Response:
    return await _download(pupil_id, export_id, context, uow, ExportFormat.json)
