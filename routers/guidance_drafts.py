"""A school's own guidance: its DSLs draft documents and publish them as versions."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from api.deps import DSLContext, UnitOfWorkDep
from api.errors import problem_responses
from api.idempotency import Answer, Idempotent
from db.unit_of_work import UnitOfWork
from models.school_guidance import (
    GuidanceDraftCreate,
    GuidanceDraftPage,
    GuidanceDraftPublic,
    PublishedGuidance,
)
from services.guidance import drafts
from services.pagination import DEFAULT_LIMIT, MAX_LIMIT

router = APIRouter(prefix="/guidance-drafts", tags=["guidance drafts"])

PUBLISHING_STEPS = """\
DSLs and deputy DSLs. A school publishes a document of its own in four steps:

1. **Write it** in the shape of a guidance document (`GET /guidance/schema.json`;
   `GET /guidance/cse` is a whole example) with the `category` it belongs to
   (`GET /categories`), and without `version` or `updated_at`: publishing sets them.
   Its `key` is yours to choose (kebab-case), but not a built-in document's.
2. **Draft it**: `POST /guidance-drafts` with that document. A mistake the schema cannot
   see is a 422 all the same, each in `errors[]` with the path to it: `loc`
   (`["body", "sections", 0, "items", 2, "indicator"]`) and a message starting with the
   same path as a JSON Pointer (`/sections/0/items/2/indicator: ...`). Ids must be unique
   (items anywhere in the document), an item's `indicator` or `action` must name one of
   the document's, text must not be blank, and sizes are bounded.
3. **Publish it**: `POST /guidance-drafts/{id}/publish` answers 201 with `{"key",
   "version"}` (version 1 for a new key, then 2, 3...) and `Location`, its public address.
   A published version never changes; to change the document, draft it again and publish
   the new draft.
4. **Use it**: anyone reads it at `GET /schools/{urn}/guidance/{key}` (no token, with an
   `ETag`), and staff cite it when they log a concern (`"guidance_key": "{key}"`, with
   its indicators). A concern keeps the version it was logged against: after a new
   version, an old concern still shows the old version's words (`indicator_texts`), and
   `GET /schools/{urn}/guidance/{key}/versions/{version}` still serves it.

Drafting and publishing are audited (`guidance_draft.create`, `guidance_draft.publish`:
the draft's id only)."""


@router.post(
    "",
    summary="Draft a guidance document of the school's own",
    description=PUBLISHING_STEPS,
    status_code=201,
    response_model=GuidanceDraftPublic,
    responses=problem_responses(401, 403, 422),
)
async def create_draft(
    body: GuidanceDraftCreate,
    request: Request,
    context: DSLContext,
    uow: UnitOfWorkDep,
    once: Idempotent,
) -> Response:
    drafts_url = request.url.path.rstrip("/")

    def drafted(draft: GuidanceDraftPublic) -> Answer:
        return Answer(201, draft, {"Location": f"{drafts_url}/{draft.id}"})

    return await once.run(
        uow,
        context,
        body,
        lambda session: drafted(drafts.create_draft(session, context, draft=body)),
    )


@router.get(
    "",
    summary="The school's guidance drafts",
    description=(
        "DSLs and deputy DSLs: the drafts of your school, oldest first, published ones "
        "included (`published_version` says which version each made)."
    ),
    response_model=GuidanceDraftPage,
    responses=problem_responses(401, 403, 422),
)
async def list_drafts(
    context: DSLContext,
    uow: UnitOfWorkDep,
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=500)] = None,
) -> GuidanceDraftPage:
    return await uow.run(
        lambda session: drafts.list_drafts(session, context, limit=limit, cursor=cursor)
    )


@router.get(
    "/{draft_id}",
    summary="One of the school's guidance drafts, whole",
    description="DSLs and deputy DSLs of its school; anyone else: 404.",
    response_model=GuidanceDraftPublic,
    responses=problem_responses(401, 403, 404, 422),
)
async def get_draft(
    draft_id: uuid.UUID, context: DSLContext, uow: UnitOfWorkDep
) -> GuidanceDraftPublic:
    return await uow.run(lambda session: drafts.get_draft(session, context, draft_id=draft_id))


@router.post(
    "/{draft_id}/publish",
    summary="Publish a draft as the next version of its document",
    description=(
        "DSLs and deputy DSLs of its school (404 otherwise). 201 with the document's `key` "
        "and new `version`, and `Location`: the version's public address. 409 when the "
        "draft was published already (a draft is published once; draft again for a new "
        "version)."
    ),
    status_code=201,
    response_model=PublishedGuidance,
    responses=problem_responses(401, 403, 404, 409, 422),
)
async def publish_draft(
    draft_id: uuid.UUID,
    request: Request,
    context: DSLContext,
    uow: UnitOfWorkDep,
    once: Idempotent,
) -> Response:
    prefix = request.url.path.split("/guidance-drafts/", 1)[0]

    def published(session: UnitOfWork) -> Answer:
        publication = drafts.publish_draft(session, context, draft_id=draft_id)
        done = publication.published
        location = f"{prefix}/schools/{publication.urn}/guidance/{done.key}/versions/{done.version}"
        return Answer(201, done, {"Location": location})

    return await once.run(uow, context, None, published)
