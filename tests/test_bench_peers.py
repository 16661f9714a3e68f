"""The anchors of issue 23 (``bench.naive_app``, ``bench.limit_app``) answer the three
endpoints ``make bench`` drives them with, on a migrated and seeded database, as real
servers; the limit app's audit events (one per pupil on a read and a create, one per page
on a list, with the page's pupils in its child table) leave a chain that verifies.
No timing here: speed is bench/'s."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from api.cli import run_migrations
from bench import fixtures, servers
from bench.endpoints import concern_bodies
from db.engine import Database
from services import audit

pytestmark = pytest.mark.slow

API = "/api/v1"


@pytest.fixture
def seeded(backend: str, empty_database_url) -> tuple[str, fixtures.BenchSchool]:
    url = empty_database_url(backend)
    run_migrations(url)
    return url, fixtures.seed_school(
        url, secret_key=servers.SECRET_KEY, pupils=20, concerns_count=12
    )


def _count(url: str, statement: str, **parameters: Any) -> int:
    database = Database.from_url(url)
    try:
        with database.engine.connect() as connection:
            return int(connection.execute(text(statement), parameters).scalar_one())
    finally:
        database.dispose()


def _events(url: str) -> int:
    return _count(url, "SELECT count(*) FROM audit_event")


def _verify(url: str, school: fixtures.BenchSchool) -> Any:
    database = Database.from_url(url)
    try:
        with database.transaction() as session:
            return audit.verify_chain(session, school_id=school.school_id)
    finally:
        database.dispose()


def _serve(anchor: str, url: str, tmp_path: Path):
    return servers.serving(
        anchor,
        [sys.executable, "-m", servers.ANCHORS[anchor]],
        env=servers.server_env(url),
        log_dir=tmp_path,
        health_path="/healthz",
        timeout=60,
    )


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_the_limit_app_answers_and_audits_each_read_page_and_create(seeded, tmp_path):
    url, school = seeded
    body = concern_bodies(school, count=1)[0]
    with (
        _serve("limit", url, tmp_path) as server,
        httpx.Client(base_url=f"http://{servers.HOST}:{server.port}", timeout=30) as http,
    ):
        before = _events(url)
        read = http.get(
            f"{API}/concerns/{school.concern_ids[0]}", headers=_bearer(school.staff_token)
        )
        assert read.status_code == 200
        assert read.json()["id"] == str(school.concern_ids[0])
        assert read.json()["pupils"] is None  # staff see ids, not names
        assert _events(url) == before + len(read.json()["pupil_ids"])

        page = http.get(f"{API}/concerns?limit=5", headers=_bearer(school.dsl_token))
        assert page.status_code == 200
        items = page.json()["items"]
        assert len(items) == 5 and page.json()["next_cursor"]
        assert all(item["pupils"] for item in items)  # the DSL desk names them
        on_page = {pupil for item in items for pupil in item["pupil_ids"]}
        # One event for the page, its pupils in the child table.
        assert _events(url) == before + len(read.json()["pupil_ids"]) + 1
        assert _count(url, "SELECT count(*) FROM bench_audit_page_pupil") == len(on_page)

        created = http.post(f"{API}/concerns", json=body, headers=_bearer(school.staff_token))
        assert created.status_code == 201, created.text
        assert created.json()["pupil_ids"] == body["pupil_ids"]
        again = http.get(
            f"{API}/concerns/{created.json()['id']}", headers=_bearer(school.staff_token)
        )
        assert again.status_code == 200
        assert again.json()["indicators"] == body["indicators"]
        assert again.json()["status"] == "new"

        # Refusals: no token, another's concern (404, not 403), a bad body (422).
        assert http.get(f"{API}/concerns?limit=5").status_code == 401
        assert (
            http.get(f"{API}/concerns?limit=5", headers=_bearer(school.staff_token + "x"))
        ).status_code == 401
        unknown = "01936b2e-5f7a-7cc0-8a38-2c1f1c5d9a10"
        assert (
            http.get(f"{API}/concerns/{unknown}", headers=_bearer(school.staff_token))
        ).status_code == 404
        bad = {**body, "indicators": ["not-an-indicator"]}
        assert (
            http.post(f"{API}/concerns", json=bad, headers=_bearer(school.staff_token))
        ).status_code == 422
    verification = _verify(url, school)
    assert verification.ok, verification
    assert verification.events_checked == _events(url)


def test_the_naive_app_answers_the_same_requests_and_audits_nothing(seeded, tmp_path):
    url, school = seeded
    body = concern_bodies(school, count=1)[0]
    with (
        _serve("naive", url, tmp_path) as server,
        httpx.Client(base_url=f"http://{servers.HOST}:{server.port}", timeout=30) as http,
    ):
        before = _events(url)
        read = http.get(
            f"{API}/concerns/{school.concern_ids[0]}", headers=_bearer(school.staff_token)
        )
        assert read.status_code == 200
        assert [link["pupil_id"] for link in read.json()["pupil_links"]]
        page = http.get(f"{API}/concerns?limit=50", headers=_bearer(school.dsl_token))
        assert page.status_code == 200
        assert len(page.json()) == len(school.concern_ids)
        created = http.post(f"{API}/concerns", json=body, headers=_bearer(school.staff_token))
        assert created.status_code == 201, created.text
        indicators = {i["indicator_id"] for i in created.json()["indicators"]}
        assert indicators == set(body["indicators"])
        assert http.get(f"{API}/concerns?limit=5").status_code == 401
        assert _events(url) == before
