"""A unit of work: one session, one transaction, committed or rolled back once, and all
that runs per transaction, stated here.

Per transaction a ``UnitOfWork`` runs, in this order:

1. its *first checks* (``check_first``), as the first statements of the transaction,
   before anything else reads or writes: the caller's account, re-read
   (``services.identity``). A unit of work that never reaches the database runs them
   before its commit instead, so a check can never be skipped;
2. the work itself;
3. when the transaction (or a savepoint) ends, it forgets what layers kept for that
   transaction only (``transaction_memo``: the audit chain heads it has locked);
4. when the work failed with a domain error that has an ``aftermath`` (a refused read's
   security event), that aftermath, in a short transaction of its own after the request's
   own was rolled back, committed before the answer goes out.

A request does all of this in one hop (``run``): admitted to the database for that hop
only (``Database.admission``), on SQLite on the event loop itself when the write lock is
free, else in a worker thread; the commit's I/O always in a worker thread.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from anyio import to_thread
from sqlalchemy import Connection, Engine, event
from sqlalchemy import exc as sa_exc
from sqlmodel import Session

from core.errors import DomainError, Forbidden, ServiceUnavailable
from db.sqlite import is_sqlite_locked, without_waiting

T = TypeVar("T")

log = logging.getLogger(__name__)

# How long a request may queue for the database before it is answered 503.
ADMISSION_TIMEOUT_SECONDS = 10.0

FirstCheck = Callable[[Connection], None]


class UnitOfWork(Session):
    """A session whose transaction is one unit of work (see the module's docstring).
    Objects stay readable after the commit: answers are shaped after it."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine, expire_on_commit=False)
        self.finished = False
        # Taken by ``run`` for its hop, when the request was not admitted before.
        self.deferred_admission: asyncio.Semaphore | None = None
        self._first_checks: list[FirstCheck] = []
        self._memo: dict[Hashable, Any] = {}

    # --- what runs per transaction ---------------------------------------------------

    def check_first(self, check: FirstCheck) -> None:
        """Run ``check`` as the transaction's first statement (see the module's
        docstring). The transaction must not have begun (``RuntimeError``): a check
        arranged later would never run first."""
        if self.in_transaction():
            raise RuntimeError("a first check must be arranged before the transaction begins")
        self._first_checks.append(check)

    @property
    def has_pending_checks(self) -> bool:
        return bool(self._first_checks)

    def run_pending_checks(self, connection: Connection | None = None) -> None:
        """Run the first checks now, if they have not run yet (beginning the transaction
        runs them; so does this)."""
        while self._first_checks:
            check = self._first_checks.pop(0)
            check(connection if connection is not None else self.connection())

    def transaction_memo(self) -> dict[Hashable, Any]:
        """Values a layer keeps for the current transaction only, forgotten when it (or a
        savepoint) ends: a rolled-back savepoint may have taken their writes with it."""
        return self._memo

    # --- the end --------------------------------------------------------------------

    def finish(self, error: BaseException | None) -> None:
        """Commit on success, roll back on error (except a domain error that keeps its
        writes: a failed sign-in keeps its throttling row), then run and commit the
        error's ``aftermath`` if it has one (a refused read's security event), then close.
        Once; later calls do nothing."""
        if self.finished:
            return
        self.finished = True
        try:
            if error is None or (isinstance(error, DomainError) and error.keeps_writes):
                self.commit()
            else:
                self.rollback()
            aftermath = aftermath_of(error)
            if aftermath is not None:
                self._run_aftermath(aftermath)
        finally:
            self.close()

    def _run_aftermath(self, aftermath: Callable[[UnitOfWork], None]) -> None:
        """Run and commit what a failed request leaves behind, in a transaction of its own.
        If that fails, the request still gets its own answer (the error it raised): the
        failure is logged by its class only (ADR 0043), never turned into a 500."""
        try:
            aftermath(self)
            self.commit()
        except Exception as failure:
            self.rollback()
            log.warning(
                "what a refused request leaves behind could not be recorded (%s)",
                type(failure).__name__,
            )

    @contextmanager
    def finishing(self) -> Iterator[UnitOfWork]:
        """This unit of work for a block, then ``finish``: commit when the block ends
        normally, roll back when it raises."""
        try:
            yield self
        except BaseException as exc:
            self.finish(exc)
            raise
        self.finish(None)

    def _run_and_finish(self, work: Callable[[], T]) -> T:
        with self.finishing():
            return work()

    # --- one hop for a request --------------------------------------------------------

    def begin_if_free(self) -> bool:
        """Begin the transaction now if that cannot wait: on SQLite, when the database's
        write lock is free at this moment (True). False, with nothing begun, when another
        connection holds the lock (another process: a CLI command, another server worker),
        when the database is not SQLite, or when the transaction has already begun: the
        caller then runs its work where waiting is harmless (a worker thread).

        Once a SQLite transaction has begun, all its unit of work waits for is its own
        statements and the commit's fsync, never another writer: the event loop may run
        it itself. What beginning runs (the first checks) may raise."""
        if self.get_bind().dialect.name != "sqlite" or self.in_transaction():
            return False
        with without_waiting():
            try:
                self.connection()
            except sa_exc.OperationalError as error:
                if not is_sqlite_locked(error):
                    raise
                self.rollback()
                return False
        return True

    async def run(self, work: Callable[[UnitOfWork], T], *, cpu_bound: bool = False) -> T:
        """Run a request's unit of work and its commit (``work(self)``) in one hop, and
        finish: the caller answers after the commit. Admitted for the hop only.

        On SQLite, when the write lock is free, the statements run on the event loop and
        only the commit (its fsync) goes to a worker thread: in a thread, each statement
        handed the GIL back and forth with the loop. PostgreSQL's statements are network
        round trips, and ``cpu_bound`` work (password hashing) would stall the loop: the
        whole unit of work goes to a worker thread."""

        def checked() -> T:
            try:
                return work(self)
            except Forbidden:
                # Refused before reaching the database (a role that may not do this): a
                # token whose account has changed still gets the 401 every request gets.
                self.run_pending_checks()
                raise

        async with self.admitted():
            if cpu_bound or not self._began_on_loop():
                return await to_thread.run_sync(self._run_and_finish, checked)
            try:
                result = checked()
            except BaseException as error:
                if aftermath_of(error) is None:
                    self.finish(error)  # a rollback: nothing to wait for
                else:  # a transaction more, and its commit: in a worker thread
                    await to_thread.run_sync(self.finish, error)
                raise
            await to_thread.run_sync(self.finish, None)
            return result

    async def end(self, error: BaseException | None) -> None:
        """Finish, if the request's work has not: in a worker thread when that does I/O;
        in place when the session never reached the database and nothing is left to check
        (a refused token's 401 or a 422 must not queue behind the writers for a hop that
        would roll back nothing)."""
        if self.finished:
            return
        if (
            not self.in_transaction()
            and (error is not None or not self.has_pending_checks)
            and aftermath_of(error) is None
        ):
            self.finish(error)
            return
        async with self.admitted():
            await to_thread.run_sync(self.finish, error)

    def _began_on_loop(self) -> bool:
        try:
            return self.begin_if_free()
        except BaseException as error:  # the first checks refused, or worse
            self.finish(error)
            raise

    def admitted(self) -> _Admitted:
        """Admission (``Database.admission``) for a hop, if the request was not admitted
        already."""
        if self.finished:
            raise RuntimeError("this unit of work is already committed or rolled back")
        deferred, self.deferred_admission = self.deferred_admission, None
        return _Admitted(deferred)


def aftermath_of(error: BaseException | None) -> Callable[[UnitOfWork], None] | None:
    """What a failed unit of work must still run and commit (``DomainError.aftermath``)."""
    return error.aftermath if isinstance(error, DomainError) else None


class _Admitted:
    """``async with``: holds an admission (if any) for the block."""

    __slots__ = ("_admission",)

    def __init__(self, admission: asyncio.Semaphore | None) -> None:
        self._admission = admission

    async def __aenter__(self) -> None:
        if self._admission is not None:
            await admit(self._admission)

    async def __aexit__(self, *_: object) -> None:
        if self._admission is not None:
            self._admission.release()


async def admit(admission: asyncio.Semaphore) -> None:
    """Wait on the event loop, holding nothing, for a turn; 503 after
    ``ADMISSION_TIMEOUT_SECONDS``."""
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


# What runs per transaction, for units of work only (never for other sessions).


@event.listens_for(UnitOfWork, "after_begin")
def _first_checks_first(session: UnitOfWork, _transaction: Any, connection: Connection) -> None:
    session.run_pending_checks(connection)


@event.listens_for(UnitOfWork, "before_commit")
def _first_checks_before_commit(session: UnitOfWork) -> None:
    session.run_pending_checks()


@event.listens_for(UnitOfWork, "after_transaction_end")
def _forget_transaction_memo(session: UnitOfWork, _transaction: Any) -> None:
    session._memo.clear()
