"""The built-in guidance documents and the guidance document's JSON Schema, public so that
any client can show them; the caching every public guidance answer shares."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Request, Response
from fastapi.exceptions import RequestValidationError

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
_IF_NONE_MATCH_HELP = "ETags you hold (comma-separated), or `*`: a 304 if one is current"
_IF_NONE_MATCH_MAX = 1000
IfNoneMatch = Annotated[
    str | None,
    Header(alias="If-None-Match", max_length=_IF_NONE_MATCH_MAX, description=_IF_NONE_MATCH_HELP),
]

# The built-in documents are the service's most requested answers, mostly as 304s: their
# routes read If-None-Match from the request themselves (a declared header parameter is a
# fifth of a 304's work in FastAPI) and declare it in the OpenAPI document as ``IfNoneMatch``
# does, with the same limit (docs/adr/0112).
_DECLARES_IF_NONE_MATCH: dict[str, Any] = {
    "parameters": [
        {
            "name": "If-None-Match",
            "in": "header",
            "required": False,
            "description": _IF_NONE_MATCH_HELP,
            "schema": {
                "anyOf": [{"type": "string", "maxLength": _IF_NONE_MATCH_MAX}, {"type": "null"}],
                "title": "If-None-Match",
                "description": _IF_NONE_MATCH_HELP,
            },
        }
    ]
}


def _if_none_match(request: Request) -> str | None:
    value = request.headers.get("if-none-match")
    if value is not None and len(value) > _IF_NONE_MATCH_MAX:
        raise RequestValidationError(
            [
                {
                    "type": "string_too_long",
                    "loc": ("header", "If-None-Match"),
                    "msg": f"String should have at most {_IF_NONE_MATCH_MAX} characters",
                    "input": None,
                    "ctx": {"max_length": _IF_NONE_MATCH_MAX},
                }
            ]
        )
    return value


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
    openapi_extra=_DECLARES_IF_NONE_MATCH,
)
async def list_guidance(request: Request) -> Response:
    return cached_answer(_if_none_match(request), _library(request).index)


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
    openapi_extra=_DECLARES_IF_NONE_MATCH,
)
async def get_guidance_schema(request: Request) -> Response:
    answer = cached_answer(_if_none_match(request), _SCHEMA)
    if answer.status_code == 200:
        answer.headers["Content-Type"] = "application/schema+json"
    return answer


@router.get(
    "/{key}",
    summary="One guidance document, whole",
    response_model=GuidanceDocument,
    responses={**CACHING, **problem_responses(404)},
    openapi_extra=_DECLARES_IF_NONE_MATCH,
)
async def get_guidance(key: str, request: Request) -> Response:
    return cached_answer(_if_none_match(request), _library(request).document(key))


@router.get(
    "/{key}/indicators",
    summary="The indicators of a guidance document, in document order",
    response_model=list[Indicator],
    responses={**CACHING, **problem_responses(404)},
    openapi_extra=_DECLARES_IF_NONE_MATCH,
)
async def get_indicators(key: str, request: Request) -> Response:
    return cached_answer(_if_none_match(request), _library(request).indicators(key))
