"""The DSL desk end to end: three members of staff log concerns about one child over two
weeks (one written up late), the DSL triages them, opens a case, records two actions and a
decision, links a later concern and closes the case. The chronology must come out in
exactly the order things happened, and the reports must count what was recorded.

Every name and every text here is invented.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from db.engine import Database
from models.user import Role
from tests.desk import API, CASES, Desk, events, iso
from tests.factories import make_user

START = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)  # a Monday


def _at(desk: Desk, moment: datetime) -> None:
    desk.clock._now = moment


def test_a_fortnight_at_the_dsl_desk(desk: Desk, database: Database) -> None:
    world = desk.world
    staff_c = make_user(database, world.school, Role.staff, display_name="Kim Coach")
    zoe = world.zoe

    # Day 0: Sam notices a new phone and secrecy.
    _at(desk, START)
    a = desk.concern(
        world.staff_a,
        indicators=["secretive", "unexplained-money-or-items"],
        description="Zoe had a new phone and would not say where it came from.",
        observed_at=iso(START - timedelta(minutes=15)),
    )
    # Day 1: an unrelated concern about another child (it must stay out of Zoe's file).
    _at(desk, START + timedelta(days=1))
    other = desk.concern(
        world.staff_b,
        pupils=[world.zack],
        indicators=["secretive"],
        description="Zack hid his bag when asked about it.",
        observed_at=iso(START + timedelta(days=1) - timedelta(hours=1)),
    )
    # Day 3: Alex sees an older "friend" at the gate, and adds to it that afternoon.
    _at(desk, START + timedelta(days=3, hours=2))
    b = desk.concern(
        world.staff_b,
        indicators=["older-partner-or-new-friends"],
        description="An older man in a car waited for Zoe at the gate.",
        observed_at=iso(START + timedelta(days=3, hours=1, minutes=30)),
    )
    _at(desk, START + timedelta(days=3, hours=7))
    addendum = desk.client.post(
        f"{API}/concerns/{b['id']}/addenda",
        json={"text": "The car was silver.", "reason": "Remembered after the lesson."},
        headers=desk.headers(world.staff_b),
    )
    assert addendum.status_code == 201, addendum.text
    # Day 4: Kim writes up, late, what was seen at the weekend before last (backdated).
    _at(desk, START + timedelta(days=4, hours=4))
    c = desk.concern(
        staff_c,
        indicators=["secretive", "stays-out-late-or-overnight"],
        description="Zoe said she had stayed out all night with new friends.",
        observed_at=iso(datetime(2026, 10, 30, 16, 0, tzinfo=UTC)),
    )
    # The DSL has not looked yet: three of Zoe's concerns are waiting.
    waiting = desk.client.get(
        f"{API}/concerns",
        params={"status": "new", "pupil_id": str(zoe.id)},
        headers=desk.headers(),
    ).json()["items"]
    assert {item["id"]: item["waiting_hours"] for item in waiting} == {
        c["id"]: 0.0,
        b["id"]: 26.0,
        a["id"]: 100.0,
    }

    # Day 4, 12:30 onwards: the DSL triages.
    _at(desk, START + timedelta(days=4, hours=4, minutes=30))
    response = desk.triage(
        a["id"], {"status": "acknowledged", "risk_level": "medium", "reason": "Read; talk to Zoe."}
    )
    assert response.status_code == 200, response.text
    _at(desk, START + timedelta(days=4, hours=4, minutes=35))
    assert desk.triage(b["id"], {"status": "acknowledged", "reason": "Read."}).status_code == 200
    _at(desk, START + timedelta(days=4, hours=4, minutes=40))
    assert (
        desk.triage(
            c["id"],
            {"status": "in_progress", "assigned_to": str(world.deputy.id), "reason": "Urgent."},
        ).status_code
        == 200
    )

    # Day 5: a case is opened from the three concerns.
    _at(desk, START + timedelta(days=5, hours=1))
    case, etag = desk.open_case(
        pupil_id=str(zoe.id),
        concern_ids=[a["id"], b["id"], c["id"]],
        level="early_help",
        summary="Gifts, an older man and nights out: a pattern.",
    )
    case_id = case["id"]
    _at(desk, START + timedelta(days=5, hours=1, minutes=30))
    response = desk.change_case(
        case_id,
        "actions",
        {
            "type": "contact_parent",
            "description": "Phoned Zoe's mother.",
            "occurred_at": iso(START + timedelta(days=5, hours=1, minutes=10)),
            "with_whom": "Mother (fictional)",
        },
        etag=etag,
    )
    assert response.status_code == 201, response.text
    etag = response.headers["etag"]
    # Day 6: the meeting held on day 4 is written up, and a decision is made.
    _at(desk, START + timedelta(days=6, hours=3))
    response = desk.change_case(
        case_id,
        "actions",
        {
            "type": "meeting",
            "description": "Met Zoe with her form tutor.",
            "occurred_at": iso(START + timedelta(days=4, hours=7)),
        },
        etag=etag,
    )
    assert response.status_code == 201, response.text
    etag = response.headers["etag"]
    _at(desk, START + timedelta(days=6, hours=3, minutes=30))
    response = desk.change_case(
        case_id,
        "decisions",
        {"decision": "Refer to early help.", "reason": "Family agree; pattern is emerging."},
        etag=etag,
    )
    assert response.status_code == 201, response.text
    etag = response.headers["etag"]
    # Day 10: Sam logs another concern; the DSL links it to the case.
    _at(desk, START + timedelta(days=10, hours=6))
    d = desk.concern(
        world.staff_a,
        indicators=["misses-school-or-arrives-late"],
        description="Zoe arrived at 11am, tired.",
        observed_at=iso(START + timedelta(days=10, hours=5)),
    )
    _at(desk, START + timedelta(days=10, hours=6, minutes=30))
    response = desk.change_case(case_id, "concerns", {"concern_ids": [d["id"]]}, etag=etag)
    assert response.status_code == 200, response.text
    etag = response.headers["etag"]

    _at(desk, START + timedelta(days=14, hours=2))
    summary = desk.client.get(f"{API}/reports/summary", headers=desk.headers()).json()
    assert summary["open_cases_by_level"]["early_help"] == 1
    # Day 14: the case is closed with its outcome.
    response = desk.change_case(
        case_id,
        "close",
        {"outcome": "Early help plan in place.", "reason": "Agreed at review."},
        etag=etag,
    )
    assert response.status_code == 200, response.text
    closed = response.json()
    assert closed["status"] == "closed" and closed["outcome"] == "Early help plan in place."
    assert closed["concern_ids"] == [a["id"], b["id"], c["id"], d["id"]]
    assert [x["type"] for x in closed["actions"]] == ["meeting", "contact_parent"]

    # The chronology, in the order things happened.
    response = desk.client.get(
        f"{API}/pupils/{zoe.id}/chronology", params={"limit": 200}, headers=desk.headers()
    )
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    got = [(item["type"], _subject(item)) for item in items]
    assert got == [
        ("concern", c["id"]),  # backdated: it happened first
        ("concern", a["id"]),
        ("concern", b["id"]),
        ("addendum", b["id"]),
        ("triage", f"status:{a['id']}"),
        ("triage", f"risk_level:{a['id']}"),
        ("triage", f"status:{b['id']}"),
        ("triage", f"status:{c['id']}"),
        ("triage", f"assigned_to:{c['id']}"),
        ("action", "meeting"),  # written up on day 6, held on day 4
        ("case_opened", case_id),
        ("case_concern_linked", a["id"]),
        ("case_concern_linked", b["id"]),
        ("case_concern_linked", c["id"]),
        ("action", "contact_parent"),
        ("decision", case_id),
        ("concern", d["id"]),
        ("case_concern_linked", d["id"]),
        ("case_closed", case_id),
        # Closing the case closed its four concerns, with its reason.
        ("triage", f"status:{a['id']}"),
        ("triage", f"status:{b['id']}"),
        ("triage", f"status:{c['id']}"),
        ("triage", f"status:{d['id']}"),
    ], _readable(got, {a["id"]: "a", b["id"]: "b", c["id"]: "c", d["id"]: "d"})
    assert other["id"] not in {item["source"]["id"] for item in items}
    # Every entry says what it is, when it happened and was recorded, who, and where from.
    c_entry = items[0]
    assert c_entry["occurred_at"] == "2026-10-30T16:00:00Z"
    assert c_entry["recorded_at"] == iso(START + timedelta(days=4, hours=4))
    assert c_entry["by"] == {"id": str(staff_c.id), "display_name": "Kim Coach"}
    assert c_entry["source"] == {
        "type": "concern",
        "id": c["id"],
        "href": f"{API}/concerns/{c['id']}",
    }
    assert items[9]["occurred_at"] == iso(START + timedelta(days=4, hours=7))
    assert items[9]["recorded_at"] == iso(START + timedelta(days=6, hours=3))
    assert items[-5]["source"]["href"] == f"{CASES}/{case_id}"
    assert items[4]["summary"] == "Status new → acknowledged. Reason: Read; talk to Zoe."
    assert items[8]["summary"].startswith(f"Assigned to {world.deputy.user.display_name}")

    # Paging through it gives the same entries in the same order.
    paged: list[dict[str, Any]] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"limit": 4} | ({"cursor": cursor} if cursor else {})
        page = desk.client.get(
            f"{API}/pupils/{zoe.id}/chronology", params=params, headers=desk.headers()
        ).json()
        paged += page["items"]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert paged == items

    # The reports count what was recorded.
    report = desk.client.get(
        f"{API}/reports/indicators",
        params={"from": "2026-10-01T00:00:00Z", "to": "2026-12-01T00:00:00Z"},
        headers=desk.headers(),
    ).json()
    assert {g["key"]: g["concerns"] for g in report["groups"]} == {
        "secretive": 3,  # a, c and Zack's
        "unexplained-money-or-items": 1,
        "older-partner-or-new-friends": 1,
        "stays-out-late-or-overnight": 1,
        "misses-school-or-arrives-late": 1,
    }
    assert report["groups"][0]["label"] == "Be secretive"
    by_month = desk.client.get(
        f"{API}/reports/indicators", params={"group_by": "month"}, headers=desk.headers()
    ).json()
    assert by_month["groups"] == [
        {
            "key": "2026-10",
            "label": None,
            "concerns": 1,
            "indicators": {"secretive": 1, "stays-out-late-or-overnight": 1},
        },
        {
            "key": "2026-11",
            "label": None,
            "concerns": 4,
            "indicators": {
                "secretive": 2,
                "misses-school-or-arrives-late": 1,
                "older-partner-or-new-friends": 1,
                "unexplained-money-or-items": 1,
            },
        },
    ]
    by_year = desk.client.get(
        f"{API}/reports/indicators", params={"group_by": "year_group"}, headers=desk.headers()
    ).json()
    assert [(g["key"], g["concerns"]) for g in by_year["groups"]] == [("Year 7", 5)]
    summary = desk.client.get(f"{API}/reports/summary", headers=desk.headers()).json()
    assert summary["open_cases_by_level"] == dict.fromkeys(
        ["monitoring", "early_help", "child_in_need", "child_protection", "looked_after"], 0
    )
    assert summary["concerns_by_status"] == {
        "new": 1,  # Zack's
        "acknowledged": 0,
        "in_progress": 0,
        "closed": 4,  # closing the case closed a, b, c and d
        "no_further_action": 0,
    }
    assert summary["unacknowledged_over_24h"] == 1
    assert summary["this_month"] == {"month": "2026-11", "concerns": 4}
    assert summary["last_month"] == {"month": "2026-10", "concerns": 1}

    # Every write and every read of Zoe's file is in the audit log, ids only.
    assert [e.action for e in events(database) if e.action.startswith("case.")] == [
        "case.create",
        "case.action",
        "case.action",
        "case.decision",
        "case.link",
        "case.close",
    ]
    assert all(e.pupil_id == zoe.id for e in events(database) if e.action.startswith("case."))
    reads = events(database, "chronology.read")
    assert reads and all(e.pupil_id == zoe.id and e.entity_id == zoe.id for e in reads)
    # Three by hand, and four as the case closed (one per concern: each is about Zoe).
    assert len(events(database, "concern.triage")) == 7


def _subject(item: dict[str, Any]) -> str:
    """What an entry is about, in a form the test can spell out."""
    details = item["details"]
    if item["type"] == "triage":
        return f"{details['field']}:{details['concern_id']}"
    if item["type"] == "action":
        return str(details["action_type"])
    if item["type"] == "addendum" or item["type"] == "case_concern_linked":
        return str(details["concern_id"])
    return str(item["source"]["id"])


def _readable(got: list[tuple[str, str]], names: dict[str, str]) -> list[tuple[str, str]]:
    def name(subject: str) -> str:
        for concern_id, short in names.items():
            subject = subject.replace(concern_id, short)
        return subject

    return [(kind, name(subject)) for kind, subject in got]
