"""Dependencies that handlers declare as ``Annotated`` aliases so they read as prose.

The role guards are defined here and only here. Every router except auth, guidance and
health is mounted on the protected router, which requires a fully authenticated caller.
"""

from __future__ import annotations

import asyncio
import re
import uuid
import weakref
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from typing import Annotated, Any, NoReturn, TypeVar

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BeforeValidator

from core.clock import Clock
from core.context import actor_id_var, request_id_var
from core.errors import DomainError, Forbidden, Unauthenticated
from core.passwords import hashing_share
from core.tokens import InvalidToken, KeyRing, decode_access_token
from db.engine import Database
from db.unit_of_work import UnitOfWork, admit
from models.base import Moment
from models.user import Role
from services import access, identity
from services.audit import probes
from services.context import RequestContext
from services.principal import Principal

T = TypeVar("T")


async def get_database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


async def get_unit_of_work(request: Request) -> AsyncIterator[UnitOfWork]:
    """One unit of work per request (``db.unit_of_work``): committed when the handler
    returns normally, before the response is sent (so a failed commit can never follow a
    success answer), rolled back on any error. Every handler is ``async def`` and does its
    database work in one ``UnitOfWork.run``, admitted (``Database.admission``, waited for
    on the event loop) for that hop only: on SQLite the next request can start its work
    while this one validates, authenticates and answers."""
    database: Database = request.app.state.database
    uow = database.session()
    uow.deferred_admission = database.admission()
    try:
        yield uow
    except BaseException as exc:
        await uow.end(exc)
        raise
    await uow.end(None)


async def in_short_transaction(database: Database, work: Callable[[UnitOfWork], T]) -> T:
    """``work`` in a unit of work of its own, admitted like a request's and ended at once:
    for a long-lived response (the desk's stream) that must hold no connection between
    its reads."""
    uow = database.session()
    uow.deferred_admission = database.admission()
    try:
        result = await uow.run(work)
    except BaseException as exc:
        await uow.end(exc)
        raise
    await uow.end(None)
    return result


_sign_in_turns: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)


async def sign_in_turn() -> AsyncIterator[None]:
    """A turn among the sign-ins in progress (as many as argon2id may run at once, see
    ``core.passwords.hashing_share``), waited for on the event loop before the
    request is admitted to the database: queued sign-ins hold no connection."""
    loop = asyncio.get_running_loop()
    turns = _sign_in_turns.get(loop)
    if turns is None:
        turns = _sign_in_turns[loop] = asyncio.Semaphore(hashing_share())
    await admit(turns)
    try:
        yield
    finally:
        turns.release()


# RFC 3339 section 5.6, which is what OpenAPI's `format: date-time` promises: a date, `T`,
# a time with seconds, and an offset. Pydantic alone would also take a bare number
# (`?to=0.5`) as seconds since 1970, or a time without seconds.
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")


def _rfc3339(value: Any) -> Any:
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str) or not _RFC3339.match(value):
        raise ValueError("must be an RFC 3339 timestamp with an offset, e.g. 2026-11-28T09:15:00Z")
    return value


# A timestamp parameter (`?from=`, `?to=`): RFC 3339 with an offset, or a 422.
Timestamp = Annotated[Moment, BeforeValidator(_rfc3339)]

DatabaseDep = Annotated[Database, Depends(get_database)]
UnitOfWorkDep = Annotated[UnitOfWork, Depends(get_unit_of_work, scope="function")]

SignInTurn = Annotated[None, Depends(sign_in_turn, scope="function")]


# Declared so that the OpenAPI document carries a bearer security scheme (and /docs an
# "Authorize" button); the token itself is checked by ``authenticate``.
bearer_scheme = HTTPBearer(
    auto_error=False,
    bearerFormat="JWT",
    description="An access token from POST /api/v1/auth/token",
)
BearerCredentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)]


async def authenticate(
    request: Request, credentials: BearerCredentials, session: UnitOfWorkDep
) -> Principal:
    """The caller, from a verified bearer token; their account is re-read in the request's
    own transaction before anything else is (``identity.check_account_in_transaction``):
    a deactivated account or a changed token version (role, password, MFA) is refused at
    once, whatever the token's expiry. Verifying the token is CPU work, done here on the
    event loop; the re-read joins the request's unit of work.

    Its only dependencies are the token and the session (the keys and the clock are read
    from the app): every request walks this part of the dependency graph once or twice,
    and each node walked costs more than the token check itself."""
    if credentials is None or not credentials.credentials.strip():
        raise Unauthenticated()
    keys: KeyRing = request.app.state.keys
    clock: Clock = request.app.state.clock
    try:
        claims = decode_access_token(keys, credentials.credentials.strip(), now=clock.now())
    except InvalidToken:
        raise Unauthenticated("The bearer token is invalid or has expired.") from None
    principal = identity.check_account_in_transaction(session, claims)
    actor_id_var.set(str(principal.id))
    return principal


async def _refuse(uow: UnitOfWork, refusal: DomainError) -> NoReturn:
    """Raise ``refusal`` (a 403, or step-up's 401) as the request's unit of work, so that
    ``UnitOfWork.run`` runs the account check first: a token whose account has changed
    gets the 401 any other request with it gets. The request ends here, its unit of work
    with it."""

    def refuse(_: UnitOfWork) -> NoReturn:
        raise refusal

    await uow.run(refuse)


async def require_full_access(
    request: Request, credentials: BearerCredentials, session: UnitOfWorkDep
) -> Principal:
    """Any authenticated caller whose token is not limited to MFA enrolment."""
    principal = await authenticate(request, credentials, session)
    if principal.mfa_enrollment_only:
        await _refuse(
            session,
            Forbidden(
                "Your role requires two-factor authentication. Enrol at /api/v1/auth/mfa/setup "
                "and /api/v1/auth/mfa/verify, then sign in again.",
                slug="mfa-enrollment-required",
            ),
        )
    # Left in the request's own state (one per request, never anything shared) for the
    # role guards.
    request.state.fully_authenticated = principal
    return principal


class RoleGuard:
    """Admits an authenticated caller whose role is one of ``roles``; 403 otherwise. With
    ``probe`` (a kind of safeguarding record: ``concern``, ``case``, ``pupil``), a refused
    caller leaves a security event naming the record the path asks for, its
    ``{probe}_id`` (``services.audit.probes``).

    On the protected routers (``routers.PROTECTED_ROUTERS``) ``require_full_access`` has
    already admitted the caller, as the route's first dependency, and left them in the
    request's session: the guard takes that caller rather than declaring
    ``require_full_access`` again, since FastAPI walks a declared dependency's whole tree
    on every request, cached or not. Anywhere
    else it authenticates the caller itself, in the same way."""

    def __init__(self, *roles: Role, probe: str | None = None) -> None:
        self.roles = frozenset(roles)
        self.probe = probe

    async def __call__(self, request: Request, session: UnitOfWorkDep) -> Principal:
        principal: Principal | None = getattr(request.state, "fully_authenticated", None)
        if principal is None:
            principal = await require_full_access(request, await bearer_scheme(request), session)
        if principal.role not in self.roles:
            refusal = Forbidden("Your role does not allow this.")
            if self.probe is not None:
                clock: Clock = request.app.state.clock
                probes.noted(
                    refusal,
                    actor=principal.actor,
                    now=clock.now(),
                    request_id=request_id_var.get(),
                    kind=self.probe,
                    record_id=_path_id(request, f"{self.probe}_id"),
                )
            await _refuse(session, refusal)
        return principal

    def __repr__(self) -> str:
        return f"RoleGuard({', '.join(sorted(self.roles))})"


def _path_id(request: Request, name: str) -> uuid.UUID | None:
    """The id the path names as ``name``, if it is one (the route's own validation has not
    run yet: a malformed id is noted as none)."""
    try:
        return uuid.UUID(str(request.path_params[name]))
    except (KeyError, ValueError):
        return None


def _context(request: Request, principal: Principal) -> RequestContext:
    clock: Clock = request.app.state.clock
    return RequestContext(
        principal=principal,
        now=clock.now(),
        request_id=request_id_var.get(),
        guidance=request.app.state.guidance,
    )


class ContextFor:
    """The request's ``RequestContext`` for a caller whose role is one of ``roles`` (see
    ``RoleGuard``)."""

    def __init__(self, *roles: Role, probe: str | None = None) -> None:
        self.guard = RoleGuard(*roles, probe=probe)

    async def __call__(self, request: Request, session: UnitOfWorkDep) -> RequestContext:
        return _context(request, await self.guard(request, session))

    def __repr__(self) -> str:
        return f"ContextFor({self.guard!r})"


async def require_step_up(request: Request, session: UnitOfWorkDep) -> None:
    """Step-up (RFC 9470, ``access.require_recent_second_factor``): the caller signed in
    with a one-time code in the last ``CONCERNLOG_STEP_UP_MINUTES``, or a 401 whose
    ``WWW-Authenticate`` challenge says so. Declared after the route's context (its role
    guard) so a caller refused by role gets the 403 first: it takes the caller that guard
    admitted."""
    principal: Principal | None = getattr(request.state, "fully_authenticated", None)
    if principal is None:
        principal = await require_full_access(request, await bearer_scheme(request), session)
    clock: Clock = request.app.state.clock
    minutes: int = request.app.state.settings.step_up_minutes
    try:
        access.require_recent_second_factor(
            principal, now=clock.now(), max_age=timedelta(minutes=minutes)
        )
    except DomainError as refusal:
        await _refuse(session, refusal)


# Add to a route's parameters, after its context: ``_fresh: StepUp``.
StepUp = Annotated[None, Depends(require_step_up)]


# The caller, whatever their role, even with a token limited to MFA enrolment.
EnrollingUser = Annotated[Principal, Depends(authenticate)]


async def enrolling_context(request: Request, principal: EnrollingUser) -> RequestContext:
    """The request's ``RequestContext`` for any authenticated caller, even with a token
    limited to MFA enrolment (the auth router's own routes). Declared through
    ``authenticate``, and so through the bearer scheme: those routes are on a public
    router, and the OpenAPI document must still say that they take a token."""
    return _context(request, principal)


# A request's context, by who may make it.
EnrollingContext = Annotated[RequestContext, Depends(enrolling_context)]
AnyRoleContext = Annotated[RequestContext, Depends(ContextFor(*Role))]
# A person (any role but a service account's), fully signed in.
PersonContext = Annotated[
    RequestContext, Depends(ContextFor(Role.staff, Role.dsl, Role.deputy_dsl, Role.admin))
]
StaffOrDSLContext = Annotated[
    RequestContext, Depends(ContextFor(Role.staff, Role.dsl, Role.deputy_dsl))
]
DSLContext = Annotated[RequestContext, Depends(ContextFor(Role.dsl, Role.deputy_dsl))]
AdminContext = Annotated[RequestContext, Depends(ContextFor(Role.admin))]
AuditReaderContext = Annotated[
    RequestContext, Depends(ContextFor(Role.dsl, Role.deputy_dsl, Role.admin))
]
PupilEditorContext = Annotated[
    RequestContext, Depends(ContextFor(Role.admin, Role.dsl, Role.deputy_dsl))
]
MISContext = Annotated[RequestContext, Depends(ContextFor(Role.mis, Role.admin))]
# Requests for changes that need a DSL: admins make them, the DSL desk decides them.
AdminOrDSLContext = Annotated[
    RequestContext, Depends(ContextFor(Role.admin, Role.dsl, Role.deputy_dsl))
]


async def privileged_request_window(request: Request) -> timedelta:
    """How long a request for a change that needs a DSL waits for a decision (ADR 0080)."""
    days: int = request.app.state.settings.privileged_request_days
    return timedelta(days=days)


PrivilegedRequestWindow = Annotated[timedelta, Depends(privileged_request_window)]

# The same guards for routes that name a safeguarding record (or list them): a caller
# refused by role leaves a security event (``services.audit.probes``, ADR 0060).
ConcernReaderContext = Annotated[
    RequestContext,
    Depends(ContextFor(Role.staff, Role.dsl, Role.deputy_dsl, probe="concern")),
]
DSLConcernContext = Annotated[
    RequestContext, Depends(ContextFor(Role.dsl, Role.deputy_dsl, probe="concern"))
]
DSLCaseContext = Annotated[
    RequestContext, Depends(ContextFor(Role.dsl, Role.deputy_dsl, probe="case"))
]
DSLPupilFileContext = Annotated[
    RequestContext, Depends(ContextFor(Role.dsl, Role.deputy_dsl, probe="pupil"))
]
# Downloading an attachment: whoever may read the record it is on (the service decides).
AttachmentReaderContext = Annotated[
    RequestContext,
    Depends(ContextFor(Role.staff, Role.dsl, Role.deputy_dsl, probe="attachment")),
]
