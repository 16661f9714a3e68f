"""Routers: one thin module per resource.

``PUBLIC_ROUTERS`` are the deliberately public routes (guidance, categories, and the auth
endpoints that issue tokens; health beside them). Everything else is in ``PROTECTED_ROUTERS``, whose
every route requires an authenticated caller, so a new route cannot be public by accident.
"""

from fastapi import APIRouter, Depends, FastAPI

from api.deps import require_full_access
from routers import (
    alerts,
    attachments,
    audit,
    auth,
    cases,
    categories,
    concerns,
    guidance,
    guidance_drafts,
    health,
    inbox,
    links,
    mis,
    patterns,
    privileged_requests,
    profile,
    pupils,
    referrals,
    reports,
    retention,
    school_guidance,
    service_accounts,
    staff,
    stream,
    subject_access,
    tasks,
    transfers,
    triage,
    users,
    webhooks,
)

# Deliberately public: the guidance (built in, and each school's published documents), the
# categories, and the auth endpoints. /auth/token, /refresh and /logout are public by
# nature; /auth/me and /auth/mfa/* declare their own authentication (they admit tokens
# limited to MFA enrolment).
PUBLIC_ROUTERS: tuple[APIRouter, ...] = (
    guidance.router,
    school_guidance.router,
    categories.router,
    auth.router,
)

# Everything else: every route of these requires a fully authenticated caller (their own
# role guards come on top). A request is matched against the routes in this order: the
# concern routes, which staff and DSLs use all day, come first.
PROTECTED_ROUTERS: tuple[APIRouter, ...] = (
    concerns.router,
    triage.router,
    pupils.router,
    subject_access.router,
    retention.router,
    cases.router,
    referrals.router,
    profile.router,
    inbox.router,
    tasks.router,
    transfers.router,
    staff.router,
    reports.router,
    guidance_drafts.router,
    users.router,
    privileged_requests.router,
    service_accounts.router,
    audit.router,
    alerts.router,
    webhooks.router,
    stream.router,
    attachments.router,
    patterns.router,
    links.router,
    mis.router,
)


def include_routers(app: FastAPI, *, prefix: str) -> None:
    """Mount every router on ``app``, the API's under ``prefix``; health also at the root.

    Each router is included in the app itself, with the authentication it needs, rather
    than in one protected router included in turn: FastAPI matches a request once per level
    of nesting and walks every level's routes again to handle it (see
    docs/adr/0042-dependency-graph-and-route-order.md)."""
    # The built-in guidance first: its few routes cost every other request little, and
    # the most requested public document (and its 304s) need not walk every protected
    # route before its own (docs/adr/0112).
    app.include_router(guidance.router, prefix=prefix)
    # Public routes whose paths a protected template would also match (the bundle schema,
    # /transfers/schema.json, beside /transfers/{transfer_id}) come before them.
    app.include_router(transfers.public_router, prefix=prefix)
    for router in PROTECTED_ROUTERS:
        app.include_router(router, prefix=prefix, dependencies=[Depends(require_full_access)])
    for router in PUBLIC_ROUTERS:
        if router is not guidance.router:
            app.include_router(router, prefix=prefix)
    app.include_router(health.router)
    # The keys that sign transfer bundles, where JWKS are looked for (RFC 8615).
    app.include_router(transfers.well_known_router)
    app.include_router(health.router, prefix=prefix, include_in_schema=False)
