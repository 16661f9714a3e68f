"""Answers built from models the service has already shaped, and the headers answers carry."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

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


# The headers an answer may carry, as the OpenAPI document declares them: named by routes
# with ``answer_headers`` and added by ``api.openapi`` wherever a rule says they are sent
# (``Location`` on every 201, ``ETag`` after every change sent with ``If-Match``,
# ``Idempotent-Replayed`` wherever ``Idempotency-Key`` is taken, ``Retry-After`` on every
# 429 and 503).
RESPONSE_HEADERS: dict[str, dict[str, Any]] = {
    "ETag": {
        "description": "The record's version, a strong ETag: send it as `If-Match` to change "
        "the record",
        "required": True,
        "schema": {"type": "string", "minLength": 1, "examples": ['"case-3"']},
    },
    "Location": {
        "description": "The URL of the record created (for an addition to a record, of that "
        "record)",
        "required": True,
        "schema": {
            "type": "string",
            "format": "uri-reference",
            "examples": ["/api/v1/concerns/01936b2e-5f7a-7cc0-8a38-2c1f1c5d9a10"],
        },
    },
    "Idempotent-Replayed": {
        "description": "`true` when this is the first answer to this `Idempotency-Key` again: "
        "nothing new was recorded. Absent otherwise",
        "required": False,
        "schema": {"type": "string", "enum": ["true"]},
    },
    "Retry-After": {
        "description": "Seconds to wait before trying again",
        "required": True,
        "schema": {"type": "integer", "minimum": 1, "examples": [5]},
    },
}


def answer_headers(status: int, *names: str) -> dict[int | str, dict[str, Any]]:
    """An OpenAPI ``responses=`` entry declaring that the ``status`` answer carries the
    headers ``names`` (from ``RESPONSE_HEADERS``); merge it with ``problem_responses``."""
    return {status: {"headers": {name: RESPONSE_HEADERS[name] for name in names}}}
