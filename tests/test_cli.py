"""The ``concernlog`` command."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlmodel import select
from typer.testing import CliRunner

from api.cli import app
from core.settings import get_settings
from db.engine import Database, normalise_url
from models import School

runner = CliRunner()


def test_create_school_prints_only_the_id(cli_env: Database) -> None:
    result = runner.invoke(app, ["create-school", "--name", "Fictional Academy", "--urn", "100001"])
    assert result.exit_code == 0, result.output
    school_id = uuid.UUID(result.stdout.strip())
    with cli_env.transaction() as session:
        school = session.exec(select(School)).one()
    assert school.id == school_id and school.urn == "100001"


def test_create_school_rejects_duplicate_and_bad_urn(cli_env: Database) -> None:
    assert runner.invoke(app, ["create-school", "--name", "A", "--urn", "100002"]).exit_code == 0
    duplicate = runner.invoke(app, ["create-school", "--name", "B", "--urn", "100002"])
    assert duplicate.exit_code == 1
    assert "already exists" in duplicate.stderr
    bad = runner.invoke(app, ["create-school", "--name", "C", "--urn", "12AB"])
    assert bad.exit_code == 1
    assert "urn" in bad.stderr


def test_migrate_is_idempotent(cli_env: Database) -> None:
    result = runner.invoke(app, ["migrate"])
    assert result.exit_code == 0, result.output


def test_production_with_default_secret_refuses_in_one_line(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CONCERNLOG_ENV", "production")
    monkeypatch.delenv("CONCERNLOG_SECRET_KEY", raising=False)
    get_settings.cache_clear()
    try:
        result = runner.invoke(app, ["serve"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "CONCERNLOG_SECRET_KEY" in lines[0]


def test_create_user_reads_password_from_stdin(cli_env: Database) -> None:
    urn = "100010"
    assert (
        runner.invoke(app, ["create-school", "--name", "Fictional Academy", "--urn", urn]).exit_code
        == 0
    )
    result = runner.invoke(
        app,
        [
            "create-user",
            "--school-urn",
            urn,
            "--email",
            "Head@Fictional.example",
            "--role",
            "dsl",
            "--display-name",
            "Head of Safeguarding",
        ],
        input="a-fictional-cli-passphrase\n",
    )
    assert result.exit_code == 0, result.output
    user_id = uuid.UUID(result.stdout.strip())
    from core.passwords import verify_password
    from models import User

    with cli_env.transaction() as session:
        user = session.get(User, user_id)
    assert user is not None and user.email == "head@fictional.example" and user.role == "dsl"
    assert verify_password("a-fictional-cli-passphrase", user.password_hash)[0]
    assert "a-fictional-cli-passphrase" not in result.output


def test_create_user_refuses_weak_password_and_unknown_school(cli_env: Database) -> None:
    assert runner.invoke(app, ["create-school", "--name", "F", "--urn", "100011"]).exit_code == 0
    weak = runner.invoke(
        app,
        [
            "create-user",
            "--school-urn",
            "100011",
            "--email",
            "a@fictional.example",
            "--role",
            "staff",
            "--display-name",
            "A",
        ],
        input="short\n",
    )
    assert weak.exit_code == 1 and "12 characters" in weak.stderr
    unknown = runner.invoke(
        app,
        [
            "create-user",
            "--school-urn",
            "999999",
            "--email",
            "b@fictional.example",
            "--role",
            "staff",
            "--display-name",
            "B",
        ],
        input="a-fictional-cli-passphrase\n",
    )
    assert unknown.exit_code == 1 and "999999" in unknown.stderr


def test_create_service_account_prints_id_and_secret(cli_env: Database) -> None:
    assert runner.invoke(app, ["create-school", "--name", "F", "--urn", "100012"]).exit_code == 0
    result = runner.invoke(
        app, ["create-service-account", "--school-urn", "100012", "--name", "Wonde sync"]
    )
    assert result.exit_code == 0, result.output
    client_id, client_secret = result.stdout.strip().split(" ")
    from core.tokens import digest
    from models.user import ServiceAccount

    with cli_env.transaction() as session:
        account = session.exec(select(ServiceAccount)).one()
    assert account.client_id == client_id and account.secret_hash == digest(client_secret)
    assert account.role == "mis"


def test_purge_idempotency_deletes_only_expired_answers(cli_env: Database) -> None:
    from datetime import timedelta

    from core.clock import utcnow
    from models.concern import IdempotencyKey
    from tests.factories import make_school, make_user

    user = make_user(cli_env, make_school(cli_env))
    now = utcnow()
    with cli_env.transaction() as session:
        for key, expires_at in (
            ("expired-long-ago", now - timedelta(days=3)),
            ("expired-just-now", now - timedelta(seconds=1)),
            ("still-live", now + timedelta(hours=23)),
        ):
            session.add(
                IdempotencyKey(
                    caller_id=user.id,
                    key=key,
                    request_hash="0" * 64,
                    response_status=201,
                    response_body='{"description": "A fictional concern."}',
                    created_at=expires_at - timedelta(hours=24),
                    expires_at=expires_at,
                )
            )
    result = runner.invoke(app, ["purge-idempotency"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "deleted 2 expired idempotency answers"
    with cli_env.transaction() as session:
        assert [row.key for row in session.exec(select(IdempotencyKey))] == ["still-live"]
    again = runner.invoke(app, ["purge-idempotency"])
    assert again.stdout.strip() == "deleted 0 expired idempotency answers"


# Every command that needs the database, as a newcomer might type it. ``serve`` is here
# too: it must refuse before uvicorn starts (the tests replace uvicorn.run, so a serve that
# does not refuse returns at once instead of serving).
PUPILS_CSV = Path(__file__).parent / "fixtures" / "mis" / "pupils.csv"
NEEDS_THE_DATABASE: list[tuple[list[str], str | None]] = [
    (["create-school", "--name", "Fictional Academy", "--urn", "100020"], None),
    (
        [
            "create-user",
            "--school-urn",
            "100020",
            "--email",
            "new@fictional.example",
            "--role",
            "staff",
            "--display-name",
            "New",
        ],
        "a-fictional-cli-passphrase\n",
    ),
    (["create-service-account", "--school-urn", "100020", "--name", "Wonde sync"], None),
    (["audit", "verify", "--school-urn", "100020"], None),
    (["import-pupils", "--school-urn", "100020", str(PUPILS_CSV)], None),
    (["seed-demo"], None),
    (["seed-demo", "--if-empty"], None),
    (["totp-code", "--email", "x@example.org"], None),
    (["purge-idempotency"], None),
    (["files", "sweep"], None),
    (["serve", "--port", "1"], None),
]


@pytest.fixture
def cli_database_url(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str | None], None]]:
    """Point the CLI at a database URL (None: the default, ./data/concernlog.db), with
    uvicorn.run replaced so that a serve that does not refuse returns instead of serving."""
    import uvicorn

    started: list[object] = []
    monkeypatch.setattr(uvicorn, "run", lambda *args, **kwargs: started.append(args))
    monkeypatch.setenv("CONCERNLOG_ENV", "test")

    def point(url: str | None) -> None:
        if url is None:
            monkeypatch.delenv("CONCERNLOG_DATABASE_URL", raising=False)
        else:
            monkeypatch.setenv("CONCERNLOG_DATABASE_URL", url)
        get_settings.cache_clear()

    yield point
    get_settings.cache_clear()
    assert not started, "serve started on a database that is not ready"


def _one_line_refusal(args: list[str], stdin: str | None) -> str:
    result = runner.invoke(app, args, input=stdin)
    assert result.exit_code == 2, (args, result.output)
    assert isinstance(result.exception, SystemExit), (args, result.exception)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, (args, result.stderr)
    assert "Traceback" not in result.output
    return lines[0]


def _command(args: list[str]) -> str:
    """``audit verify`` and ``seed-demo --if-empty`` by name, the others by their first word."""
    named = ("verify", "--if-empty")
    return " ".join(word for word in args[:2] if word in named or word == args[0])


@pytest.mark.parametrize(
    ("args", "stdin"), NEEDS_THE_DATABASE, ids=[_command(args) for args, _ in NEEDS_THE_DATABASE]
)
def test_missing_sqlite_database_refuses_in_one_line_and_creates_nothing(
    args: list[str],
    stdin: str | None,
    cli_database_url: Callable[[str | None], None],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.chdir(tmp_path)  # run outside the project, with the default URL
    cli_database_url(None)
    line = _one_line_refusal(args, stdin)
    assert line == (
        "concernlog: No concernlog database at ./data/concernlog.db: run `concernlog migrate` "
        "(or `make run`) first, or set CONCERNLOG_DATABASE_URL."
    )
    assert list(tmp_path.iterdir()) == []  # no ./data/, no stray database file


def test_not_migrated_database_refuses_in_one_line(
    backend: str, empty_database_url, cli_database_url: Callable[[str | None], None]
) -> None:
    from api.cli import head_revision, run_migrations
    from db.readiness import current_revision, where

    url = empty_database_url(backend)
    if backend == "sqlite":
        Database.from_url(url).ping()  # the file exists, and holds no table
    cli_database_url(url)
    head = head_revision()
    for args, stdin in NEEDS_THE_DATABASE:
        line = _one_line_refusal(args, stdin)
        assert line == (
            f"concernlog: The database at {where(url)} is not migrated "
            f"(revision none of {head}): run `concernlog migrate`."
        )
    assert current_revision(url) is None  # nothing was written on the way

    run_migrations(url, "20261128_02")
    line = _one_line_refusal(["purge-idempotency"], None)
    assert f"(revision 20261128_02 of {head})" in line

    # The advice works: once migrated, the same command runs.
    assert runner.invoke(app, ["migrate"]).exit_code == 0
    result = runner.invoke(app, ["purge-idempotency"])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == "deleted 0 expired idempotency answers"


def test_unreachable_postgresql_is_one_line_without_the_password(
    cli_database_url: Callable[[str | None], None],
) -> None:
    from tests.server import free_port

    port = free_port()  # nothing listens there
    cli_database_url(f"postgresql://concernlog:a-fictional-db-password@127.0.0.1:{port}/schools")
    for args, stdin in NEEDS_THE_DATABASE:
        line = _one_line_refusal(args, stdin)
        assert line.startswith(
            f"concernlog: Cannot open the PostgreSQL database schools on 127.0.0.1:{port} ("
        ), line
        assert "a-fictional-db-password" not in line


def test_missing_postgresql_database_is_one_line(
    backend: str, cli_database_url: Callable[[str | None], None]
) -> None:
    if backend != "postgresql":
        pytest.skip("a database the PostgreSQL server does not have")
    from sqlalchemy.engine import make_url

    server = make_url(normalise_url(os.environ["CONCERNLOG_TEST_DATABASE_URL"]))
    missing = server.set(database=f"concernlog_absent_{uuid.uuid4().hex[:8]}")
    cli_database_url(missing.render_as_string(hide_password=False))
    line = _one_line_refusal(["totp-code", "--email", "x@example.org"], None)
    assert line.startswith(f"concernlog: Cannot open the PostgreSQL database {missing.database}")
    assert "does not exist" in line
