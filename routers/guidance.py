"""The school's guidance documents, public so that any client can show them."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from api.deps import GuidanceDep
from api.errors import problem_responses
from models.guidance import GuidanceDocument, GuidanceSummary, Indicator
from services.guidance import Representation

router = APIRouter(prefix="/guidance", tags=["guidance"])

# Guidance changes with a deploy, not by the minute: clients may reuse it for five minutes
# and must revalidate (cheaply, with If-None-Match) after that.
CACHE_CONTROL = "public, max-age=300, must-revalidate"
_CACHING: dict[int | str, dict[str, Any]] = {
    304: {"description": "Not modified: the ETag given in If-None-Match is current"}
}


def _answer(request: Request, representation: Representation) -> Response:
    headers = {"ETag": representation.etag, "Cache-Control": CACHE_CONTROL}
    offered = request.headers.get("if-none-match", "")
    candidates = {tag.strip() for tag in offered.split(",")}
    if representation.etag in candidates or "*" in candidates:
        return Response(status_code=304, headers=headers)
    return Response(representation.body, media_type="application/json", headers=headers)


@router.get(
    "",
    summary="List the guidance documents",
    response_model=list[GuidanceSummary],
    responses=_CACHING,
)
def list_guidance(request: Request, guidance: GuidanceDep) -> Response:
    return _answer(request, guidance.index)


@router.get(
    "/{key}",
    summary="One guidance document, whole",
    response_model=GuidanceDocument,
    responses={**_CACHING, **problem_responses(404)},
)
def get_guidance(key: str, request: Request, guidance: GuidanceDep) -> Response:
    return _answer(request, guidance.document(key))


@router.get(
    "/{key}/indicators",
    summary="The indicators of a guidance document, in document order",
    response_model=list[Indicator],
    responses={**_CACHING, **problem_responses(404)},
)
def get_indicators(key: str, request: Request, guidance: GuidanceDep) -> Response:
    return _answer(request, guidance.indicators(key))
