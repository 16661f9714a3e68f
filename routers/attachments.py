"""Attachments on concerns and cases, and body maps on concerns (contract section 11).

An upload is read from its multipart body (spooled by the framework to an unnamed
temporary file past 1 MiB, never held whole in memory), recognised by its content, stripped
of its metadata (images), sealed into the file store under its final name, and only then
recorded: a file no committed row names is never served (ADR 0105)."""

from __future__ import annotations

import re
import unicodedata
import uuid
from typing import Annotated
from urllib.parse import quote

from anyio import to_thread
from fastapi import APIRouter, File, Request, Response, UploadFile
from fastapi.responses import StreamingResponse

from api.deps import (
    AttachmentReaderContext,
    ConcernReaderContext,
    DSLCaseContext,
    UnitOfWorkDep,
    in_short_transaction,
)
from api.errors import problem_responses
from api.idempotency import REPLAYED_HEADER, Answer, Idempotent, IdempotentCreate
from api.responses import json_answer
from core.errors import StoredFileBroken
from db.unit_of_work import UnitOfWork
from models.attachment import (
    AttachmentList,
    AttachmentPublic,
    BodyMapCreate,
    BodyMapList,
    BodyMapPublic,
    UploadedFile,
)
from models.base import new_id
from services import attachments, body_maps
from services.attachments import FileStore, Ingested, Upload
from services.context import RequestContext

router = APIRouter(tags=["attachments"])

_UPLOAD_DESCRIPTION = (
    "Multipart form with one field, `file`: a PDF, PNG or JPEG of at most 20 MiB "
    "(recognised by its content, never by its name or declared type; anything else is a "
    "415, a larger file a 413). An image's metadata (EXIF: GPS position, camera, times, "
    "thumbnails; PNG text chunks) is removed before it is stored, without re-encoding its "
    "pixels; `size` and `sha256` are of the bytes stored and served. Stored sealed "
    "(AES-256-GCM) and never changed or deleted through the API. `Location` is the "
    "download. With `Idempotency-Key`, the same file under the same name again answers "
    "the first attachment. A body that is not well-formed multipart is a 400."
)
# The multipart body's example, for the OpenAPI document (a file's bytes cannot be shown).
_UPLOAD_EXAMPLE = {
    "requestBody": {"content": {"multipart/form-data": {"example": {"file": "minutes.pdf"}}}}
}
_FILE = Annotated[UploadFile, File(description="The file: PDF, PNG or JPEG, at most 20 MiB")]
_UNSAFE = re.compile(r"[^A-Za-z0-9._ -]")


def safe_filename(given: str | None) -> str | None:
    """The uploaded name without any path, control or format character, at most 255
    characters; None when nothing is left."""
    if not given:
        return None
    name = re.split(r"[\\/]", given)[-1]
    name = "".join(ch for ch in name if unicodedata.category(ch)[0] not in ("C", "Z") or ch == " ")
    name = unicodedata.normalize("NFC", name).strip(" .")
    return name[:255] or None


def _disposition(filename: str | None, attachment_id: uuid.UUID, media_type: str) -> str:
    extension = {"application/pdf": "pdf", "image/png": "png", "image/jpeg": "jpg"}[media_type]
    name = filename or f"attachment-{attachment_id}.{extension}"
    letters = "".join(
        ch for ch in unicodedata.normalize("NFKD", name) if not unicodedata.combining(ch)
    )
    fallback = _UNSAFE.sub("_", letters) or f"attachment.{extension}"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def _seal(
    store: FileStore,
    school_id: uuid.UUID,
    attachment_id: uuid.UUID,
    file: UploadFile,
    media_type: str,
) -> Ingested:
    result: list[Ingested] = []
    store.write(
        school_id,
        attachment_id,
        lambda write: result.append(attachments.ingest(file.file, media_type, write)),
    )
    return result[0]


async def _upload(
    request: Request,
    uow: UnitOfWork,
    once: IdempotentCreate,
    context: RequestContext,
    file: UploadFile,
    *,
    concern_id: uuid.UUID | None = None,
    case_id: uuid.UUID | None = None,
) -> Response:
    if file.size is not None and file.size > attachments.MAX_BYTES:
        raise attachments.too_large()
    store: FileStore = request.app.state.files
    school_id, attachment_id = context.principal.school_id, new_id()
    media_type = attachments.media_type_of(file.file)
    ingested = await to_thread.run_sync(_seal, store, school_id, attachment_id, file, media_type)
    upload = Upload(
        attachment_id=attachment_id,
        filename=safe_filename(file.filename),
        media_type=ingested.media_type,
        size=ingested.size,
        sha256=ingested.sha256,
    )
    location = (
        f"{request.url.path.split('/concerns/')[0].split('/cases/')[0]}/attachments/{attachment_id}"
    )

    def created(attachment: AttachmentPublic) -> Answer:
        return Answer(201, attachment, {"Location": location})

    try:
        response = await once.run(
            uow,
            context,
            UploadedFile(
                filename=upload.filename, media_type=upload.media_type, sha256=upload.sha256
            ),
            lambda session: created(
                attachments.create_attachment(
                    session, context, upload=upload, concern_id=concern_id, case_id=case_id
                )
            ),
        )
    except BaseException:
        # Not recorded (refused, or the transaction failed): the file goes too. Were this
        # process killed first, the sweep removes it (no row names it).
        await to_thread.run_sync(store.remove, school_id, attachment_id)
        raise
    if response.headers.get(REPLAYED_HEADER) == "true":
        await to_thread.run_sync(store.remove, school_id, attachment_id)
    return response


@router.post(
    "/concerns/{concern_id}/attachments",
    summary="Attach a file to a concern",
    description="Its recorder (when logging it or later), or a DSL or deputy DSL of the "
    "school; anyone else 404. " + _UPLOAD_DESCRIPTION,
    status_code=201,
    response_model=AttachmentPublic,
    responses=problem_responses(400, 401, 403, 404, 409, 413, 415, 422),
    openapi_extra=_UPLOAD_EXAMPLE,
)
async def attach_to_concern(
    concern_id: uuid.UUID,
    file: _FILE,
    request: Request,
    context: ConcernReaderContext,
    uow: UnitOfWorkDep,
    once: Idempotent,
) -> Response:
    return await _upload(request, uow, once, context, file, concern_id=concern_id)


@router.post(
    "/cases/{case_id}/attachments",
    summary="Attach a file to a case",
    description="DSLs and deputy DSLs of the school (the minutes of a strategy meeting, a "
    "letter). " + _UPLOAD_DESCRIPTION,
    status_code=201,
    response_model=AttachmentPublic,
    responses=problem_responses(400, 401, 403, 404, 409, 413, 415, 422),
    openapi_extra=_UPLOAD_EXAMPLE,
)
async def attach_to_case(
    case_id: uuid.UUID,
    file: _FILE,
    request: Request,
    context: DSLCaseContext,
    uow: UnitOfWorkDep,
    once: Idempotent,
) -> Response:
    return await _upload(request, uow, once, context, file, case_id=case_id)


@router.get(
    "/concerns/{concern_id}/attachments",
    summary="The files attached to a concern",
    description="Whoever may read the concern. Oldest first; each with its SHA-256.",
    response_model=AttachmentList,
    responses=problem_responses(401, 403, 404, 422),
)
async def list_concern_attachments(
    concern_id: uuid.UUID, context: ConcernReaderContext, uow: UnitOfWorkDep
) -> Response:
    items = await uow.run(
        lambda session: attachments.list_attachments(session, context, concern_id=concern_id)
    )
    return json_answer(AttachmentList(items=items))


@router.get(
    "/cases/{case_id}/attachments",
    summary="The files attached to a case",
    description="DSLs and deputy DSLs of the school. Oldest first; each with its SHA-256.",
    response_model=AttachmentList,
    responses=problem_responses(401, 403, 404, 422),
)
async def list_case_attachments(
    case_id: uuid.UUID, context: DSLCaseContext, uow: UnitOfWorkDep
) -> Response:
    items = await uow.run(
        lambda session: attachments.list_attachments(session, context, case_id=case_id)
    )
    return json_answer(AttachmentList(items=items))


@router.get(
    "/attachments/{attachment_id}",
    summary="Download an attachment",
    description=(
        "The file's bytes, to whoever may read the record it is on: the member of staff "
        "who logged a concern downloads what is on it, the DSL desk anything of the "
        "school; anyone else 404. A download (`Content-Disposition: attachment`) with "
        "`X-Content-Type-Options: nosniff`; recorded in the audit log. The stored file is "
        "verified whole (its AES-GCM tags and its SHA-256) before a byte is sent: a file "
        "that fails is never served, and the answer is a 409 problem "
        "(`stored-file-integrity`)."
    ),
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "The file",
            "content": {
                "application/pdf": {"schema": {"type": "string", "format": "binary"}},
                "image/png": {"schema": {"type": "string", "format": "binary"}},
                "image/jpeg": {"schema": {"type": "string", "format": "binary"}},
            },
        },
        **problem_responses(401, 403, 404, 409, 422),
    },
)
async def download_attachment(
    attachment_id: uuid.UUID,
    request: Request,
    context: AttachmentReaderContext,
    uow: UnitOfWorkDep,
) -> Response:
    row = await uow.run(
        lambda session: attachments.attachment_to_read(
            session, context, attachment_id=attachment_id
        )
    )
    store: FileStore = request.app.state.files
    if not await to_thread.run_sync(store.intact, row.school_id, row.id, row.sha256):
        await in_short_transaction(
            request.app.state.database,
            lambda session: attachments.note_broken(session, context, row),
        )
        raise StoredFileBroken(
            "The stored file failed its integrity check (it was altered or damaged where "
            "it is kept) and is not served. Tell your service's administrator."
        )
    return StreamingResponse(
        store.chunks(row.school_id, row.id),
        media_type=row.media_type,
        headers={
            "Content-Disposition": _disposition(row.filename, row.id, row.media_type),
            "Content-Length": str(row.size),
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.post(
    "/concerns/{concern_id}/body-map",
    summary="Record a body map on a concern",
    description=(
        "Its recorder or a DSL or deputy DSL of the school. Marks on outlines of the "
        "child's body (`front`, `back`, `left`, `right`, `head`), each at `x`, `y` as "
        "fractions (0 to 1) of the outline's box from its top left, with its kind and an "
        "optional note. Never changed: a later observation is another body map. Shown as "
        "a drawing in the PDF export. `Location` lists the concern's body maps."
    ),
    status_code=201,
    response_model=BodyMapPublic,
    responses=problem_responses(401, 403, 404, 422),
)
async def create_body_map(
    concern_id: uuid.UUID,
    body: BodyMapCreate,
    request: Request,
    context: ConcernReaderContext,
    uow: UnitOfWorkDep,
    once: Idempotent,
) -> Response:
    location = f"{request.url.path.rstrip('/').rsplit('/', 1)[0]}/body-maps"

    def created(body_map: BodyMapPublic) -> Answer:
        return Answer(201, body_map, {"Location": location})

    return await once.run(
        uow,
        context,
        body,
        lambda session: created(
            body_maps.create_body_map(session, context, concern_id=concern_id, body_map=body)
        ),
    )


@router.get(
    "/concerns/{concern_id}/body-maps",
    summary="The body maps of a concern",
    description="Whoever may read the concern. Oldest first.",
    response_model=BodyMapList,
    responses=problem_responses(401, 403, 404, 422),
)
async def list_body_maps(
    concern_id: uuid.UUID, context: ConcernReaderContext, uow: UnitOfWorkDep
) -> Response:
    items = await uow.run(
        lambda session: body_maps.list_body_maps(session, context, concern_id=concern_id)
    )
    return json_answer(BodyMapList(items=items))
