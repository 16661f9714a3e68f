"""Concerns: logged by staff, seen by their recorder and the school's DSLs, never edited.

Every name and every description here is invented.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import event, func, text
from sqlmodel import col, select

from core.clock import FrozenClock
from db.engine import Database
from models import AuditEvent, Concern
from models.concern import IdempotencyKey
from services import audit
from tests.desk import CONCERNS, World, concern_body, create, page_pupils
from tests.factories import make_pupil

CSE_INDICATORS = [
    "frightened-of-people-places-or-situations",
    "secretive",
    "changes-in-mood-or-behaviour",
    "unexplained-money-or-items",
    "older-partner-or-new-friends",
    "stays-out-late-or-overnight",
    "misses-school-or-arrives-late",
    "physical-signs-of-abuse",
    "drug-or-alcohol-misuse",
    "excessive-texts-or-calls",
    "gangs-or-criminal-activity",
    "sti-or-pregnancy",
    "sexualised-behaviour",
]


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _events(database: Database, action: str | None = None) -> list[AuditEvent]:
    with database.transaction() as session:
        query = select(AuditEvent).order_by(col(AuditEvent.seq))
        if action is not None:
            query = query.where(AuditEvent.action == action)
        return list(session.exec(query))


def _count_concerns(database: Database) -> int:
    with database.transaction() as session:
        return int(session.exec(select(func.count()).select_from(Concern)).one())


# --- creating -------------------------------------------------------------------------------


def test_create_answers_201_with_the_server_owned_fields(
    client: TestClient, world: World, clock: FrozenClock, database: Database
) -> None:
    sent = concern_body(clock, [world.zoe, world.zack])
    response = client.post(CONCERNS, json=sent, headers=world.headers(world.staff_a))
    assert response.status_code == 201, response.text
    body = response.json()
    assert response.headers["location"] == f"{CONCERNS}/{body['id']}"
    assert {k: body[k] for k in sent} == sent
    assert body["recorded_at"] == _iso(clock.now())
    assert body["recorded_by"] == {"id": str(world.staff_a.id), "display_name": "Sam Teacher"}
    assert body["status"] == "new"
    assert body["addenda"] == []
    assert body["guidance_version"] == "1"
    assert [a["id"] for a in body["actions"]] == ["tell-dsl"]
    assert uuid.UUID(body["id"]).version == 7
    # One audit event per child, naming the concern and the child, nothing else.
    events = _events(database, "concern.create")
    assert [(str(e.entity_id), e.pupil_id) for e in events] == [
        (body["id"], world.zoe.id),
        (body["id"], world.zack.id),
    ]
    assert all(e.actor_id == world.staff_a.id and e.actor_role == "staff" for e in events)


def test_immediate_danger_answer_carries_the_contact_police_action(
    client: TestClient, world: World, clock: FrozenClock
) -> None:
    body = create(client, world, world.staff_a, clock, immediate_danger=True)
    police = [a for a in body["actions"] if a["id"] == "contact-police"]
    assert police == [
        {
            "id": "contact-police",
            "text": "Contact the police, if you feel your child is in immediate danger",
            "when": "immediate_danger",
        }
    ]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("id", "01936b2e-5f7a-7cc0-8a38-2c1f1c5d9a10"),
        ("recorded_at", "2026-11-27T15:40:00Z"),
        ("recorded_by", "01936b2e-5f7a-7cc0-8a38-2c1f1c5d9a10"),
        ("status", "closed"),
        ("school_id", "01936b2e-5f7a-7cc0-8a38-2c1f1c5d9a10"),
        ("guidance_version", "0"),
        ("addenda", []),
    ],
)
def test_server_owned_fields_cannot_be_sent(
    client: TestClient, world: World, clock: FrozenClock, database: Database, field, value
) -> None:
    body = concern_body(clock, [world.zoe]) | {field: value}
    response = client.post(CONCERNS, json=body, headers=world.headers(world.staff_a))
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert ["body", field] in [e["loc"] for e in response.json()["errors"]]
    assert _count_concerns(database) == 0


def test_unknown_pupil_is_422_naming_the_id(
    client: TestClient, world: World, clock: FrozenClock
) -> None:
    ghost = uuid.uuid4()
    response = client.post(
        CONCERNS,
        json=concern_body(clock, [world.zoe.id, ghost]),
        headers=world.headers(world.staff_a),
    )
    assert response.status_code == 422
    problem = response.json()
    assert str(ghost) in problem["detail"]
    assert problem["unknown_pupil_ids"] == [str(ghost)]
    assert problem["errors"][0]["loc"] == ["body", "pupil_ids", 1]


def test_another_schools_pupil_is_422_as_if_unknown(
    client: TestClient, world: World, clock: FrozenClock, database: Database
) -> None:
    response = client.post(
        CONCERNS, json=concern_body(clock, [world.elsewhere]), headers=world.headers(world.dsl)
    )
    assert response.status_code == 422
    assert str(world.elsewhere.id) in response.json()["detail"]
    assert "Elsewhere" not in response.text
    assert _count_concerns(database) == 0


def test_unknown_indicator_is_422_listing_the_valid_ids(
    client: TestClient, world: World, clock: FrozenClock
) -> None:
    response = client.post(
        CONCERNS,
        json=concern_body(clock, [world.zoe], indicators=["secretive", "made-up-sign"]),
        headers=world.headers(world.staff_a),
    )
    assert response.status_code == 422
    problem = response.json()
    assert "made-up-sign" in problem["detail"]
    assert problem["valid_indicators"] == CSE_INDICATORS
    assert all(indicator in problem["detail"] for indicator in CSE_INDICATORS)
    assert problem["errors"][0]["loc"] == ["body", "indicators", 1]


def test_unknown_guidance_is_422(client: TestClient, world: World, clock: FrozenClock) -> None:
    response = client.post(
        CONCERNS,
        json=concern_body(clock, [world.zoe], guidance_key="no-such-leaflet"),
        headers=world.headers(world.staff_a),
    )
    assert response.status_code == 422
    assert response.json()["valid_guidance_keys"] == ["cse"]


def test_observed_at_needs_an_offset(client: TestClient, world: World, clock: FrozenClock) -> None:
    naive = (clock.now() - timedelta(hours=1)).replace(tzinfo=None).isoformat()
    response = client.post(
        CONCERNS,
        json=concern_body(clock, [world.zoe], observed_at=naive),
        headers=world.headers(world.staff_a),
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "observed_at"]


def test_observed_at_in_another_offset_is_stored_in_utc(
    client: TestClient, world: World, clock: FrozenClock
) -> None:
    moment = (clock.now() - timedelta(hours=2)).replace(microsecond=0)
    british_summer_time = moment.astimezone(timezone(timedelta(hours=1))).isoformat()
    body = create(client, world, world.staff_a, clock, observed_at=british_summer_time)
    assert body["observed_at"] == _iso(moment)


def test_observed_at_more_than_five_minutes_ahead_is_422(
    client: TestClient, world: World, clock: FrozenClock
) -> None:
    headers = world.headers(world.staff_a)
    ahead = concern_body(clock, [world.zoe], observed_at=_iso(clock.now() + timedelta(minutes=6)))
    response = client.post(CONCERNS, json=ahead, headers=headers)
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["body", "observed_at"]
    # A device clock a little fast is tolerated.
    slightly = concern_body(
        clock, [world.zoe], observed_at=_iso(clock.now() + timedelta(minutes=4))
    )
    assert client.post(CONCERNS, json=slightly, headers=headers).status_code == 201


@pytest.mark.parametrize(
    "change",
    [
        {"pupil_ids": []},
        {"description": ""},
        {"description": "   "},
        {"description": "x" * 20_001},
        {"indicators": None},
        {"immediate_danger": None},
        {"guidance_key": "CSE!"},
    ],
)
def test_malformed_concerns_are_422(
    client: TestClient, world: World, clock: FrozenClock, change
) -> None:
    body = concern_body(clock, [world.zoe]) | change
    assert client.post(CONCERNS, json=body, headers=world.headers(world.staff_a)).status_code == 422


def test_at_most_twenty_pupils(
    client: TestClient, world: World, clock: FrozenClock, database: Database
) -> None:
    many = [make_pupil(database, world.school, f"Kid{n}", "Crowd") for n in range(21)]
    headers = world.headers(world.dsl)
    assert client.post(CONCERNS, json=concern_body(clock, many), headers=headers).status_code == 422
    body = create(client, world, world.dsl, clock, pupils=many[:20])
    assert body["pupil_ids"] == [str(p.id) for p in many[:20]]


def test_a_pupil_who_has_left_can_still_be_the_subject_of_a_concern(
    client: TestClient, world: World, clock: FrozenClock, database: Database
) -> None:
    gone = make_pupil(database, world.school, "Zoey", "Departed", status="left")
    assert create(client, world, world.staff_a, clock, pupils=[gone])["pupil_ids"] == [str(gone.id)]


def test_a_blank_location_is_no_location(
    client: TestClient, world: World, clock: FrozenClock
) -> None:
    assert create(client, world, world.staff_a, clock, location="  ")["location"] is None
    assert create(client, world, world.staff_a, clock, location=None)["location"] is None


def test_a_description_of_twenty_thousand_characters_is_kept_whole(
    client: TestClient, world: World, clock: FrozenClock
) -> None:
    words = ("Zoë said «ça va» — then nothing. " * 700)[:20_000]
    body = create(client, world, world.staff_a, clock, description=words)
    again = client.get(f"{CONCERNS}/{body['id']}", headers=world.headers(world.staff_a))
    assert again.json()["description"] == words


# --- who sees what ----------------------------------------------------------------------------


def test_staff_cannot_read_list_or_add_to_anothers_concern(
    client: TestClient, world: World, clock: FrozenClock
) -> None:
    mine = create(client, world, world.staff_a, clock)
    other = world.headers(world.staff_b)
    assert client.get(f"{CONCERNS}/{mine['id']}", headers=other).status_code == 404
    assert client.get(CONCERNS, headers=other).json()["items"] == []
    listed = client.get(CONCERNS, params={"recorded_by": str(world.staff_a.id)}, headers=other)
    assert listed.json()["items"] == []
    addendum = {"text": "More.", "reason": "Fictional reason."}
    response = client.post(f"{CONCERNS}/{mine['id']}/addenda", json=addendum, headers=other)
    assert response.status_code == 404
    # The recorder does see it.
    own = world.headers(world.staff_a)
    assert client.get(f"{CONCERNS}/{mine['id']}", headers=own).status_code == 200
    assert [c["id"] for c in client.get(CONCERNS, headers=own).json()["items"]] == [mine["id"]]


def test_dsls_see_every_concern_of_their_school_only(
    client: TestClient, world: World, clock: FrozenClock
) -> None:
    by_a = create(client, world, world.staff_a, clock)
    by_b = create(client, world, world.staff_b, clock, pupils=[world.zack])
    for who in (world.dsl, world.deputy):
        headers = world.headers(who)
        assert client.get(f"{CONCERNS}/{by_a['id']}", headers=headers).status_code == 200
        listed = {c["id"] for c in client.get(CONCERNS, headers=headers).json()["items"]}
        assert listed == {by_a["id"], by_b["id"]}
    outsider = world.headers(world.other_dsl)
    assert client.get(f"{CONCERNS}/{by_a['id']}", headers=outsider).status_code == 404
    assert client.get(CONCERNS, headers=outsider).json()["items"] == []
    addendum = {"text": "More.", "reason": "Fictional reason."}
    response = client.post(f"{CONCERNS}/{by_a['id']}/addenda", json=addendum, headers=outsider)
    assert response.status_code == 404
    other_staff = world.headers(world.other_staff)
    assert client.get(f"{CONCERNS}/{by_a['id']}", headers=other_staff).status_code == 404


def test_admin_and_mis_get_403_on_every_concern_route(
    client: TestClient, world: World, clock: FrozenClock
) -> None:
    concern = create(client, world, world.staff_a, clock)
    for who in (world.admin, world.mis):
        headers = world.headers(who)
        calls = [
            client.get(CONCERNS, headers=headers),
            client.get(f"{CONCERNS}/{concern['id']}", headers=headers),
            client.post(CONCERNS, json=concern_body(clock, [world.zoe]), headers=headers),
            client.post(
                f"{CONCERNS}/{concern['id']}/addenda",
                json={"text": "x", "reason": "y"},
                headers=headers,
            ),
        ]
        assert [r.status_code for r in calls] == [403, 403, 403, 403]
        assert all("Had a new phone" not in r.text for r in calls)


def test_a_read_is_audited_once_per_pupil_a_page_once(
    client: TestClient, world: World, clock: FrozenClock, database: Database
) -> None:
    concern = create(client, world, world.staff_a, clock, pupils=[world.zoe, world.zack])
    client.get(f"{CONCERNS}/{concern['id']}", headers=world.headers(world.dsl))
    reads = _events(database, "concern.read")
    assert {(e.actor_id, str(e.entity_id), e.pupil_id) for e in reads} == {
        (world.dsl.id, concern["id"], world.zoe.id),
        (world.dsl.id, concern["id"], world.zack.id),
    }
    client.get(CONCERNS, headers=world.headers(world.dsl))
    (listed,) = _events(database, "concern.list")  # one event for the page (ADR 0126)
    assert listed.pupil_id is None and listed.entity_id is None
    assert set(page_pupils(database, listed)) == {world.zoe.id, world.zack.id}
    client.get(CONCERNS, headers=world.headers(world.staff_b))  # an empty page
    empty = _events(database, "concern.list")[-1]
    assert empty.actor_id == world.staff_b.id and empty.pupil_id is None
    assert page_pupils(database, empty) == []


# --- addenda and immutability -----------------------------------------------------------------


def test_addenda_are_shown_in_order_and_the_concern_is_unchanged(
    client: TestClient, world: World, clock: FrozenClock, database: Database
) -> None:
    concern = create(client, world, world.staff_a, clock)
    url = f"{CONCERNS}/{concern['id']}"
    added = []
    for who, text_ in ((world.staff_a, "First"), (world.dsl, "Second"), (world.staff_a, "Third")):
        clock.advance(minutes=1)
        response = client.post(
            f"{url}/addenda",
            json={"text": f"{text_} fictional addition.", "reason": "Fictional reason."},
            headers=world.headers(who),
        )
        assert response.status_code == 201, response.text
        assert response.headers["location"] == url
        added.append(response.json())
    read = client.get(url, headers=world.headers(world.staff_a)).json()
    assert [a["text"] for a in read["addenda"]] == [
        "First fictional addition.",
        "Second fictional addition.",
        "Third fictional addition.",
    ]
    assert read["addenda"] == added
    assert read["addenda"][1]["recorded_by"] == {"id": str(world.dsl.id), "display_name": "Jo Lead"}
    unchanged = {k: v for k, v in read.items() if k != "addenda"}
    assert unchanged == {k: v for k, v in concern.items() if k != "addenda"}
    events = _events(database, "addendum.create")
    assert [str(e.entity_id) for e in events] == [a["id"] for a in added]
    assert all(e.pupil_id == world.zoe.id for e in events)


@pytest.mark.parametrize(
    "body",
    [
        {"text": "More."},
        {"text": "", "reason": "Fictional."},
        {"text": "More.", "reason": " "},
        {"text": "More.", "reason": "Fictional.", "recorded_by": str(uuid.UUID(int=5))},
    ],
)
def test_malformed_addenda_are_422(
    client: TestClient, world: World, clock: FrozenClock, body
) -> None:
    concern = create(client, world, world.staff_a, clock)
    response = client.post(
        f"{CONCERNS}/{concern['id']}/addenda", json=body, headers=world.headers(world.staff_a)
    )
    assert response.status_code == 422


@pytest.mark.parametrize("method", ["PUT", "PATCH", "DELETE"])
def test_a_concern_cannot_be_edited_or_deleted(
    client: TestClient, world: World, clock: FrozenClock, method: str
) -> None:
    concern = create(client, world, world.staff_a, clock)
    url = f"{CONCERNS}/{concern['id']}"
    for who in (world.staff_a, world.dsl, world.admin, world.mis):
        response = client.request(
            method, url, json={"description": "Rewritten."}, headers=world.headers(who)
        )
        assert response.status_code == 405
        assert response.headers["allow"] == "GET"
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["type"].endswith("/method-not-allowed")
    # The same for an id that does not exist: the answer reveals nothing.
    missing = client.request(method, f"{CONCERNS}/{uuid.uuid4()}", headers=world.headers(world.dsl))
    assert missing.status_code == 405
    read = client.get(url, headers=world.headers(world.staff_a)).json()
    assert read["description"] == concern["description"]


# --- nothing of the content leaks -------------------------------------------------------------

CANARY = "Canary-5e1f: the fictional yellow bird sang of Zoë at the old mill."


def test_concern_text_never_reaches_the_audit_table_or_the_logs(
    client: TestClient,
    world: World,
    clock: FrozenClock,
    database: Database,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    for name in ("concernlog", "concernlog.access", "concernlog.errors", "api", "services"):
        caplog.set_level(logging.DEBUG, logger=name)
    staff = world.headers(world.staff_a)
    concern = create(client, world, world.staff_a, clock, description=CANARY, location=CANARY[:40])
    url = f"{CONCERNS}/{concern['id']}"
    addendum = {"text": CANARY, "reason": CANARY}
    assert client.post(f"{url}/addenda", json=addendum, headers=staff).status_code == 201
    assert client.get(url, headers=staff).status_code == 200
    assert client.get(url, headers=world.headers(world.dsl)).status_code == 200
    found = client.get(CONCERNS, params={"q": "canary-5E1F"}, headers=world.headers(world.dsl))
    assert [c["id"] for c in found.json()["items"]] == [concern["id"]]
    # Refusals and validation errors must not echo it either.
    assert client.get(url, headers=world.headers(world.staff_b)).status_code == 404
    bad = concern_body(clock, [world.zoe], description=CANARY, observed_at="2026-11-27T15:40:00")
    refused = client.post(CONCERNS, json=bad, headers=staff)
    assert refused.status_code == 422 and "Canary" not in refused.text
    keyed = {"Idempotency-Key": "canary-key-1"} | staff
    first = client.post(
        CONCERNS, json=concern_body(clock, [world.zoe], description=CANARY), headers=keyed
    )
    assert (
        client.post(
            CONCERNS, json=concern_body(clock, [world.zoe], description=CANARY), headers=keyed
        ).json()
        == first.json()
    )

    with database.transaction() as session:
        rows = session.execute(text("SELECT * FROM audit_event")).all()
    assert len(rows) >= 6
    needles = ("canary", "yellow bird", "old mill", "zoë", "zoe")
    for row in rows:
        flat = " ".join(str(value) for value in row).lower()
        assert not any(needle in flat for needle in needles), row

    assert caplog.records, "the access log should have captured something"
    # The test's own HTTP client logs the URLs it calls (with the search term): that is
    # the client's log, not the server's.
    for record in (r for r in caplog.records if not r.name.startswith("httpx")):
        flat = (record.getMessage() + " " + repr(vars(record))).lower()
        assert "canary" not in flat and "yellow bird" not in flat, record.name


# --- listing --------------------------------------------------------------------------------


def test_list_filters(client: TestClient, world: World, clock: FrozenClock) -> None:
    start = clock.now()
    a = create(
        client,
        world,
        world.staff_a,
        clock,
        indicators=["secretive"],
        description="At the fictional park, Zoë seemed withdrawn.",
        observed_at=_iso(start - timedelta(days=3)),
    )
    clock.advance(seconds=1)
    b = create(
        client,
        world,
        world.staff_b,
        clock,
        pupils=[world.zack],
        indicators=["gangs-or-criminal-activity"],
        description="Zack was collected by an unknown older driver.",
        immediate_danger=True,
        observed_at=_iso(start - timedelta(days=1)),
    )
    clock.advance(seconds=1)
    c = create(
        client,
        world,
        world.dsl,
        clock,
        pupils=[world.zoe, world.zack],
        indicators=[],
        description="Both were seen near the Fictional Road shops late at night.",
        observed_at=_iso(start - timedelta(hours=2)),
    )
    dsl = world.headers(world.dsl)

    def ids(**params: Any) -> list[str]:
        response = client.get(CONCERNS, params=params, headers=dsl)
        assert response.status_code == 200, response.text
        return [item["id"] for item in response.json()["items"]]

    assert ids() == [c["id"], b["id"], a["id"]]  # newest recorded first
    assert ids(pupil_id=str(world.zoe.id)) == [c["id"], a["id"]]
    assert ids(indicator=["secretive", "gangs-or-criminal-activity"]) == [b["id"], a["id"]]
    assert ids(indicator="no-such-sign") == []
    assert ids(status="new") == [c["id"], b["id"], a["id"]]
    assert ids(status="closed") == []
    assert ids(**{"from": _iso(start - timedelta(days=2))}) == [c["id"], b["id"]]
    assert ids(to=_iso(start - timedelta(days=1))) == [a["id"]]  # "to" is exclusive
    assert ids(recorded_by=str(world.staff_b.id)) == [b["id"]]
    assert ids(q="FICTIONAL") == [c["id"], a["id"]]
    assert ids(q="100%") == []  # wildcards are matched literally
    assert ids(immediate_danger="true") == [b["id"]]
    assert ids(immediate_danger="false") == [c["id"], a["id"]]
    naive = client.get(CONCERNS, params={"from": "2026-11-27T15:40:00"}, headers=dsl)
    assert naive.status_code == 422


def test_list_limit_bounds(client: TestClient, world: World) -> None:
    dsl = world.headers(world.dsl)
    assert client.get(CONCERNS, params={"limit": 200}, headers=dsl).status_code == 200
    assert client.get(CONCERNS, params={"limit": 201}, headers=dsl).status_code == 422
    assert client.get(CONCERNS, params={"limit": 0}, headers=dsl).status_code == 422
    for cursor in ("garbage", "eyJ4IjoxfQ", "e30"):
        response = client.get(CONCERNS, params={"cursor": cursor}, headers=dsl)
        assert response.status_code == 422
        assert response.json()["errors"][0]["loc"] == ["query", "cursor"]


def test_pages_stay_correct_when_concerns_arrive_between_pages(
    client: TestClient, world: World, clock: FrozenClock
) -> None:
    first_five = []
    for _ in range(5):
        clock.advance(seconds=1)
        first_five.append(create(client, world, world.staff_a, clock)["id"])
    dsl = world.headers(world.dsl)
    page = client.get(CONCERNS, params={"limit": 2}, headers=dsl).json()
    seen = [item["id"] for item in page["items"]]
    arrived = []
    while page["next_cursor"]:
        clock.advance(seconds=1)
        arrived.append(create(client, world, world.staff_b, clock)["id"])
        page = client.get(
            CONCERNS, params={"limit": 2, "cursor": page["next_cursor"]}, headers=dsl
        ).json()
        seen += [item["id"] for item in page["items"]]
    assert seen == list(reversed(first_five))
    fresh = client.get(CONCERNS, params={"limit": 200}, headers=dsl).json()
    assert [item["id"] for item in fresh["items"]] == list(reversed(first_five + arrived))
    assert fresh["next_cursor"] is None


def test_listing_loads_a_page_in_a_fixed_number_of_queries(
    client: TestClient, world: World, clock: FrozenClock, database: Database
) -> None:
    dsl = world.headers(world.dsl)
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:
        statements.append(statement)

    def queries_for_a_page() -> int:
        statements.clear()
        event.listen(database.engine, "before_cursor_execute", count)
        try:
            assert client.get(CONCERNS, params={"limit": 200}, headers=dsl).status_code == 200
        finally:
            event.remove(database.engine, "before_cursor_execute", count)
        return len(statements)

    for _ in range(2):
        concern = create(client, world, world.staff_a, clock)
        client.post(
            f"{CONCERNS}/{concern['id']}/addenda",
            json={"text": "More.", "reason": "Fictional."},
            headers=dsl,
        )
    small = queries_for_a_page()
    for _ in range(10):
        concern = create(client, world, world.staff_b, clock)
        client.post(
            f"{CONCERNS}/{concern['id']}/addenda",
            json={"text": "More.", "reason": "Fictional."},
            headers=dsl,
        )
    assert queries_for_a_page() == small


# --- idempotency ----------------------------------------------------------------------------


def test_a_repeated_idempotency_key_returns_the_first_answer(
    client: TestClient, world: World, clock: FrozenClock, database: Database
) -> None:
    headers = {"Idempotency-Key": "fictional-key-0001"} | world.headers(world.staff_a)
    body = concern_body(clock, [world.zoe])
    first = client.post(CONCERNS, json=body, headers=headers)
    clock.advance(minutes=5)
    again = client.post(CONCERNS, json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    # What the concern has become since does not change the first answer.
    client.post(
        f"{CONCERNS}/{first.json()['id']}/addenda",
        json={"text": "More.", "reason": "Fictional."},
        headers=world.headers(world.staff_a),
    )
    assert client.post(CONCERNS, json=body, headers=headers).json() == first.json()
    assert _count_concerns(database) == 1
    outcomes = [e.outcome for e in _events(database, "concern.create")]
    assert outcomes == ["success", "replayed", "replayed"]
    # The same body with the same key from another user is that user's own request.
    other = {"Idempotency-Key": "fictional-key-0001"} | world.headers(world.staff_b)
    assert client.post(CONCERNS, json=body, headers=other).json()["id"] != first.json()["id"]
    assert _count_concerns(database) == 2


def test_the_same_key_with_another_body_is_422(
    client: TestClient, world: World, clock: FrozenClock, database: Database
) -> None:
    headers = {"Idempotency-Key": "fictional-key-0002"} | world.headers(world.staff_a)
    assert (
        client.post(CONCERNS, json=concern_body(clock, [world.zoe]), headers=headers).status_code
        == 201
    )
    changed = concern_body(clock, [world.zoe], description="Something else entirely.")
    response = client.post(CONCERNS, json=changed, headers=headers)
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["header", "Idempotency-Key"]
    assert _count_concerns(database) == 1


def test_a_failed_request_does_not_spend_its_key(
    client: TestClient, world: World, clock: FrozenClock, database: Database
) -> None:
    headers = {"Idempotency-Key": "fictional-key-0003"} | world.headers(world.staff_a)
    bad = concern_body(clock, [uuid.uuid4()])
    assert client.post(CONCERNS, json=bad, headers=headers).status_code == 422
    good = concern_body(clock, [world.zoe])
    assert client.post(CONCERNS, json=good, headers=headers).status_code == 201


def test_keys_expire_after_72_hours(
    client: TestClient, world: World, clock: FrozenClock, database: Database
) -> None:
    def headers() -> dict[str, str]:
        return {"Idempotency-Key": "fictional-key-0004"} | world.headers(world.staff_a)

    body = concern_body(clock, [world.zoe])
    first = client.post(CONCERNS, json=body, headers=headers()).json()
    clock.advance(hours=71, minutes=59)
    assert client.post(CONCERNS, json=body, headers=headers()).json()["id"] == first["id"]
    clock.advance(minutes=2)
    later = client.post(CONCERNS, json=body, headers=headers())
    assert later.status_code == 201 and later.json()["id"] != first["id"]
    with database.transaction() as session:
        keys = session.exec(select(IdempotencyKey)).all()
    assert len(keys) == 1 and keys[0].expires_at == clock.now() + timedelta(hours=72)


def test_idempotency_key_must_be_sensible(
    client: TestClient, world: World, clock: FrozenClock
) -> None:
    headers = {"Idempotency-Key": "k" * 256} | world.headers(world.staff_a)
    response = client.post(CONCERNS, json=concern_body(clock, [world.zoe]), headers=headers)
    assert response.status_code == 422


def _post_all(app: FastAPI, requests: list[tuple[dict, dict]]) -> list[tuple[int, Any]]:
    """Send every request at once, each from its own thread and its own client (so each
    has its own event loop, as separate server workers would): what contends is the
    database, which is what is under test."""
    barrier = threading.Barrier(len(requests))

    def post(request: tuple[dict, dict]) -> tuple[int, Any]:
        body, headers = request
        client = TestClient(app, raise_server_exceptions=False)
        barrier.wait()
        response = client.post(CONCERNS, json=body, headers=headers)
        return response.status_code, response.json()

    with ThreadPoolExecutor(max_workers=len(requests)) as pool:
        return list(pool.map(post, requests))


@pytest.mark.xdist_group("many_connections")
def test_concurrent_duplicates_make_one_concern_and_identical_answers(
    app: FastAPI, world: World, clock: FrozenClock, database: Database
) -> None:
    headers = {"Idempotency-Key": "fictional-retry-storm"} | world.headers(world.staff_a)
    body = concern_body(clock, [world.zoe])
    answers = _post_all(app, [(body, headers)] * 20)
    assert {status for status, _ in answers} == {201}, answers[:3]
    assert all(answer == answers[0][1] for _, answer in answers)
    assert _count_concerns(database) == 1
    with database.transaction() as session:
        assert audit.verify_chain(session, school_id=world.school.id).ok


@pytest.mark.xdist_group("many_connections")
def test_concurrent_distinct_creates_all_land(
    app: FastAPI, world: World, clock: FrozenClock, database: Database
) -> None:
    staff = world.headers(world.staff_a)
    body = concern_body(clock, [world.zoe])
    requests = [(body, {"Idempotency-Key": f"fictional-key-{n:03d}"} | staff) for n in range(100)]
    answers = _post_all(app, requests)
    assert [status for status, _ in answers] == [201] * 100, [a for a in answers if a[0] != 201][:3]
    assert len({answer["id"] for _, answer in answers}) == 100
    assert _count_concerns(database) == 100
    with database.transaction() as session:
        verification = audit.verify_chain(session, school_id=world.school.id)
    assert verification.ok and verification.events_checked == 100


@pytest.mark.xdist_group("many_connections")
def test_requests_share_one_event_loop_and_admission_without_racing(
    app: FastAPI, client: TestClient, world: World, clock: FrozenClock, database: Database
) -> None:
    """As in a server: one event loop, one admission. Creates, reads, lists and addenda
    (each admitted for its unit of work's hop only) run at once: every one lands, once,
    and the audit chain is whole."""
    first = create(client, world, world.staff_a, clock)
    staff, dsl = world.headers(world.staff_a), world.headers(world.dsl)
    body = concern_body(clock, [world.zack])
    addendum = {"text": "A fictional further detail.", "reason": "Remembered later."}

    async def everything_at_once() -> list[int]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            requests = (
                [http.post(CONCERNS, json=body, headers=staff) for _ in range(25)]
                + [http.get(f"{CONCERNS}/{first['id']}", headers=staff) for _ in range(25)]
                + [
                    http.post(f"{CONCERNS}/{first['id']}/addenda", json=addendum, headers=staff)
                    for _ in range(25)
                ]
                + [http.get(CONCERNS, headers=dsl) for _ in range(10)]
            )
            return [response.status_code for response in await asyncio.gather(*requests)]

    statuses = asyncio.run(everything_at_once())
    assert statuses == [201] * 25 + [200] * 25 + [201] * 25 + [200] * 10, statuses
    assert _count_concerns(database) == 26
    read = client.get(f"{CONCERNS}/{first['id']}", headers=staff).json()
    assert len(read["addenda"]) == 25
    with database.transaction() as session:
        verification = audit.verify_chain(session, school_id=world.school.id)
    assert verification.ok, verification
