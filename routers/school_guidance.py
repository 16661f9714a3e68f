"""A school's guidance, public by the school's URN: the built-in documents and every
document the school has published, so that a parent page or an app can show it without a
token."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response

from api.deps import UnitOfWorkDep
from api.errors import problem_responses
from models.guidance import ID_MAX, KEBAB_CASE, GuidanceDocument, GuidanceSummary, Indicator
from routers.guidance import CACHING, IfNoneMatch, cached_answer
from services.guidance import GuidanceLibrary, public

router = APIRouter(prefix="/schools/{urn}/guidance", tags=["guidance"])

# A published version never changes: a client may keep it for good.
IMMUTABLE = "public, max-age=31536000, immutable"

Urn = Annotated[
    str,
    Path(pattern=r"^\d{6}$", description="The school's 6-digit URN", examples=["999901"]),
]
Key = Annotated[str, Path(pattern=KEBAB_CASE, max_length=ID_MAX, description="The document's key")]
Version = Annotated[
    str, Path(pattern=r"^[1-9][0-9]{0,8}$", description="A version number", examples=["1"])
]


def _library(request: Request) -> GuidanceLibrary:
    library: GuidanceLibrary = request.app.state.guidance
    return library


@router.get(
    "",
    summary="A school's guidance documents",
    description=(
        "Public. Every document a concern of the school may cite (`guidance_key`): the "
        "built-in ones, then those the school has published, each as its latest version. "
        "404 for an unknown URN."
    ),
    response_model=list[GuidanceSummary],
    responses={**CACHING, **problem_responses(404)},
)
async def list_school_guidance(
    urn: Urn, request: Request, uow: UnitOfWorkDep, if_none_match: IfNoneMatch = None
) -> Response:
    library = _library(request)
    representation = await uow.run(lambda session: public.school_index(session, library, urn=urn))
    return cached_answer(if_none_match, representation)


@router.get(
    "/{key}",
    summary="One of a school's guidance documents, whole",
    description=(
        "Public. The latest version of the school's document `key`, or the built-in one. "
        "Older versions stay readable at `/versions/{version}`."
    ),
    response_model=GuidanceDocument,
    responses={**CACHING, **problem_responses(404)},
)
async def get_school_guidance(
    urn: Urn, key: Key, request: Request, uow: UnitOfWorkDep, if_none_match: IfNoneMatch = None
) -> Response:
    library = _library(request)
    representation = await uow.run(
        lambda session: public.school_document(session, library, urn=urn, key=key)
    )
    return cached_answer(if_none_match, representation)


@router.get(
    "/{key}/indicators",
    summary="The indicators of a school's guidance document, in document order",
    description="Public. Of the document's latest version: what a concern may be tagged with.",
    response_model=list[Indicator],
    responses={**CACHING, **problem_responses(404)},
)
async def get_school_indicators(
    urn: Urn, key: Key, request: Request, uow: UnitOfWorkDep, if_none_match: IfNoneMatch = None
) -> Response:
    library = _library(request)
    representation = await uow.run(
        lambda session: public.school_indicators(session, library, urn=urn, key=key)
    )
    return cached_answer(if_none_match, representation)


@router.get(
    "/{key}/versions/{version}",
    summary="One version of a school's guidance document",
    description=(
        "Public. Any published version, superseded or not: the wording a concern's "
        "`guidance_version` was logged against. A version never changes, so the answer "
        "may be kept for good (`Cache-Control: immutable`). A built-in document has its "
        "current version only."
    ),
    response_model=GuidanceDocument,
    responses={**CACHING, **problem_responses(404)},
)
async def get_school_guidance_version(
    urn: Urn,
    key: Key,
    version: Version,
    request: Request,
    uow: UnitOfWorkDep,
    if_none_match: IfNoneMatch = None,
) -> Response:
    library = _library(request)
    representation = await uow.run(
        lambda session: public.school_version(session, library, urn=urn, key=key, version=version)
    )
    return cached_answer(if_none_match, representation, cache_control=IMMUTABLE)
