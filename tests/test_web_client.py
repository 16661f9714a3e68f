"""Issue 24: the web client served at ``/app/`` from the package, its build not stale
against its sources, and the OpenAPI document it is generated from the app's own.

These run without Node.js: ``make web`` writes the stamp these tests recompute.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.web_client import CLIENT_DIR, PAGE_POLICY

ROOT = Path(__file__).resolve().parent.parent


def _stamp_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("web_stamp", ROOT / "web" / "stamp.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_committed_build_is_made_from_the_current_sources() -> None:
    stamp = _stamp_module()
    kept = json.loads(stamp.STAMP.read_text(encoding="utf-8"))
    now = stamp.current()
    assert kept["sources"] == now["sources"], "web/ changed since the last build: run `make web`"
    assert kept["built"] == now["built"], "api/client_files/ was changed by hand: run `make web`"


def test_the_client_is_generated_from_the_apps_current_openapi(public_app: FastAPI) -> None:
    committed = json.loads((ROOT / "web" / "openapi.json").read_text(encoding="utf-8"))
    assert committed == public_app.openapi(), (
        "the API changed since the web client was built: run `make web` (a change that "
        "breaks the client then fails its type check)"
    )


def _asset_names() -> list[str]:
    return sorted(path.name for path in (CLIENT_DIR / "assets").iterdir())


def test_app_serves_the_client_under_its_page_policy(public_client: TestClient) -> None:
    page = public_client.get("/app/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["content-security-policy"] == PAGE_POLICY
    assert "'unsafe-inline'" not in PAGE_POLICY
    assert page.headers["cache-control"] == "no-cache"
    assert page.headers["x-frame-options"] == "DENY"
    assert "<script" in page.text and "/app/assets/" in page.text
    # No inline script or style: everything the page runs comes from its own files.
    assert "<script>" not in page.text and "<style" not in page.text and " style=" not in page.text


def test_hashed_assets_are_cached_for_a_year(public_client: TestClient) -> None:
    names = _asset_names()
    assert any(name.endswith(".js") for name in names)
    for name in names:
        answer = public_client.get(f"/app/assets/{name}")
        assert answer.status_code == 200
        assert answer.headers["cache-control"] == "public, max-age=31536000, immutable"
        assert answer.headers["content-security-policy"] == PAGE_POLICY


def test_other_paths_fall_back_to_the_page_and_missing_assets_are_404(
    public_client: TestClient,
) -> None:
    page = public_client.get("/app/")
    for path in ("/app/desk", "/app/some/where"):
        answer = public_client.get(path)
        assert answer.status_code == 200
        assert answer.text == page.text
    missing = public_client.get("/app/assets/nothing-here.js")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    for probe in ("/app/assets/../build-stamp.json", "/app/assets/%2e%2e/%2e%2e/main.py"):
        assert public_client.get(probe).status_code in (200, 404)
        assert "sources" not in public_client.get(probe).text
    redirect = public_client.get("/app", follow_redirects=False)
    assert redirect.status_code == 308
    assert redirect.headers["location"] == "/app/"


def test_the_api_keeps_its_own_policy(public_client: TestClient) -> None:
    answer = public_client.get("/api/v1/guidance")
    assert answer.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"


def test_the_stamp_changes_with_any_source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    stamp = _stamp_module()
    monkeypatch.setattr(stamp, "ROOT", tmp_path)
    source = tmp_path / "web" / "src" / "main.ts"
    source.parent.mkdir(parents=True)
    source.write_text("console.log('one');\n", encoding="utf-8")
    before = stamp.digest([source])
    source.write_text("console.log('two');\n", encoding="utf-8")
    assert stamp.digest([source]) != before
    generated = tmp_path / "web" / "src" / "generated" / "api.d.ts"
    generated.parent.mkdir()
    generated.write_text("export {};\n", encoding="utf-8")
    monkeypatch.setattr(stamp, "WEB", tmp_path / "web")
    assert generated not in stamp.sources()
