"""A newcomer's first run: the fictional demo school and its printed logins work."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func
from sqlmodel import select
from typer.testing import CliRunner

from api.cli import app as cli
from core.settings import get_settings
from db.engine import Database
from models import Concern, School, User
from models.case import Case
from models.pupil import Pupil
from models.triage import TriageEvent
from services import audit
from tests.factories import TRANSFER_KEY

runner = CliRunner()


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, migrated_url: str, database: Database):
    monkeypatch.setenv("CONCERNLOG_DATABASE_URL", migrated_url)
    monkeypatch.setenv("CONCERNLOG_ENV", "development")
    get_settings.cache_clear()
    yield database
    get_settings.cache_clear()


def _logins(output: str) -> dict[str, tuple[str, str, str | None]]:
    found: dict[str, tuple[str, str, str | None]] = {}
    for line in output.splitlines():
        match = re.match(r"\s+(\S+)\s+(\S+@\S+)\s+password: (\S+)(?:\s+TOTP secret: (\S+))?", line)
        if match:
            role, email, password, secret = match.groups()
            found.setdefault(role, (email, password, secret))
    return found


def test_seed_demo_creates_a_usable_school(cli_env: Database, client: TestClient) -> None:
    result = runner.invoke(cli, ["seed-demo", "--if-empty"])
    assert result.exit_code == 0, result.output
    logins = _logins(result.stdout)
    assert set(logins) == {"staff", "dsl", "deputy_dsl", "admin"}
    assert logins["dsl"][2] and logins["admin"][2] and logins["deputy_dsl"][2]
    with cli_env.transaction() as session:
        school = session.exec(select(School)).one()
        assert session.exec(select(func.count()).select_from(Pupil)).one() == 300
        assert session.exec(select(func.count()).select_from(Concern)).one() >= 24
        assert {u.role for u in session.exec(select(User)).all()} == {
            "staff",
            "dsl",
            "deputy_dsl",
            "admin",
        }
        assert audit.verify_chain(session, school_id=school.id).ok
        assert session.exec(select(func.count()).select_from(Case)).one() == 1
        assert session.exec(select(func.count()).select_from(TriageEvent)).one() >= 8

    # The printed logins work, TOTP included, through `concernlog totp-code`.
    email, password, _secret = logins["dsl"]
    code = runner.invoke(cli, ["totp-code", "--email", email]).stdout.strip()
    assert re.fullmatch(r"\d{6}", code)
    token = client.post(
        "/api/v1/auth/token",
        data={"grant_type": "password", "username": email, "password": password, "totp": code},
    )
    assert token.status_code == 200, token.text
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    concerns = client.get("/api/v1/concerns", headers=headers)
    assert concerns.status_code == 200
    assert len(concerns.json()["items"]) > 0
    # The demo's jigsaw (README): three signs from three staff about Gale Ashvale are
    # flagged, and the car seen with three children connects them.
    flagged = client.get("/api/v1/flags", params={"status": "open"}, headers=headers).json()
    (jigsaw,) = [
        f
        for f in flagged["items"]
        if f["rule"] == "distinct-signs" and f["pupil"]["display_name"] == "Gale Ashvale"
    ]
    assert "3 members of staff" in jigsaw["explanation"]
    car = client.get("/api/v1/entities", headers=headers).json()["items"]
    assert [(e["label"], e["children"]) for e in car] == [("AB12 CDE", 3)]
    links = client.get(f"/api/v1/pupils/{jigsaw['pupil_id']}/links", headers=headers).json()
    assert {"Hollis Ashvale", "Ira Ashvale"} <= {i["display_name"] for i in links["items"]}

    # Running it again changes nothing and prints the same logins.
    again = runner.invoke(cli, ["seed-demo", "--if-empty"])
    assert again.exit_code == 0
    assert _logins(again.stdout) == logins
    with cli_env.transaction() as session:
        assert session.exec(select(func.count()).select_from(School)).one() == 1


def test_seed_demo_refused_in_production(
    cli_env: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONCERNLOG_ENV", "production")
    monkeypatch.setenv("CONCERNLOG_SECRET_KEY", "x" * 48)
    monkeypatch.setenv("CONCERNLOG_FILES_KEY", "ab" * 32)
    monkeypatch.setenv("CONCERNLOG_TRANSFER_SIGNING_KEY", TRANSFER_KEY)
    get_settings.cache_clear()
    result = runner.invoke(cli, ["seed-demo"])
    assert result.exit_code == 1
    assert "production" in result.stderr


def test_openapi_declares_bearer_auth(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    schemes = schema["components"]["securitySchemes"]
    assert any(s.get("scheme") == "bearer" for s in schemes.values())
