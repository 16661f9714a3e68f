"""Body maps on concerns (issue 20, point 4; ADR 0106), and what the export carries of a
child's attachments and body maps (point 5)."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from db.engine import Database
from tests.desk import API, CONCERNS, Desk, events
from tests.test_attachments import pdf, png, upload

MARKS = [
    {"view": "front", "x": 0.31, "y": 0.42, "kind": "bruise", "note": "Yellowish, about 3 cm"},
    {"view": "back", "x": 0.5, "y": 0.3, "kind": "cut"},
    {"view": "left", "x": 0.55, "y": 0.6, "kind": "burn", "note": "Round, small"},
    {"view": "right", "x": 0.45, "y": 0.25, "kind": "mark"},
    {"view": "head", "x": 0.2, "y": 0.45, "kind": "other", "note": "Behind the ear"},
]


def post_map(desk: Desk, concern_id: str, marks: Any, who: Any = None) -> Any:
    return desk.client.post(
        f"{CONCERNS}/{concern_id}/body-map", json={"marks": marks}, headers=desk.headers(who)
    )


def test_a_body_map_is_recorded_and_read_on_its_concern(desk: Desk, database: Database) -> None:
    concern = desk.concern(desk.world.staff_a)
    created = post_map(desk, concern["id"], MARKS, desk.world.staff_a)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["marks"][0] == MARKS[0]
    assert "note" not in body["marks"][1] or body["marks"][1]["note"] is None
    assert body["recorded_by"]["display_name"] == "Sam Teacher"
    assert created.headers["location"] == f"{CONCERNS}/{concern['id']}/body-maps"
    # Immutable: another observation is another body map.
    second = post_map(desk, concern["id"], MARKS[:1], desk.world.dsl)
    assert second.status_code == 201
    listed = desk.client.get(created.headers["location"], headers=desk.headers(desk.world.staff_a))
    assert [len(item["marks"]) for item in listed.json()["items"]] == [5, 1]
    assert len(events(database, "body_map.create")) == 2
    for method in ("PUT", "PATCH", "DELETE"):
        path = f"{CONCERNS}/{concern['id']}/body-map"
        assert desk.client.request(method, path, headers=desk.headers()).status_code == 405


@pytest.mark.parametrize(
    "marks",
    [
        [{"view": "front", "x": 1.5, "y": 0.5, "kind": "bruise"}],
        [{"view": "front", "x": 0.5, "y": -0.1, "kind": "bruise"}],
        [{"view": "side", "x": 0.5, "y": 0.5, "kind": "bruise"}],
        [{"view": "front", "x": 0.5, "y": 0.5, "kind": "graze"}],
        [{"view": "front", "x": 0.5, "y": 0.5, "kind": "bruise", "colour": "blue"}],
        [{"view": "front", "x": 0.5, "kind": "bruise"}],
        [],
    ],
    ids=["x-over-1", "y-below-0", "view", "kind", "unknown-field", "no-y", "no-marks"],
)
def test_a_body_map_is_validated(desk: Desk, marks: list[dict[str, Any]]) -> None:
    concern = desk.concern()
    answer = post_map(desk, concern["id"], marks)
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"] == "application/problem+json"


def test_who_may_record_a_body_map(desk: Desk) -> None:
    world = desk.world
    concern = desk.concern(world.staff_a)
    for who in (world.staff_b, world.other_dsl):
        assert post_map(desk, concern["id"], MARKS, who).status_code == 404
        got = desk.client.get(f"{CONCERNS}/{concern['id']}/body-maps", headers=desk.headers(who))
        assert got.status_code == 404
    assert post_map(desk, concern["id"], MARKS, world.admin).status_code == 403
    assert post_map(desk, concern["id"], MARKS, world.deputy).status_code == 201


def _export(desk: Desk, format: str) -> Any:
    return desk.client.get(
        f"{API}/pupils/{desk.world.zoe.id}/export",
        params={"format": format},
        headers=desk.headers(),
    )


def test_the_export_carries_attachments_and_body_maps(
    desk: Desk, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    concern = desk.concern()
    assert post_map(desk, concern["id"], MARKS).status_code == 201
    on_concern = upload(desk, f"{CONCERNS}/{concern['id']}/attachments", png(), filename="n.png")
    case, _ = desk.open_case(concern_ids=[concern["id"]])
    on_case = upload(desk, f"{API}/cases/{case['id']}/attachments", pdf(), filename="minutes.pdf")
    hashes = [on_concern.json()["sha256"], on_case.json()["sha256"]]
    # Another child's are not in Zoë's file.
    other = desk.concern(pupils=[desk.world.zack])
    post_map(desk, other["id"], MARKS[:1])

    document = _export(desk, "json").json()
    assert [item["sha256"] for item in document["attachments"]] == hashes
    assert [item["filename"] for item in document["attachments"]] == ["n.png", "minutes.pdf"]
    assert [len(body_map["marks"]) for body_map in document["body_maps"]] == [5]

    rows = list(csv.reader(io.StringIO(_export(desk, "csv").content.decode("utf-8-sig"))))
    kinds = [(row[0], row[3]) for row in rows[1:]]  # (section, type)
    assert kinds.count(("attachments", "attachment")) == 2
    assert kinds.count(("body_maps", "body_map")) == 1
    assert any(hashes[1] in row[5] for row in rows)
    assert any("bruise on the front at (0.31, 0.42): Yellowish" in row[5] for row in rows)

    answer = _export(desk, "pdf")
    assert answer.status_code == 200
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(answer.content)).pages)
    assert "Attachments (2)" in text and "Body maps (1)" in text
    assert hashes[1][:32] in text
    assert "Behind the ear" in text and "Right side" in text
    # Kept for a person to look at (pdftoppm -png), when asked for.
    keep = request.config.getoption("basetemp", None)
    (tmp_path / "export.pdf").write_bytes(answer.content)
    if keep:
        (Path(str(keep)) / "body-map-export.pdf").write_bytes(answer.content)


def test_erasing_a_childs_body_maps_keeps_the_rows(desk: Desk, database: Database) -> None:
    from services import body_maps

    concern = desk.concern()
    assert post_map(desk, concern["id"], MARKS).status_code == 201
    with database.transaction() as session:
        assert body_maps.erase_body_maps(session, desk.world.school.id, desk.world.zoe.id) == 1
    listed = desk.client.get(f"{CONCERNS}/{concern['id']}/body-maps", headers=desk.headers())
    assert [item["marks"] for item in listed.json()["items"]] == [[]]
