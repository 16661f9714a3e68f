"""Issue 20, point 2: referrals on a case. Recorded with their agency, reference and when
made; listed on their own and on the case; an outcome recorded later, append-only; in the
chronology; audited; the DSL desk's alone; and a referral without an outcome in the
school's number of days gives the case's owner a task, once (the worker's sweep, on the
test's clock).

Every name, reference and text here is invented.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import col, select

from db.engine import Database
from models import AlertEvent, CaseTask, Referral
from tests.desk import API, CASES, Desk, events, iso
from tests.mailbox import drain, make_worker

OUTCOME = "Canary outcome: accepted for a child and family assessment."


@pytest.fixture
def morning(desk: Desk) -> Desk:
    """09:00 UTC (10:00 in England)."""
    desk.clock._now = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    return desk


def _refer(desk: Desk, case_id: str, who: Any = None, **body: Any) -> Any:
    body.setdefault("agency", "childrens_social_care")
    body.setdefault("reference", "MASH-2026-0042")
    body.setdefault("made_at", iso(desk.clock.now() - timedelta(hours=1)))
    return desk.client.post(f"{CASES}/{case_id}/referrals", json=body, headers=desk.headers(who))


def _outcome(desk: Desk, case_id: str, referral_id: str, **body: Any) -> Any:
    body.setdefault("outcome", OUTCOME)
    return desk.client.post(
        f"{CASES}/{case_id}/referrals/{referral_id}/outcome", json=body, headers=desk.headers()
    )


def test_a_referral_is_recorded_listed_and_on_the_case(morning: Desk, database: Database) -> None:
    desk, world = morning, morning.world
    case, etag = desk.open_case()
    response = _refer(desk, case["id"])
    assert response.status_code == 201, response.text
    referral = response.json()
    assert response.headers["location"].endswith(f"/cases/{case['id']}/referrals/{referral['id']}")
    assert referral | {"id": None, "recorded_at": None} == {
        "id": None,
        "case_id": case["id"],
        "agency": "childrens_social_care",
        "reference": "MASH-2026-0042",
        "made_at": iso(desk.clock.now() - timedelta(hours=1)),
        "outcome": None,
        "outcome_at": None,
        "recorded_at": None,
        "recorded_by": {"id": str(world.dsl.id), "display_name": "Jo Lead"},
        "outcomes": [],
        "outcome_task_id": None,
    }
    # A referral does not change the case: its ETag stands.
    read, after = desk.read_case(case["id"])
    assert after == etag
    assert [r["id"] for r in read["referrals"]] == [referral["id"]]
    second = _refer(
        desk,
        case["id"],
        agency="police",
        reference=None,
        made_at=iso(desk.clock.now() - timedelta(days=1)),
    )
    assert second.status_code == 201, second.text
    listed = desk.client.get(f"{CASES}/{case['id']}/referrals", headers=desk.headers())
    assert listed.status_code == 200, listed.text
    # By when they were made.
    assert [r["agency"] for r in listed.json()["items"]] == ["police", "childrens_social_care"]
    assert len(events(database, "referral.create")) == 2
    assert [(e.pupil_id, e.entity_type) for e in events(database, "referral.list")] == [
        (world.zoe.id, "case")
    ]


def test_every_agency_value_is_accepted(morning: Desk) -> None:
    desk = morning
    case, _ = desk.open_case()
    for agency in (
        "childrens_social_care",
        "police",
        "early_help",
        "camhs",
        "lado",
        "channel",
        "health",
        "other",
    ):
        assert _refer(desk, case["id"], agency=agency).status_code == 201, agency


def test_the_outcome_is_appended_and_kept_as_written(morning: Desk, database: Database) -> None:
    desk, world = morning, morning.world
    case, _ = desk.open_case()
    referral = _refer(desk, case["id"]).json()
    first = _outcome(desk, case["id"], referral["id"], outcome_at=iso(desk.clock.now()))
    assert first.status_code == 201, first.text
    assert first.json()["outcome"] == OUTCOME
    desk.clock.advance(days=3)
    second = _outcome(desk, case["id"], referral["id"], outcome="Strategy meeting held.")
    assert second.status_code == 201, second.text
    shown = second.json()
    assert shown["outcome"] == "Strategy meeting held."
    assert shown["outcome_at"] == iso(desk.clock.now())
    assert [o["outcome"] for o in shown["outcomes"]] == [OUTCOME, "Strategy meeting held."]
    assert [(e.pupil_id, e.entity_id) for e in events(database, "referral.outcome")] == [
        (world.zoe.id, uuid_of(referral)),
        (world.zoe.id, uuid_of(referral)),
    ]
    for event in events(database):
        assert "Canary" not in str(event.model_dump())
    # A closed case still takes an outcome, never a new referral.
    close = desk.change_case(case["id"], "close", {"outcome": "Plan.", "reason": "Done."})
    assert close.status_code == 200, close.text
    assert _outcome(desk, case["id"], referral["id"], outcome="Closed by CSC.").status_code == 201
    closed = _refer(desk, case["id"])
    assert closed.status_code == 409, closed.text


def uuid_of(body: dict[str, Any]) -> uuid.UUID:
    return uuid.UUID(body["id"])


def test_an_outcome_given_with_the_referral(morning: Desk) -> None:
    desk = morning
    case, _ = desk.open_case()
    made = desk.clock.now() - timedelta(days=2)
    response = _refer(
        desk,
        case["id"],
        made_at=iso(made),
        outcome="No further action by CSC.",
        outcome_at=iso(made + timedelta(days=1)),
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["outcome"] == "No further action by CSC."
    assert body["outcome_at"] == iso(made + timedelta(days=1))


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"agency": "mash"}, "agency"),
        ({"made_at": "2026-11-30"}, "made_at"),
        ({"made_at": "2026-11-30T09:00:00"}, "made_at"),
        ({"made_at": "2026-12-30T09:00:00Z"}, "made_at"),
        ({"reference": "x" * 101}, "reference"),
        ({"reference": "  "}, "reference"),
        ({"outcome_at": "2026-11-30T08:00:00Z"}, "body"),
        ({"outcome": "Accepted.", "outcome_at": "2026-11-01T08:00:00Z"}, "outcome_at"),
        ({"recorded_by": "someone"}, "recorded_by"),
    ],
)
def test_validation_errors_are_422(
    morning: Desk, database: Database, change: dict[str, Any], where: str
) -> None:
    desk = morning
    case, _ = desk.open_case()
    response = _refer(desk, case["id"], **change)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    locs = [[str(part) for part in error["loc"]] for error in response.json()["errors"]]
    assert any(where in loc for loc in locs), locs
    with database.transaction() as session:
        assert list(session.exec(select(Referral))) == []


def test_an_outcome_before_the_referral_is_422(morning: Desk) -> None:
    desk = morning
    case, _ = desk.open_case()
    referral = _refer(desk, case["id"]).json()
    early = iso(desk.clock.now() - timedelta(days=5))
    response = _outcome(desk, case["id"], referral["id"], outcome_at=early)
    assert response.status_code == 422, response.text


@pytest.mark.parametrize("role", ["staff_a", "admin", "mis"])
def test_staff_admin_and_mis_are_refused(morning: Desk, role: str) -> None:
    desk = morning
    case, _ = desk.open_case()
    referral = _refer(desk, case["id"]).json()
    who = getattr(desk.world, role)
    assert _refer(desk, case["id"], who=who).status_code == 403
    listed = desk.client.get(f"{CASES}/{case['id']}/referrals", headers=desk.headers(who))
    assert listed.status_code == 403
    outcome = desk.client.post(
        f"{CASES}/{case['id']}/referrals/{referral['id']}/outcome",
        json={"outcome": "X."},
        headers=desk.headers(who),
    )
    assert outcome.status_code == 403


def test_another_schools_case_or_referral_is_a_404(morning: Desk) -> None:
    desk, world = morning, morning.world
    case, _ = desk.open_case()
    referral = _refer(desk, case["id"]).json()
    other = world.other_dsl
    assert _refer(desk, case["id"], who=other).status_code == 404
    other_list = desk.client.get(f"{CASES}/{case['id']}/referrals", headers=desk.headers(other))
    assert other_list.status_code == 404
    # A referral named on another case of the school is not found there either.
    zack_case, _ = desk.open_case(pupil_id=str(world.zack.id))
    wrong = _outcome(desk, zack_case["id"], referral["id"])
    assert wrong.status_code == 404, wrong.text


def test_referrals_and_outcomes_are_in_the_chronology(morning: Desk) -> None:
    desk = morning
    case, _ = desk.open_case()
    made = desk.clock.now() - timedelta(days=2)
    referral = _refer(desk, case["id"], made_at=iso(made)).json()
    assert _outcome(desk, case["id"], referral["id"]).status_code == 201
    items = desk.client.get(
        f"{API}/pupils/{desk.world.zoe.id}/chronology", headers=desk.headers()
    ).json()["items"]
    kinds = [item["type"] for item in items]
    # Placed when made (before the case was opened, here), the outcome when it came.
    assert kinds.index("referral") < kinds.index("case_opened") < kinds.index("referral_outcome")
    (made_entry,) = [item for item in items if item["type"] == "referral"]
    assert made_entry["occurred_at"] == iso(made)
    assert made_entry["summary"] == (
        "Referral to children's social care (MASH) (reference MASH-2026-0042)"
    )
    (outcome_entry,) = [item for item in items if item["type"] == "referral_outcome"]
    assert outcome_entry["details"]["outcome"] == OUTCOME
    assert outcome_entry["details"]["referral_id"] == referral["id"]


def _settings(desk: Desk, days: int) -> None:
    response = desk.client.put(
        f"{API}/referral-settings", json={"outcome_due_days": days}, headers=desk.headers()
    )
    assert response.status_code == 200, response.text


def _tasks(database: Database) -> list[CaseTask]:
    with database.transaction() as session:
        return list(session.exec(select(CaseTask).order_by(col(CaseTask.set_at))))


def test_a_referral_without_an_outcome_raises_a_task_for_the_owner_once(
    morning: Desk, database: Database
) -> None:
    desk, world = morning, morning.world
    worker = make_worker(database, desk.clock, None, digest_hour=0)
    assert desk.client.get(f"{API}/referral-settings", headers=desk.headers()).json() == {
        "outcome_due_days": 10
    }
    _settings(desk, 3)
    case, _ = desk.open_case(assigned_to=str(world.deputy.id))
    referral = _refer(desk, case["id"], made_at=iso(desk.clock.now())).json()
    answered = _refer(desk, case["id"], agency="police", made_at=iso(desk.clock.now())).json()
    assert _outcome(desk, case["id"], answered["id"]).status_code == 201
    desk.clock.advance(days=2, hours=23)
    drain(worker)
    assert _tasks(database) == []
    desk.clock.advance(hours=2)
    drain(worker)
    (task,) = _tasks(database)
    assert task.assigned_to == world.deputy.id  # the case's owner
    assert task.due_on == desk.clock.now().date()
    assert task.title.startswith("Record the outcome of the referral to children's social care")
    assert "MASH-2026-0042" in task.title
    # Raised once, whatever the later passes; its task.due alert once too.
    for _ in range(3):
        desk.clock.advance(hours=9)
        drain(worker)
    assert len(_tasks(database)) == 1
    with database.transaction() as session:
        types = [e.type for e in session.exec(select(AlertEvent))]
    assert types.count("task.due") == 1
    read = desk.client.get(f"{CASES}/{case['id']}/referrals", headers=desk.headers()).json()
    chased = {r["id"]: r["outcome_task_id"] for r in read["items"]}
    assert chased == {referral["id"]: str(task.id), answered["id"]: None}
    created = events(database, "task.create")
    assert [(e.actor_type, e.entity_id, e.pupil_id) for e in created] == [
        ("system", task.id, world.zoe.id)
    ]
    # The owner sees it among their tasks.
    mine = desk.client.get(f"{API}/tasks", headers=desk.headers(world.deputy)).json()["items"]
    assert [t["id"] for t in mine] == [str(task.id)]


def test_the_default_is_ten_days_and_a_closed_case_raises_none(
    morning: Desk, database: Database
) -> None:
    desk, world = morning, morning.world
    worker = make_worker(database, desk.clock, None, digest_hour=0)
    case, _ = desk.open_case()
    _refer(desk, case["id"], made_at=iso(desk.clock.now()))
    zack_case, _ = desk.open_case(pupil_id=str(world.zack.id))
    _refer(desk, zack_case["id"], made_at=iso(desk.clock.now()))
    closed = desk.change_case(zack_case["id"], "close", {"outcome": "O.", "reason": "R."})
    assert closed.status_code == 200, closed.text
    desk.clock.advance(days=9)
    drain(worker)
    assert _tasks(database) == []
    desk.clock.advance(days=1, minutes=1)
    drain(worker)
    (task,) = _tasks(database)
    # Nobody was given the case: its opener owns it.
    assert task.assigned_to == world.dsl.id and str(task.case_id) == case["id"]


def test_referral_settings_are_validated_and_the_desks(morning: Desk, database: Database) -> None:
    desk, world = morning, morning.world
    for bad in (0, 91, "ten"):
        response = desk.client.put(
            f"{API}/referral-settings", json={"outcome_due_days": bad}, headers=desk.headers()
        )
        assert response.status_code == 422, bad
    for who in (world.staff_a, world.admin):
        response = desk.client.get(f"{API}/referral-settings", headers=desk.headers(who))
        assert response.status_code == 403
    _settings(desk, 14)
    assert len(events(database, "referral_settings.update")) == 1
