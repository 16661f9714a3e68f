"""What every ``concernlog`` command shares: the settings, one-line refusals, and a
database that is known to exist and be migrated before anything opens it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from core.settings import ConfigurationError, Settings, get_settings

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

    from db.engine import Database


PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _alembic_home() -> Path:
    """Where alembic.ini lives: the source checkout, or the working directory of an
    installed copy (the container's /app)."""
    for candidate in (PROJECT_ROOT, Path.cwd()):
        if (candidate / "alembic.ini").is_file():
            return candidate
    raise fail("alembic.ini not found beside the code or in the working directory")


def load_settings() -> Settings:
    try:
        settings = get_settings()
        settings.check_usable()
    except ConfigurationError as exc:
        typer.echo(f"concernlog: {exc}", err=True)
        raise typer.Exit(2) from None
    return settings


def fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"concernlog: {message}", err=True)
    return typer.Exit(code)


def _alembic_config(database_url: str) -> AlembicConfig:
    from alembic.config import Config

    home = _alembic_home()
    config = Config(str(home / "alembic.ini"))
    config.set_main_option("script_location", str(home / "alembic"))
    config.attributes["database_url"] = database_url
    return config


def run_migrations(database_url: str, revision: str = "head") -> None:
    from alembic import command

    command.upgrade(_alembic_config(database_url), revision)


def head_revision() -> str:
    """The head of the migration scripts: the revision a usable database is at."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_alembic_config("")).get_current_head()
    if head is None:
        raise fail("no migration scripts found", code=2)
    return head


def require_migrated_database(database_url: str) -> None:
    """Refuse, in one line, a database that is missing, unreachable or not migrated, before
    anything opens it (opening a SQLite file that is not there would create it)."""
    from db.readiness import DatabaseNotReady, require_migrated

    try:
        require_migrated(database_url, head=head_revision())
    except DatabaseNotReady as exc:
        raise fail(str(exc), code=2) from None


def open_database(settings: Settings | None = None) -> Database:
    """The configured database, once it is known to exist and be migrated."""
    from db.engine import Database

    database_url = (settings or load_settings()).database_url
    require_migrated_database(database_url)
    return Database.from_url(database_url)
