"""Entered in error (issue 21 point 2): a DSL marks a concern recorded in error, or
against the wrong child; it leaves that child's chronology, export and pupil filter, the
right children get it, DSLs still see it marked, and nothing is deleted."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi.testclient import TestClient
from sqlmodel import col, func, select

from db.engine import Database
from models import Concern, ConcernPupil
from tests.desk import API, CONCERNS, Desk, events, uid


def _chronology_ids(desk: Desk, pupil: Any) -> list[str]:
    answer = desk.client.get(f"{API}/pupils/{pupil.id}/chronology", headers=desk.headers())
    assert answer.status_code == 200, answer.text
    return [item["id"] for item in answer.json()["items"]]


def _export(desk: Desk, pupil: Any, fmt: str = "json") -> Any:
    answer = desk.client.get(
        f"{API}/pupils/{pupil.id}/export", params={"format": fmt}, headers=desk.headers()
    )
    assert answer.status_code == 200, answer.text
    return answer


def _listed(desk: Desk, pupil: Any) -> list[str]:
    answer = desk.client.get(CONCERNS, params={"pupil_id": str(pupil.id)}, headers=desk.headers())
    assert answer.status_code == 200, answer.text
    return [item["id"] for item in answer.json()["items"]]


def _mark(desk: Desk, concern_id: str, body: dict[str, Any], who: Any = None) -> Any:
    return desk.client.post(
        f"{CONCERNS}/{concern_id}/entered-in-error", json=body, headers=desk.headers(who)
    )


def test_wrong_child_moves_to_the_right_one(
    client: TestClient, desk: Desk, database: Database
) -> None:
    world = desk.world
    wrong = desk.concern(
        pupil_ids=[uid(world.zack)], description="Fictional words about a new phone."
    )
    kept = desk.concern(pupil_ids=[uid(world.zack)])
    addendum = client.post(
        f"{CONCERNS}/{wrong['id']}/addenda",
        json={"text": "More fictional detail.", "reason": "Adding."},
        headers=desk.headers(),
    ).json()
    assert wrong["id"] in _chronology_ids(desk, world.zack)
    assert wrong["id"] not in _chronology_ids(desk, world.zoe)

    answer = _mark(
        desk,
        wrong["id"],
        {"reason": "Logged against Zack by mistake.", "correct_pupil_ids": [uid(world.zoe)]},
    )
    assert answer.status_code == 200, answer.text
    marked = answer.json()
    assert marked["entered_in_error"]["reason"] == "Logged against Zack by mistake."
    assert marked["entered_in_error"]["correct_pupil_ids"] == [uid(world.zoe)]
    assert marked["entered_in_error"]["by"]["display_name"] == "Jo Lead"
    # The concern itself is unchanged: it still names the pupil it was logged against.
    assert marked["pupil_ids"] == [uid(world.zack)]
    assert marked["description"] == wrong["description"]

    zack = _chronology_ids(desk, world.zack)
    assert wrong["id"] not in zack and addendum["id"] not in zack and kept["id"] in zack
    zoe = _chronology_ids(desk, world.zoe)
    assert wrong["id"] in zoe and addendum["id"] in zoe
    zack_file = _export(desk, world.zack).json()
    assert wrong["id"] not in {item["id"] for item in zack_file["chronology"]}
    assert "Fictional words about a new phone" not in _export(desk, world.zack, "csv").text
    assert wrong["id"] in {item["id"] for item in _export(desk, world.zoe).json()["chronology"]}
    assert wrong["id"] not in _listed(desk, world.zack)
    assert wrong["id"] in _listed(desk, world.zoe)

    # DSLs still read it, marked; the recorder (staff) reads it without the mark.
    read = client.get(f"{CONCERNS}/{wrong['id']}", headers=desk.headers()).json()
    assert read["entered_in_error"]["correct_pupil_ids"] == [uid(world.zoe)]
    own = client.get(f"{CONCERNS}/{wrong['id']}", headers=desk.headers(world.staff_a)).json()
    assert own["entered_in_error"] is None

    # Nothing deleted.
    with database.transaction() as session:
        concern_id = uuid.UUID(wrong["id"])
        assert session.get(Concern, concern_id) is not None
        links = session.exec(
            select(func.count()).where(col(ConcernPupil.concern_id) == concern_id)
        ).one()
        assert links == 1
    audited = events(database, "concern.entered_in_error")
    assert {str(e.pupil_id) for e in audited} == {uid(world.zack), uid(world.zoe)}
    assert {str(e.entity_id) for e in audited} == {wrong["id"]}

    # A mark is never changed.
    again = _mark(desk, wrong["id"], {"reason": "Again."})
    assert again.status_code == 409


def test_recorded_in_error_leaves_every_child(client: TestClient, desk: Desk) -> None:
    world = desk.world
    concern = desk.concern(pupil_ids=[uid(world.zoe), uid(world.zack)])
    answer = _mark(desk, concern["id"], {"reason": "Test entry typed into the live system."})
    assert answer.status_code == 200, answer.text
    assert answer.json()["entered_in_error"]["correct_pupil_ids"] == []
    for pupil in (world.zoe, world.zack):
        assert concern["id"] not in _chronology_ids(desk, pupil)
        assert concern["id"] not in _listed(desk, pupil)


def test_one_of_two_children_was_wrong(client: TestClient, desk: Desk) -> None:
    world = desk.world
    concern = desk.concern(pupil_ids=[uid(world.zoe), uid(world.zack)])
    body = {"reason": "Zack was not there.", "correct_pupil_ids": [uid(world.zoe)]}
    assert _mark(desk, concern["id"], body).status_code == 200
    assert _chronology_ids(desk, world.zoe).count(concern["id"]) == 1
    assert concern["id"] not in _chronology_ids(desk, world.zack)


def test_refusals(client: TestClient, desk: Desk) -> None:
    world = desk.world
    concern = desk.concern()
    assert _mark(desk, concern["id"], {}).status_code == 422
    assert _mark(desk, concern["id"], {"reason": "   "}).status_code == 422
    elsewhere = {"reason": "Wrong child.", "correct_pupil_ids": [uid(world.elsewhere)]}
    answer = _mark(desk, concern["id"], elsewhere)
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["loc"] == ["body", "correct_pupil_ids"]
    assert _mark(desk, concern["id"], {"reason": "x"}, who=world.staff_a).status_code == 403
    assert _mark(desk, concern["id"], {"reason": "x"}, who=world.other_dsl).status_code == 404
