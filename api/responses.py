"""Answers built from models the service has already shaped."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import Response
from pydantic import BaseModel


def json_answer(
    model: BaseModel, *, status_code: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    """``model`` as JSON, serialised once by pydantic. For hot paths whose service builds
    the declared ``response_model`` itself: returning a ``Response`` spares FastAPI from
    validating and serialising the same data again (the OpenAPI document still shows
    the route's ``response_model``; the schemathesis tests check the answers against it)."""
    return Response(
        # Bytes straight from pydantic-core: ``model_dump_json`` would decode its UTF-8 into
        # a str for Starlette to encode again, which for a page with one character outside
        # Latin-1 (a name, a curly quote) copies the whole page twice, two bytes a letter.
        content=model.__pydantic_serializer__.to_json(model, by_alias=True),
        status_code=status_code,
        headers=headers,
        media_type="application/json",
    )
