"""Issue 18, point 6: a case's review date, its reassignment, when a decision was taken,
one open case per pupil (in the database too), and closing a case closing its concerns.

Every name and every text here is invented.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from db.engine import Database
from models.case import Case, CaseCreate, CaseLevel
from models.triage import TriageEvent
from models.user import Role
from services import cases
from services.context import RequestContext
from services.principal import Principal
from tests.desk import API, CASES, Desk, events, iso

NOON = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


@pytest.fixture
def noon(desk: Desk) -> Desk:
    desk.clock._now = NOON
    return desk


def _problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


def test_a_review_date_at_opening_and_changed_with_if_match(noon: Desk) -> None:
    desk = noon
    past = desk.client.post(
        CASES,
        json={
            "pupil_id": str(desk.world.zoe.id),
            "level": "monitoring",
            "summary": "S.",
            "review_on": "2026-11-29",
        },
        headers=desk.headers(),
    )
    assert _problem(past, 422)["errors"][0]["loc"] == ["body", "review_on"]
    case, etag = desk.open_case(review_on="2026-12-14")
    assert case["review_on"] == "2026-12-14"

    body = {"review_on": "2026-12-07", "reason": "Sooner: a new worry."}
    _problem(desk.change_case(case["id"], "review", body, etag=None), 428)
    moved = desk.change_case(case["id"], "review", body, etag=etag)
    assert moved.status_code == 200, moved.text
    assert moved.json()["review_on"] == "2026-12-07"
    _problem(desk.change_case(case["id"], "review", body, etag=etag), 412)  # stale now
    _problem(desk.change_case(case["id"], "review", body), 422)  # that date already
    past_change = {"review_on": "2026-11-01", "reason": "R."}
    _problem(desk.change_case(case["id"], "review", past_change), 422)
    cleared = desk.change_case(case["id"], "review", {"review_on": None, "reason": "Not needed."})
    assert cleared.json()["review_on"] is None
    history = [(h["kind"], h["from_value"], h["to_value"]) for h in cleared.json()["history"]]
    assert history[-2:] == [
        ("review_changed", "2026-12-14", "2026-12-07"),
        ("review_changed", "2026-12-07", None),
    ]
    chronology = desk.client.get(
        f"{API}/pupils/{desk.world.zoe.id}/chronology", headers=desk.headers()
    ).json()["items"]
    assert [item["summary"] for item in chronology if item["type"] == "case_review_changed"] == [
        "Case review on 2026-12-07 (was 2026-12-14). Reason: Sooner: a new worry.",
        "Case no review date (was 2026-12-07). Reason: Not needed.",
    ]


def test_a_case_is_given_to_another_dsl_with_if_match(noon: Desk, database: Database) -> None:
    desk, world = noon, noon.world
    case, etag = desk.open_case()
    body = {"assigned_to": str(world.deputy.id), "reason": "Jo is away for two weeks."}
    _problem(desk.change_case(case["id"], "assign", body, etag=None), 428)
    given = desk.change_case(case["id"], "assign", body, etag=etag)
    assert given.status_code == 200, given.text
    assert given.json()["assigned_to"] == {
        "id": str(world.deputy.id),
        "display_name": world.deputy.user.display_name,
    }
    _problem(desk.change_case(case["id"], "assign", body, etag=etag), 412)
    _problem(desk.change_case(case["id"], "assign", body), 422)  # has it already
    for not_a_dsl in (world.staff_a, world.admin, world.other_dsl):
        refused = desk.change_case(
            case["id"], "assign", {"assigned_to": str(not_a_dsl.id), "reason": "R."}
        )
        assert _problem(refused, 422)["errors"][0]["loc"] == ["body", "assigned_to"]
    last = given.json()["history"][-1]
    assert (last["kind"], last["from_value"], last["to_value"]) == (
        "reassigned",
        str(world.dsl.id),
        str(world.deputy.id),
    )
    listed = desk.client.get(
        CASES, params={"assigned_to": str(world.deputy.id)}, headers=desk.headers()
    )
    assert [c["id"] for c in listed.json()["items"]] == [case["id"]]
    chronology = desk.client.get(
        f"{API}/pupils/{world.zoe.id}/chronology", headers=desk.headers()
    ).json()["items"]
    (entry,) = [item for item in chronology if item["type"] == "case_reassigned"]
    assert entry["summary"] == (
        f"Case given to {world.deputy.user.display_name} (was Jo Lead). "
        "Reason: Jo is away for two weeks."
    )
    assert [e.action for e in events(database) if e.action == "case.reassign"] == ["case.reassign"]


def test_decisions_take_when_they_were_decided(noon: Desk) -> None:
    desk = noon
    case, etag = desk.open_case()
    action = {"type": "meeting", "description": "M.", "occurred_at": iso(NOON - timedelta(days=3))}
    etag = desk.change_case(case["id"], "actions", action, etag=etag).headers["etag"]
    now_decision = {"decision": "Monitor.", "reason": "R."}
    response = desk.change_case(case["id"], "decisions", now_decision, etag=etag)
    assert response.status_code == 201, response.text
    assert response.json()["decisions"][0]["decided_at"] == iso(NOON)  # now, when not given
    etag = response.headers["etag"]
    # Decided at last week's meeting, written up today: it sits there, before the rest.
    earlier = {"decision": "Refer.", "reason": "R.", "decided_at": iso(NOON - timedelta(days=7))}
    response = desk.change_case(case["id"], "decisions", earlier, etag=etag)
    assert response.status_code == 201, response.text
    decisions = response.json()["decisions"]
    assert [d["decision"] for d in decisions] == ["Refer.", "Monitor."]
    assert decisions[0]["decided_at"] == iso(NOON - timedelta(days=7))
    assert decisions[0]["recorded_at"] == iso(NOON)
    chronology = desk.client.get(
        f"{API}/pupils/{desk.world.zoe.id}/chronology", headers=desk.headers()
    ).json()["items"]
    kinds = [(item["type"], item["occurred_at"]) for item in chronology]
    assert kinds[:2] == [
        ("decision", iso(NOON - timedelta(days=7))),
        ("action", iso(NOON - timedelta(days=3))),
    ]
    assert kinds[-1] == ("decision", iso(NOON))
    # Not in the future; a timestamp without an offset is refused.
    for bad in (iso(NOON + timedelta(minutes=6)), "2026-11-30T11:00:00", "1899-12-31T00:00:00Z"):
        refused = desk.change_case(case["id"], "decisions", now_decision | {"decided_at": bad})
        assert _problem(refused, 422)["errors"][0]["loc"][-1] == "decided_at", bad


def test_a_pupil_has_one_open_case(noon: Desk, database: Database) -> None:
    desk, world = noon, noon.world
    first, etag = desk.open_case()
    second = desk.client.post(
        CASES,
        json={"pupil_id": str(world.zoe.id), "level": "child_in_need", "summary": "Again."},
        headers=desk.headers(world.deputy),
    )
    problem = _problem(second, 409)
    assert problem["type"].endswith("/open-case-exists")
    assert problem["open_case_id"] == first["id"]
    assert first["id"] in problem["detail"]
    # Another child, or another school's, is unaffected.
    desk.open_case(pupil_id=str(world.zack.id))
    # Once the first is closed, a new one may be opened; the old one cannot then reopen.
    closed = desk.change_case(first["id"], "close", {"outcome": "O.", "reason": "R."}, etag=etag)
    assert closed.status_code == 200, closed.text
    newer, _ = desk.open_case(level="child_in_need")
    reopen = desk.change_case(first["id"], "reopen", {"reason": "R."})
    assert _problem(reopen, 409)["open_case_id"] == newer["id"]
    with database.transaction() as session:
        open_ones = session.exec(
            select(Case.id).where(col(Case.pupil_id) == world.zoe.id, col(Case.status) == "open")
        ).all()
    assert [str(case_id) for case_id in open_ones] == [newer["id"]]


def test_the_database_holds_one_open_case_per_pupil(noon: Desk, database: Database) -> None:
    world = noon.world
    desk = noon
    case, _ = desk.open_case()

    def another(status: str) -> Case:
        return Case(
            school_id=world.school.id,
            pupil_id=world.zoe.id,
            status=status,
            level="monitoring",
            summary="Written past the service.",
            opened_by=world.dsl.id,
            opened_at=NOON,
            updated_at=NOON,
        )

    with pytest.raises(IntegrityError), database.transaction() as session:
        session.add(another("open"))
    with database.transaction() as session:  # closed ones: as many as there were
        session.add(another("closed"))
        session.add(another("closed"))
    with pytest.raises(IntegrityError), database.transaction() as session:
        session.execute(
            text("UPDATE safeguarding_case SET status = 'open' WHERE status = 'closed'")
        )
    assert case["id"]


@pytest.mark.xdist_group("many_connections")
def test_two_dsls_opening_at_once_cannot_both_win(
    noon: Desk, database: Database, backend: str
) -> None:
    """On PostgreSQL, the second opening waits on the unique index for the first to
    commit, then is refused with the first one's id (the check before the insert saw
    nothing: the first had not committed yet). SQLite takes one writer at a time."""
    if backend != "postgresql":
        pytest.skip("concurrent transactions on one PostgreSQL server")
    world = noon.world

    def context(who: Any) -> RequestContext:
        return RequestContext(
            principal=Principal(
                id=who.id, school_id=world.school.id, role=Role(who.user.role), kind="user"
            ),
            now=NOON,
            request_id=None,
            guidance=noon.world.app.state.guidance,
        )

    body = CaseCreate(pupil_id=world.zoe.id, level=CaseLevel.monitoring, summary="S.")
    first = database.session()
    opened = cases.create_case(first, context(world.dsl), case=body)  # not committed yet
    outcome: list[Any] = []

    def second() -> None:
        with database.session() as session:
            try:
                outcome.append(cases.create_case(session, context(world.deputy), case=body))
                session.commit()
            except Exception as error:  # the answer under test
                outcome.append(error)
                session.rollback()

    racer = threading.Thread(target=second)
    racer.start()
    _wait_until(lambda: _backends_waiting_on_a_lock(database) > 0)
    first.commit()
    first.close()
    racer.join(timeout=30)
    assert not racer.is_alive()
    (refused,) = outcome
    assert getattr(refused, "status", None) == 409, refused
    assert refused.extra["open_case_id"] == str(opened.case.id)


def _backends_waiting_on_a_lock(database: Database) -> int:
    with database.engine.connect() as connection:
        waiting = connection.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        ).scalar_one()
    return int(waiting)


def _wait_until(condition: Callable[[], bool]) -> None:
    """Poll ``condition`` (a state of the server, not a time) for at most 30 seconds."""
    for _ in range(3000):
        if condition():
            return
        threading.Event().wait(0.01)
    raise AssertionError("the second transaction never waited on the first")


def test_closing_a_case_closes_its_concerns_still_open(noon: Desk, database: Database) -> None:
    desk, world = noon, noon.world
    new = desk.concern()
    acknowledged = desk.concern()
    in_progress = desk.concern(pupils=[world.zoe, world.zack])
    dismissed = desk.concern()
    closed_already = desk.concern()
    shared = desk.concern(pupils=[world.zoe, world.zack])
    not_linked = desk.concern()
    triage = {
        acknowledged["id"]: ["acknowledged"],
        in_progress["id"]: ["in_progress"],
        dismissed["id"]: ["no_further_action"],
        closed_already["id"]: ["acknowledged", "closed"],
    }
    for concern_id, moves in triage.items():
        for status in moves:
            moved = desk.triage(concern_id, {"status": status, "reason": "By hand."})
            assert moved.status_code == 200, moved.text
    linked = [new, acknowledged, in_progress, dismissed, closed_already, shared]
    case, etag = desk.open_case(concern_ids=[c["id"] for c in linked])
    # Zack's open case works on the shared concern too: it stays as it is.
    desk.open_case(pupil_id=str(world.zack.id), concern_ids=[shared["id"]])
    _, stale_concern_etag = desk.read_concern(in_progress["id"])
    before = len(events(database, "concern.triage"))

    # A refused close (stale If-Match) changes nothing.
    _problem(
        desk.change_case(case["id"], "close", {"outcome": "O.", "reason": "R."}, etag='"case-0"'),
        412,
    )
    assert desk.read_concern(new["id"])[0]["status"] == "new"

    desk.clock.advance(hours=1)
    close = {"outcome": "Support in place.", "reason": "Agreed at the review meeting."}
    response = desk.change_case(case["id"], "close", close, etag=etag)
    assert response.status_code == 200, response.text
    statuses = {c["id"]: c["status"] for c in response.json()["concerns"]}
    assert statuses == {
        new["id"]: "closed",
        acknowledged["id"]: "closed",
        in_progress["id"]: "closed",
        dismissed["id"]: "no_further_action",
        closed_already["id"]: "closed",
        shared["id"]: "new",
    }
    assert desk.read_concern(not_linked["id"])[0]["status"] == "new"
    # One triage event each, with the case's closing reason, at the closing.
    with database.transaction() as session:
        made = session.exec(
            select(TriageEvent).where(col(TriageEvent.reason) == close["reason"])
        ).all()
    assert sorted((str(e.concern_id), e.from_value, e.to_value) for e in made) == sorted(
        [
            (new["id"], "new", "closed"),
            (acknowledged["id"], "acknowledged", "closed"),
            (in_progress["id"], "in_progress", "closed"),
        ]
    )
    assert all(e.recorded_by == world.dsl.id and e.field == "status" for e in made)
    # Each concern's ETag moved on: a triage sent with the old one is refused.
    reopen = {"status": "in_progress", "reason": "R."}
    _problem(desk.triage(in_progress["id"], reopen, etag=stale_concern_etag), 412)
    # Audited: once per pupil of each concern closed (in_progress is about two children).
    audited = events(database, "concern.triage")[before:]
    assert sorted((str(e.entity_id), str(e.pupil_id)) for e in audited) == sorted(
        [
            (new["id"], str(world.zoe.id)),
            (acknowledged["id"], str(world.zoe.id)),
            (in_progress["id"], str(world.zoe.id)),
            (in_progress["id"], str(world.zack.id)),
        ]
    )
    assert len(events(database, "case.close")) == 1
    # Its recorder sees where it is: closed.
    mine = desk.client.get(f"{API}/concerns/{new['id']}", headers=desk.headers(world.staff_a))
    assert mine.json()["status"] == "closed"
