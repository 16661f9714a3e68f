"""The application shell: errors as problem+json, middleware, settings, sessions."""

from __future__ import annotations

import gc
import json
import logging
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import BaseModel, ConfigDict
from sqlmodel import select

from api.deps import UnitOfWorkDep
from api.main import create_app, keep_start_up_out_of_gc
from core.errors import Conflict
from core.settings import DEFAULT_DATABASE_URL, ConfigurationError, Settings
from db.engine import Database
from db.unit_of_work import UnitOfWork
from models import School, new_id
from services import schools
from tests.factories import TEST_SECRET, TRANSFER_KEY

PROBLEM = "application/problem+json"


class Echo(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    when: datetime


def _add_test_routes(app: FastAPI) -> None:
    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret internals: SELECT * FROM concern")

    @app.post("/echo")
    def echo(body: Echo) -> Echo:
        return body

    @app.post("/schools-then-fail")
    async def schools_then_fail(uow: UnitOfWorkDep, fail: bool = False) -> dict[str, str]:
        def work(session: UnitOfWork) -> dict[str, str]:
            school = schools.create_school(session, name="Fictional Primary", urn="900001")
            if fail:
                raise Conflict("rolled back on purpose")
            return {"id": str(school.id)}

        return await uow.run(work)


@pytest.fixture
def shell_client(public_app: FastAPI):
    _add_test_routes(public_app)
    with TestClient(public_app, raise_server_exceptions=False) as client:
        yield client


def test_unhandled_error_is_generic_500_with_request_id(shell_client: TestClient, caplog) -> None:
    with caplog.at_level(logging.ERROR):
        response = shell_client.get("/boom", headers={"X-Request-ID": "req-12345678"})
    assert response.status_code == 500
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["request_id"] == "req-12345678"
    assert body["type"].endswith("/internal-error")
    assert "SELECT" not in response.text and "Traceback" not in response.text
    assert response.headers["x-request-id"] == "req-12345678"
    assert any("secret internals" in (r.exc_text or "") or r.exc_info for r in caplog.records)


def test_validation_error_lists_errors_without_echoing_input(shell_client: TestClient) -> None:
    response = shell_client.post(
        "/echo", json={"name": "confidential words", "when": "2026-11-28T10:00:00", "extra": 1}
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM
    body = response.json()
    assert body["status"] == 422
    assert {tuple(e["loc"]) for e in body["errors"]} >= {("body", "extra")}
    assert all(set(e) == {"loc", "msg", "type"} for e in body["errors"])
    assert "confidential words" not in response.text


def test_malformed_json_is_422_problem(shell_client: TestClient) -> None:
    response = shell_client.post(
        "/echo", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM


def test_unknown_path_and_method_are_problems(shell_client: TestClient) -> None:
    missing = shell_client.get("/api/v1/nothing-here")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == PROBLEM
    wrong_method = shell_client.delete("/api/v1/guidance")
    assert wrong_method.status_code == 405
    assert wrong_method.headers["content-type"] == PROBLEM
    assert "GET" in wrong_method.headers["allow"]


def test_request_id_generated_when_absent_or_unsafe(shell_client: TestClient) -> None:
    generated = shell_client.get("/healthz").headers["x-request-id"]
    uuid.UUID(generated)
    unsafe = shell_client.get("/healthz", headers={"X-Request-ID": "bad id\twith spaces"})
    assert unsafe.headers["x-request-id"] != "bad id\twith spaces"


def test_security_headers_and_no_store(shell_client: TestClient) -> None:
    response = shell_client.get("/healthz")
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-store"
    guidance = shell_client.get("/api/v1/guidance/cse")
    assert guidance.headers["cache-control"].startswith("public")


def test_body_over_limit_declared_is_413(shell_client: TestClient) -> None:
    response = shell_client.post(
        "/echo", content=b"x" * (1024 * 1024 + 1), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert response.headers["content-type"] == PROBLEM


def test_body_over_limit_streamed_is_413(shell_client: TestClient) -> None:
    def chunks():
        for _ in range(20):
            yield b"x" * (64 * 1024)

    response = shell_client.post(
        "/echo", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413


def test_cors_allowlist(tmp_path) -> None:
    settings = Settings(
        env="test",
        database_url=f"sqlite:///{tmp_path / 'x.db'}",
        secret_key=TEST_SECRET,
        cors_origins="https://app.fictional-school.example",
    )
    assert settings.cors_origins == ["https://app.fictional-school.example"]
    with TestClient(create_app(settings)) as client:
        allowed = client.get("/healthz", headers={"Origin": "https://app.fictional-school.example"})
        refused = client.get("/healthz", headers={"Origin": "https://evil.example"})
    assert allowed.headers["access-control-allow-origin"] == "https://app.fictional-school.example"
    assert "access-control-allow-origin" not in refused.headers


def test_no_cors_by_default(shell_client: TestClient) -> None:
    response = shell_client.get(
        "/healthz", headers={"Origin": "https://app.fictional-school.example"}
    )
    assert "access-control-allow-origin" not in response.headers


def test_json_log_line_per_request_carries_request_id(shell_client: TestClient, caplog) -> None:
    from api.logs import JsonFormatter

    with caplog.at_level(logging.INFO, logger="concernlog.access"):
        shell_client.get("/api/v1/guidance/cse", headers={"X-Request-ID": "req-abcdefgh"})
    records = [r for r in caplog.records if r.name == "concernlog.access"]
    assert records
    # The formatter reads the request id from the record's context at format time, so
    # check the structured fields the middleware attached.
    line = json.loads(JsonFormatter().format(records[-1]))
    assert line["status"] == 200 and line["method"] == "GET"
    assert line["route"] == "/api/v1/guidance/{key}"


def test_defaults_need_no_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("CONCERNLOG_DATABASE_URL", "CONCERNLOG_ENV", "CONCERNLOG_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    settings = Settings()
    assert settings.database_url == DEFAULT_DATABASE_URL == "sqlite:///./data/concernlog.db"
    assert settings.env == "development"
    settings.check_usable()


@pytest.mark.parametrize("secret", ["", None, "short"])
def test_production_refuses_default_or_weak_secret(secret: str | None) -> None:
    kwargs = {"env": "production"} | ({} if secret is None else {"secret_key": secret})
    settings = Settings(**kwargs)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError) as raised:
        settings.check_usable()
    assert "\n" not in str(raised.value)
    with pytest.raises(ConfigurationError):
        create_app(settings)


def test_production_accepts_a_real_secret() -> None:
    Settings(
        env="production",
        secret_key="x" * 48,
        files_key="ab" * 32,
        transfer_signing_key=TRANSFER_KEY,
    ).check_usable()


def test_readyz_checks_the_database(tmp_path) -> None:
    settings = Settings(
        env="test", database_url=f"sqlite:///{tmp_path / 'ok.db'}", secret_key=TEST_SECRET
    )
    with TestClient(create_app(settings)) as client:
        assert client.get("/readyz").json() == {"status": "ready"}
    broken = Database.from_url("postgresql://nobody@127.0.0.1:1/none")
    with TestClient(create_app(settings, database=broken), raise_server_exceptions=False) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.headers["retry-after"]
    assert response.headers["content-type"] == PROBLEM
    assert client.get("/healthz").status_code == 200


def test_session_commits_on_success_and_rolls_back_on_error(
    app: FastAPI, database: Database
) -> None:
    _add_test_routes(app)
    with TestClient(app, raise_server_exceptions=False) as client:
        failed = client.post("/schools-then-fail", params={"fail": "true"})
        assert failed.status_code == 409
        with database.transaction() as session:
            assert session.exec(select(School)).all() == []
        created = client.post("/schools-then-fail")
        assert created.status_code == 200
    with database.transaction() as session:
        assert [str(s.id) for s in session.exec(select(School)).all()] == [created.json()["id"]]


def test_timestamps_round_trip_as_utc(database: Database) -> None:
    local = datetime(2026, 11, 28, 9, 15, tzinfo=timezone(timedelta(hours=1)))
    with database.transaction() as session:
        school = School(name="Fictional High", urn="900002", created_at=local)
        session.add(school)
    with database.transaction() as session:
        stored = session.exec(select(School)).one()
    assert stored.created_at == local
    assert stored.created_at.tzinfo is not None
    assert stored.created_at.utcoffset() == timedelta(0)
    assert stored.created_at == datetime(2026, 11, 28, 8, 15, tzinfo=UTC)


def test_naive_timestamps_are_refused(database: Database) -> None:
    naive = School(name="Fictional Infant", urn="900003", created_at=datetime(2026, 1, 1))
    with database.transaction() as session:
        session.add(naive)
        with pytest.raises(Exception, match="naive"):
            session.flush()
        session.rollback()


def test_ids_are_time_ordered_uuid7() -> None:
    ids = [new_id() for _ in range(50)]
    assert all(i.version == 7 for i in ids)
    assert ids == sorted(ids)


class _FakeSerializationFailure(Exception):
    sqlstate = "40001"


def _serialization_failure() -> Exception:
    from sqlalchemy.exc import OperationalError

    return OperationalError("COMMIT", {}, _FakeSerializationFailure("could not serialize access"))


def test_transient_conflicts_are_retried_with_the_body_replayed(public_app: FastAPI) -> None:
    seen: list[dict] = []

    @public_app.post("/flaky")
    def flaky(body: dict) -> dict:
        seen.append(body)
        if len(seen) < 3:
            raise _serialization_failure()
        return {"attempts": len(seen)}

    with TestClient(public_app) as client:
        response = client.post("/flaky", json={"n": 1})
    assert response.status_code == 200
    assert response.json() == {"attempts": 3}
    assert seen == [{"n": 1}] * 3


def test_persistent_conflict_is_503_with_retry_after(public_app: FastAPI) -> None:
    calls = []

    @public_app.post("/always-conflicts")
    def always(body: dict) -> dict:
        calls.append(1)
        raise _serialization_failure()

    with TestClient(public_app, raise_server_exceptions=False) as client:
        response = client.post("/always-conflicts", json={})
    assert response.status_code == 503
    assert response.headers["retry-after"] == "1"
    assert response.headers["content-type"] == PROBLEM
    assert len(calls) == 3


def test_database_down_is_503_not_500(tmp_path) -> None:
    settings = Settings(
        env="test", database_url=f"sqlite:///{tmp_path / 'ok.db'}", secret_key=TEST_SECRET
    )
    down = Database.from_url("postgresql://nobody@127.0.0.1:1/none")
    with TestClient(create_app(settings, database=down), raise_server_exceptions=False) as client:
        response = client.post(
            "/api/v1/auth/token",
            data={"grant_type": "password", "username": "a@b.example", "password": "x"},
        )
    assert response.status_code == 503
    assert response.headers["retry-after"] == "5"
    assert response.headers["content-type"] == PROBLEM


def test_start_up_objects_are_kept_out_of_the_collector() -> None:
    gc.unfreeze()
    try:
        startup_object = {"made": "at start-up"}
        keep_start_up_out_of_gc()
        assert gc.get_freeze_count() > 0
        # Frozen objects are in no generation: a full collection no longer walks them.
        assert not any(startup_object is tracked for tracked in gc.get_objects())
    finally:
        gc.unfreeze()


def test_errors_psycopg_drops_are_logged_by_class_only() -> None:
    # psycopg logs an error it drops ending a pipeline with the server's message, whose
    # DETAIL may quote a row's values.
    from api.logs import ErrorsByClass

    dropped = ValueError("Key (urn)=(Fictional value) already exists.")
    record = logging.LogRecord(
        "psycopg",
        logging.WARNING,
        __file__,
        1,
        "error ignored terminating %r: %s",
        ("<Pipeline>", dropped),
        None,
    )
    assert ErrorsByClass().filter(record)
    assert record.getMessage() == "error ignored terminating '<Pipeline>': ValueError"


def _logged(record: logging.LogRecord) -> str:
    """Everything a handler could write of ``record``, in either format."""
    from api.logs import JsonFormatter

    plain = logging.Formatter("%(message)s").format(record)
    return JsonFormatter().format(record) + plain + (record.exc_text or "")


def test_an_unhandled_error_is_logged_with_its_traceback(caplog) -> None:
    from api.logs import log_unhandled

    try:
        raise RuntimeError("fictional internals")
    except RuntimeError as error:
        with caplog.at_level(logging.ERROR, logger="concernlog.test"):
            log_unhandled(logging.getLogger("concernlog.test"), error)
    (record,) = caplog.records
    assert "fictional internals" in _logged(record)
    assert "Traceback" in _logged(record)


def test_a_database_error_is_logged_without_the_row_it_quotes(caplog, database) -> None:
    # PostgreSQL's DETAIL quotes the failing row ("Failing row contains (...)"); that row
    # may hold a concern's text. The error is logged by class and SQLSTATE, with its frames.
    from sqlalchemy import text
    from sqlalchemy.exc import IntegrityError

    from api.logs import log_unhandled

    canary = "Fictional canary sentence 7Q2Z"
    with database.engine.connect() as connection:
        connection.execute(text("CREATE TEMPORARY TABLE refusing (words TEXT CHECK (words = ''))"))
        try:
            connection.execute(text("INSERT INTO refusing VALUES (:words)"), {"words": canary})
        except IntegrityError as error:
            with caplog.at_level(logging.ERROR, logger="concernlog.test"):
                log_unhandled(logging.getLogger("concernlog.test"), error)
        connection.rollback()
    (record,) = caplog.records
    line = _logged(record)
    assert canary not in line
    assert "IntegrityError" in line
    assert "test_a_database_error_is_logged_without_the_row_it_quotes" in line  # the frames
    if database.dialect == "postgresql":
        assert "SQLSTATE 23514" in line  # check_violation


def test_requests_admitted_to_the_database_at_once(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from db import engine as db_engine

    # No connection is made: the engine connects on first use.
    far = "postgresql://nobody@127.0.0.1:1/none"
    monkeypatch.setattr(db_engine, "available_cores", lambda: 2)
    assert Database.from_url(far, pool_size=10).max_sessions == 3  # cores + 1
    assert Database.from_url(far, pool_size=2).max_sessions == 2  # never past the pool
    assert Database.from_url(far, pool_size=10, concurrency=8).max_sessions == 8
    assert Database.from_url(far, pool_size=10, concurrency=40).max_sessions == 10
    with pytest.raises(ValueError, match="at least one"):
        Database.from_url(far, concurrency=0)
    # SQLite's transactions all take its write lock: one at a time, whatever is asked.
    sqlite = f"sqlite:///{tmp_path / 'one.db'}"
    assert Database.from_url(sqlite, concurrency=8).max_sessions == 1

    monkeypatch.setenv("CONCERNLOG_DATABASE_CONCURRENCY", "6")
    assert Settings().database_concurrency == 6
    monkeypatch.setenv("CONCERNLOG_DATABASE_CONCURRENCY", "0")
    with pytest.raises(ValueError, match="greater than or equal to 1"):
        Settings()
