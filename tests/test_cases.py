"""Cases: opened from concerns about one child, changed only with If-Match, every change
with its reason, history never rewritten.

Every name and every text here is invented.
"""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import func, select

from db.engine import Database
from models.case import Case, CaseAction, CaseDecision, CaseEvent
from models.user import Role
from tests.desk import CASES, Desk, events, iso, page_pupils
from tests.factories import make_pupil, make_user

ACTION = {"type": "discussion", "description": "Talked with the form tutor."}


def _counts(database: Database) -> dict[str, Any]:
    with database.transaction() as session:
        return {
            "events": session.exec(select(func.count()).select_from(CaseEvent)).one(),
            "actions": session.exec(select(func.count()).select_from(CaseAction)).one(),
            "decisions": session.exec(select(func.count()).select_from(CaseDecision)).one(),
            "cases": [
                (c.status, c.level, c.version, c.outcome) for c in session.exec(select(Case))
            ],
        }


def test_opening_a_case(desk: Desk, database: Database) -> None:
    world = desk.world
    first = desk.concern()
    second = desk.concern(world.staff_b)
    response = desk.client.post(
        CASES,
        json={
            "pupil_id": str(world.zoe.id),
            "concern_ids": [first["id"], second["id"], first["id"]],
            "level": "monitoring",
            "summary": "Two small worries from two staff.",
        },
        headers=desk.headers(),
    )
    assert response.status_code == 201, response.text
    case = response.json()
    assert response.headers["location"] == f"{CASES}/{case['id']}"
    assert response.headers["etag"] == '"case-1"'
    assert case["status"] == "open" and case["level"] == "monitoring"
    assert case["assigned_to"]["id"] == str(world.dsl.id)  # the caller, when not given
    assert case["opened_by"]["id"] == str(world.dsl.id)
    assert case["concern_ids"] == [first["id"], second["id"]]
    assert [c["id"] for c in case["concerns"]] == [first["id"], second["id"]]
    assert [(h["kind"], h["concern_id"]) for h in case["history"]] == [
        ("opened", None),
        ("concern_linked", first["id"]),
        ("concern_linked", second["id"]),
    ]
    assert case["history"][0]["text"] == "Two small worries from two staff."
    created = events(database, "case.create")
    assert [(str(e.entity_id), e.pupil_id) for e in created] == [(case["id"], world.zoe.id)]


@pytest.mark.parametrize(
    "change",
    [
        {"level": "urgent"},
        {"summary": " "},
        {"pupil_id": "not-an-id"},
        {"status": "closed"},
        {"concern_ids": "x"},
    ],
)
def test_malformed_cases_are_422(desk: Desk, database: Database, change: dict) -> None:
    body = {"pupil_id": str(desk.world.zoe.id), "level": "monitoring", "summary": "S."} | change
    response = desk.client.post(CASES, json=body, headers=desk.headers())
    assert response.status_code == 422, response.text
    assert _counts(database)["cases"] == []


def test_a_case_links_only_concerns_about_its_pupil_in_its_school(
    desk: Desk, database: Database
) -> None:
    world = desk.world
    about_zack = desk.concern(pupils=[world.zack])
    elsewhere = desk.concern(world.other_staff, pupils=[world.elsewhere])
    for pupil, concern_ids in (
        (world.zoe, [about_zack["id"]]),
        (world.zoe, [elsewhere["id"]]),
        (world.zoe, [str(uuid.uuid4())]),
        (world.elsewhere, []),  # another school's pupil
    ):
        response = desk.client.post(
            CASES,
            json={
                "pupil_id": str(pupil.id),
                "concern_ids": concern_ids,
                "level": "monitoring",
                "summary": "S.",
            },
            headers=desk.headers(),
        )
        assert response.status_code == 422, response.text
    for who in (world.staff_a, world.admin, world.other_dsl):
        response = desk.client.post(
            CASES,
            json={
                "pupil_id": str(world.zoe.id),
                "level": "monitoring",
                "summary": "S.",
                "assigned_to": str(who.id),
            },
            headers=desk.headers(),
        )
        assert response.status_code == 422
        assert response.json()["errors"][0]["loc"] == ["body", "assigned_to"]
    assert _counts(database)["cases"] == []


def test_reading_a_case_is_audited_and_other_schools_get_404(
    desk: Desk, database: Database
) -> None:
    world = desk.world
    case, _ = desk.open_case(concern_ids=[desk.concern()["id"]])
    read, etag = desk.read_case(case["id"])
    assert etag == '"case-1"' and read == case
    reads = events(database, "case.read")
    assert [(str(e.entity_id), e.pupil_id, e.actor_id) for e in reads] == [
        (case["id"], world.zoe.id, world.dsl.id)
    ]
    outsider = desk.client.get(f"{CASES}/{case['id']}", headers=desk.headers(world.other_dsl))
    assert outsider.status_code == 404
    for who in (world.staff_a, world.admin, world.mis):
        assert (
            desk.client.get(f"{CASES}/{case['id']}", headers=desk.headers(who)).status_code == 403
        )


def test_actions_decisions_links_level_close_and_reopen(desk: Desk, database: Database) -> None:
    world = desk.world
    first = desk.concern()
    case, etag = desk.open_case(concern_ids=[first["id"]])
    url = case["id"]

    def change(what: str, body: dict[str, Any], status: int = 200) -> dict[str, Any]:
        nonlocal etag
        response = desk.change_case(url, what, body, etag=etag)
        assert response.status_code == status, response.text
        etag = response.headers["etag"]
        answer: dict[str, Any] = response.json()
        return answer

    desk.clock.advance(hours=1)
    later = desk.concern(world.staff_b)
    answer = change("concerns", {"concern_ids": [later["id"]]})
    assert answer["concern_ids"] == [first["id"], later["id"]]
    assert etag == '"case-2"'
    answer = change(
        "actions",
        ACTION | {"occurred_at": iso(desk.clock.now() - timedelta(days=2)), "with_whom": "Tutor"},
        201,
    )
    assert answer["actions"][0]["with_whom"] == "Tutor"
    answer = change("decisions", {"decision": "Keep monitoring.", "reason": "Low level."}, 201)
    assert answer["decisions"][0]["reason"] == "Low level."
    answer = change("level", {"level": "child_in_need", "reason": "Social care accepted."})
    assert answer["level"] == "child_in_need"
    answer = change("close", {"outcome": "Support in place.", "reason": "Review agreed."})
    assert (answer["status"], answer["outcome"]) == ("closed", "Support in place.")
    assert answer["closed_at"] == iso(desk.clock.now())
    # A closed case takes nothing but reopening.
    for what, body in (
        ("actions", ACTION | {"occurred_at": iso(desk.clock.now())}),
        ("decisions", {"decision": "D.", "reason": "R."}),
        ("concerns", {"concern_ids": [desk.concern()["id"]]}),
        ("level", {"level": "monitoring", "reason": "R."}),
        ("close", {"outcome": "O.", "reason": "R."}),
    ):
        response = desk.change_case(url, what, body, etag=etag)
        assert response.status_code == 409, (what, response.text)
        assert response.json()["type"].endswith("/case-closed")
    answer = change("reopen", {"reason": "A new concern shows the same pattern."})
    assert (answer["status"], answer["outcome"], answer["closed_at"]) == ("open", None, None)
    assert desk.change_case(url, "reopen", {"reason": "R."}, etag=etag).status_code == 409
    assert etag == '"case-7"'
    assert [(h["kind"], h["from_value"], h["to_value"]) for h in answer["history"]] == [
        ("opened", None, "early_help"),
        ("concern_linked", None, None),
        ("concern_linked", None, None),
        ("level_changed", "early_help", "child_in_need"),
        ("closed", "open", "closed"),
        ("reopened", "closed", "open"),
    ]
    assert answer["history"][4]["text"] == "Support in place."  # the outcome stays on record
    assert [e.action for e in events(database) if e.action.startswith("case.")] == [
        "case.create",
        "case.link",
        "case.action",
        "case.decision",
        "case.level",
        "case.close",
        "case.reopen",
    ]
    audited = [e for e in events(database) if e.action in ("case.action", "case.decision")]
    assert [e.entity_type for e in audited] == ["case_action", "case_decision"]
    assert all(e.pupil_id == world.zoe.id for e in audited)


def test_change_rules(desk: Desk) -> None:
    first = desk.concern()
    case, etag = desk.open_case(concern_ids=[first["id"]], level="monitoring")
    same_level = desk.change_case(case["id"], "level", {"level": "monitoring", "reason": "R."})
    assert same_level.status_code == 422
    again = desk.change_case(case["id"], "concerns", {"concern_ids": [first["id"]]})
    assert again.status_code == 409 and again.json()["type"].endswith("/already-linked")
    zacks = desk.concern(pupils=[desk.world.zack])
    other_pupil = desk.change_case(case["id"], "concerns", {"concern_ids": [zacks["id"]]})
    assert other_pupil.status_code == 422
    ahead = ACTION | {"occurred_at": iso(desk.clock.now() + timedelta(minutes=10))}
    assert desk.change_case(case["id"], "actions", ahead).status_code == 422
    naive = ACTION | {"occurred_at": "2026-11-27T15:40:00"}
    assert desk.change_case(case["id"], "actions", naive).status_code == 422
    unknown_type = ACTION | {"type": "telepathy", "occurred_at": iso(desk.clock.now())}
    assert desk.change_case(case["id"], "actions", unknown_type).status_code == 422
    assert desk.read_case(case["id"])[1] == etag  # nothing changed


CHANGES: list[tuple[str, dict[str, Any]]] = [
    ("concerns", {"concern_ids": ["<concern>"]}),
    ("actions", ACTION | {"occurred_at": "<now>"}),
    ("decisions", {"decision": "Refer.", "reason": "Threshold met."}),
    ("level", {"level": "child_protection", "reason": "Strategy meeting."}),
    ("close", {"outcome": "Done.", "reason": "Agreed."}),
]


def _body(desk: Desk, body: dict[str, Any]) -> dict[str, Any]:
    filled = dict(body)
    if "concern_ids" in filled:
        filled["concern_ids"] = [desk.concern()["id"]]
    if "occurred_at" in filled:
        filled["occurred_at"] = iso(desk.clock.now())
    return filled


@pytest.mark.parametrize(("what", "body"), CHANGES, ids=[c[0] for c in CHANGES])
def test_every_change_needs_the_current_etag(
    desk: Desk, database: Database, what: str, body: dict[str, Any]
) -> None:
    case, etag = desk.open_case()
    body = _body(desk, body)
    before = _counts(database)
    missing = desk.change_case(case["id"], what, body, etag=None)
    assert missing.status_code == 428, missing.text
    # Someone else changes the case: the etag read before is now stale.
    other = desk.change_case(case["id"], "decisions", {"decision": "D.", "reason": "R."})
    assert other.status_code == 201
    before = _counts(database)
    stale = desk.change_case(case["id"], what, body, etag=etag)
    assert stale.status_code == 412, stale.text
    assert _counts(database) == before
    fresh = desk.change_case(case["id"], what, body, etag=other.headers["etag"])
    assert fresh.status_code in (200, 201), fresh.text
    assert fresh.headers["etag"] == '"case-3"'


def test_reopen_needs_the_current_etag(desk: Desk, database: Database) -> None:
    case, etag = desk.open_case()
    closed = desk.change_case(case["id"], "close", {"outcome": "O.", "reason": "R."}, etag=etag)
    assert closed.status_code == 200
    assert desk.change_case(case["id"], "reopen", {"reason": "R."}, etag=None).status_code == 428
    before = _counts(database)
    assert desk.change_case(case["id"], "reopen", {"reason": "R."}, etag=etag).status_code == 412
    assert _counts(database) == before


def test_dsls_racing_on_a_case_cannot_both_win(
    app: FastAPI, desk: Desk, database: Database
) -> None:
    case, etag = desk.open_case()
    barrier = threading.Barrier(6)

    def post(n: int) -> int:
        client = TestClient(app, raise_server_exceptions=False)
        who = desk.world.dsl if n % 2 else desk.world.deputy
        headers = desk.headers(who, **{"If-Match": etag})
        barrier.wait()
        return client.post(
            f"{CASES}/{case['id']}/decisions",
            json={"decision": f"Decision {n}.", "reason": "R."},
            headers=headers,
        ).status_code

    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(post, range(6)))
    assert sorted(answers) == [201] + [412] * 5, answers
    assert _counts(database)["decisions"] == 1


def test_list_filters_and_pages(desk: Desk, database: Database) -> None:
    world = desk.world
    amy = make_pupil(database, world.school, "Amy", "Invented")
    zoe_concern = desk.concern(indicators=["secretive"])
    zack_concern = desk.concern(pupils=[world.zack], indicators=["sexualised-behaviour"])
    start = desk.clock.now()
    a, _ = desk.open_case(concern_ids=[zoe_concern["id"]], level="monitoring")
    desk.clock.advance(days=1)
    b, _ = desk.open_case(
        pupil_id=str(world.zack.id),
        concern_ids=[zack_concern["id"]],
        level="child_protection",
        assigned_to=str(world.deputy.id),
    )
    desk.clock.advance(days=1)
    c, c_etag = desk.open_case(pupil_id=str(amy.id), level="early_help")
    desk.change_case(c["id"], "close", {"outcome": "O.", "reason": "R."}, etag=c_etag)
    make_user(database, world.other_school, Role.dsl)  # another school's cases stay apart

    def listed(**params: Any) -> list[str]:
        response = desk.client.get(CASES, params=params, headers=desk.headers())
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    assert listed() == [c["id"], b["id"], a["id"]]  # newest opened first
    assert listed(status="open") == [b["id"], a["id"]]
    assert listed(status="closed") == [c["id"]]
    assert listed(level="child_protection") == [b["id"]]
    assert listed(level=["monitoring", "early_help"]) == [c["id"], a["id"]]
    assert listed(pupil_id=str(world.zoe.id)) == [a["id"]]
    assert listed(assigned_to=str(world.deputy.id)) == [b["id"]]
    assert listed(indicator="secretive") == [a["id"]]
    assert listed(indicator=["secretive", "sexualised-behaviour"]) == [b["id"], a["id"]]
    assert listed(opened_from=iso(start + timedelta(hours=1))) == [c["id"], b["id"]]
    assert listed(opened_to=iso(start + timedelta(hours=1))) == [a["id"]]
    assert listed(status="open", level="monitoring", indicator="secretive") == [a["id"]]
    assert listed(status="closed", pupil_id=str(world.zoe.id)) == []
    naive = desk.client.get(
        CASES, params={"opened_from": "2026-11-27T15:40:00"}, headers=desk.headers()
    )
    assert naive.status_code == 422
    # Pages of one, with a case opened in between: no repeats, no gaps.
    page = desk.client.get(CASES, params={"limit": 1}, headers=desk.headers()).json()
    seen = [item["id"] for item in page["items"]]
    desk.clock.advance(days=1)
    desk.open_case(pupil_id=str(make_pupil(database, world.school, "Ann", "Other").id))
    while page["next_cursor"]:
        page = desk.client.get(
            CASES, params={"limit": 1, "cursor": page["next_cursor"]}, headers=desk.headers()
        ).json()
        seen += [item["id"] for item in page["items"]]
    assert seen == [c["id"], b["id"], a["id"]]
    assert (
        desk.client.get(CASES, params={"cursor": "junk"}, headers=desk.headers()).status_code == 422
    )
    assert desk.client.get(CASES, headers=desk.headers(world.other_dsl)).json()["items"] == []
    listed_events = events(database, "case.list")
    assert all(e.pupil_id is None for e in listed_events)  # one event per page (ADR 0126)
    on_pages = {p for e in listed_events for p in page_pupils(database, e)}
    assert on_pages >= {world.zoe.id, world.zack.id, amy.id}
