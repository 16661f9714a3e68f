"""The OpenAPI document is honest and complete: what clients generate code from and what
the fuzzing in ``test_openapi_fuzz.py`` holds the API to.

The example rule: every JSON request body and every JSON success response has an example.
A schema has one when it, or its media type, carries ``example``/``examples``; or it is an
``enum``/``const`` (its values are its examples); or it refers (``$ref``) to a schema that
has one; or it is an array whose items have one; or a ``oneOf``/``anyOf``/``allOf`` whose
every branch has one; or an object whose every property has one (property-level examples).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate as validate_spec
from referencing import Registry
from referencing.jsonschema import DRAFT202012
from schemathesis.specs.openapi.adapter.validators import validate_v3

from api.deps import get_database, get_unit_of_work
from api.main import create_app
from api.openapi import operation_id
from core.settings import Settings
from models.pupil import UPN_PATTERN, _validate_upn
from tests.factories import TEST_SECRET
from tests.permissions import PUBLIC

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
        # A transfer bundle's schema and the keys that sign bundles (issue 21).
        "GET /api/v1/transfers/schema.json",
        "GET /.well-known/jwks.json",
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


# --- what a generated client needs (issue 22, point 15; ADR 0063) ---------------------------


def test_the_document_passes_openapi_spec_validator(document: dict[str, Any]) -> None:
    validate_spec(document)


def _examples(node: Any, where: str = "#") -> Iterator[tuple[str, dict[str, Any], Any]]:
    """Every example in the document, with the schema it illustrates: a schema's own
    ``example``/``examples``, and those of a parameter, header or media type (against
    its ``schema``)."""
    if isinstance(node, list):
        for i, item in enumerate(node):
            yield from _examples(item, f"{where}/{i}")
        return
    if not isinstance(node, dict):
        return
    if isinstance(node.get("schema"), dict):  # a parameter, a header or a media type
        schema = node["schema"]
        if "example" in node:
            yield f"{where}/example", schema, node["example"]
        for name, example in (node.get("examples") or {}).items():
            if "value" in example:
                yield f"{where}/examples/{name}", schema, example["value"]
    elif isinstance(node.get("examples"), list) or "example" in node:  # a schema
        bare = {k: v for k, v in node.items() if k not in ("examples", "example")}
        for i, example in enumerate(node.get("examples") or []):
            yield f"{where}/examples/{i}", bare, example
        if "example" in node:
            yield f"{where}/example", bare, node["example"]
    for key, value in node.items():
        if key not in ("example", "examples"):
            yield from _examples(value, f"{where}/{key}")


def test_every_example_is_valid_against_its_schema(document: dict[str, Any]) -> None:
    # The document as a JSON Schema resource, so that each example's schema resolves its
    # references (``#/components/schemas/...``) against the whole document.
    base = "urn:concernlog:openapi"
    rooted = json.loads(json.dumps(document).replace('"$ref": "#/', f'"$ref": "{base}#/'))
    registry = Registry().with_resource(base, DRAFT202012.create_resource(rooted))
    found = list(_examples(rooted))
    assert len(found) > 100  # the walk sees them
    wrong = []
    for where, schema, example in found:
        validator = Draft202012Validator(
            schema, registry=registry, format_checker=Draft202012Validator.FORMAT_CHECKER
        )
        wrong += [f"{where}: {error.message}" for error in validator.iter_errors(example)]
    assert wrong == []


def test_the_example_walk_sees_a_wrong_example() -> None:
    """The check itself can fail."""
    schema = {"type": "object", "properties": {"n": {"type": "integer", "examples": ["x"]}}}
    (where, bare, example) = next(_examples({"s": schema}))
    assert where == "#/s/properties/n/examples/0"
    assert list(Draft202012Validator(bare).iter_errors(example))


def test_operation_ids_are_derived_by_rule_and_unique(
    document: dict[str, Any], public_app: FastAPI
) -> None:
    names = {
        (method, str(route.path)): operation_id(route.original_route)
        for route in iter_route_contexts(public_app.routes)
        if isinstance(route.original_route, APIRoute) and route.original_route.include_in_schema
        for method in route.methods or ()
    }
    ids = [op["operationId"] for _, _, op in _operations(document)]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    for method, path, operation in _operations(document):
        assert operation["operationId"] == names[(method, path)], (method, path)
        assert re.fullmatch(r"[a-z][a-zA-Z0-9]*", operation["operationId"]), operation
    # Stable: a client generated earlier keeps its method names.
    assert set(ids) >= STABLE_OPERATION_IDS


STABLE_OPERATION_IDS = {
    "createConcern",
    "listConcerns",
    "getConcern",
    "addAddendum",
    "triageConcern",
    "searchPupils",
    "createPupil",
    "getPupil",
    "updatePupil",
    "getChronology",
    "createCase",
    "listCases",
    "getCase",
    "addAction",
    "addDecision",
    "closeCase",
    "reopenCase",
    "changeLevel",
    "linkConcerns",
    "createUser",
    "listUsers",
    "createServiceAccount",
    "listAuditEvents",
    "upsertPupils",
    "upsertStaff",
    "startSyncRun",
    "getSyncRun",
    "completeSyncRun",
    "listGuidance",
    "getGuidance",
    "issueToken",
    "refreshToken",
    "logout",
    "getMe",
}


def test_operation_ids_read_as_method_names() -> None:
    route = APIRoute("/x", endpoint=lambda: None, name="list_audit_events")
    assert operation_id(route) == "listAuditEvents"


def test_public_operations_say_so_and_the_rest_take_a_bearer_token(
    document: dict[str, Any],
) -> None:
    for method, path, operation in _operations(document):
        expected: list[dict[str, list[str]]] = (
            [] if (method, path) in PUBLIC else [{"HTTPBearer": []}]
        )
        assert operation["security"] == expected, (method, path)


def test_the_document_names_its_servers(document: dict[str, Any]) -> None:
    assert [server["url"] for server in document["servers"]] == ["/"]


def _success(operation: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for status, response in operation["responses"].items():
        if status.startswith("2"):
            yield status, response


def test_answers_declare_the_headers_they_carry(document: dict[str, Any]) -> None:
    for method, path, operation in _operations(document):
        responses = operation["responses"]
        headers = {p["name"] for p in operation.get("parameters", []) if p["in"] == "header"}
        for status, response in _success(operation):
            declared = set(response.get("headers", {}))
            if status == "201":
                assert "Location" in declared, (method, path)
            if "428" in responses:
                assert "ETag" in declared, (method, path)
            if "Idempotency-Key" in headers:
                assert "Idempotent-Replayed" in declared, (method, path)
        for status in ("429", "503"):
            if status in responses:
                assert "Retry-After" in responses[status]["headers"], (method, path)
    reads = document["paths"]["/api/v1/concerns/{concern_id}"]["get"]["responses"]["200"]
    assert "ETag" in reads["headers"]


def test_idempotent_replayed_is_exposed_to_browsers(tmp_path: Path) -> None:
    settings = Settings(
        env="test",
        database_url=f"sqlite:///{tmp_path / 'x.db'}",
        secret_key=TEST_SECRET,
        cors_origins="https://app.fictional-school.example",
    )
    with TestClient(create_app(settings)) as client:
        answer = client.get("/healthz", headers={"Origin": "https://app.fictional-school.example"})
    exposed = {
        h.strip().lower() for h in answer.headers["access-control-expose-headers"].split(",")
    }
    assert {"idempotent-replayed", "etag", "location", "retry-after"} <= exposed


def test_if_match_is_never_empty(document: dict[str, Any]) -> None:
    for method, path, operation in _operations(document):
        for parameter in operation.get("parameters", []):
            if parameter["name"] == "If-Match":
                assert parameter["schema"]["minLength"] == 1, (method, path)


@pytest.mark.parametrize(
    ("upn", "valid"),
    [
        ("Z000000026001", True),  # permanent: a check letter, 12 digits
        ("P207000016049", True),
        ("p207000016049", True),  # stored upper case
        ("H801200001A", False),  # too short
        ("H80120000100A", True),  # temporary: a letter last
        ("I80120000100A", False),  # never I, O or S
        ("H80120000100O", False),
        ("1801200001001", False),  # a letter first
        ("H8012000010011", False),
    ],
)
def test_the_upn_pattern_is_the_dfe_form(document: dict[str, Any], upn: str, valid: bool) -> None:
    schemas = document["components"]["schemas"]
    for name in ("PupilCreate", "PupilUpdate", "PupilPublic"):
        (string,) = [b for b in schemas[name]["properties"]["upn"]["anyOf"] if "pattern" in b]
        assert string["pattern"] == UPN_PATTERN
    matches = re.fullmatch(UPN_PATTERN, upn) is not None
    assert matches is valid
    # The pattern is the form the service checks (its check letter aside).
    try:
        _validate_upn(upn)
        form_ok = True
    except ValueError as exc:
        form_ok = "check letter does not match" in str(exc)
    assert form_ok is valid


def test_the_problems_optional_members_are_optional(document: dict[str, Any]) -> None:
    problem = document["components"]["schemas"]["Problem"]
    assert sorted(problem["required"]) == ["detail", "status", "title", "type"]
    for name, member in problem["properties"].items():
        if name not in problem["required"]:
            assert "anyOf" not in member and member.get("type") != "null", name


def test_mis_records_have_their_schemas(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    for batch, record in (("PupilBatch", "MISPupilRecord"), ("StaffBatch", "MISStaffRecord")):
        items = schemas[batch]["properties"]["records"]["items"]
        assert items == {"$ref": f"#/components/schemas/{record}"}
        assert {"source", "external_id", "given_name"} <= set(schemas[record]["properties"])
        assert "external_id" in schemas[record]["required"]
