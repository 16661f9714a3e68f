"""The CSE leaflet served as structured JSON, verbatim, with caching headers."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from jsonschema import Draft202012Validator

from guidance import GUIDANCE_DIR
from models.guidance import GuidanceDocument
from services.guidance import GuidanceLibrary, GuidanceLoadError

# The CSE leaflet the project was created from, kept verbatim in the repository.
SEED = Path(__file__).resolve().parent / "fixtures" / "cse_seed.txt"
CSE = "/api/v1/guidance/cse"


def _seed_text() -> str:
    return SEED.read_text(encoding="utf-8")


def _seed_lines() -> list[str]:
    lines = []
    for raw in _seed_text().splitlines():
        line = raw.strip().lstrip("·").strip()
        if line:
            lines.append(line)
    return lines


def _all_text(value: object) -> list[str]:
    if isinstance(value, dict):
        return [
            s
            for k, v in value.items()
            if k in ("text", "heading", "lead", "title", "items", "sections")
            for s in _all_text(v)
        ]
    if isinstance(value, list):
        return [s for v in value for s in _all_text(v)]
    if isinstance(value, str):
        return [value]
    return []


def test_every_seed_line_is_served_verbatim(public_client: TestClient) -> None:
    document = public_client.get(CSE).json()
    texts = set(_all_text(document))
    missing = [line for line in _seed_lines() if line not in texts]
    assert missing == []


def test_cse_has_thirteen_unique_kebab_case_indicators_and_two_actions(
    public_client: TestClient,
) -> None:
    document = public_client.get(CSE).json()
    ids = [indicator["id"] for indicator in document["indicators"]]
    assert len(ids) == 13
    assert len(set(ids)) == 13
    assert all(re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", i) for i in ids)
    assert [a["id"] for a in document["actions"]] == ["tell-dsl", "contact-police"]
    assert [a["when"] for a in document["actions"]] == ["always", "immediate_danger"]


def test_document_shape_matches_the_contract(public_client: TestClient) -> None:
    document = public_client.get(CSE).json()
    assert document["key"] == "cse"
    assert document["title"] == "Child sexual exploitation (CSE)"
    assert [s["id"] for s in document["sections"]] == [
        "what-is-cse",
        "how-to-spot-it",
        "what-to-do",
    ]
    spot = document["sections"][1]
    assert spot["heading"] == "How do I spot it?"
    assert spot["lead"] == "A child may:"
    assert [item["indicator"] for item in spot["items"]] == [
        i["id"] for i in document["indicators"]
    ]
    forms = next(i for i in document["sections"][0]["items"] if i["items"])
    assert forms["text"] == "The sexual activity may be:"
    assert len(forms["items"]) == 3


def test_index_lists_documents(public_client: TestClient) -> None:
    response = public_client.get("/api/v1/guidance")
    assert response.status_code == 200
    assert response.json() == [
        {
            "key": "cse",
            "title": "Child sexual exploitation (CSE)",
            "version": "1",
            "updated_at": "2026-11-28T00:00:00Z",
            "category": "cse",
        }
    ]


def test_indicators_in_document_order(public_client: TestClient) -> None:
    document = public_client.get(CSE).json()
    response = public_client.get(CSE + "/indicators")
    assert response.status_code == 200
    assert response.json() == document["indicators"]
    assert response.json()[1] == {"id": "secretive", "text": "Be secretive"}


@pytest.mark.parametrize("path", ["/api/v1/guidance", CSE, CSE + "/indicators"])
def test_strong_etag_and_304(public_client: TestClient, path: str) -> None:
    first = public_client.get(path)
    etag = first.headers["etag"]
    assert etag.startswith('"') and not etag.startswith("W/")
    assert "max-age" in first.headers["cache-control"]
    again = public_client.get(path, headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == etag
    stale = public_client.get(path, headers={"If-None-Match": '"something-else"'})
    assert stale.status_code == 200


def test_guidance_is_public(public_client: TestClient) -> None:
    assert public_client.get(CSE).status_code == 200  # no Authorization header at all


@pytest.mark.parametrize("path", ["/api/v1/guidance/nope", "/api/v1/guidance/nope/indicators"])
def test_unknown_key_is_404_problem(public_client: TestClient, path: str) -> None:
    response = public_client.get(path)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith("/not-found")


def _write(tmp_path: Path, document: dict) -> Path:
    (tmp_path / f"{document['key']}.json").write_text(json.dumps(document), encoding="utf-8")
    return tmp_path


def _cse() -> dict:
    return json.loads((GUIDANCE_DIR / "cse.json").read_text(encoding="utf-8"))


def test_bundled_documents_load() -> None:
    library = GuidanceLibrary.load(GUIDANCE_DIR)
    assert "cse" in library.keys()  # noqa: SIM118


def test_duplicate_indicator_id_fails_start_up(tmp_path: Path) -> None:
    document = _cse()
    document["indicators"].append(dict(document["indicators"][0]))
    with pytest.raises(GuidanceLoadError, match="duplicate indicator id 'frightened"):
        GuidanceLibrary.load(_write(tmp_path, document))


def test_undefined_indicator_reference_fails_start_up(tmp_path: Path) -> None:
    document = _cse()
    document["sections"][1]["items"][0]["indicator"] = "not-defined"
    with pytest.raises(GuidanceLoadError, match="undefined indicator 'not-defined'"):
        GuidanceLibrary.load(_write(tmp_path, document))


def test_file_name_must_match_key(tmp_path: Path) -> None:
    (tmp_path / "other.json").write_text(json.dumps(_cse()), encoding="utf-8")
    with pytest.raises(GuidanceLoadError, match="must match"):
        GuidanceLibrary.load(tmp_path)


def test_a_second_document_is_just_a_file(tmp_path: Path) -> None:
    second = _cse()
    second.update(key="cce", title="Child criminal exploitation (CCE)")
    _write(tmp_path, _cse())
    _write(tmp_path, second)
    library = GuidanceLibrary.load(tmp_path)
    assert sorted(library.keys()) == ["cce", "cse"]
    assert isinstance(library.get("cce"), GuidanceDocument)


def test_actions_for_a_concern_follow_its_immediate_danger() -> None:
    library = GuidanceLibrary.load(GUIDANCE_DIR)
    document = library.get("cse")
    always = [a for a in document.actions if a.when == "always"]
    danger = [a for a in document.actions if a.when == "immediate_danger"]
    assert always and danger
    assert list(library.actions_for("cse", immediate_danger=False)) == always
    assert list(library.actions_for("cse", immediate_danger=True)) == [
        a for a in document.actions if a in always or a in danger
    ]
    # A concern recorded under a document withdrawn since still reads, with no actions.
    assert library.actions_for("withdrawn", immediate_danger=True) == ()


SCHEMA = "/api/v1/guidance/schema.json"


def test_the_json_schema_is_published_and_every_built_in_conforms(
    public_client: TestClient,
) -> None:
    response = public_client.get(SCHEMA)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/schema+json"
    schema = response.json()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert {"key", "version", "category", "sections", "indicators"} <= set(schema["required"])
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema)
    for path in GUIDANCE_DIR.glob("*.json"):
        assert list(validator.iter_errors(json.loads(path.read_text(encoding="utf-8")))) == []
    assert list(validator.iter_errors(public_client.get(CSE).json())) == []
    # What the schema cannot state, its description says.
    assert "unique ids" in schema["description"]
    etag = response.headers["etag"]
    assert public_client.get(SCHEMA, headers={"If-None-Match": etag}).status_code == 304


@pytest.mark.parametrize(
    ("change", "where"),
    [
        (lambda d: d.pop("category"), "/: 'category' is a required property"),
        (lambda d: d.update(title="   "), "/title:"),
        (lambda d: d["indicators"][0].update(id="Not Kebab"), "/indicators/0/id:"),
        (lambda d: d.update(category="sadness"), "/category:"),
    ],
)
def test_a_built_in_the_schema_refuses_fails_start_up(
    tmp_path: Path, change: Any, where: str
) -> None:
    document = _cse()
    change(document)
    with pytest.raises(GuidanceLoadError, match="JSON Schema at " + re.escape(where)):
        GuidanceLibrary.load(_write(tmp_path, document))


def test_the_cse_leaflet_is_of_the_cse_category(public_client: TestClient) -> None:
    assert public_client.get(CSE).json()["category"] == "cse"
