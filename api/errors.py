"""RFC 9457 problem details for every error path, registered once in the app factory."""

from __future__ import annotations

import logging
import re
from http import HTTPStatus
from typing import Any, Literal

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import DataError, DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path

from api.logs import log_unhandled
from core.context import request_id_var
from core.errors import DomainError
from db.sqlite import is_sqlite_locked

logger = logging.getLogger("concernlog.errors")

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://concernlog.example/problems/"


class ValidationIssue(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class Problem(BaseModel):
    """An RFC 9457 problem details object."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "type": PROBLEM_BASE + "not-found",
                    "title": "Not found",
                    "status": 404,
                    "detail": "There is no concern with that id.",
                    "request_id": "01936b2e-5f7a-7cc0-8a38-2c1f1c5d9a10",
                }
            ]
        },
    )

    type: str = Field(description="A URI naming the kind of problem; switch on its last segment")
    title: str
    status: int
    detail: str
    request_id: str | None = None
    errors: list[ValidationIssue] | None = Field(
        default=None, description="Present on validation errors (422)"
    )
    error: (
        Literal[
            "invalid_request",
            "invalid_client",
            "invalid_grant",
            "unsupported_grant_type",
            "temporarily_unavailable",
        ]
        | None
    ) = Field(
        default=None,
        description="On POST /auth/token and /auth/refresh only: the OAuth 2.0 error code "
        "(RFC 6749 section 5.2), for standard OAuth clients",
    )


class OAuthRequestInvalid(RequestValidationError):
    """A token-endpoint request that fails validation: answered as every 422 is, plus the
    OAuth 2.0 ``error`` code (RFC 6749 section 5.2) that standard clients read."""

    def __init__(self, errors: list[dict[str, Any]], *, oauth_error: str) -> None:
        super().__init__(errors)
        self.oauth_error = oauth_error


def problem_response(
    status: int,
    detail: str,
    *,
    slug: str | None = None,
    title: str | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> JSONResponse:
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + (slug or phrase.lower().replace(" ", "-").replace("'", "")),
        "title": title or phrase,
        "status": status,
        "detail": detail,
        "request_id": request_id_var.get(),
    }
    if extra:
        # Extension members add to the problem; they never replace its standard members
        # (an extension named `status` would otherwise turn the HTTP status into a word).
        body.update({key: value for key, value in extra.items() if key not in body})
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_JSON)


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` entries documenting problem+json for the given statuses.

    Only the statuses a handler itself may answer need naming: ``api.openapi`` adds those
    the rest of the stack answers (401, 403, 413, 422, 500, 503) and the ``Problem``
    schema."""
    return {
        status: {
            "description": HTTPStatus(status).phrase,
            "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
        }
        for status in statuses
    }


def _clean_validation_errors(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # Pydantic echoes the offending input ("input", "ctx", "url"); the input may be concern
    # text or a password, so only the location, message and type go back.
    return [
        {
            "loc": list(err.get("loc", ())),
            "msg": str(err.get("msg", "")),
            "type": str(err.get("type", "")),
        }
        for err in errors
    ]


# FastAPI's answer to a body it cannot even decode (not UTF-8, broken multipart).
_UNPARSEABLE_BODY = "There was an error parsing the body"


async def _http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers or {})
    detail = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
    if exc.status_code == 400 and detail == _UNPARSEABLE_BODY:
        # The same answer as for a body that is not valid JSON: one kind of client error,
        # one status, whichever parser gave up.
        message = "The body could not be decoded: send UTF-8 JSON (or the documented form)."
        return problem_response(
            422,
            message,
            slug="validation-error",
            title="The request is not valid",
            extra={"errors": [{"loc": ["body"], "msg": message, "type": "body_invalid"}]},
        )
    if exc.status_code == 404 and detail == "Not Found":
        detail = "There is nothing at this address."
    if exc.status_code == 405:
        detail = f"{request.method} is not allowed here."
        allowed = allowed_methods(request.app, request.url.path)
        if allowed:
            headers["Allow"] = ", ".join(allowed)
    return problem_response(exc.status_code, detail, headers=headers)


def allowed_methods(app: FastAPI, path: str) -> list[str]:
    """Every method some route answers at ``path``. Starlette's own 405 names only the
    methods of the first route whose path matched, while several routes (GET and POST of a
    collection) usually share a path. Routes left out of the OpenAPI document are counted
    only where no documented route matches (an undocumented alias such as
    ``/api/v1/healthz``), so that a route that exists only to refuse a method (with 405)
    does not advertise it; and a path one documented route names literally is answered
    by the routes that name it so, not by templates it happens to fit."""
    routes: list[tuple[re.Pattern[str], frozenset[str], bool, bool]] | None = getattr(
        app.state, "allow_table", None
    )
    if routes is None:
        routes = []
        for route in iter_route_contexts(app.routes):
            if route.path is None or not route.methods:
                continue
            pattern, _format, _convertors = compile_path(str(route.path))
            documented = bool(getattr(route.original_route, "include_in_schema", True))
            literal = "{" not in str(route.path)
            routes.append((pattern, frozenset(route.methods), documented, literal))
        app.state.allow_table = routes
    found = [route for route in routes if route[0].match(path)]
    # A path some route names literally is that route's (POST /transfers/import beside
    # GET /transfers/{transfer_id}): a template matching it too adds no method.
    if any(literal and documented for _, _, documented, literal in found):
        found = [route for route in found if route[3]]
    matching = [(methods, documented) for _, methods, documented, _ in found]
    chosen = [methods for methods, documented in matching if documented] or [
        methods for methods, _ in matching
    ]
    return sorted(set().union(*chosen)) if chosen else []


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = _clean_validation_errors(list(exc.errors()))
    first = errors[0] if errors else None
    detail = "The request is not valid."
    if first is not None:
        where = ".".join(str(part) for part in first["loc"][1:]) or str(
            first["loc"][0] if first["loc"] else ""
        )
        detail = f"{where}: {first['msg']}" if where else first["msg"]
    extra: dict[str, Any] = {"errors": errors}
    if isinstance(exc, OAuthRequestInvalid):
        extra["error"] = exc.oauth_error
    return problem_response(
        422, detail, slug="validation-error", title="The request is not valid", extra=extra
    )


async def _domain_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    return problem_response(
        exc.status, exc.detail, slug=exc.slug, title=exc.title, headers=exc.headers, extra=exc.extra
    )


# SQLSTATEs that mean "this transaction lost a race; the same work may succeed if run
# again": serialization failure and deadlock on PostgreSQL.
_TRANSIENT_SQLSTATES = {"40001", "40P01"}
MAX_ATTEMPTS = 3
ATTEMPT_SCOPE_KEY = "concernlog.attempt"


class RetryRequest(Exception):
    """Raised out of the exception handlers so that the retry middleware runs the whole
    request again (its transaction was rolled back; nothing of it was saved)."""


def is_transient(exc: DBAPIError) -> bool:
    sqlstate = getattr(exc.orig, "sqlstate", None)
    if sqlstate in _TRANSIENT_SQLSTATES:
        return True
    return is_sqlite_locked(exc)


def _is_unstorable_text(exc: DBAPIError) -> bool:
    # psycopg refuses U+0000 in a text parameter before it reaches the server.
    return isinstance(exc, DataError) and "NUL (0x00)" in str(exc.orig)


async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DBAPIError)
    if _is_unstorable_text(exc):
        # Input validation should have refused it (models.user.StorableText); answering it
        # as the client error it is, rather than a 500, is the safety net.
        message = "Text must not contain the NUL character (U+0000)."
        return problem_response(
            422,
            message,
            slug="validation-error",
            title="The request is not valid",
            extra={"errors": [{"loc": ["request"], "msg": message, "type": "text_invalid"}]},
        )
    transient = is_transient(exc)
    if transient and request.scope.get(ATTEMPT_SCOPE_KEY, MAX_ATTEMPTS) < MAX_ATTEMPTS:
        raise RetryRequest from exc
    if transient or isinstance(exc, OperationalError) or exc.connection_invalidated:
        logger.warning(
            "database unavailable",
            extra={"error_class": type(exc.orig).__name__, "transient": transient},
        )
        return problem_response(
            503,
            "The database is busy or unavailable; nothing was saved. Try again shortly.",
            slug="service-unavailable",
            headers={"Retry-After": "1" if transient else "5"},
        )
    return await _unhandled(request, exc)


INTERNAL_ERROR_DETAIL = (
    "Something went wrong on our side and nothing was saved. Quote the request id if you report it."
)


async def _unhandled(_request: Request, exc: Exception) -> JSONResponse:
    log_unhandled(logger, exc)
    return problem_response(500, INTERNAL_ERROR_DETAIL, slug="internal-error")


async def _pool_exhausted(_request: Request, _exc: Exception) -> JSONResponse:
    logger.warning("database pool exhausted")
    return problem_response(
        503,
        "The service is overloaded; nothing was saved. Try again shortly.",
        slug="service-unavailable",
        headers={"Retry-After": "2"},
    )


def register_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(StarletteHTTPException, _http_exception)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(DBAPIError, _database_unavailable)
    app.add_exception_handler(PoolTimeoutError, _pool_exhausted)
    app.add_exception_handler(Exception, _unhandled)
