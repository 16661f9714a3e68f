"""The engine: one per process, SQLite's and PostgreSQL's settings, and admission control."""

from __future__ import annotations

import asyncio
import os
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from db.sqlite import sqlite_engine
from db.unit_of_work import UnitOfWork

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
        return sqlite_engine(url, busy_timeout_ms)
    return create_engine(
        url,
        hide_parameters=True,  # SQL logging must never print concern text
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        pool_timeout=10,
    )


def available_cores() -> int:
    """The CPU cores this process may run on (its affinity, where the system tells)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


class Database:
    """The engine, the way to get sessions from it, and admission control.

    ``admission()`` bounds how many requests may hold a session at once (a request whose
    handler does all its database work in one hop, ``UnitOfWork.run``, holds it for that hop
    only).
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

    def session(self) -> UnitOfWork:
        """A new unit of work (see ``db.unit_of_work``); its transaction begins with its
        first statement."""
        return UnitOfWork(self.engine)

    @contextmanager
    def transaction(self) -> Iterator[UnitOfWork]:
        """A unit of work that commits when the block ends normally and rolls back
        otherwise."""
        with self.session().finishing() as session:
            yield session

    def ping(self) -> None:
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()
