"""Issue 18, point 6: tasks on a case, for any active member of staff; the assignee sees
the task and nothing of the case; completion with a note; tasks in the chronology.

Every name and every text here is invented.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from db.engine import Database
from models.user import Role
from services.school_calendar import school_date
from tests.desk import API, CASES, Desk, events, ids, page_pupils
from tests.factories import make_pupil, make_user

TASKS = f"{API}/tasks"
TITLE = "Check in with her each morning this week."


def _today(desk: Desk) -> date:
    return school_date(desk.clock.now())


@pytest.fixture
def morning(desk: Desk) -> Desk:
    """The desk at 09:00 UTC (10:00 in England): both calendars say the same day."""
    desk.clock._now = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    return desk


def _set(desk: Desk, case_id: str, **body: Any) -> Any:
    body.setdefault("title", TITLE)
    body.setdefault("assigned_to", str(desk.world.staff_a.id))
    body.setdefault("due_on", (_today(desk) + timedelta(days=2)).isoformat())
    return desk.client.post(f"{CASES}/{case_id}/tasks", json=body, headers=desk.headers())


def _problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    return body


def test_a_dsl_sets_a_task_for_any_active_member_of_staff(
    morning: Desk, database: Database
) -> None:
    desk, world = morning, morning.world
    case, etag = desk.open_case()
    response = _set(desk, case["id"])
    assert response.status_code == 201, response.text
    task = response.json()
    assert {key: task[key] for key in ("case_id", "title", "assigned_to", "due_on", "status")} == {
        "case_id": case["id"],
        "title": TITLE,
        "assigned_to": str(world.staff_a.id),
        "due_on": "2026-12-02",
        "status": "open",
    }
    assert task["id"] and task["completed_at"] is None and task["note"] is None
    assert task["set_at"] == "2026-11-30T09:00:00Z"
    # A deputy, a DSL, and a due date of today are all fine; the case itself is unchanged.
    assert _set(desk, case["id"], assigned_to=str(world.deputy.id)).status_code == 201
    today = _today(desk).isoformat()
    assert _set(desk, case["id"], assigned_to=str(world.dsl.id), due_on=today).status_code == 201
    read, after = desk.read_case(case["id"])
    assert after == etag
    assert [t["assigned_to"] for t in read["tasks"]] == [
        str(world.staff_a.id),
        str(world.deputy.id),
        str(world.dsl.id),
    ]
    created = events(database, "task.create")
    assert len(created) == 3
    assert all(e.pupil_id == world.zoe.id and e.entity_type == "task" for e in created)
    assert created[0].entity_id is not None and str(created[0].entity_id) == task["id"]


def test_bad_tasks_get_a_clear_4xx(morning: Desk, database: Database) -> None:
    desk, world = morning, morning.world
    case, _ = desk.open_case()
    # An assignee of another school: 404, as any record that is not the school's.
    other = _problem(_set(desk, case["id"], assigned_to=str(world.other_staff.id)), 404)
    assert "assigned_to" in other["detail"]
    _problem(_set(desk, case["id"], assigned_to="01936b2e-0000-7000-8000-000000000000"), 404)
    # A due date in the past (yesterday in England): 422 naming the field.
    yesterday = (_today(desk) - timedelta(days=1)).isoformat()
    past = _problem(_set(desk, case["id"], due_on=yesterday), 422)
    assert past["errors"][0]["loc"] == ["body", "due_on"]
    assert "past" in past["detail"]
    # A deactivated account, or an admin's (who never reads case work): 422.
    gone = make_user(database, world.school, Role.staff, active=False)
    inactive = _problem(_set(desk, case["id"], assigned_to=str(gone.id)), 422)
    assert inactive["errors"][0]["loc"] == ["body", "assigned_to"]
    _problem(_set(desk, case["id"], assigned_to=str(world.admin.id)), 422)
    # Malformed bodies.
    for bad in (
        {"due_on": "2026-12-02T00:00:00Z"},
        {"due_on": "9999-12-31"},
        {"title": "   "},
        {"title": "x" * 201},
        {"status": "completed"},
        {"assigned_to": "not-an-id"},
    ):
        _problem(_set(desk, case["id"], **bad), 422)
    # A case of another school: 404; a closed case: 409.
    other_desk = desk.client.post(
        f"{CASES}/{case['id']}/tasks",
        json={"title": TITLE, "assigned_to": str(world.other_staff.id), "due_on": "2026-12-02"},
        headers=desk.headers(world.other_dsl),
    )
    _problem(other_desk, 404)
    closed = desk.change_case(case["id"], "close", {"outcome": "O.", "reason": "R."})
    assert closed.status_code == 200
    assert _problem(_set(desk, case["id"]), 409)["type"].endswith("/case-closed")
    assert events(database, "task.create") == []


def test_the_assignee_sees_the_task_and_nothing_of_the_case(
    morning: Desk, database: Database
) -> None:
    desk, world = morning, morning.world
    amy = make_pupil(database, world.school, "Amy", "Invented")
    case, _ = desk.open_case()
    amy_case, _ = desk.open_case(pupil_id=str(amy.id))
    later = _set(desk, case["id"], due_on="2026-12-05").json()
    sooner = _set(desk, amy_case["id"], due_on="2026-12-01").json()
    not_mine = _set(desk, case["id"], assigned_to=str(world.staff_b.id)).json()

    staff = desk.headers(world.staff_a)
    mine = desk.client.get(TASKS, headers=staff)
    assert mine.status_code == 200, mine.text
    items = mine.json()["items"]
    assert ids(items) == [sooner["id"], later["id"]]  # soonest due first
    assert items[0] == {
        "id": sooner["id"],
        "case_id": None,
        "title": TITLE,
        "assigned_to": str(world.staff_a.id),
        "due_on": "2026-12-01",
        "status": "open",
        "set_at": "2026-11-30T09:00:00Z",
        "completed_at": None,
        "note": None,
        "pupils": None,
    }
    # Never the case, nor someone else's tasks.
    assert desk.client.get(f"{CASES}/{case['id']}", headers=staff).status_code == 403
    refused = desk.client.get(TASKS, params={"assigned_to": str(world.staff_b.id)}, headers=staff)
    assert refused.status_code == 403
    own = desk.client.get(TASKS, params={"assigned_to": str(world.staff_a.id)}, headers=staff)
    assert ids(own.json()["items"]) == [sooner["id"], later["id"]]
    assert ids(desk.client.get(TASKS, headers=desk.headers(world.staff_b)).json()["items"]) == [
        not_mine["id"]
    ]
    # Admins and MIS accounts never read tasks; another school sees none of these.
    assert desk.client.get(TASKS, headers=desk.headers(world.admin)).status_code == 403
    assert desk.client.get(TASKS, headers=desk.headers(world.other_dsl)).json()["items"] == []

    # The DSL desk: every task of the school, with its case and pupil, filtered.
    every = desk.client.get(TASKS, headers=desk.headers()).json()["items"]
    assert ids(every) == [sooner["id"], not_mine["id"], later["id"]]
    assert every[0]["case_id"] == amy_case["id"]
    assert every[0]["pupils"] == [
        {"id": str(amy.id), "display_name": "Amy Invented", "year_group": "Year 7"}
    ]
    by_b = desk.client.get(
        TASKS, params={"assigned_to": str(world.staff_b.id)}, headers=desk.headers()
    )
    assert ids(by_b.json()["items"]) == [not_mine["id"]]
    # Pages of one, soonest first, no repeats or gaps.
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 1}
    while True:
        page = desk.client.get(TASKS, params=params, headers=desk.headers()).json()
        seen += ids(page["items"])
        if not page["next_cursor"]:
            break
        params["cursor"] = page["next_cursor"]
    assert seen == ids(every)
    bad_cursor = desk.client.get(TASKS, params={"cursor": "junk"}, headers=desk.headers())
    assert bad_cursor.status_code == 422
    listed = [e for e in events(database, "task.list") if e.actor_id == world.staff_a.id]
    assert all(e.pupil_id is None for e in listed)  # one event per page (ADR 0126)
    assert {p for e in listed for p in page_pupils(database, e)} == {world.zoe.id, amy.id}


def test_completing_a_task(morning: Desk, database: Database) -> None:
    desk, world = morning, morning.world
    case, _ = desk.open_case()
    task = _set(desk, case["id"]).json()
    other = _set(desk, case["id"]).json()
    note = {"note": "Seen each morning; she seemed settled."}

    def complete(task_id: str, who: Any) -> Any:
        return desk.client.post(f"{TASKS}/{task_id}/complete", json=note, headers=desk.headers(who))

    # Someone else's task, or another school's: 404, as if it did not exist.
    _problem(complete(task["id"], world.staff_b), 404)
    _problem(complete(task["id"], world.other_dsl), 404)
    _problem(complete(task["id"], world.other_staff), 404)
    assert complete(task["id"], world.admin).status_code == 403
    _problem(
        desk.client.post(
            f"{TASKS}/{task['id']}/complete", json={"note": " "}, headers=desk.headers()
        ),
        422,
    )

    desk.clock.advance(hours=3)
    done = complete(task["id"], world.staff_a)
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["status"] == "completed"
    assert body["completed_at"] == "2026-11-30T12:00:00Z"
    assert body["note"] is None and body["case_id"] is None  # the assignee's view
    # Twice: 409. The DSL desk may complete anyone's, and sees the note.
    assert _problem(complete(task["id"], world.staff_a), 409)["type"].endswith("/task-completed")
    by_dsl = complete(other["id"], world.deputy)
    assert by_dsl.status_code == 200, by_dsl.text
    assert by_dsl.json()["note"] == note["note"]
    assert by_dsl.json()["case_id"] == case["id"]

    statuses = desk.client.get(TASKS, params={"status": "completed"}, headers=desk.headers())
    assert ids(statuses.json()["items"]) == [task["id"], other["id"]]
    assert (
        desk.client.get(TASKS, params={"status": "open"}, headers=desk.headers()).json()["items"]
        == []
    )
    completed = events(database, "task.complete")
    assert [e.actor_id for e in completed] == [world.staff_a.id, world.deputy.id]
    assert all(e.pupil_id == world.zoe.id for e in completed)

    # The case and the pupil's chronology show them to the DSL desk: set, then completed.
    read, _ = desk.read_case(case["id"])
    assert [(t["status"], t["note"]) for t in read["tasks"]] == [("completed", note["note"])] * 2
    chronology = desk.client.get(
        f"{API}/pupils/{world.zoe.id}/chronology", headers=desk.headers()
    ).json()["items"]
    tasks = [item for item in chronology if item["type"].startswith("task")]
    assert [(item["type"], item["id"]) for item in tasks] == [
        ("task", task["id"]),
        ("task", other["id"]),
        ("task_completed", task["id"]),
        ("task_completed", other["id"]),
    ]
    assert tasks[0]["summary"] == f"Task for Sam Teacher, due 2026-12-02: {TITLE}"
    assert tasks[0]["by"]["id"] == str(world.dsl.id)
    assert tasks[2]["by"]["id"] == str(world.staff_a.id)
    assert tasks[2]["details"]["note"] == note["note"]
    assert tasks[2]["occurred_at"] == "2026-11-30T12:00:00Z"
