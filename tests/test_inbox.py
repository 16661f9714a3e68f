"""Issue 18, point 5: the DSL's inbox (urgent first, then new, oldest first; tasks and
reviews due by the school's calendar), pupils' names on the DSL desk's records and never
on staff's, and the staff list.

Every name and every text here is invented.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from db.engine import Database
from models.user import Role
from tests.desk import API, CASES, CONCERNS, Desk, events, ids, iso, page_pupils
from tests.factories import make_pupil, make_service_account, make_user

INBOX = f"{API}/desk/inbox"
STAFF = f"{API}/staff"


def _inbox(desk: Desk, **params: Any) -> dict[str, Any]:
    response = desk.client.get(INBOX, params=params, headers=desk.headers())
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def _task(desk: Desk, case_id: str, due_on: date, who: Any = None) -> dict[str, Any]:
    response = desk.client.post(
        f"{CASES}/{case_id}/tasks",
        json={
            "title": "Check in with her at registration.",
            "assigned_to": str((who or desk.world.staff_a).id),
            "due_on": due_on.isoformat(),
        },
        headers=desk.headers(),
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def test_urgent_first_then_new_oldest_first_shaped_as_the_concern_list(
    desk: Desk, database: Database
) -> None:
    world = desk.world
    old = desk.concern(description="Fictional: the first worry.")
    desk.clock.advance(minutes=5)
    urgent_later = desk.concern(immediate_danger=True, police_contacted=True)
    desk.clock.advance(minutes=5)
    newer = desk.concern(world.staff_b, pupils=[world.zack, world.zoe])
    desk.clock.advance(minutes=5)
    urgent_newest = desk.concern(immediate_danger=True)
    seen = desk.concern()
    assert desk.triage(seen["id"], {"status": "acknowledged", "reason": "R."}).status_code == 200
    urgent_seen = desk.concern(immediate_danger=True)
    moved = {"status": "in_progress", "reason": "Police called."}
    assert desk.triage(urgent_seen["id"], moved).status_code == 200
    desk.concern(world.other_staff, pupils=[world.elsewhere], immediate_danger=True)
    desk.clock.advance(hours=2)

    inbox = _inbox(desk)
    assert list(inbox) == ["urgent", "new", "tasks_due", "reviews_due", "transfers_due", "flags"]
    assert ids(inbox["urgent"]) == [urgent_later["id"], urgent_newest["id"]]
    assert ids(inbox["new"]) == [old["id"], newer["id"]]
    assert inbox["tasks_due"] == [] and inbox["reviews_due"] == []
    assert inbox["transfers_due"] == []
    # Exactly as GET /concerns shows them (names, waiting hours, actions and all).
    listed = desk.client.get(CONCERNS, params={"status": "new"}, headers=desk.headers())
    by_id = {item["id"]: item for item in listed.json()["items"]}
    for item in inbox["urgent"] + inbox["new"]:
        assert item == by_id[item["id"]]
    assert inbox["new"][1]["pupils"] == [
        {"id": str(world.zack.id), "display_name": "Zack Madeup", "year_group": "Year 7"},
        {"id": str(world.zoe.id), "display_name": "Zoë Fictional", "year_group": "Year 7"},
    ]
    assert inbox["urgent"][0]["waiting_hours"] == 2.2

    # Each list is bounded; the bound is checked.
    bounded = _inbox(desk, limit=1)
    assert ids(bounded["urgent"]) == [urgent_later["id"]]
    assert ids(bounded["new"]) == [old["id"]]
    for bad in (0, 201, "many"):
        response = desk.client.get(INBOX, params={"limit": bad}, headers=desk.headers())
        assert response.status_code == 422, bad

    # A DSL moving the urgent one on takes it out of the inbox.
    assert desk.triage(urgent_later["id"], moved).status_code == 200
    assert ids(_inbox(desk)["urgent"]) == [urgent_newest["id"]]
    # Another school's DSL sees only theirs; staff are refused.
    other = desk.client.get(INBOX, headers=desk.headers(world.other_dsl)).json()
    assert len(other["urgent"]) == 1 and other["new"] == []
    assert desk.client.get(INBOX, headers=desk.headers(world.staff_a)).status_code == 403
    # Read in the audit log, one event per read with the children shown, ids only.
    read = [e for e in events(database, "inbox.read") if e.actor_id == world.dsl.id]
    assert all(e.pupil_id is None for e in read)
    assert {p for e in read for p in page_pupils(database, e)} == {world.zoe.id, world.zack.id}


def test_tasks_and_reviews_come_due_by_the_school_calendar(desk: Desk, database: Database) -> None:
    world = desk.world
    # 23:30 UTC on 1 July is 00:30 on 2 July in England (British Summer Time): the school's
    # day is the 2nd.
    desk.clock._now = datetime(2026, 7, 1, 23, 30, tzinfo=UTC)
    amy = make_pupil(database, world.school, "Amy", "Invented", year_group="Year 9")
    case, _ = desk.open_case(review_on="2026-07-03")
    other_case, _ = desk.open_case(pupil_id=str(amy.id), review_on="2026-07-02")
    today = _task(desk, case["id"], date(2026, 7, 2), world.staff_b)
    tomorrow = _task(desk, other_case["id"], date(2026, 7, 3))
    done = _task(desk, case["id"], date(2026, 7, 2))
    completed = desk.client.post(
        f"{API}/tasks/{done['id']}/complete",
        json={"note": "Done."},
        headers=desk.headers(world.staff_a),
    )
    assert completed.status_code == 200, completed.text

    inbox = _inbox(desk)
    assert ids(inbox["tasks_due"]) == [today["id"]]
    assert inbox["tasks_due"][0]["case_id"] == case["id"]
    assert inbox["tasks_due"][0]["pupils"] == [
        {"id": str(world.zoe.id), "display_name": "Zoë Fictional", "year_group": "Year 7"}
    ]
    assert ids(inbox["reviews_due"]) == [other_case["id"]]
    # Shaped as the items of GET /cases.
    listed = desk.client.get(CASES, params={"pupil_id": str(amy.id)}, headers=desk.headers())
    assert inbox["reviews_due"][0] == listed.json()["items"][0]

    # A day later (in England) both tasks and both reviews are due, soonest first; a task
    # left undone stays due.
    desk.clock.advance(days=1)
    inbox = _inbox(desk)
    assert ids(inbox["tasks_due"]) == [today["id"], tomorrow["id"]]
    assert ids(inbox["reviews_due"]) == [other_case["id"], case["id"]]
    # A closed case's review is not due any more (closing clears it).
    closing = desk.change_case(other_case["id"], "close", {"outcome": "O.", "reason": "R."})
    assert closing.status_code == 200, closing.text
    assert closing.json()["review_on"] is None
    assert ids(_inbox(desk)["reviews_due"]) == [case["id"]]
    (read,) = events(database, "inbox.read")[-1:]
    assert page_pupils(database, read) == sorted([world.zoe.id, amy.id])


def test_the_dsl_desk_sees_names_and_staff_never_do(desk: Desk, database: Database) -> None:
    world = desk.world
    zo = make_pupil(database, world.school, "Zoe", "Named", preferred_name="Zo", year_group=None)
    names = [
        {"id": str(zo.id), "display_name": "Zo Named", "year_group": None},
        {"id": str(world.zack.id), "display_name": "Zack Madeup", "year_group": "Year 7"},
    ]
    staff = desk.headers(world.staff_a)
    # A member of staff's concern: ids only, wherever they read it.
    mine = desk.client.post(
        CONCERNS,
        json={
            "pupil_ids": [str(zo.id), str(world.zack.id)],
            "guidance_key": "cse",
            "indicators": ["secretive"],
            "description": "Fictional.",
            "observed_at": iso(desk.clock.now() - timedelta(hours=1)),
            "immediate_danger": False,
            "police_contacted": False,
        },
        headers=staff,
    )
    assert mine.status_code == 201, mine.text
    concern = mine.json()
    assert concern["pupil_ids"] == [str(zo.id), str(world.zack.id)]
    assert concern["pupils"] is None
    read = desk.client.get(f"{CONCERNS}/{concern['id']}", headers=staff).json()
    assert read["pupils"] is None
    assert desk.client.get(CONCERNS, headers=staff).json()["items"][0]["pupils"] is None

    # The DSL desk: names beside the ids, in the same order, on every representation.
    shown, etag = desk.read_concern(concern["id"])
    assert shown["pupils"] == names
    assert desk.client.get(CONCERNS, headers=desk.headers()).json()["items"][0]["pupils"] == names
    triaged = desk.triage(concern["id"], {"status": "acknowledged", "reason": "R."}, etag=etag)
    assert triaged.json()["pupils"] == names
    by_dsl = desk.concern(world.dsl, pupils=[world.zack])
    assert by_dsl["pupils"] == [names[1]]
    case, _ = desk.open_case(pupil_id=str(zo.id), concern_ids=[concern["id"]])
    assert case["pupils"] == [names[0]]
    assert case["concerns"][0]["pupils"] == names
    listed = desk.client.get(CASES, headers=desk.headers()).json()["items"]
    assert listed[0]["pupils"] == [names[0]]
    assert desk.client.get(f"{CASES}/{case['id']}", headers=staff).status_code == 403


def test_the_staff_list(desk: Desk, database: Database) -> None:
    world = desk.world
    gone = make_user(
        database, world.school, Role.staff, active=False, display_name="Aaron Departed"
    )
    make_service_account(database, world.school)
    response = desk.client.get(STAFF, headers=desk.headers())
    assert response.status_code == 200, response.text
    body = response.json()
    assert list(body) == ["items"]
    items = body["items"]
    school_people = [
        world.staff_a,
        world.staff_b,
        world.dsl,
        world.deputy,
        world.admin,
        gone,
    ]
    assert {item["id"] for item in items} == {str(person.id) for person in school_people}
    assert [item["display_name"] for item in items] == sorted(
        item["display_name"] for item in items
    )
    assert items[0] == {
        "id": str(gone.id),
        "display_name": "Aaron Departed",
        "role": "staff",
        "active": False,
    }
    sam = next(item for item in items if item["id"] == str(world.staff_a.id))
    assert sam == {
        "id": str(world.staff_a.id),
        "display_name": "Sam Teacher",
        "role": "staff",
        "active": True,
    }
    active = desk.client.get(STAFF, params={"active": "true"}, headers=desk.headers()).json()
    assert str(gone.id) not in {item["id"] for item in active["items"]}
    assert len(active["items"]) == len(items) - 1
    inactive = desk.client.get(STAFF, params={"active": "false"}, headers=desk.headers())
    assert [item["id"] for item in inactive.json()["items"]] == [str(gone.id)]
    other = desk.client.get(STAFF, headers=desk.headers(world.other_dsl)).json()["items"]
    assert {item["id"] for item in other} == {
        str(world.other_dsl.id),
        str(world.other_staff.id),
    }
    assert desk.client.get(STAFF, headers=desk.headers(world.staff_a)).status_code == 403
    assert desk.client.get(STAFF, headers=desk.headers(world.admin)).status_code == 403
    listed = events(database, "staff.list")
    assert sorted(str(e.actor_id) for e in listed) == sorted(
        [str(world.dsl.id)] * 3 + [str(world.other_dsl.id)]
    )
    assert all(e.pupil_id is None and e.entity_type == "user" for e in listed)
