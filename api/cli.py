"""The ``concernlog`` command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from api.config import ConfigurationError, Settings, get_settings

app = typer.Typer(
    name="concernlog",
    help="Safeguarding concern logging for schools: serve, migrate, administer.",
    no_args_is_help=True,
    add_completion=False,
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _alembic_home() -> Path:
    """Where alembic.ini lives: the source checkout, or the working directory of an
    installed copy (the container's /app)."""
    for candidate in (PROJECT_ROOT, Path.cwd()):
        if (candidate / "alembic.ini").is_file():
            return candidate
    raise _fail("alembic.ini not found beside the code or in the working directory")


def _settings() -> Settings:
    try:
        settings = get_settings()
        settings.check_usable()
    except ConfigurationError as exc:
        typer.echo(f"concernlog: {exc}", err=True)
        raise typer.Exit(2) from None
    return settings


def _fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"concernlog: {message}", err=True)
    return typer.Exit(code)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind")] = 8000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes")] = 1,
) -> None:
    """Serve the API with uvicorn."""
    import uvicorn

    settings = _settings()
    from api.logs import configure_logging

    configure_logging(settings.log_level, json_lines=settings.log_json)
    uvicorn.run(
        "api.main:app_factory",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_config=None,
        access_log=False,
        proxy_headers=True,
        server_header=False,
        timeout_graceful_shutdown=30,
    )


def run_migrations(database_url: str, revision: str = "head") -> None:
    from alembic.config import Config

    from alembic import command

    home = _alembic_home()
    config = Config(str(home / "alembic.ini"))
    config.set_main_option("script_location", str(home / "alembic"))
    config.attributes["database_url"] = database_url
    command.upgrade(config, revision)


@app.command()
def migrate(
    revision: Annotated[str, typer.Argument(help="Target revision")] = "head",
) -> None:
    """Bring the database schema up to date (alembic upgrade head)."""
    settings = _settings()
    run_migrations(settings.database_url, revision)


@app.command("create-school")
def create_school(
    name: Annotated[str, typer.Option(help="The school's name")],
    urn: Annotated[str, typer.Option(help="The DfE 6-digit Unique Reference Number")],
) -> None:
    """Create a school (a tenant) and print only its new id."""
    from api.db import Database
    from services import schools
    from services.errors import DomainError

    database = Database.from_url(_settings().database_url)
    try:
        with database.transaction() as session:
            school = schools.create_school(session, name=name, urn=urn)
    except DomainError as exc:
        raise _fail(exc.detail) from None
    finally:
        database.dispose()
    typer.echo(str(school.id))


def main() -> None:
    app(prog_name="concernlog")


if __name__ == "__main__":
    main()
