"""Triage: DSLs move concerns on with reasons; the concern row itself is never touched;
ETags and If-Match keep two DSLs from overwriting each other.

Every name and every text here is invented.
"""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import col, select

from db.engine import Database
from models import Concern
from models.triage import ConcernTriage, TriageEvent
from models.user import Role
from tests.desk import CONCERNS, Desk, events
from tests.factories import make_user


def _triage_state(database: Database, concern_id: str) -> tuple[ConcernTriage, list[TriageEvent]]:
    with database.transaction() as session:
        state = session.exec(
            select(ConcernTriage).where(col(ConcernTriage.concern_id) == uuid.UUID(concern_id))
        ).one()
        history = list(
            session.exec(
                select(TriageEvent)
                .where(col(TriageEvent.concern_id) == uuid.UUID(concern_id))
                .order_by(col(TriageEvent.recorded_at), col(TriageEvent.id))
            )
        )
        return state, history


def _concern_row(database: Database, concern_id: str) -> dict[str, Any]:
    with database.transaction() as session:
        row = session.exec(select(Concern).where(col(Concern.id) == uuid.UUID(concern_id))).one()
        return row.model_dump()


def test_a_new_concern_has_an_etag_and_is_waiting(desk: Desk) -> None:
    concern = desk.concern()
    assert concern["status"] == "new"
    desk.clock.advance(hours=30)
    read, etag = desk.read_concern(concern["id"])
    assert etag == '"triage-1"'
    assert read["status"] == "new"
    assert read["waiting_hours"] == 30.0
    assert read["risk_level"] is None and read["assigned_to"] is None


def test_triage_changes_state_records_events_and_never_touches_the_concern(
    desk: Desk, database: Database
) -> None:
    world = desk.world
    concern = desk.concern(pupils=[world.zoe, world.zack])
    before = _concern_row(database, concern["id"])
    desk.clock.advance(minutes=5)
    response = desk.triage(
        concern["id"],
        {
            "status": "acknowledged",
            "risk_level": "high",
            "assigned_to": str(world.deputy.id),
            "reason": "Read it; the deputy knows the family.",
        },
    )
    assert response.status_code == 200, response.text
    assert response.headers["etag"] == '"triage-2"'
    body = response.json()
    assert body["status"] == "acknowledged"
    assert body["risk_level"] == "high"
    assert body["assigned_to"]["id"] == str(world.deputy.id)
    assert body["waiting_hours"] is None
    assert body["description"] == concern["description"]
    assert _concern_row(database, concern["id"]) == before
    state, history = _triage_state(database, concern["id"])
    assert (state.status, state.risk_level, state.assigned_to, state.version) == (
        "acknowledged",
        "high",
        world.deputy.id,
        2,
    )
    assert [(e.field, e.from_value, e.to_value) for e in history] == [
        ("status", "new", "acknowledged"),
        ("risk_level", None, "high"),
        ("assigned_to", None, str(world.deputy.id)),
    ]
    assert all(e.reason == "Read it; the deputy knows the family." for e in history)
    assert all(e.recorded_by == world.dsl.id for e in history)
    audited = events(database, "concern.triage")
    assert {(str(e.entity_id), e.pupil_id) for e in audited} == {
        (concern["id"], world.zoe.id),
        (concern["id"], world.zack.id),
    }
    # A second change adds to the history; nothing earlier is rewritten.
    response = desk.triage(concern["id"], {"assigned_to": None, "reason": "Deputy is away."})
    assert response.status_code == 200, response.text
    assert response.json()["assigned_to"] is None
    state, history = _triage_state(database, concern["id"])
    assert state.version == 3 and state.assigned_to is None
    assert [(e.field, e.to_value) for e in history][-1] == ("assigned_to", None)
    assert len(history) == 4


def test_missing_if_match_is_428_and_changes_nothing(desk: Desk, database: Database) -> None:
    concern = desk.concern()
    for etag in (None, "*"):
        response = desk.triage(concern["id"], {"status": "acknowledged", "reason": "R."}, etag=etag)
        assert response.status_code == 428, response.text
        assert response.json()["type"].endswith("/precondition-required")
    state, history = _triage_state(database, concern["id"])
    assert state.status == "new" and state.version == 1 and history == []
    assert events(database, "concern.triage") == []


def test_stale_if_match_is_412_and_nothing_is_overwritten(desk: Desk, database: Database) -> None:
    concern = desk.concern()
    _, first_etag = desk.read_concern(concern["id"])
    # The deputy gets there first.
    response = desk.triage(
        concern["id"],
        {"status": "acknowledged", "risk_level": "low", "reason": "Deputy read it."},
        etag=first_etag,
        who=desk.world.deputy,
    )
    assert response.status_code == 200
    for stale in (first_etag, 'W/"triage-2"', '"triage-99"', "garbage"):
        response = desk.triage(
            concern["id"],
            {"risk_level": "critical", "reason": "DSL read an old copy."},
            etag=stale,
        )
        assert response.status_code == 412, (stale, response.text)
        assert response.json()["type"].endswith("/precondition-failed")
    state, history = _triage_state(database, concern["id"])
    assert (state.risk_level, state.version) == ("low", 2)
    assert len(history) == 2
    # A list of tags matches when the current one is in it.
    response = desk.triage(
        concern["id"],
        {"risk_level": "critical", "reason": "Now with the fresh copy."},
        etag=f'{first_etag}, "triage-2"',
    )
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("moves", "answers"),
    [
        (["acknowledged", "in_progress", "closed"], [200, 200, 200]),
        (["acknowledged", "closed"], [200, 200]),
        (["in_progress", "no_further_action"], [200, 200]),
        (["no_further_action", "in_progress", "closed"], [200, 200, 200]),  # reopened
        (["closed"], [409]),  # closing needs someone to have acknowledged it
        (["acknowledged", "new"], [200, 409]),  # nothing goes back to new
        (["acknowledged", "in_progress", "acknowledged"], [200, 200, 409]),
        (["acknowledged", "closed", "no_further_action"], [200, 200, 409]),
    ],
)
def test_status_moves(desk: Desk, moves: list[str], answers: list[int]) -> None:
    concern = desk.concern()
    got = [
        desk.triage(concern["id"], {"status": move, "reason": "Fictional."}).status_code
        for move in moves
    ]
    assert got == answers


def test_an_invalid_move_names_the_allowed_ones(desk: Desk) -> None:
    concern = desk.concern()
    response = desk.triage(concern["id"], {"status": "closed", "reason": "Fictional."})
    assert response.status_code == 409
    problem = response.json()
    assert problem["type"].endswith("/invalid-transition")
    assert problem["allowed"] == ["acknowledged", "in_progress", "no_further_action"]


@pytest.mark.parametrize(
    "body",
    [
        {"status": "acknowledged"},  # no reason
        {"status": "acknowledged", "reason": "  "},
        {"status": "done", "reason": "R."},
        {"risk_level": "severe", "reason": "R."},
        {"reason": "Nothing else."},
        {"status": None, "reason": "R."},
        {"risk_level": None, "reason": "R."},
        {"status": "new", "reason": "Already new."},
        {"status": "acknowledged", "reason": "R.", "version": 5},
    ],
)
def test_malformed_or_empty_changes_are_422(desk: Desk, database: Database, body) -> None:
    concern = desk.concern()
    response = desk.triage(concern["id"], body)
    assert response.status_code == 422, response.text
    state, history = _triage_state(database, concern["id"])
    assert state.version == 1 and history == []


def test_the_assignee_must_be_an_active_dsl_of_the_school(desk: Desk, database: Database) -> None:
    world = desk.world
    concern = desk.concern()
    gone = make_user(database, world.school, Role.dsl, active=False)
    for who in (world.staff_a, world.admin, world.other_dsl, gone):
        response = desk.triage(concern["id"], {"assigned_to": str(who.id), "reason": "R."})
        assert response.status_code == 422, response.text
        assert response.json()["errors"][0]["loc"] == ["body", "assigned_to"]
    response = desk.triage(concern["id"], {"assigned_to": str(world.dsl.id), "reason": "Mine."})
    assert response.status_code == 200


def test_only_the_schools_dsls_may_triage(desk: Desk) -> None:
    world = desk.world
    concern = desk.concern()
    body = {"status": "acknowledged", "reason": "R."}
    etag = desk.read_concern(concern["id"])[1]
    url = f"{CONCERNS}/{concern['id']}/triage"
    for who in (world.staff_a, world.admin, world.mis):
        response = desk.client.post(url, json=body, headers=desk.headers(who, **{"If-Match": etag}))
        assert response.status_code == 403
    outsider = desk.headers(world.other_dsl, **{"If-Match": etag})
    assert desk.client.post(url, json=body, headers=outsider).status_code == 404


def test_staff_see_the_status_but_not_the_dsls_assessment(desk: Desk) -> None:
    world = desk.world
    concern = desk.concern(world.staff_a)
    desk.triage(
        concern["id"],
        {
            "status": "acknowledged",
            "risk_level": "critical",
            "assigned_to": str(world.dsl.id),
            "reason": "R.",
        },
    )
    mine = desk.client.get(f"{CONCERNS}/{concern['id']}", headers=desk.headers(world.staff_a))
    body = mine.json()
    assert body["status"] == "acknowledged"
    assert body["risk_level"] is None and body["assigned_to"] is None
    assert body["waiting_hours"] is None
    listed = desk.client.get(CONCERNS, headers=desk.headers(world.staff_a)).json()["items"]
    assert listed[0]["risk_level"] is None


def test_waiting_hours_lists_what_nobody_has_looked_at(desk: Desk) -> None:
    older = desk.concern()
    desk.clock.advance(hours=3)
    newer = desk.concern()
    looked_at = desk.concern()
    desk.triage(looked_at["id"], {"status": "acknowledged", "reason": "Seen."})
    desk.clock.advance(minutes=30)
    response = desk.client.get(CONCERNS, params={"status": "new"}, headers=desk.headers())
    items = response.json()["items"]
    assert [(i["id"], i["waiting_hours"]) for i in items] == [
        (newer["id"], 0.5),
        (older["id"], 3.5),
    ]
    everything = desk.client.get(CONCERNS, headers=desk.headers()).json()["items"]
    assert {i["id"]: i["waiting_hours"] for i in everything}[looked_at["id"]] is None


def _race(app: FastAPI, requests: list[tuple[str, dict, dict]]) -> list[int]:
    barrier = threading.Barrier(len(requests))

    def post(request: tuple[str, dict, dict]) -> int:
        url, body, headers = request
        client = TestClient(app, raise_server_exceptions=False)
        barrier.wait()
        return client.post(url, json=body, headers=headers).status_code

    with ThreadPoolExecutor(max_workers=len(requests)) as pool:
        return list(pool.map(post, requests))


def test_dsls_racing_with_the_same_etag_cannot_both_win(
    app: FastAPI, desk: Desk, database: Database
) -> None:
    concern = desk.concern()
    etag = desk.read_concern(concern["id"])[1]
    url = f"{CONCERNS}/{concern['id']}/triage"
    requests = [
        (
            url,
            {"risk_level": level, "reason": f"Racer {n}."},
            desk.headers(who, **{"If-Match": etag}),
        )
        for n, (who, level) in enumerate(
            [
                (desk.world.dsl, "low"),
                (desk.world.deputy, "medium"),
                (desk.world.dsl, "high"),
                (desk.world.deputy, "critical"),
            ]
            * 2
        )
    ]
    answers = _race(app, requests)
    assert sorted(answers) == [200] + [412] * 7, answers
    state, history = _triage_state(database, concern["id"])
    assert state.version == 2
    assert len(history) == 1 and history[0].to_value == state.risk_level
