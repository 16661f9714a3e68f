"""SQLite as concernlog runs it: WAL, ``synchronous=FULL``, foreign keys, a busy timeout,
and every transaction opened with ``BEGIN IMMEDIATE``."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url

from db.driver import execute


def sqlite_engine(url: str, busy_timeout_ms: int) -> Engine:
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
        if not begin_without_waiting.get():
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


# Set while ``without_waiting`` is: SQLite's BEGIN IMMEDIATE then gives up at once,
# instead of waiting up to the busy timeout, when another connection writes.
begin_without_waiting: ContextVar[bool] = ContextVar("begin_without_waiting", default=False)


@contextmanager
def without_waiting() -> Iterator[None]:
    """Transactions begun in this block fail at once (``is_sqlite_locked``) rather than
    wait for another connection's write lock."""
    marker = begin_without_waiting.set(True)
    try:
        yield
    finally:
        begin_without_waiting.reset(marker)
