"""Alembic environment: the same settings and metadata as the application."""

from __future__ import annotations

from logging.config import fileConfig
from typing import Any

from sqlalchemy import Connection
from sqlmodel import SQLModel

import models  # noqa: F401  (registers every table on the metadata)
from alembic import context
from core.settings import get_settings
from db.engine import create_db_engine, normalise_url

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logging", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = SQLModel.metadata


def _database_url() -> str:
    url = config.attributes.get("database_url") or get_settings().database_url
    return normalise_url(str(url))


def _configure(connection: Connection | None = None, **kwargs: Any) -> None:
    url = _database_url()
    context.configure(
        connection=connection,
        url=None if connection is not None else url,
        target_metadata=target_metadata,
        render_as_batch=url.startswith("sqlite"),  # SQLite cannot ALTER most things in place
        compare_type=True,
        compare_server_default=True,
        **kwargs,
    )


def run_migrations_offline() -> None:
    _configure(literal_binds=True, dialect_opts={"paramstyle": "named"})
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_db_engine(_database_url())
    try:
        with engine.connect() as connection:
            _configure(connection)
            with context.begin_transaction():
                context.run_migrations()
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
