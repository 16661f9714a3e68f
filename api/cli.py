"""The ``concernlog`` command."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from api.cli_audit import audit_app
from api.cli_files import files_app
from api.cli_privileged import privileged_app
from api.cli_support import (
    PROJECT_ROOT,
    fail,
    head_revision,
    load_settings,
    open_database,
    require_migrated_database,
    run_migrations,
)
from api.cli_transfer import transfer_app

__all__ = ["PROJECT_ROOT", "app", "head_revision", "main", "run_migrations"]

app = typer.Typer(
    name="concernlog",
    help="Safeguarding concern logging for schools: serve, migrate, administer.",
    no_args_is_help=True,
    add_completion=False,
)


SQLITE_ONE_PROCESS = (
    "--workers above 1 needs PostgreSQL: SQLite lets one process write at a time, and every "
    "request writes (its audit row)"
)


@app.command()
def serve(
    host: Annotated[str, typer.Option(help="Address to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to bind")] = 8000,
    workers: Annotated[
        int,
        typer.Option(
            min=1, help="Server processes sharing the port (more than one needs PostgreSQL)"
        ),
    ] = 1,
) -> None:
    """Serve the API with uvicorn: one process, or --workers N processes sharing the port
    (PostgreSQL only; see docs/adr/0123-several-server-processes.md)."""
    import uvicorn

    settings = load_settings()
    if workers > 1 and settings.is_sqlite:
        raise fail(SQLITE_ONE_PROCESS, code=2)
    require_migrated_database(settings.database_url)
    from api.logs import configure_logging

    configure_logging(settings.log_level, json_lines=settings.log_json)
    if workers > 1 and settings.server_processes == 1:
        # The workers read it at start-up (they inherit this environment): each hashes
        # passwords on its share of the cores.
        os.environ["CONCERNLOG_SERVER_PROCESSES"] = str(workers)
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


@app.command()
def worker(
    once: Annotated[
        bool, typer.Option("--once", help="One pass (publish, schedule, deliver), then exit")
    ] = False,
) -> None:
    """Deliver alerts: publish new events, raise urgent reminders and the daily digest,
    and send the emails, until stopped (SIGTERM or Ctrl-C finish the pass in hand).
    Several may run against one database; `serve` runs one in each server process unless
    CONCERNLOG_SERVE_WORKER=false."""
    import logging
    import signal
    import threading

    from api.logs import configure_logging, log_unhandled
    from services.alerts.worker import DeliveryWorker

    settings = load_settings()
    configure_logging(settings.log_level, json_lines=settings.log_json)
    database = open_database(settings)
    log = logging.getLogger("concernlog.alerts")
    delivery = DeliveryWorker.from_settings(
        database, settings, on_error=lambda error: log_unhandled(log, error)
    )
    try:
        if once:
            delivery.run_once()
            return
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        delivery.run(stop)
    finally:
        database.dispose()


@app.command()
def migrate(
    revision: Annotated[str, typer.Argument(help="Target revision")] = "head",
) -> None:
    """Bring the database schema up to date (alembic upgrade head)."""
    settings = load_settings()
    run_migrations(settings.database_url, revision)


@app.command("create-school")
def create_school(
    name: Annotated[str, typer.Option(help="The school's name")],
    urn: Annotated[str, typer.Option(help="The DfE 6-digit Unique Reference Number")],
) -> None:
    """Create a school (a tenant) and print only its new id."""
    from core.errors import DomainError
    from services import schools

    database = open_database()
    try:
        with database.transaction() as session:
            school = schools.create_school(session, name=name, urn=urn)
    except DomainError as exc:
        raise fail(exc.detail) from None
    finally:
        database.dispose()
    typer.echo(str(school.id))


@app.command("create-user")
def create_user(
    school_urn: Annotated[str, typer.Option(help="The school's URN")],
    email: Annotated[str, typer.Option(help="Sign-in email address")],
    role: Annotated[str, typer.Option(help="staff, deputy_dsl, dsl or admin")],
    display_name: Annotated[str, typer.Option(help="Name shown to colleagues")],
) -> None:
    """Create a user; the password is read from standard input (empty: none yet).
    Prints only the new id."""
    from pydantic import ValidationError

    from core.clock import utcnow
    from core.errors import DomainError
    from db.engine import Database
    from models.user import UserCreate
    from services import schools, users

    settings = load_settings()
    require_migrated_database(settings.database_url)  # before asking for a password it cannot store
    password = (
        sys.stdin.readline().rstrip("\r\n")
        if not sys.stdin.isatty()
        else typer.prompt("Password", hide_input=True, default="", show_default=False)
    )
    try:
        data = UserCreate.model_validate(
            {
                "email": email,
                "display_name": display_name,
                "role": role,
                "password": password or None,
            }
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        raise fail(f"{'.'.join(str(p) for p in first['loc'])}: {first['msg']}") from None
    database = Database.from_url(settings.database_url)
    try:
        with database.transaction() as session:
            school = schools.school_by_urn(session, school_urn)
            user = users.create_user_in_school(
                session, school_id=school.id, data=data, now=utcnow()
            )
    except DomainError as exc:
        raise fail(exc.detail) from None
    finally:
        database.dispose()
    typer.echo(str(user.id))


@app.command("create-service-account")
def create_service_account(
    school_urn: Annotated[str, typer.Option(help="The school's URN")],
    name: Annotated[str, typer.Option(help="What the account is for, e.g. 'Wonde sync'")],
) -> None:
    """Create an MIS service account; prints `client_id client_secret` on one line (the
    secret cannot be shown again)."""
    from core.clock import utcnow
    from core.errors import DomainError
    from services import schools, users

    database = open_database()
    try:
        with database.transaction() as session:
            school = schools.school_by_urn(session, school_urn)
            account, secret = users.create_service_account(
                session, school_id=school.id, name=name, now=utcnow()
            )
    except DomainError as exc:
        raise fail(exc.detail) from None
    finally:
        database.dispose()
    typer.echo(f"{account.client_id} {secret}")


app.add_typer(audit_app, name="audit")
app.add_typer(privileged_app, name="privileged-requests")
app.add_typer(files_app, name="files")
app.add_typer(transfer_app, name="transfer")


@app.command("import-pupils")
def import_pupils(
    file: Annotated[
        Path,
        typer.Argument(exists=True, dir_okay=False, readable=True, help="The CSV file to import"),
    ],
    school_urn: Annotated[str, typer.Option(help="The school's URN")],
    file_format: Annotated[
        str, typer.Option("--format", help="csv (our header) or oneroster (users.csv)")
    ] = "csv",
    source: Annotated[
        str | None, typer.Option(help="The MIS source name (default: the format's name)")
    ] = None,
    demographics: Annotated[
        Path | None,
        typer.Option(
            exists=True,
            dir_okay=False,
            help="OneRoster demographics.csv with birth dates (default: beside users.csv)",
        ),
    ] = None,
    full: Annotated[
        bool, typer.Option(help="The file is the whole roster: mark pupils not in it as left")
    ] = False,
    force: Annotated[
        bool, typer.Option(help="With --full: sweep even above 10 % of the roster")
    ] = False,
) -> None:
    """Import pupils from a file through the MIS upsert, 500 rows per transaction.

    Prints the count of each result, then each rejected row with its line number. Exits 1
    if any row was rejected (the others are imported) or a --full sweep was refused, 2 if
    the file cannot be read at all or the database is not ready."""
    import re

    from core.clock import utcnow
    from core.errors import DomainError
    from models.mis import SOURCE_PATTERN, SyncResult
    from services.mis import files as mis_files

    if file_format not in ("csv", "oneroster"):
        raise fail("--format must be csv or oneroster", code=2)
    source = (source or file_format).strip().lower()
    if not re.match(SOURCE_PATTERN, source) or len(source) > 40:
        raise fail("--source must be a lower-case slug (letters, digits, . _ -)", code=2)
    now = utcnow()
    try:
        with file.open(encoding="utf-8-sig", newline="") as handle:
            if file_format == "csv":
                rows = mis_files.read_pupil_csv(handle, source=source, now=now)
            else:
                beside = file.with_name("demographics.csv")
                births_file = demographics or (beside if beside.is_file() else None)
                births = mis_files.read_demographics(births_file) if births_file else {}
                rows = mis_files.read_oneroster_users(
                    handle, source=source, now=now, birth_dates=births
                )
    except (mis_files.ImportFileError, UnicodeDecodeError) as exc:
        raise fail(f"{file.name}: {exc}", code=2) from None

    database = open_database()
    try:
        with typer.progressbar(
            length=len(rows), label="Importing", file=sys.stderr, show_pos=True
        ) as bar:
            report = mis_files.import_rows(
                database,
                school_urn=school_urn,
                source=source,
                rows=rows,
                now=now,
                full=full,
                force=force,
                on_progress=bar.update,
            )
    except DomainError as exc:
        raise fail(exc.detail, code=2) from None
    finally:
        database.dispose()
    for result in SyncResult:
        typer.echo(f"{result.value} {report.counts.get(result.value, 0)}")
    typer.echo(f"left {report.marked_left}")
    for rejected in report.rejected:
        typer.echo(
            f"line {rejected.line}: rejected ({rejected.external_id or 'no external_id'}): "
            f"{rejected.reason}"
        )
    if report.sweep_refused:
        typer.echo(f"concernlog: sweep refused: {report.sweep_refused}", err=True)
    if report.rejected or report.sweep_refused:
        raise typer.Exit(1)


def _print_demo_logins(logins: list[Any], api_url: str) -> None:
    typer.echo("")
    typer.echo(f"API docs: {api_url}/docs   (Authorize with a token from POST /api/v1/auth/token)")
    typer.echo("Demo logins (fictional school, URN 999901):")
    for login in logins:
        line = f"  {login.role:<11} {login.email:<40} password: {login.password}"
        if login.totp_secret:
            line += f"  TOTP secret: {login.totp_secret}"
        typer.echo(line)
    typer.echo("Get a current TOTP code with: concernlog totp-code --email EMAIL")
    typer.echo("")


@app.command("seed-demo")
def seed_demo(
    if_empty: Annotated[
        bool, typer.Option("--if-empty", help="Only seed a database that has no school yet")
    ] = False,
    api_url: Annotated[str, typer.Option(help="Where the API will be served")] = (
        "http://127.0.0.1:8000"
    ),
) -> None:
    """Create a fictional demo school (users of every role, 300 pupils, concerns) and print
    its logins. Refused in production."""
    from core.clock import utcnow
    from guidance import GUIDANCE_DIR
    from services import demo
    from services.guidance import GuidanceLibrary

    settings = load_settings()
    if settings.env == "production":
        raise fail("seed-demo is refused when CONCERNLOG_ENV=production")
    database = open_database(settings)
    try:
        with database.transaction() as session:
            if if_empty and not demo.database_is_empty(session):
                logins = demo.demo_logins(session)
                if logins:
                    _print_demo_logins(logins, api_url)
                return
            result = demo.seed_demo(
                session, now=utcnow(), guidance=GuidanceLibrary.load(GUIDANCE_DIR)
            )
    finally:
        database.dispose()
    typer.echo("Demo school created." if result.created else "Demo school already exists.")
    _print_demo_logins(result.logins, api_url)


@app.command("purge-idempotency")
def purge_idempotency() -> None:
    """Delete the Idempotency-Key answers that have expired (they copy concern content) and
    print how many. Safe to run at any time, e.g. daily from cron."""
    from core.clock import utcnow
    from services import idempotency

    database = open_database()
    try:
        with database.transaction() as session:
            deleted = idempotency.purge_expired(session, now=utcnow())
    finally:
        database.dispose()
    typer.echo(f"deleted {deleted} expired idempotency answers")


@app.command("totp-code")
def totp_code(
    email: Annotated[
        str | None, typer.Option(help="A user whose secret is in this database")
    ] = None,
    secret: Annotated[str | None, typer.Option(help="A base32 TOTP secret")] = None,
) -> None:
    """Print the current 6-digit TOTP code for a secret, or (outside production) for a
    user of this database. For demos and development, like an authenticator app."""
    import pyotp

    if secret is None:
        if email is None:
            raise fail("give --email or --secret")
        settings = load_settings()
        if settings.env == "production":
            raise fail("--email is refused in production; use your authenticator app")
        from sqlmodel import select

        from models.user import User

        database = open_database(settings)
        try:
            with database.transaction() as session:
                user = session.exec(select(User).where(User.email == email.strip().lower())).first()
                secret = user.totp_secret if user is not None else None
        finally:
            database.dispose()
        if not secret:
            raise fail(f"no TOTP secret for {email}")
    typer.echo(pyotp.TOTP(secret).now())


@app.command("openapi")
def openapi(
    output: Annotated[
        Path | None, typer.Option(help="Write the document here instead of to standard output")
    ] = None,
) -> None:
    """Write the OpenAPI document (what /openapi.json serves) without a server or a
    database: the web client's types are generated from it (`make web`)."""
    import json
    import tempfile

    from api.main import create_app
    from core.settings import Settings

    with tempfile.TemporaryDirectory() as scratch:
        # Throwaway settings: the document does not depend on them, and nothing is opened.
        settings = Settings(
            env="test",
            database_url=f"sqlite:///{Path(scratch) / 'unused.db'}",
            secret_key="openapi-dump-" + "x" * 40,
            files_url=str(Path(scratch) / "files"),
        )
        document = create_app(settings).openapi()
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")


def main() -> None:
    app(prog_name="concernlog")


if __name__ == "__main__":
    main()
