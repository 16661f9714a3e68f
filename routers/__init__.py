"""Routers: one thin module per resource.

``public_router`` holds the deliberately public routes (health, guidance, and the auth
endpoints that issue tokens). Everything else is mounted on ``protected_router``, which
requires an authenticated caller, so a new route cannot be public by accident.
"""

from fastapi import APIRouter, Depends

from api.deps import require_full_access
from routers import (
    audit,
    auth,
    cases,
    concerns,
    guidance,
    health,
    mis,
    pupils,
    reports,
    service_accounts,
    triage,
    users,
)

public_router = APIRouter()
public_router.include_router(guidance.router)
# /auth/token, /refresh and /logout are public by nature; /auth/me and /auth/mfa/* declare
# their own authentication (they admit tokens limited to MFA enrolment).
public_router.include_router(auth.router)

health_router = health.router

protected_router = APIRouter(dependencies=[Depends(require_full_access)])
# A request is matched against the routes in this order: the concern routes, which staff
# and DSLs use all day, come first.
protected_router.include_router(concerns.router)
protected_router.include_router(triage.router)
protected_router.include_router(pupils.router)
protected_router.include_router(cases.router)
protected_router.include_router(reports.router)
protected_router.include_router(users.router)
protected_router.include_router(service_accounts.router)
protected_router.include_router(audit.router)
protected_router.include_router(mis.router)
