"""Fixtures: every database-facing test runs once per backend.

SQLite always; PostgreSQL when ``CONCERNLOG_TEST_DATABASE_URL`` is set. Each backend gets a
fresh database built by ``alembic upgrade head`` (never ``create_all``); after each test
every table is emptied, so tests are isolated even when they commit from many threads.

Under pytest-xdist every worker is its own process with its own session fixtures: its own
SQLite files (under the worker's own temporary directory) and its own PostgreSQL databases
(named after the worker, with a random suffix), so workers never share a table.

Every fixture shared by more than one test module lives here; helper modules
(``tests/factories.py``, ``tests/desk.py``, ``tests/server.py``, ``tests/permissions.py``,
``tests/mailbox.py``) hold plain functions, classes and tables, never fixtures.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

import models
from api.cli import run_migrations
from api.main import create_app
from core.clock import FrozenClock, utcnow
from core.settings import Settings, get_settings
from db.engine import Database, normalise_url
from models import School
from tests.desk import Desk, World
from tests.factories import TEST_SECRET, make_school
from tests.mailbox import Mailbox

PG_ENV = "CONCERNLOG_TEST_DATABASE_URL"
# "gw0", "gw1"... under pytest-xdist; "main" when the suite runs in one process.
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")


def backends() -> list[str]:
    return ["sqlite", "postgresql"] if os.environ.get(PG_ENV) else ["sqlite"]


class PostgresDatabases:
    """Creates and drops throwaway databases on the test PostgreSQL server."""

    def __init__(self, url: str) -> None:
        self.url = make_url(normalise_url(url))
        self._admin = create_engine(self.url, isolation_level="AUTOCOMMIT")

    def create(self, prefix: str) -> str:
        name = f"{prefix}_{uuid.uuid4().hex[:10]}"
        with self._admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        return self.url.set(database=name).render_as_string(hide_password=False)

    def drop(self, url: str) -> None:
        name = make_url(url).database
        with self._admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))

    def close(self) -> None:
        self._admin.dispose()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresDatabases | None]:
    url = os.environ.get(PG_ENV)
    if not url:
        yield None
        return
    servers = PostgresDatabases(url)
    yield servers
    servers.close()


@pytest.fixture(scope="session")
def empty_database_url(
    tmp_path_factory: pytest.TempPathFactory, postgres: PostgresDatabases | None
):
    """A factory of fresh, empty databases of a given backend (for migration tests)."""
    made: list[str] = []

    def make(backend: str) -> str:
        if backend == "sqlite":
            path = tmp_path_factory.mktemp("db") / f"{uuid.uuid4().hex[:8]}.db"
            return f"sqlite:///{path}"
        assert postgres is not None, "PostgreSQL was asked for but is not configured"
        url = postgres.create(f"concernlog_test_{WORKER}")
        made.append(url)
        return url

    yield make
    for url in made:
        assert postgres is not None
        postgres.drop(url)


@pytest.fixture(scope="session", params=backends())
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def migrated_url(backend: str, empty_database_url) -> str:
    url = empty_database_url(backend)
    run_migrations(url)
    return url


@pytest.fixture(scope="session")
def shared_database(migrated_url: str) -> Iterator[Database]:
    database = Database.from_url(migrated_url, pool_size=30)
    yield database
    database.dispose()


def _empty_all_tables(database: Database) -> None:
    with database.engine.begin() as connection:
        for table in reversed(models.SQLModel.metadata.sorted_tables):
            connection.execute(table.delete())


# Warm connections a worker keeps between tests. A concurrency test opens dozens; kept
# idle in every worker, they would use up the one PostgreSQL server's connection limit.
IDLE_CONNECTIONS_KEPT = 4


@pytest.fixture
def database(shared_database: Database) -> Iterator[Database]:
    yield shared_database
    _empty_all_tables(shared_database)
    if shared_database.engine.pool.checkedin() > IDLE_CONNECTIONS_KEPT:  # type: ignore[attr-defined]
        shared_database.engine.dispose()


@pytest.fixture
def settings(migrated_url: str, tmp_path: Path) -> Settings:
    return Settings(
        env="test",
        database_url=migrated_url,
        secret_key=TEST_SECRET,
        log_json=True,
        files_url=str(tmp_path / "files"),
    )


@pytest.fixture
def app(settings: Settings, database: Database) -> FastAPI:
    return create_app(settings, database=database)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as test_client:
        yield test_client


@pytest.fixture
def public_app(tmp_path: Path) -> FastAPI:
    """An app for tests that touch no tables (guidance, middleware, errors)."""
    return create_app(
        Settings(
            env="test", database_url=f"sqlite:///{tmp_path / 'unused.db'}", secret_key=TEST_SECRET
        )
    )


@pytest.fixture
def public_client(public_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(public_app, raise_server_exceptions=False) as test_client:
        yield test_client


# --- the fictional world ------------------------------------------------------------------


@pytest.fixture
def clock(app: FastAPI) -> FrozenClock:
    """The app's clock, frozen at a whole second (tokens carry whole seconds) until moved."""
    frozen = FrozenClock(utcnow().replace(microsecond=0))
    app.state.clock = frozen
    return frozen


@pytest.fixture
def school(database: Database) -> School:
    return make_school(database, name="Fictional Academy")


@pytest.fixture
def world(app: FastAPI, database: Database, clock: FrozenClock) -> World:
    return World(app, database, clock)


@pytest.fixture
def desk(client: TestClient, world: World) -> Desk:
    return Desk(client, world)


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, migrated_url: str, database: Database):
    """The ``concernlog`` CLI pointed at the test database (``CONCERNLOG_ENV=test``)."""
    monkeypatch.setenv("CONCERNLOG_DATABASE_URL", migrated_url)
    monkeypatch.setenv("CONCERNLOG_ENV", "test")
    get_settings.cache_clear()
    yield database
    get_settings.cache_clear()


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    """A real SMTP server on loopback that keeps what arrives (``tests/mailbox.py``)."""
    box = Mailbox()
    box.start()
    yield box
    box.stop()
