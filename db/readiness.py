"""Is there a migrated concernlog database at this URL? Told in one line, before anything
opens it: opening a SQLite file that is not there creates an empty one."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, inspect, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import NullPool

from db.engine import normalise_url

# Long enough for a database across a network, short enough that a wrong host is told
# before the operator gives up waiting.
CONNECT_TIMEOUT_SECONDS = 10
# Where Alembic keeps the revision a database is at (alembic/env.py keeps the default).
VERSION_TABLE = "alembic_version"


class DatabaseNotReady(Exception):
    """The database is missing, unreachable or not migrated; the message is one line that
    says what to do, and never holds a password."""


def where(url: str) -> str:
    """The database named for a person: a SQLite file's path as configured, or a
    PostgreSQL database with its host (never the user or password)."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return parsed.database or ":memory:"
    host = parsed.host or "localhost"
    port = f":{parsed.port}" if parsed.port else ""
    return f"{parsed.database or '(default)'} on {host}{port}"


def _sqlite_file(parsed: URL) -> Path | None:
    """The file a SQLite URL opens, or None for an in-memory or URI-form database."""
    database = parsed.database
    if not database or database == ":memory:" or parsed.query.get("uri") == "true":
        return None
    return Path(database)


def current_revision(url: str) -> str | None:
    """The Alembic revision the database is at (None: never migrated). Raises
    ``DatabaseNotReady`` if there is no such database or it cannot be reached; never
    creates one."""
    parsed = make_url(url)
    sqlite = parsed.get_backend_name() == "sqlite"
    if sqlite:
        path = _sqlite_file(parsed)
        if path is not None and not path.is_file():
            raise DatabaseNotReady(
                f"No concernlog database at {where(url)}: run `concernlog migrate` "
                "(or `make run`) first, or set CONCERNLOG_DATABASE_URL."
            )
        connect_args: dict[str, object] = {}
    else:
        connect_args = {"connect_timeout": CONNECT_TIMEOUT_SECONDS}
    engine = create_engine(normalise_url(url), poolclass=NullPool, connect_args=connect_args)
    try:
        with engine.connect() as connection:
            if not inspect(connection).has_table(VERSION_TABLE):
                return None
            found = connection.execute(text("SELECT version_num FROM alembic_version"))
            return found.scalar()
    except sa_exc.DBAPIError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if str(exc.orig).strip() else "unknown"
        if sqlite:
            hint = "check CONCERNLOG_DATABASE_URL"
            kind = "SQLite"
        else:
            hint = "check CONCERNLOG_DATABASE_URL and that the server is running"
            kind = "PostgreSQL"
        raise DatabaseNotReady(
            f"Cannot open the {kind} database {where(url)} ({reason}): {hint}."
        ) from None
    finally:
        engine.dispose()


def require_migrated(url: str, *, head: str) -> None:
    """Raise ``DatabaseNotReady`` unless the database exists, answers and is at ``head``
    (the migration scripts' head revision)."""
    revision = current_revision(url)
    if revision != head:
        raise DatabaseNotReady(
            f"The database at {where(url)} is not migrated (revision {revision or 'none'} "
            f"of {head}): run `concernlog migrate`."
        )
