"""The OpenAPI document, completed so that it says every error an operation can answer.

FastAPI documents what a handler declares. It does not know what the rest of the stack
answers on the handler's behalf, and it documents request validation failures as its own
``HTTPValidationError`` JSON, which this API never sends. ``install_openapi`` wraps
``app.openapi`` so that every operation's responses are completed from what the
application really does:

- 422 (any operation with parameters or a body): a problem with ``errors[]``;
- 401 with ``WWW-Authenticate`` and 403, on every operation that takes a bearer token;
- 413 on every operation with a body (the body limit of ``ShellMiddleware``);
- 503 with ``Retry-After`` on every operation that uses the database (unreachable,
  overloaded or still locked after its retries);
- 500 on every operation (a bug, but its shape is still a problem).

Every 4xx and 5xx is ``application/problem+json`` with the ``Problem`` schema (and only
that), and an ``If-Match`` header is marked required where its absence is answered 428.

The rest is what a generated client needs (docs/adr/0063-openapi-for-generated-clients.md),
by rule, so that a route added later gets it without asking:

- ``operationId``: the route's name in lowerCamelCase (``list_concerns``:
  ``listConcerns``), ``operation_id``;
- the headers answers carry (``api.responses.RESPONSE_HEADERS``): ``Location`` on every
  201, ``ETag`` on the success of every change taking ``If-Match``,
  ``Idempotent-Replayed`` wherever ``Idempotency-Key`` is taken, ``Retry-After`` on every
  429 and 503; routes name the others with ``api.responses.answer_headers``;
- ``security: []`` on the public operations (the rest carry the bearer scheme);
- ``servers``; and a ``Problem`` whose optional members are optional, never null.

``install_docs`` serves ``/docs`` (Swagger UI) from assets shipped with the service, never
from a CDN (docs/adr/0053-docs-assets-and-security-headers.md).
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Callable, Iterator
from http import HTTPStatus
from pathlib import Path
from typing import Any

import fastapi_offline
from fastapi import FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse, Response
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.staticfiles import StaticFiles

from api.deps import get_database, get_unit_of_work
from api.errors import PROBLEM_JSON, Problem
from api.idempotency import IDEMPOTENCY_KEY, REPLAYED_HEADER
from api.responses import RESPONSE_HEADERS

PROBLEM_REF = "#/components/schemas/Problem"
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

_RETRY_AFTER = RESPONSE_HEADERS["Retry-After"]
# The headers a browser client may read (CORS ``expose_headers``, ``api.main``): those the
# document declares on answers, and the request id every answer carries.
EXPOSED_HEADERS = (*RESPONSE_HEADERS, "X-Request-ID")
SERVERS = [
    {
        "url": "/",
        "description": "This service: the paths below start at its root (behind a proxy "
        "that serves it under a prefix, that prefix)",
    }
]
# Headers that every answer of a status carries, whoever raised it.
_ERROR_HEADERS: dict[int, dict[str, dict[str, Any]]] = {
    401: {
        "WWW-Authenticate": {
            "description": "`Bearer`: send a valid access token",
            "required": True,
            "schema": {"type": "string", "examples": ["Bearer"]},
        }
    },
    405: {
        "Allow": {
            "description": "The methods this address does accept",
            "required": True,
            "schema": {"type": "string", "examples": ["GET"]},
        }
    },
    429: {"Retry-After": _RETRY_AFTER},
    503: {"Retry-After": _RETRY_AFTER},
}
_DESCRIPTIONS = {
    401: "No bearer token, or one that is invalid, expired or revoked",
    403: "Your role does not allow this (or, for a privileged role, MFA is not set up yet)",
    413: "The request body is larger than the limit (1 MiB by default)",
    422: "The request is not valid; `errors` says where and why",
    500: "A bug on our side; nothing was saved. Quote the `request_id` if you report it",
    503: "The database is unavailable or busy; nothing was saved. Try again after `Retry-After`",
}


def install_openapi(app: FastAPI) -> None:
    """Make ``app.openapi()`` (and so ``/openapi.json`` and ``/docs``) answer the
    completed document."""
    # Every route included from now on is named by ``operation_id`` (unless it says
    # otherwise): the app's routers are included after this.
    app.router.generate_unique_id_function = operation_id
    generate: Callable[[], dict[str, Any]] = app.openapi
    completed: list[dict[str, Any]] = []

    def openapi() -> dict[str, Any]:
        document = generate()
        # FastAPI caches the document and rebuilds it only when routes change.
        if not completed or completed[0] is not document:
            complete_document(document, app)
            completed[:] = [document]
        return document

    app.openapi = openapi  # type: ignore[method-assign]


DOCS_URL = "/docs"
DOCS_ASSETS_URL = "/docs-assets"
# Swagger UI's dist files, as shipped (and kept current) by the fastapi-offline package.
DOCS_ASSETS_DIR = Path(fastapi_offline.__file__).parent / "static"
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


class _DocsAssets(StaticFiles):
    # Public files, the same for everyone: a day in the browser's cache rather than the
    # middleware's `no-store`, which would fetch 1.5 MB of JS on every visit.
    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers["Cache-Control"] = "public, max-age=86400"
        return response


def install_docs(app: FastAPI) -> None:
    """Serve ``/docs`` and its OAuth2 redirect page with Swagger UI's JS, CSS and icon from
    ``/docs-assets/`` on this service, so the page works on a network without internet.
    Each page carries a Content-Security-Policy that allows only this service's own files
    and the page's own inline script (by its hash)."""
    app.mount(DOCS_ASSETS_URL, _DocsAssets(directory=DOCS_ASSETS_DIR), name="docs-assets")
    redirect_url = app.swagger_ui_oauth2_redirect_url or f"{DOCS_URL}/oauth2-redirect"

    async def swagger_ui(request: Request) -> HTMLResponse:
        root = str(request.scope.get("root_path", "")).rstrip("/")
        page = get_swagger_ui_html(
            openapi_url=f"{root}{app.openapi_url}",
            title=f"{app.title} - Swagger UI",
            oauth2_redirect_url=f"{root}{redirect_url}",
            init_oauth=app.swagger_ui_init_oauth,
            swagger_ui_parameters=app.swagger_ui_parameters,
            swagger_js_url=f"{root}{DOCS_ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{root}{DOCS_ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=f"{root}{DOCS_ASSETS_URL}/favicon.png",
        )
        return with_page_policy(page)

    async def swagger_ui_redirect(_request: Request) -> HTMLResponse:
        return with_page_policy(get_swagger_ui_oauth2_redirect_html())

    app.add_route(DOCS_URL, swagger_ui, methods=["GET"], include_in_schema=False)
    app.add_route(redirect_url, swagger_ui_redirect, methods=["GET"], include_in_schema=False)


def with_page_policy(page: HTMLResponse) -> HTMLResponse:
    """Set the policy of a docs page: scripts, styles, images and fetches from this service,
    plus exactly the inline scripts the page carries (hashed, so no 'unsafe-inline')."""
    hashes = " ".join(
        f"'sha256-{base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()}'"
        for script in _INLINE_SCRIPT.findall(bytes(page.body).decode())
    )
    page.headers["Content-Security-Policy"] = (
        f"default-src 'none'; script-src 'self' {hashes}; style-src 'self'; "
        "img-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    )
    return page


def operation_id(route: APIRoute) -> str:
    """A route's ``operationId``: its name (its handler's, unless given) in lowerCamelCase,
    as a generated client names the method (``get_concern``: ``getConcern``). Stable while
    the handler keeps its name; unique while route names are (a test holds both)."""
    first, *rest = route.name.split("_")
    return first + "".join(word[:1].upper() + word[1:] for word in rest)


def complete_document(document: dict[str, Any], app: FastAPI) -> None:
    schemas: dict[str, Any] = document.setdefault("components", {}).setdefault("schemas", {})
    problem = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(problem.pop("$defs", {}))
    schemas["Problem"] = _optional_members_not_null(problem)
    # FastAPI's own servers win (``root_path``): they say where the service is mounted.
    document.setdefault("servers", SERVERS)

    uses_database = _operations_using_the_database(app)
    for path, method, operation in _operations(document):
        responses: dict[str, Any] = operation.setdefault("responses", {})
        statuses = {500}
        if operation.get("parameters") or "requestBody" in operation:
            statuses.add(422)
        if operation.get("security"):
            statuses |= {401, 403}
        if "requestBody" in operation:
            statuses.add(413)
        if (method.upper(), path) in uses_database:
            statuses.add(503)
        for status in statuses:
            responses.setdefault(str(status), {})
        if "428" in responses:
            _require_precondition(operation)
        for code, response in responses.items():
            if code.isdigit() and int(code) >= 400:
                _as_problem(int(code), response)
            elif code.startswith("2"):
                _declare_headers(operation, code, response)
        # Public by design (the rest take a bearer token): said, not left to a default.
        operation.setdefault("security", [])

    _restore_example_nulls(document, document)

    # FastAPI's own validation error shapes are never sent; drop them unless still used.
    for name in ("HTTPValidationError", "ValidationError"):
        if name in schemas and not _is_referenced(document, f"#/components/schemas/{name}"):
            del schemas[name]


def _as_problem(status: int, response: dict[str, Any]) -> None:
    if not response.get("description") or response["description"] in {
        "Validation Error",
        "Unprocessable Entity",
    }:
        response["description"] = _DESCRIPTIONS.get(status, HTTPStatus(status).phrase)
    # Whatever a route declared, an error is answered as problem+json and nothing else.
    response["content"] = {PROBLEM_JSON: {"schema": {"$ref": PROBLEM_REF}}}
    for name, header in _ERROR_HEADERS.get(status, {}).items():
        response.setdefault("headers", {}).setdefault(name, header)


def _declare_headers(operation: dict[str, Any], code: str, response: dict[str, Any]) -> None:
    """The headers a success answer carries by rule (see the module's docstring)."""
    names = []
    if code == "201":
        names.append("Location")
    if "428" in operation["responses"]:
        names.append("ETag")
    headers = {
        p.get("name", "").lower()
        for p in operation.get("parameters", [])
        if p.get("in") == "header"
    }
    if IDEMPOTENCY_KEY.lower() in headers:
        names.append(REPLAYED_HEADER)
    for name in names:
        response.setdefault("headers", {}).setdefault(name, RESPONSE_HEADERS[name])


def _optional_members_not_null(schema: dict[str, Any]) -> dict[str, Any]:
    # A member that is not required is left out when it has no value, never sent as null:
    # say so (``errors`` is an array when present), rather than ``anyOf [..., null]``.
    required = set(schema.get("required", ()))
    for name, member in schema.get("properties", {}).items():
        branches = member.get("anyOf", [])
        if name in required or not any(b.get("type") == "null" for b in branches):
            continue
        (kept,) = [b for b in branches if b.get("type") != "null"]
        rest = {k: v for k, v in member.items() if k not in ("anyOf", "default")}
        schema["properties"][name] = {**kept, **rest}
    return schema


def _restore_example_nulls(document: dict[str, Any], node: Any) -> None:
    """Put back the nulls FastAPI drops from examples (it writes the document with
    ``exclude_none``): a required member that may be null (``next_cursor`` on a last page)
    would otherwise be missing from its example, and the example invalid."""
    if isinstance(node, list):
        for item in node:
            _restore_example_nulls(document, item)
        return
    if not isinstance(node, dict):
        return
    if isinstance(node.get("schema"), dict):  # a media type, a parameter or a header
        examples = [e["value"] for e in (node.get("examples") or {}).values() if "value" in e]
        for example in [*examples, *([node["example"]] if "example" in node else [])]:
            _fill_nulls(document, node["schema"], example)
    elif isinstance(node.get("examples"), list):  # a schema
        for example in node["examples"]:
            _fill_nulls(document, node, example)
    for key, value in node.items():
        if key not in ("example", "examples"):
            _restore_example_nulls(document, value)


def _fill_nulls(document: dict[str, Any], schema: dict[str, Any], example: Any) -> None:
    schema = _resolved(document, schema)
    if isinstance(example, list) and isinstance(schema.get("items"), dict):
        for item in example:
            _fill_nulls(document, schema["items"], item)
    if not isinstance(example, dict):
        return
    branches = [schema, *schema.get("allOf", []), *schema.get("anyOf", [])]
    for branch in (_resolved(document, b) for b in branches):
        properties = branch.get("properties", {})
        for name, member in properties.items():
            if name in example:
                _fill_nulls(document, member, example[name])
            elif name in branch.get("required", ()) and _nullable(document, member):
                example[name] = None


def _resolved(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema and schema["$ref"].startswith("#/components/schemas/"):
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def _nullable(document: dict[str, Any], schema: dict[str, Any]) -> bool:
    schema = _resolved(document, schema)
    return schema.get("type") == "null" or any(
        _nullable(document, branch) for branch in schema.get("anyOf", [])
    )


def _require_precondition(operation: dict[str, Any]) -> None:
    # An operation that answers 428 when `If-Match` is missing requires it, whatever the
    # handler's signature says (it declares the header optional so that it, not FastAPI's
    # validation, can answer the missing header with 428).
    for parameter in operation.get("parameters", []):
        if parameter.get("in") == "header" and parameter.get("name", "").lower() == "if-match":
            parameter["required"] = True
            schema = parameter.get("schema", {})
            strings = [b for b in schema.get("anyOf", []) if b.get("type") == "string"]
            if strings:
                parameter["schema"] = {
                    **strings[0],
                    **{k: v for k, v in schema.items() if k not in ("anyOf", "default")},
                }


def _operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document.get("paths", {}).items():
        for method in HTTP_METHODS:
            if method in item:
                yield path, method, item[method]


def _operations_using_the_database(app: FastAPI) -> set[tuple[str, str]]:
    found: set[tuple[str, str]] = set()
    for route in iter_route_contexts(app.routes):
        if not isinstance(route.original_route, APIRoute):
            continue
        if _depends_on(route.dependant, {get_unit_of_work, get_database}):
            found.update((method, str(route.path)) for method in route.methods or ())
    return found


def _depends_on(dependant: Dependant, calls: set[Callable[..., Any]]) -> bool:
    stack = [dependant]
    while stack:
        current = stack.pop()
        if current.call in calls:
            return True
        stack.extend(current.dependencies)
    return False


def _is_referenced(node: Any, ref: str) -> bool:
    if isinstance(node, dict):
        return node.get("$ref") == ref or any(_is_referenced(v, ref) for v in node.values())
    if isinstance(node, list):
        return any(_is_referenced(v, ref) for v in node)
    return False
