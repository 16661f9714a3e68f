"""The ``concernlog`` command."""

from __future__ import annotations

import uuid

import pytest
from sqlmodel import select
from typer.testing import CliRunner

from api.cli import app
from core.settings import get_settings
from db.engine import Database
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
                    user_id=user.id,
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
