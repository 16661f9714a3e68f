"""The OpenAPI document is honest and complete: what clients generate code from and what
the fuzzing in ``test_openapi_fuzz.py`` holds the API to.

The example rule: every JSON request body and every JSON success response has an example.
A schema has one when it, or its media type, carries ``example``/``examples``; or it is an
``enum``/``const`` (its values are its examples); or it refers (``$ref``) to a schema that
has one; or it is an array whose items have one; or a ``oneOf``/``anyOf``/``allOf`` whose
every branch has one; or an object whose every property has one (property-level examples).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from schemathesis.specs.openapi.adapter.validators import validate_v3

from api.deps import get_database, get_unit_of_work

PROBLEM = {"application/problem+json": {"schema": {"$ref": "#/components/schemas/Problem"}}}
METHODS = ("get", "put", "post", "delete", "patch", "options", "head", "trace")
Operation = tuple[str, str, dict[str, Any]]


@pytest.fixture
def document(public_app: FastAPI) -> dict[str, Any]:
    return public_app.openapi()


def _operations(document: dict[str, Any]) -> Iterator[Operation]:
    for path, item in document["paths"].items():
        for method in METHODS:
            if method in item:
                yield method.upper(), path, item[method]


def _resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        ref = schema["$ref"]
        assert ref.startswith("#/components/schemas/"), ref
        schema = document["components"]["schemas"][ref.rsplit("/", 1)[1]]
    return schema


def has_example(document: dict[str, Any], schema: dict[str, Any], seen: frozenset[str]) -> bool:
    if "example" in schema or schema.get("examples"):
        return True
    if "enum" in schema or "const" in schema:
        return True
    if "$ref" in schema:
        ref = schema["$ref"]
        if ref in seen:  # a recursive model: judged where the recursion started
            return True
        return has_example(document, _resolve(document, schema), seen | {ref})
    for combinator in ("oneOf", "anyOf", "allOf"):
        if combinator in schema:
            branches = [b for b in schema[combinator] if b.get("type") != "null"]
            return all(has_example(document, branch, seen) for branch in branches)
    if schema.get("type") == "array":
        return has_example(document, schema.get("items", {}), seen)
    properties = schema.get("properties")
    if properties:
        return all(has_example(document, prop, seen) for prop in properties.values())
    return False


def _json_media(content: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for media_type, media in content.items():
        if media_type == "application/json" or media_type.endswith("+json") or "form" in media_type:
            yield media_type, media


def _depends_on(dependant: Dependant, calls: set[Callable[..., Any]]) -> bool:
    stack = [dependant]
    while stack:
        current = stack.pop()
        if current.call in calls:
            return True
        stack.extend(current.dependencies)
    return False


def _database_operations(app: FastAPI) -> set[tuple[str, str]]:
    return {
        (method, str(route.path))
        for route in iter_route_contexts(app.routes)
        if isinstance(route.original_route, APIRoute)
        and _depends_on(route.dependant, {get_unit_of_work, get_database})
        for method in route.methods or ()
    }


def test_the_document_is_valid_openapi_3(document: dict[str, Any]) -> None:
    assert document["openapi"].startswith("3.")
    validate_v3(document)


def test_every_operation_has_a_summary(document: dict[str, Any]) -> None:
    missing = [f"{m} {p}" for m, p, op in _operations(document) if not op.get("summary")]
    assert missing == []


def test_every_error_is_a_problem(document: dict[str, Any]) -> None:
    wrong = [
        (f"{method} {path}", status)
        for method, path, operation in _operations(document)
        for status, response in operation["responses"].items()
        if int(status) >= 400 and response.get("content") != PROBLEM
    ]
    assert wrong == []
    assert "Problem" in document["components"]["schemas"]
    assert "HTTPValidationError" not in str(document)


def test_every_operation_documents_the_errors_it_can_answer(
    document: dict[str, Any], public_app: FastAPI
) -> None:
    uses_database = _database_operations(public_app)
    missing = []
    for method, path, operation in _operations(document):
        expected = {"500"}
        if operation.get("parameters") or "requestBody" in operation:
            expected.add("422")
        if "requestBody" in operation:
            expected.add("413")
        if operation.get("security"):
            expected |= {"401", "403"}
        if (method, path) in uses_database:
            expected.add("503")
        responses = operation["responses"]
        missing += [(f"{method} {path}", status) for status in sorted(expected - set(responses))]
        if "401" in responses:
            assert "WWW-Authenticate" in responses["401"].get("headers", {}), (method, path)
        for status in ("429", "503"):
            if status in responses:
                assert "Retry-After" in responses[status].get("headers", {}), (method, path)
    assert missing == []


def test_secured_operations_are_all_but_the_public_ones(document: dict[str, Any]) -> None:
    public = {
        f"{m} {p}"
        for m, p, op in _operations(document)
        if not op.get("security") and not p.startswith("/api/v1/auth/")
    }
    open_on_purpose = (
        "GET /healthz",
        "GET /readyz",
        "GET /api/v1/guidance",
        "GET /api/v1/categories",
        "GET /api/v1/schools/{urn}/guidance",
    )
    assert all(p.startswith(open_on_purpose) for p in public)
    # A school's drafts are not among them.
    assert not [p for p in public if "guidance-drafts" in p]


def test_every_request_and_success_response_has_an_example(document: dict[str, Any]) -> None:
    missing = []
    for method, path, operation in _operations(document):
        bodies = [("request", operation.get("requestBody", {}).get("content", {}))]
        bodies += [
            (status, response.get("content", {}))
            for status, response in operation["responses"].items()
            if status.startswith("2")
        ]
        for where, content in bodies:
            for media_type, media in _json_media(content):
                if "example" in media or media.get("examples"):
                    continue
                if not has_example(document, media.get("schema", {}), frozenset()):
                    missing.append(f"{method} {path} {where} {media_type}")
    assert missing == []


def test_a_412_or_428_goes_with_a_required_if_match(document: dict[str, Any]) -> None:
    for method, path, operation in _operations(document):
        if "428" in operation["responses"]:
            headers = {
                p["name"].lower(): p for p in operation.get("parameters", []) if p["in"] == "header"
            }
            assert headers.get("if-match", {}).get("required") is True, (method, path)


# What the document promises about errors, held to by the application itself.


def test_a_405_allows_every_method_of_the_address(public_client: TestClient) -> None:
    # Starlette names only the first matching route's methods; GET and POST /users share a path.
    response = public_client.request("OPTIONS", "/api/v1/users")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, POST"
    assert response.headers["content-type"] == "application/problem+json"


def test_a_body_that_cannot_be_decoded_is_a_422_problem(public_client: TestClient) -> None:
    response = public_client.post(
        "/api/v1/auth/logout",
        content=b'{"refresh_token": "\xff"}',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["errors"][0]["loc"] == ["body"]


@pytest.mark.parametrize(
    ("form", "loc"),
    [
        ({"grant_type": "password", "password": "x"}, ["body", "username"]),
        ({"grant_type": "client_credentials", "client_id": "cl_x"}, ["body", "client_secret"]),
        ({"grant_type": "implicit"}, ["body", "grant_type"]),
        ({}, ["body", "grant_type"]),
    ],
)
def test_the_token_form_names_what_is_missing(
    public_client: TestClient, form: dict[str, str], loc: list[str]
) -> None:
    response = public_client.post("/api/v1/auth/token", data=form)
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == loc
