"""The database: one engine per process, one session per request."""

from __future__ import annotations

import asyncio
import sqlite3
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlmodel import Session

from services.errors import DomainError

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
    def _on_begin(connection: Any) -> None:
        # Almost every request writes (reads of safeguarding content are audited), so take
        # the write lock up front: a deferred transaction that upgrades to a writer mid-way
        # fails at once with SQLITE_BUSY instead of waiting its turn.
        connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


@contextmanager
def finishing(session: Session) -> Iterator[Session]:
    """``session`` for a block, then ``finish``: commit when the block ends normally, roll
    back (see ``finish``) when it raises."""
    try:
        yield session
    except BaseException as exc:
        finish(session, exc)
        raise
    finish(session, None)


def run_and_finish(session: Session, work: Callable[[], T]) -> T:
    """Run ``work`` with ``session``, then commit (or, if it raised, roll back): the
    request's whole unit of work in one call, so in one worker thread."""
    with finishing(session):
        return work()


class Database:
    """The engine, the way to get sessions from it, and admission control.

    ``admission()`` bounds how many requests may hold a session at once (a request whose
    handler does all its database work in one worker trip holds it for that trip only): the
    pool size on PostgreSQL, one on SQLite (whose transactions all take the write lock, so
    admitting more only makes them sleep in SQLite's busy handler). Waiting happens on the
    event loop, holding nothing: without it, requests that hold a connection (or SQLite's
    lock) while waiting for a worker thread, and requests that hold a worker thread while
    waiting for a connection, can deadlock each other under load.
    """

    def __init__(self, engine: Engine, *, max_sessions: int | None = None) -> None:
        self.engine = engine
        if max_sessions is None:
            max_sessions = 1 if engine.dialect.name == "sqlite" else engine.pool.size()  # type: ignore[attr-defined]
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
    def from_url(cls, url: str, **kwargs: Any) -> Database:
        return cls(create_db_engine(url, **kwargs))

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


# session.info key: set once the session has been committed or rolled back and closed.
_FINISHED = "concernlog.db.finished"


def is_finished(session: Session) -> bool:
    return bool(session.info.get(_FINISHED))


def finish(session: Session, error: BaseException | None) -> None:
    """End a unit of work: commit on success, roll back on error (except a domain error
    that keeps its writes: a failed sign-in keeps its throttling row), then close. A
    session is finished once; later calls do nothing."""
    if is_finished(session):
        return
    session.info[_FINISHED] = True
    try:
        if error is None or (isinstance(error, DomainError) and error.keeps_writes):
            session.commit()
        else:
            session.rollback()
    finally:
        session.close()
