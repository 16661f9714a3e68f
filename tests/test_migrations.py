"""The schema is Alembic's: upgrade, downgrade, and models agreeing with migrations."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.command import downgrade, upgrade
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

import models
from api.cli import PROJECT_ROOT
from db.engine import create_db_engine


def _config(url: str) -> Config:
    config = Config(str(PROJECT_ROOT / "alembic.ini"))
    config.set_main_option("script_location", str(PROJECT_ROOT / "alembic"))
    config.attributes["database_url"] = url
    config.attributes["configure_logging"] = False
    return config


def test_single_head_and_dated_file_names() -> None:
    script = ScriptDirectory.from_config(_config("sqlite://"))
    assert len(script.get_heads()) == 1
    for revision in script.walk_revisions():
        name = revision.path.rsplit("/", 1)[-1]
        assert name[:4].isdigit() and name[4] == "_", name


def test_upgrade_then_downgrade_then_upgrade(backend: str, empty_database_url) -> None:
    url = empty_database_url(backend)
    config = _config(url)
    upgrade(config, "head")
    engine = create_db_engine(url)
    try:
        tables = set(inspect(engine).get_table_names())
        assert {t.name for t in models.SQLModel.metadata.sorted_tables} <= tables
        downgrade(config, "base")
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        upgrade(config, "head")
    finally:
        engine.dispose()


def test_models_and_migrations_agree(backend: str, migrated_url: str) -> None:
    engine = create_db_engine(migrated_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "compare_server_default": True}
            )
            differences = compare_metadata(context, models.SQLModel.metadata)
    finally:
        engine.dispose()
    assert differences == []


def test_no_create_all_outside_tests() -> None:
    offenders = [
        path
        for folder in ("api", "models", "routers", "services", "alembic")
        for path in (PROJECT_ROOT / folder).rglob("*.py")
        if "create_all" in path.read_text(encoding="utf-8")
    ]
    assert offenders == []


def test_sqlite_pragmas(migrated_url: str, backend: str) -> None:
    if backend != "sqlite":
        pytest.skip("SQLite only")
    engine = create_db_engine(migrated_url)
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() == 5000
    finally:
        engine.dispose()
