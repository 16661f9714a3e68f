"""Deny by default: every route is public on purpose or guarded by a role, and one table
says what each role gets from each endpoint.

Adding an endpoint? Add its row to ``PERMISSIONS``. A route missing from the table fails
``test_every_route_is_in_the_permission_table``.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute, RouteContext, iter_route_contexts
from fastapi.testclient import TestClient

from api.deps import DSLContext, RoleGuard, authenticate, require_full_access
from tests.factories import auth, make_school, make_service_account, make_user

# Routes anyone may call without a token, deliberately.
PUBLIC = {
    ("GET", "/healthz"),
    ("GET", "/readyz"),
    ("GET", "/api/v1/healthz"),
    ("GET", "/api/v1/readyz"),
    ("GET", "/api/v1/guidance"),
    ("GET", "/api/v1/guidance/{key}"),
    ("GET", "/api/v1/guidance/{key}/indicators"),
    ("POST", "/api/v1/auth/token"),
    ("POST", "/api/v1/auth/refresh"),
    ("POST", "/api/v1/auth/logout"),
    ("GET", "/openapi.json"),
    ("GET", "/docs"),
    ("GET", "/docs/oauth2-redirect"),
    # Not role-guarded: /metrics is protected by its own token (CONCERNLOG_METRICS_TOKEN)
    # and, in production without one, answers loopback callers only.
    ("GET", "/metrics"),
}

ROLES = ("staff", "deputy_dsl", "dsl", "admin", "mis")
ANY = "any"  # any status that is not 401/403: the caller got through the guard
X = str(uuid.UUID(int=1))  # an id that exists nowhere: guarded routes answer 404 past the guard

# (method, path template, concrete path, body, {role: expected status})
# Statuses: 403 = refused by the guard; ANY = admitted (what follows depends on the data).
# Roles not named in a row's dict are expected to get 403.
# fmt: off
PERMISSIONS: list[tuple[str, str, str, Any, dict[str, int | str]]] = [
    ("GET", "/api/v1/auth/me", "/api/v1/auth/me", None,
     {"staff": 200, "deputy_dsl": 200, "dsl": 200, "admin": 200, "mis": 403}),
    # MFA enrolment: everyone in the table is already enrolled, or unprivileged staff.
    ("POST", "/api/v1/auth/mfa/setup", "/api/v1/auth/mfa/setup", None,
     {"staff": 200, "deputy_dsl": 409, "dsl": 409, "admin": 409, "mis": 403}),
    ("POST", "/api/v1/auth/mfa/verify", "/api/v1/auth/mfa/verify", {"code": "000000"},
     {"staff": 409, "deputy_dsl": 409, "dsl": 409, "admin": 409, "mis": 403}),
    # User administration: admin only.
    ("GET", "/api/v1/users", "/api/v1/users", None, {"admin": 200}),
    ("POST", "/api/v1/users", "/api/v1/users", {"email": "x"}, {"admin": 422}),
    ("GET", "/api/v1/users/{user_id}", "/api/v1/users/{id}", None, {"admin": 404}),
    ("PATCH", "/api/v1/users/{user_id}", "/api/v1/users/{id}", {}, {"admin": 404}),
    ("POST", "/api/v1/users/{user_id}/password", "/api/v1/users/{id}/password",
     {"password": "a-long-enough-fictional-pass"}, {"admin": 404}),
    ("POST", "/api/v1/users/{user_id}/reset-mfa", "/api/v1/users/{id}/reset-mfa", None,
     {"admin": 404}),
    ("GET", "/api/v1/service-accounts", "/api/v1/service-accounts", None, {"admin": 200}),
    ("POST", "/api/v1/service-accounts", "/api/v1/service-accounts", {}, {"admin": 422}),
    ("PATCH", "/api/v1/service-accounts/{account_id}", "/api/v1/service-accounts/{id}",
     {"active": False}, {"admin": 404}),
    # -- rows for later routers go below this line --
    # Audit log: DSLs and admin (metadata only, never concern content).
    ("GET", "/api/v1/audit", "/api/v1/audit", None,
     {"dsl": 200, "deputy_dsl": 200, "admin": 200}),
    ("GET", "/api/v1/audit/verify", "/api/v1/audit/verify", None,
     {"dsl": 200, "deputy_dsl": 200, "admin": 200}),
    # Pupils: staff may search to pick a child; the full record is DSL-only; admin and DSLs
    # enter pupils by hand.
    ("GET", "/api/v1/pupils", "/api/v1/pupils?q=zoe", None,
     {"staff": 200, "dsl": 200, "deputy_dsl": 200}),
    ("GET", "/api/v1/pupils/{pupil_id}", "/api/v1/pupils/{id}", None,
     {"dsl": 404, "deputy_dsl": 404}),
    ("POST", "/api/v1/pupils", "/api/v1/pupils", {},
     {"admin": 422, "dsl": 422, "deputy_dsl": 422}),
    ("PATCH", "/api/v1/pupils/{pupil_id}", "/api/v1/pupils/{id}", {},
     {"admin": 404, "dsl": 404, "deputy_dsl": 404}),
    # Concerns: staff and DSLs; admin and MIS never see concern content.
    ("POST", "/api/v1/concerns", "/api/v1/concerns", {},
     {"staff": 422, "dsl": 422, "deputy_dsl": 422}),
    ("GET", "/api/v1/concerns", "/api/v1/concerns", None,
     {"staff": 200, "dsl": 200, "deputy_dsl": 200}),
    ("GET", "/api/v1/concerns/{concern_id}", "/api/v1/concerns/{id}", None,
     {"staff": 404, "dsl": 404, "deputy_dsl": 404}),
    ("POST", "/api/v1/concerns/{concern_id}/addenda", "/api/v1/concerns/{id}/addenda",
     {"text": "Fictional.", "reason": "Fictional."}, {"staff": 404, "dsl": 404, "deputy_dsl": 404}),
    # Append-only: editing or deleting a concern is 405 for every authenticated caller.
    ("PUT", "/api/v1/concerns/{concern_id}", "/api/v1/concerns/{id}", {},
     dict.fromkeys(ROLES, 405)),
    ("PATCH", "/api/v1/concerns/{concern_id}", "/api/v1/concerns/{id}", {},
     dict.fromkeys(ROLES, 405)),
    ("DELETE", "/api/v1/concerns/{concern_id}", "/api/v1/concerns/{id}", None,
     dict.fromkeys(ROLES, 405)),
    # The DSL desk (issue 5): triage, cases, chronology, export, reports. DSLs only.
    ("POST", "/api/v1/concerns/{concern_id}/triage", "/api/v1/concerns/{id}/triage",
     {"status": "acknowledged", "reason": "Fictional."}, {"dsl": 404, "deputy_dsl": 404}),
    ("POST", "/api/v1/cases", "/api/v1/cases", {}, {"dsl": 422, "deputy_dsl": 422}),
    ("GET", "/api/v1/cases", "/api/v1/cases", None, {"dsl": 200, "deputy_dsl": 200}),
    ("GET", "/api/v1/cases/{case_id}", "/api/v1/cases/{id}", None,
     {"dsl": 404, "deputy_dsl": 404}),
    ("POST", "/api/v1/cases/{case_id}/concerns", "/api/v1/cases/{id}/concerns",
     {"concern_ids": [X]}, {"dsl": 404, "deputy_dsl": 404}),
    ("POST", "/api/v1/cases/{case_id}/actions", "/api/v1/cases/{id}/actions",
     {"type": "discussion", "description": "Fictional.", "occurred_at": "2026-11-27T15:40:00Z"},
     {"dsl": 404, "deputy_dsl": 404}),
    ("POST", "/api/v1/cases/{case_id}/decisions", "/api/v1/cases/{id}/decisions",
     {"decision": "Fictional.", "reason": "Fictional."}, {"dsl": 404, "deputy_dsl": 404}),
    ("POST", "/api/v1/cases/{case_id}/close", "/api/v1/cases/{id}/close",
     {"outcome": "Fictional.", "reason": "Fictional."}, {"dsl": 404, "deputy_dsl": 404}),
    ("POST", "/api/v1/cases/{case_id}/reopen", "/api/v1/cases/{id}/reopen",
     {"reason": "Fictional."}, {"dsl": 404, "deputy_dsl": 404}),
    ("POST", "/api/v1/cases/{case_id}/level", "/api/v1/cases/{id}/level",
     {"level": "monitoring", "reason": "Fictional."}, {"dsl": 404, "deputy_dsl": 404}),
    ("GET", "/api/v1/pupils/{pupil_id}/chronology", "/api/v1/pupils/{id}/chronology", None,
     {"dsl": 404, "deputy_dsl": 404}),
    ("GET", "/api/v1/pupils/{pupil_id}/export", "/api/v1/pupils/{id}/export?format=pdf", None,
     {"dsl": 404, "deputy_dsl": 404}),
    ("GET", "/api/v1/reports/indicators", "/api/v1/reports/indicators", None,
     {"dsl": 200, "deputy_dsl": 200}),
    ("GET", "/api/v1/reports/summary", "/api/v1/reports/summary", None,
     {"dsl": 200, "deputy_dsl": 200}),
    # MIS sync: the school's MIS service account and its admin; nobody else.
    ("PUT", "/api/v1/mis/pupils", "/api/v1/mis/pupils", {}, {"mis": 422, "admin": 422}),
    ("POST", "/api/v1/mis/wonde/students", "/api/v1/mis/wonde/students", {"data": []},
     {"mis": 200, "admin": 200}),
    ("POST", "/api/v1/mis/pupils/leavers", "/api/v1/mis/pupils/leavers", {},
     {"mis": 422, "admin": 422}),
    ("PUT", "/api/v1/mis/staff", "/api/v1/mis/staff", {}, {"mis": 422, "admin": 422}),
    ("POST", "/api/v1/mis/staff/leavers", "/api/v1/mis/staff/leavers", {},
     {"mis": 422, "admin": 422}),
    ("POST", "/api/v1/mis/sync-runs", "/api/v1/mis/sync-runs", {}, {"mis": 422, "admin": 422}),
    ("GET", "/api/v1/mis/sync-runs/{run_id}", "/api/v1/mis/sync-runs/{id}", None,
     {"mis": 404, "admin": 404}),
    ("POST", "/api/v1/mis/sync-runs/{run_id}/complete", "/api/v1/mis/sync-runs/{id}/complete",
     {}, {"mis": 404, "admin": 404}),
]
# fmt: on


def _guarded(route: RouteContext) -> bool:
    stack = [route.dependant]
    while stack:
        dependant = stack.pop()
        if isinstance(dependant.call, RoleGuard) or dependant.call in (
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
