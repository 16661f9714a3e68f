"""Dependencies that handlers declare as ``Annotated`` aliases so they read as prose.

The role guards are defined here and only here. Every router except auth, guidance and
health is mounted on the protected router, which requires a fully authenticated caller.
"""

from __future__ import annotations

import asyncio
import inspect
import re
import weakref
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated, Any, NoReturn, TypeVar

from fastapi import Depends, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import AwareDatetime, BeforeValidator
from sqlmodel import Session

from core.clock import Clock
from core.context import actor_id_var, request_id_var
from core.errors import Forbidden, ServiceUnavailable, Unauthenticated
from core.passwords import hashing_concurrency
from core.settings import Settings
from core.tokens import InvalidToken, KeyRing, decode_access_token
from db.engine import Database, begin_if_free
from db.unit_of_work import finish, is_finished, run_and_finish
from models.user import Role
from services import identity
from services.context import RequestContext
from services.guidance import GuidanceLibrary
from services.principal import Principal

T = TypeVar("T")
Handler = TypeVar("Handler", bound=Callable[..., Any])

# How long a request may queue for a database session before it is answered 503.
ADMISSION_TIMEOUT_SECONDS = 10.0


async def get_database(request: Request) -> Database:
    database: Database = request.app.state.database
    return database


async def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


# session.info key: the admission a request takes for its unit of work (not before).
_DEFERRED_ADMISSION = "concernlog.deps.deferred_admission"


def one_trip(handler: Handler) -> Handler:
    """Transitional no-op: every ``async def`` handler now runs its unit of work through
    ``UnitOfWork.run`` and is admitted for that hop only."""
    return handler


async def _admit(admission: asyncio.Semaphore) -> None:
    if not admission.locked():
        # Free now (and nobody queued before us): taken without waiting. ``wait_for``
        # would wrap the acquire in a task of its own, on every request.
        await admission.acquire()
        return
    try:
        await asyncio.wait_for(admission.acquire(), timeout=ADMISSION_TIMEOUT_SECONDS)
    except TimeoutError:
        raise ServiceUnavailable(
            "The service is overloaded; nothing was saved. Try again shortly.",
            retry_after_seconds=2,
        ) from None


async def get_session(request: Request) -> AsyncIterator[Session]:
    """One session per request: committed when the handler returns normally, before the
    response is sent (so a failed commit can never follow a success answer), rolled back
    on any error. Admission is bounded (see ``Database.admission``); the wait is on the
    event loop, from here to the end of the request, or only for its worker trip when
    the handler is marked ``one_trip``. The dependency itself is async so that it costs
    no worker thread; the commit, which does I/O, runs in one."""
    database: Database = request.app.state.database
    session = database.session()
    admission = database.admission()
    if inspect.iscoroutinefunction(request.scope.get("endpoint")):
        # An ``async def`` handler does its database work through ``UnitOfWork.run``: it is
        # admitted for that hop only, not from the moment its dependencies are solved, so
        # on SQLite the next request can start its work while this one validates,
        # authenticates and answers. A sync handler uses the session in its own thread.
        session.info[_DEFERRED_ADMISSION] = admission
        admitted = None
    else:
        await _admit(admission)
        admitted = admission
    try:
        try:
            yield session
        except BaseException as exc:
            await _end(session, exc)
            raise
        await _end(session, None)
    finally:
        if admitted is not None:
            admitted.release()


async def _end(session: Session, error: BaseException | None) -> None:
    """Finish the session if the handler has not: in a worker trip when that does I/O; in
    place when the session never reached the database and nothing is left to check (a
    refused token's 401 or a 422 must not queue behind the writers for a trip that would
    roll back nothing)."""
    if is_finished(session):
        return
    if not session.in_transaction() and (
        error is not None or not identity.has_pending_check(session)
    ):
        finish(session, error)
        return
    await _trip(session, finish, session, error)


@asynccontextmanager
async def _admitted_for_trip(session: Session) -> AsyncIterator[None]:
    """Admission (see ``Database.admission``) for a request's trip, if the request was not
    admitted already (a ``one_trip`` handler's is deferred to here)."""
    if is_finished(session):
        raise RuntimeError("this request's unit of work is already committed or rolled back")
    deferred: asyncio.Semaphore | None = session.info.pop(_DEFERRED_ADMISSION, None)
    if deferred is None:
        yield
        return
    await _admit(deferred)
    try:
        yield
    finally:
        deferred.release()


async def _trip(session: Session, call: Callable[..., T], *args: Any) -> T:
    """``call(*args)`` in a worker thread, admitted for the trip (``_admitted_for_trip``)."""
    async with _admitted_for_trip(session):
        return await run_in_threadpool(call, *args)


def _began_on_loop(session: Session) -> bool:
    try:
        return begin_if_free(session)
    except BaseException as error:  # the account check refused the token, or worse
        finish(session, error)
        raise


async def in_one_trip(session: Session, work: Callable[[], T], *, cpu_bound: bool = False) -> T:
    """Run a request's unit of work and its commit (``work`` with ``session``) in one trip
    to a worker thread, for ``async def`` handlers on hot paths (mark them ``one_trip``):
    a sync handler costs a trip for itself, one for its commit and one for validating its
    answer, ~0.2 ms each. The session is finished when this returns, so the handler
    answers after the commit.

    On SQLite, when the database's write lock is free (``db.engine.begin_if_free``: every
    time unless another process writes), the statements run on the event loop itself and
    only the commit goes to a worker thread: in a thread each statement handed the GIL
    back and forth with the loop, which cost more than the statements. The commit (its
    fsync) stays off the loop: on the loop too, throughput rose by half again but the p99
    latency tripled, every connection waiting out each slow fsync (docs/decisions.md).
    PostgreSQL's statements are network round trips: the whole unit of work goes to a
    worker thread."""

    def checked() -> T:
        try:
            return work()
        except Forbidden:
            # Refused before reaching the database (a role that may not see concerns): a
            # token whose account has changed still gets the 401 every request gets.
            identity.check_pending_account(session)
            raise

    async with _admitted_for_trip(session):
        if cpu_bound or not _began_on_loop(session):
            return await run_in_threadpool(run_and_finish, session, checked)
        try:
            result = checked()
        except BaseException as error:
            finish(session, error)  # a rollback: nothing to wait for
            raise
        await run_in_threadpool(finish, session, None)
        return result


_sign_in_turns: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
    weakref.WeakKeyDictionary()
)


async def sign_in_turn() -> AsyncIterator[None]:
    """A turn among the sign-ins in progress (as many as argon2id may run at once, see
    ``core.passwords.hashing_concurrency``), waited for on the event loop before the
    request is admitted to the database: queued sign-ins hold no connection."""
    loop = asyncio.get_running_loop()
    turns = _sign_in_turns.get(loop)
    if turns is None:
        turns = _sign_in_turns[loop] = asyncio.Semaphore(hashing_concurrency())
    await _admit(turns)
    try:
        yield
    finally:
        turns.release()


async def get_guidance(request: Request) -> GuidanceLibrary:
    library: GuidanceLibrary = request.app.state.guidance
    return library


async def get_now(request: Request) -> datetime:
    clock: Clock = request.app.state.clock
    return clock.now()


async def get_request_id() -> str | None:
    return request_id_var.get()


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
Timestamp = Annotated[AwareDatetime, BeforeValidator(_rfc3339)]

DatabaseDep = Annotated[Database, Depends(get_database)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
SessionDep = Annotated[Session, Depends(get_session, scope="function")]


class UnitOfWork:
    """The request's unit of work: its session, and the one way a handler uses it.

    ``await uow.run(lambda session: service.call(session, context, ...))`` runs the work
    and its commit (or rollback) in one hop (see ``in_one_trip``), admitted to the
    database for that hop only; the handler answers after the commit. ``cpu_bound`` work
    (argon2id password hashing) always goes to a worker thread, never the event loop."""

    __slots__ = ("session",)

    def __init__(self, session: Session) -> None:
        self.session = session

    async def run(self, work: Callable[[Session], T], *, cpu_bound: bool = False) -> T:
        session = self.session
        return await in_one_trip(session, lambda: work(session), cpu_bound=cpu_bound)


async def get_unit_of_work(session: SessionDep) -> UnitOfWork:
    return UnitOfWork(session)


UnitOfWorkDep = Annotated[UnitOfWork, Depends(get_unit_of_work)]
GuidanceDep = Annotated[GuidanceLibrary, Depends(get_guidance)]
NowDep = Annotated[datetime, Depends(get_now)]
RequestIdDep = Annotated[str | None, Depends(get_request_id)]
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
    request: Request, credentials: BearerCredentials, session: SessionDep
) -> Principal:
    """The caller, from a verified bearer token; their account is re-read in the request's
    own transaction before anything else is (``identity.check_account_in_transaction``):
    a deactivated account or a changed token version (role, password, MFA) is refused at
    once, whatever the token's expiry. Verifying the token is CPU work, done here on the
    event loop; the re-read joins the request's one trip to a worker thread.

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


async def _refuse(session: Session, refusal: Forbidden) -> NoReturn:
    """Raise ``refusal`` (403) as the request's unit of work, so that ``in_one_trip`` runs
    the account check first: a token whose account has changed gets the 401 any other
    request with it gets. The request ends here, its session with it."""

    def refuse() -> NoReturn:
        raise refusal

    await in_one_trip(session, refuse)


# Where ``require_full_access`` leaves the caller it admitted, for the role guards: in the
# request's own session (one per request), never anything shared.
_FULLY_AUTHENTICATED = "concernlog.fully_authenticated_principal"


async def require_full_access(
    request: Request, credentials: BearerCredentials, session: SessionDep
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
    session.info[_FULLY_AUTHENTICATED] = principal
    return principal


class RoleGuard:
    """Admits an authenticated caller whose role is one of ``roles``; 403 otherwise.

    On the protected routers (``routers.PROTECTED_ROUTERS``) ``require_full_access`` has
    already admitted the caller, as the route's first dependency, and left them in the
    request's session: the guard takes that caller rather than declaring
    ``require_full_access`` again, since FastAPI walks a declared dependency's whole tree
    on every request, cached or not (3.5 % of a read's instructions, issue #7). Anywhere
    else it authenticates the caller itself, in the same way."""

    def __init__(self, *roles: Role) -> None:
        self.roles = frozenset(roles)

    async def __call__(self, request: Request, session: SessionDep) -> Principal:
        principal: Principal | None = session.info.get(_FULLY_AUTHENTICATED)
        if principal is None:
            principal = await require_full_access(request, await bearer_scheme(request), session)
        if principal.role not in self.roles:
            await _refuse(session, Forbidden("Your role does not allow this."))
        return principal

    def __repr__(self) -> str:
        return f"RoleGuard({', '.join(sorted(self.roles))})"


class ContextFor:
    """The request's ``RequestContext`` for a caller whose role is one of ``roles`` (see
    ``RoleGuard``), or, with no roles, for any authenticated caller even with a token
    limited to MFA enrolment."""

    def __init__(self, *roles: Role) -> None:
        self.guard = RoleGuard(*roles) if roles else None

    async def __call__(self, request: Request, session: SessionDep) -> RequestContext:
        if self.guard is None:
            principal = await authenticate(request, await bearer_scheme(request), session)
        else:
            principal = await self.guard(request, session)
        clock: Clock = request.app.state.clock
        return RequestContext(
            principal=principal,
            now=clock.now(),
            request_id=request_id_var.get(),
            guidance=request.app.state.guidance,
        )

    def __repr__(self) -> str:
        return f"ContextFor({self.guard!r})"


# A request's context, by who may make it.
EnrollingContext = Annotated[RequestContext, Depends(ContextFor())]
AnyRoleContext = Annotated[RequestContext, Depends(ContextFor(*Role))]
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

# The caller, whatever their role, even with a token limited to MFA enrolment.
EnrollingUser = Annotated[Principal, Depends(authenticate)]
# The caller, whatever their role, fully authenticated.
CurrentPrincipal = Annotated[Principal, Depends(require_full_access)]

StaffOrDSL = Annotated[Principal, Depends(RoleGuard(Role.staff, Role.dsl, Role.deputy_dsl))]
DSLOnly = Annotated[Principal, Depends(RoleGuard(Role.dsl, Role.deputy_dsl))]
AdminOnly = Annotated[Principal, Depends(RoleGuard(Role.admin))]
AuditReader = Annotated[Principal, Depends(RoleGuard(Role.dsl, Role.deputy_dsl, Role.admin))]
PupilEditor = Annotated[Principal, Depends(RoleGuard(Role.admin, Role.dsl, Role.deputy_dsl))]
MISService = Annotated[Principal, Depends(RoleGuard(Role.mis, Role.admin))]
# Every role that exists: for routes any authenticated caller may use (405 answers).
AnyRole = Annotated[Principal, Depends(RoleGuard(*Role))]
