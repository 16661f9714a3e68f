"""/metrics: Prometheus text by route template, protected by a token or by loopback."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from api import metrics as http_metrics
from api.main import create_app
from core import metrics
from core.settings import Settings
from tests.factories import TEST_SECRET, TRANSFER_KEY

METRICS_TOKEN = "fictional-metrics-token-0123456789"


def _app(tmp_path: Path, **settings: object) -> FastAPI:
    values: dict[str, object] = {
        "env": "test",
        "database_url": f"sqlite:///{tmp_path / 'metrics.db'}",
        "secret_key": TEST_SECRET,
    }
    values.update(settings)
    if values["env"] == "production":
        values.setdefault("files_key", "ab" * 32)  # production needs one (ADR 0105)
        values.setdefault("transfer_signing_key", TRANSFER_KEY)
    return create_app(Settings(**values))  # type: ignore[arg-type]


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    with TestClient(_app(tmp_path), raise_server_exceptions=False) as test_client:
        yield test_client


def _samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _requests(text: str, route: str, status: str, method: str = "GET") -> float:
    key = (
        "concernlog_http_requests_total",
        (("method", method), ("route", route), ("status", status)),
    )
    return _samples(text).get(key, 0.0)


def test_counts_and_latency_by_route_template(client: TestClient) -> None:
    for _ in range(3):
        assert client.get("/api/v1/guidance/cse").status_code == 200
    assert client.get("/api/v1/guidance/no-such-guide").status_code == 404
    assert client.get("/healthz").status_code == 200

    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert _requests(text, "/api/v1/guidance/{key}", "200") == 3
    assert _requests(text, "/api/v1/guidance/{key}", "404") == 1
    assert _requests(text, "/healthz", "200") == 1
    samples = _samples(text)
    count_key = (
        "concernlog_http_request_duration_seconds_count",
        (("method", "GET"), ("route", "/api/v1/guidance/{key}"), ("status", "200")),
    )
    assert samples[count_key] == 3


def test_domain_counters_and_pool_gauges_are_exposed(client: TestClient) -> None:
    before = _samples(client.get("/metrics").text)
    metrics.CONCERNS_CREATED.inc()
    metrics.FAILED_LOGINS.inc(2)
    after = _samples(client.get("/metrics").text)
    created = ("concernlog_concerns_created_total", ())
    failed = ("concernlog_failed_logins_total", ())
    assert after[created] - before[created] == 1
    assert after[failed] - before[failed] == 2
    for gauge in ("size", "checked_out", "checked_in", "overflow"):
        assert (f"concernlog_db_pool_{gauge}", ()) in after


def test_labels_never_carry_raw_paths_or_ids(client: TestClient) -> None:
    raw_segments = ["018f3a1e-0000-7000-8000-00000000abcd", "no-such-guide-4242"]
    client.get(f"/api/v1/nothing/{raw_segments[0]}")  # no route at all
    client.get(f"/api/v1/guidance/{raw_segments[1]}")  # a route; the guide does not exist
    text = client.get("/metrics").text
    for raw in raw_segments:
        assert raw not in text
    assert _requests(text, "unmatched", "404") == 1
    assert _requests(text, "/api/v1/guidance/{key}", "404") == 1
    routes = {
        dict(labels).get("route")
        for (name, labels) in _samples(text)
        if name == "concernlog_http_requests_total"
    }
    for route in routes:
        assert route is not None
        assert route == "unmatched" or route.startswith("/")
        assert not re.search(r"\d{3,}", route), route


def test_each_app_has_its_own_registry(tmp_path: Path) -> None:
    first, second = _app(tmp_path / "a"), _app(tmp_path / "b")
    with TestClient(first) as one, TestClient(second) as two:
        one.get("/healthz")
        one.get("/healthz")
        two.get("/healthz")
        assert _requests(one.get("/metrics").text, "/healthz", "200") == 2
        assert _requests(two.get("/metrics").text, "/healthz", "200") == 1


def test_metrics_are_not_in_the_openapi_document(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    assert not any("metrics" in path for path in paths)
    assert client.get("/api/v1/metrics").status_code == 404


def test_openmetrics_when_asked(client: TestClient) -> None:
    response = client.get("/metrics", headers={"Accept": "application/openmetrics-text"})
    assert response.headers["content-type"].startswith("application/openmetrics-text")
    assert response.text.rstrip().endswith("# EOF")


# --- protection --------------------------------------------------------------------------------


@pytest.mark.parametrize("env", ["test", "production"])
def test_a_configured_token_is_required(tmp_path: Path, env: str) -> None:
    app = _app(tmp_path, env=env, metrics_token=METRICS_TOKEN)
    with TestClient(app, raise_server_exceptions=False) as client:
        missing = client.get("/metrics")
        assert missing.status_code == 401
        assert missing.headers["www-authenticate"] == "Bearer"
        assert missing.headers["content-type"] == "application/problem+json"
        assert METRICS_TOKEN not in missing.text
        wrong = client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}x"})
        assert wrong.status_code == 401
        basic = client.get("/metrics", headers={"Authorization": f"Basic {METRICS_TOKEN}"})
        assert basic.status_code == 401
        good = client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
        assert good.status_code == 200
        assert "concernlog_http_requests_total" in good.text


def test_production_without_a_token_hides_metrics_from_the_network(tmp_path: Path) -> None:
    app = _app(tmp_path, env="production", secret_key="a-production-secret-of-enough-length-42")
    # TestClient's default client address is "testclient": not loopback.
    with TestClient(app, raise_server_exceptions=False) as remote:
        response = remote.get("/metrics")
        assert response.status_code == 404
        assert response.json()["detail"] == remote.get("/no-such-page").json()["detail"]
    with TestClient(app, client=("203.0.113.9", 50000)) as remote:
        assert remote.get("/metrics").status_code == 404
    for loopback in ("127.0.0.1", "::1"):
        with TestClient(app, client=(loopback, 50000)) as local:
            assert local.get("/metrics").status_code == 200


def test_development_without_a_token_is_open(client: TestClient) -> None:
    assert client.get("/metrics").status_code == 200


@pytest.mark.parametrize(
    ("env", "token", "authorization", "host", "refusal"),
    [
        ("development", None, None, "203.0.113.9", None),
        ("production", None, None, "203.0.113.9", 404),
        ("production", None, None, "testclient", 404),
        ("production", None, None, None, 404),
        ("production", None, None, "127.0.0.1", None),
        ("production", None, None, "127.8.9.10", None),
        ("production", None, None, "::1", None),
        ("production", None, None, "::ffff:127.0.0.1", None),
        ("production", "", None, "203.0.113.9", 404),  # an empty token is no token
        ("production", METRICS_TOKEN, None, "127.0.0.1", 401),  # a token binds loopback too
        ("production", METRICS_TOKEN, f"Bearer {METRICS_TOKEN}", "203.0.113.9", None),
        ("production", METRICS_TOKEN, f"bearer {METRICS_TOKEN}", "203.0.113.9", None),
        ("production", METRICS_TOKEN, "Bearer ", "203.0.113.9", 401),
        ("test", METRICS_TOKEN, "Bearer not-it", "127.0.0.1", 401),
    ],
)
def test_refusal_rules(
    env: str, token: str | None, authorization: str | None, host: str | None, refusal: int | None
) -> None:
    settings = Settings(env=env, metrics_token=token, secret_key=TEST_SECRET)
    assert (
        http_metrics.metrics_refusal(settings, authorization=authorization, client_host=host)
        == refusal
    )
