"""The built-in guidance documents and the guidance document's JSON Schema, public so that
any client can show them; the caching every public guidance answer shares."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Request, Response

from api.errors import problem_responses
from models.guidance import GuidanceDocument, GuidanceSummary, Indicator
from services.guidance import GuidanceLibrary, Representation, represent
from services.guidance.schema import guidance_schema

router = APIRouter(prefix="/guidance", tags=["guidance"])

# Guidance changes with a deploy, not by the minute: clients may reuse it for five minutes
# and must revalidate (cheaply, with If-None-Match) after that.
CACHE_CONTROL = "public, max-age=300, must-revalidate"
_CACHE_HEADERS: dict[str, Any] = {
    "ETag": {
        "description": "A strong validator of this representation",
        "required": True,
        "schema": {"type": "string", "examples": ['"cse-1-3f2a9c"']},
    },
    "Cache-Control": {
        "description": "Reusable for five minutes, then revalidate with If-None-Match",
        "required": True,
        "schema": {"type": "string", "examples": [CACHE_CONTROL]},
    },
}
CACHING: dict[int | str, dict[str, Any]] = {
    200: {"headers": _CACHE_HEADERS},
    304: {
        "description": "Not modified: the ETag given in If-None-Match is current",
        "headers": _CACHE_HEADERS,
    },
}
IfNoneMatch = Annotated[
    str | None,
    Header(
        alias="If-None-Match",
        max_length=1000,
        description="ETags you hold (comma-separated), or `*`: a 304 if one is current",
    ),
]


def _library(request: Request) -> GuidanceLibrary:
    # Loaded once at start-up (``create_app``); read from the app, not a dependency: these
    # routes touch nothing else.
    library: GuidanceLibrary = request.app.state.guidance
    return library


def cached_answer(
    if_none_match: str | None, representation: Representation, *, cache_control: str = CACHE_CONTROL
) -> Response:
    """``representation`` with its ETag, or 304 when ``If-None-Match`` holds it (or ``*``)."""
    headers = {"ETag": representation.etag, "Cache-Control": cache_control}
    candidates = {tag.strip() for tag in (if_none_match or "").split(",")}
    if representation.etag in candidates or "*" in candidates:
        return Response(status_code=304, headers=headers)
    return Response(representation.body, media_type="application/json", headers=headers)


@router.get(
    "",
    summary="List the guidance documents",
    response_model=list[GuidanceSummary],
    responses=CACHING,
)
async def list_guidance(request: Request, if_none_match: IfNoneMatch = None) -> Response:
    return cached_answer(if_none_match, _library(request).index)


_SCHEMA = represent(guidance_schema())


@router.get(
    "/schema.json",
    summary="The JSON Schema of a guidance document",
    description=(
        "JSON Schema (draft 2020-12) of a guidance document as `GET /guidance/{key}` and "
        "`GET /schools/{urn}/guidance/{key}` serve it: validate a document with it, or "
        "write one (a draft for `POST /guidance-drafts` is the same without `version` and "
        "`updated_at`). Its `description` names the rules a schema cannot state (unique "
        "ids, references that resolve); the service checks them too. Every built-in "
        "document is checked against this schema when the service starts."
    ),
    response_class=Response,
    responses={
        200: {
            "content": {
                "application/schema+json": {
                    "schema": {"type": "object"},
                    "example": {
                        "$schema": "https://json-schema.org/draft/2020-12/schema",
                        "title": "GuidanceDocument",
                        "type": "object",
                        "required": ["key", "title", "version", "updated_at", "category"],
                    },
                }
            },
            "headers": _CACHE_HEADERS,
        },
        304: CACHING[304],
    },
)
async def get_guidance_schema(if_none_match: IfNoneMatch = None) -> Response:
    answer = cached_answer(if_none_match, _SCHEMA)
    if answer.status_code == 200:
        answer.headers["Content-Type"] = "application/schema+json"
    return answer


@router.get(
    "/{key}",
    summary="One guidance document, whole",
    response_model=GuidanceDocument,
    responses={**CACHING, **problem_responses(404)},
)
async def get_guidance(key: str, request: Request, if_none_match: IfNoneMatch = None) -> Response:
    return cached_answer(if_none_match, _library(request).document(key))


@router.get(
    "/{key}/indicators",
    summary="The indicators of a guidance document, in document order",
    response_model=list[Indicator],
    responses={**CACHING, **problem_responses(404)},
)
async def get_indicators(key: str, request: Request, if_none_match: IfNoneMatch = None) -> Response:
    return cached_answer(if_none_match, _library(request).indicators(key))
