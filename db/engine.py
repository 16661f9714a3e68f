"""The engine: one per process, SQLite's and PostgreSQL's settings, and admission control."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlmodel import Session

from db.driver import execute
from db.unit_of_work import finishing

T = TypeVar("T")


def normalise_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL whatever spelling the operator used."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres", "postgresql+psycopg2"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def create_db_engine(url: str, *, pool_size: int = 10, busy_timeout_ms: int = 5000) -> Engine:
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url, busy_timeout_ms)
    return create_engine(
        url,
        hide_parameters=True,  # SQL logging must never print concern text
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        pool_timeout=10,
    )


def _sqlite_engine(url: str, busy_timeout_ms: int) -> Engine:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        hide_parameters=True,  # SQL logging must never print concern text
        # The driver's own transaction handling is switched off so that we can open
        # every transaction with BEGIN IMMEDIATE below.
        connect_args={
            "check_same_thread": False,
            "isolation_level": None,
            "timeout": busy_timeout_ms / 1000,
        },
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        # Almost every request writes (reads of safeguarding content are audited), so take
        # the write lock up front: a deferred transaction that upgrades to a writer mid-way
        # fails at once with SQLITE_BUSY instead of waiting its turn. On the driver's
        # cursor (see ``db.driver.execute``): it runs once per request.
        if not _begin_without_waiting.get():
            execute(connection, "BEGIN IMMEDIATE", ()).close()
            return
        execute(connection, "PRAGMA busy_timeout=0", ()).close()
        try:
            execute(connection, "BEGIN IMMEDIATE", ()).close()
        finally:
            execute(connection, f"PRAGMA busy_timeout={int(busy_timeout_ms)}", ()).close()

    return engine


def is_sqlite_locked(error: sa_exc.DBAPIError) -> bool:
    """SQLite gave up waiting for another connection's lock (its busy timeout, or none)."""
    return "database is locked" in str(error.orig)


# Set while ``begin_if_free`` begins a transaction: SQLite's BEGIN IMMEDIATE then gives up
# at once, instead of waiting up to the busy timeout, when another connection writes.
_begin_without_waiting: ContextVar[bool] = ContextVar("begin_without_waiting", default=False)


def begin_if_free(session: Session) -> bool:
    """Begin ``session``'s transaction now if that cannot wait: on SQLite, when the
    database's write lock is free at this moment (True). False, with nothing begun, when
    another connection holds the lock (another process: a CLI command, another server
    worker), when the database is not SQLite, or when the transaction has already begun:
    the caller then runs its work where waiting is harmless (a worker thread).

    Once a SQLite transaction has begun, all its unit of work waits for is its own
    statements and the commit's fsync, never another writer: the event loop may run it
    itself (the handler's unit of work, ``api.deps.UnitOfWork.run``). What beginning runs
    (the account check) may raise."""
    if session.get_bind().dialect.name != "sqlite" or session.in_transaction():
        return False
    marker = _begin_without_waiting.set(True)
    try:
        session.connection()
    except sa_exc.OperationalError as error:
        if not is_sqlite_locked(error):
            raise
        session.rollback()
        return False
    finally:
        _begin_without_waiting.reset(marker)
    return True


def available_cores() -> int:
    """The CPU cores this process may run on (its affinity, where the system tells)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


class Database:
    """The engine, the way to get sessions from it, and admission control.

    ``admission()`` bounds how many requests may hold a session at once (a request whose
    handler does all its database work in one worker trip holds it for that trip only).
    Waiting happens on the event loop, holding nothing: without it, requests that hold a
    connection (or SQLite's lock) while waiting for a worker thread, and requests that hold
    a worker thread while waiting for a connection, can deadlock each other under load.

    How many: one on SQLite, whose transactions all take the write lock (admitting more
    only makes them sleep in SQLite's busy handler). On PostgreSQL ``concurrency``, by
    default the cores this process may use plus one, never more than the pool: a unit of
    work is mostly this process's own Python, which runs on one core at a time (the GIL),
    and every audited request of a school queues for its audit chain's head. Admitting
    more than the cores can run only makes the admitted ones take turns for the GIL while
    holding that head, so the others wait longer and none is served sooner (the
    measurements are in docs/adr/0030-admission-and-concurrency.md). A database far away
    (each round trip a millisecond or more) keeps more requests usefully in flight, and
    a CPU quota (a container's) is not seen by ``available_cores``: set it then.
    """

    def __init__(self, engine: Engine, *, concurrency: int | None = None) -> None:
        self.engine = engine
        if engine.dialect.name == "sqlite":
            max_sessions = 1
        else:
            if concurrency is not None and concurrency < 1:
                raise ValueError("at least one request must be admitted to the database")
            pool_size: int = engine.pool.size()  # type: ignore[attr-defined]
            wanted = concurrency if concurrency is not None else available_cores() + 1
            max_sessions = min(pool_size, wanted)
        self.max_sessions = max_sessions
        self._admission: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )

    def admission(self) -> asyncio.Semaphore:
        """The semaphore for the running event loop (a server has one; tests have several)."""
        loop = asyncio.get_running_loop()
        semaphore = self._admission.get(loop)
        if semaphore is None:
            semaphore = self._admission[loop] = asyncio.Semaphore(self.max_sessions)
        return semaphore

    @classmethod
    def from_url(cls, url: str, *, concurrency: int | None = None, **kwargs: Any) -> Database:
        return cls(create_db_engine(url, **kwargs), concurrency=concurrency)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def session(self) -> Session:
        # Objects stay readable after commit: responses are shaped after the commit.
        return Session(self.engine, expire_on_commit=False)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session that commits when the block ends normally and rolls back otherwise."""
        with finishing(self.session()) as session:
            yield session

    def ping(self) -> None:
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()
