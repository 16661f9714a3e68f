"""On SQLite a hot request's unit of work runs on the event loop when the database's write
lock is free (``UnitOfWork.begin_if_free``), and in a worker thread, waiting its turn, when
another connection (another process) holds it. Both must do the same work."""

from __future__ import annotations

import sqlite3
import threading
import time
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func
from sqlalchemy.engine import make_url
from sqlmodel import select

from core.clock import FrozenClock
from db.engine import Database
from models import AuditEvent
from tests.desk import CONCERNS, World, create


@pytest.fixture
def sqlite_only(backend: str) -> None:
    if backend != "sqlite":
        pytest.skip("SQLite's write lock")


def _hold_write_lock(url: str) -> sqlite3.Connection:
    holder = sqlite3.connect(make_url(url).database or "", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    return holder


def test_begin_if_free_begins_only_when_nobody_writes(
    sqlite_only: None, database: Database, migrated_url: str
) -> None:
    session = database.session()
    try:
        assert session.begin_if_free() is True
        assert session.in_transaction()
    finally:
        session.rollback()
        session.close()

    holder = _hold_write_lock(migrated_url)
    session = database.session()
    try:
        started = time.perf_counter()
        assert session.begin_if_free() is False
        assert time.perf_counter() - started < 1  # gave up at once, not after the busy timeout
        assert not session.in_transaction()
        holder.execute("ROLLBACK")
        session.connection()  # the same session begins normally afterwards
        assert session.in_transaction()
    finally:
        holder.close()
        session.rollback()
        session.close()


def test_begin_if_free_is_sqlite_only(database: Database, backend: str) -> None:
    session = database.session()
    try:
        assert session.begin_if_free() is (backend == "sqlite")
    finally:
        session.rollback()
        session.close()


def test_a_read_while_another_process_writes_waits_its_turn_in_a_thread(
    sqlite_only: None,
    client: TestClient,
    world: World,
    database: Database,
    clock: FrozenClock,
    migrated_url: str,
) -> None:
    mine = create(client, world, world.staff_a, clock)
    holder = _hold_write_lock(migrated_url)
    answers: list[Any] = []

    def read() -> None:
        answers.append(client.get(f"{CONCERNS}/{mine['id']}", headers=world.headers(world.staff_a)))

    reader = threading.Thread(target=read)
    reader.start()
    time.sleep(0.3)
    assert answers == []  # still waiting for the lock
    holder.execute("ROLLBACK")
    holder.close()
    reader.join(timeout=10)
    assert answers and answers[0].status_code == 200
    assert answers[0].json()["id"] == mine["id"]
    with database.transaction() as session:
        reads = session.exec(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "concern.read")
        ).one()
    assert reads == 1
