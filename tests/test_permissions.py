"""Deny by default: every route is public on purpose or guarded by a role, and one table
says what each role gets from each endpoint (``tests/permissions.py``).

Adding an endpoint? Add its row to ``PERMISSIONS`` there. A route missing from the table fails
``test_every_route_is_in_the_permission_table``.
"""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts
from fastapi.testclient import TestClient

from api.deps import ContextFor, DSLContext, RoleGuard, authenticate, require_full_access
from tests.factories import auth, make_school, make_service_account, make_user
from tests.permissions import ANY, PERMISSIONS, PUBLIC, ROLES, X


def _guarded(route: RouteContext) -> bool:
    stack = [route.dependant]
    while stack:
        dependant = stack.pop()
        if isinstance(dependant.call, (RoleGuard, ContextFor)) or dependant.call in (
            authenticate,
            require_full_access,
        ):
            return True
        stack.extend(dependant.dependencies)
    return False


def _api_routes(app: FastAPI) -> list[RouteContext]:
    # Included routers are resolved lazily by FastAPI; iter_route_contexts flattens them
    # into the effective routes with their full paths and dependency trees.
    return [r for r in iter_route_contexts(app.routes) if isinstance(r.original_route, APIRoute)]


def _operations(app: FastAPI) -> set[tuple[str, str]]:
    found = set()
    for route in iter_route_contexts(app.routes):
        for method in (route.methods or set()) - {"HEAD", "OPTIONS"}:
            found.add((method, str(route.path)))
    return found


def test_route_walk_sees_every_route(public_app: FastAPI) -> None:
    paths = {path for _, path in _operations(public_app)}
    assert "/api/v1/guidance/{key}" in paths
    assert "/api/v1/users/{user_id}" in paths


def test_every_route_is_public_on_purpose_or_guarded(public_app: FastAPI) -> None:
    unguarded = [
        (method, route.path)
        for route in _api_routes(public_app)
        for method in route.methods or ()
        if (method, route.path) not in PUBLIC and not _guarded(route)
    ]
    assert unguarded == []


def test_every_route_is_in_the_permission_table(public_app: FastAPI) -> None:
    tabled = {(method, template) for method, template, *_ in PERMISSIONS}
    missing = sorted(_operations(public_app) - PUBLIC - tabled)
    assert missing == []


@pytest.fixture
def callers(app: FastAPI, database):
    school = make_school(database)
    headers = {role: auth(app, make_user(database, school, role)) for role in ROLES[:4]}
    headers["mis"] = auth(app, make_service_account(database, school))
    return headers


@pytest.mark.parametrize(
    ("method", "template", "path", "body", "expected"),
    PERMISSIONS,
    ids=lambda v: str(v) if isinstance(v, str) else "",
)
def test_role_table(client: TestClient, callers, method, template, path, body, expected) -> None:
    for role in ROLES:
        response = client.request(method, path.format(id=X), headers=callers[role], json=body)
        want = expected.get(role, 403)
        if want == ANY:
            assert response.status_code not in (401, 403), (
                role,
                response.status_code,
                response.text,
            )
        else:
            assert response.status_code == want, (role, response.status_code, response.text)
        unauthenticated = client.request(method, path.format(id=X), json=body)
        assert unauthenticated.status_code == 401
        assert unauthenticated.headers["www-authenticate"] == "Bearer"


def test_a_role_guard_authenticates_by_itself_outside_the_protected_routers(
    app: FastAPI, client: TestClient, database
) -> None:
    # On the protected routers the guard takes the caller ``require_full_access`` admitted
    # first; on a route without it, the guard must admit no one that it would not.
    async def dsl_only(context: DSLContext) -> dict[str, str]:
        return {"id": str(context.principal.id)}

    app.add_api_route("/test-only/dsl", dsl_only)
    school = make_school(database)
    dsl = make_user(database, school, "dsl")
    staff = make_user(database, school, "staff")
    assert client.get("/test-only/dsl").status_code == 401
    assert client.get("/test-only/dsl", headers=auth(app, staff)).status_code == 403
    enrolling = client.get("/test-only/dsl", headers=auth(app, dsl, mfa_enrollment_only=True))
    assert enrolling.status_code == 403
    assert enrolling.json()["type"].endswith("/mfa-enrollment-required")
    stale = client.get("/test-only/dsl", headers=auth(app, dsl, token_version=99))
    assert stale.status_code == 401
    admitted = client.get("/test-only/dsl", headers=auth(app, dsl))
    assert admitted.status_code == 200 and admitted.json() == {"id": str(dsl.id)}
