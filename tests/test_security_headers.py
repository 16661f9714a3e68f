"""Issue 22, point 11: production sends HSTS and a Content-Security-Policy on every answer,
and /docs loads Swagger UI from the service itself, never from a CDN."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from core.settings import Settings
from tests.factories import TRANSFER_KEY

HSTS = "max-age=31536000; includeSubDomains"
STRICT_CSP = "default-src 'none'; frame-ancestors 'none'"
_ASSET = re.compile(r'<(?:script|link)\b[^>]*\b(?:src|href)="([^"]+)"')
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


def _client(tmp_path: Path, env: str) -> Iterator[TestClient]:
    settings = Settings(
        env=env,
        secret_key="x" * 40,
        database_url=f"sqlite:///{tmp_path / 'unused.db'}",
        files_url=str(tmp_path / "files"),
        files_key="ab" * 32,
        transfer_signing_key=TRANSFER_KEY,
    )
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def production(tmp_path: Path) -> Iterator[TestClient]:
    yield from _client(tmp_path, "production")


@pytest.fixture
def development(tmp_path: Path) -> Iterator[TestClient]:
    yield from _client(tmp_path, "development")


def _directives(policy: str) -> dict[str, list[str]]:
    parts = (p.split() for p in policy.split(";") if p.strip())
    return {p[0]: p[1:] for p in parts}


def test_production_json_answer_carries_hsts_and_a_strict_policy(production: TestClient) -> None:
    response = production.get("/api/v1/guidance")
    assert response.status_code == 200
    assert response.headers["strict-transport-security"] == HSTS
    assert response.headers["content-security-policy"] == STRICT_CSP
    assert response.headers["x-content-type-options"] == "nosniff"


def test_production_error_answer_carries_them_too(production: TestClient) -> None:
    response = production.get("/api/v1/no-such-thing")
    assert response.status_code == 404
    assert response.headers["strict-transport-security"] == HSTS
    assert response.headers["content-security-policy"] == STRICT_CSP


def test_production_docs_allow_only_the_service_and_the_page_s_own_script(
    production: TestClient,
) -> None:
    response = production.get("/docs")
    assert response.status_code == 200
    assert response.headers["strict-transport-security"] == HSTS
    assert response.headers["x-content-type-options"] == "nosniff"
    policy = _directives(response.headers["content-security-policy"])
    assert policy["default-src"] == ["'none'"]
    assert policy["style-src"] == ["'self'"]
    assert policy["img-src"] == ["'self'", "data:"]
    assert policy["frame-ancestors"] == ["'none'"]
    inline = _INLINE_SCRIPT.findall(response.text)
    assert inline, "the page initialises Swagger UI with an inline script"
    hashes = {
        f"'sha256-{base64.b64encode(hashlib.sha256(s.encode()).digest()).decode()}'" for s in inline
    }
    assert set(policy["script-src"]) == {"'self'", *hashes}
    assert not any("unsafe" in value for values in policy.values() for value in values)


def test_docs_reference_no_external_host_and_their_assets_are_served(
    production: TestClient,
) -> None:
    page = production.get("/docs").text
    assets = _ASSET.findall(page)
    assert any(a.endswith(".js") for a in assets)
    assert any(a.endswith(".css") for a in assets)
    assert "https://" not in page
    assert "http://" not in page
    for asset in assets:
        assert asset.startswith("/"), asset
        answer = production.get(asset)
        assert answer.status_code == 200, asset
        assert answer.content
        assert answer.headers["cache-control"] == "public, max-age=86400"


def test_docs_oauth2_redirect_page_has_its_script_hashed(production: TestClient) -> None:
    response = production.get("/docs/oauth2-redirect")
    assert response.status_code == 200
    policy = _directives(response.headers["content-security-policy"])
    assert "'self'" in policy["script-src"]
    assert any(v.startswith("'sha256-") for v in policy["script-src"])


def test_development_sends_the_policy_but_not_hsts(development: TestClient) -> None:
    json_answer = development.get("/api/v1/guidance")
    assert json_answer.headers["content-security-policy"] == STRICT_CSP
    assert "strict-transport-security" not in json_answer.headers
    docs = development.get("/docs")
    assert docs.status_code == 200
    assert "script-src 'self'" in docs.headers["content-security-policy"]
    assert "strict-transport-security" not in docs.headers
