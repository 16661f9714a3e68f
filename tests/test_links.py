"""Links between children (issue 25, point 2): entities of concern on concerns and cases,
children connected through shared concerns, shared entities and the same location,
the entities connecting three or more children, another school never linked, and staff
refused. Every name, place and registration here is invented."""

from __future__ import annotations

from typing import Any

from tests.desk import API, CASES, CONCERNS, Desk, events, page_pupils
from tests.factories import make_pupil
from tests.pattern_support import database_of, sign


def _entity(desk: Desk, record: str, kind: str, label: str, who: Any = None) -> Any:
    return desk.client.post(
        f"{record}/entities", json={"kind": kind, "label": label}, headers=desk.headers(who)
    )


def _links(desk: Desk, pupil: Any, who: Any = None) -> Any:
    return desk.client.get(f"{API}/pupils/{pupil.id}/links", headers=desk.headers(who))


def _by_pupil(desk: Desk, pupil: Any) -> dict[str, dict[str, Any]]:
    answer = _links(desk, pupil)
    assert answer.status_code == 200, answer.text
    return {item["pupil_id"]: item for item in answer.json()["items"]}


def test_a_shared_concern_links_its_children(desk: Desk, database) -> None:
    world = desk.world
    shared = sign(desk, world.staff_a, ["secretive"], pupils=[world.zoe, world.zack])
    sign(desk, world.staff_a, ["secretive"])  # about Zoë alone: links nobody
    links = _by_pupil(desk, world.zoe)
    assert list(links) == [str(world.zack.id)]
    link = links[str(world.zack.id)]
    assert link["display_name"] == "Zack Madeup"
    assert link["strength"] == 3
    assert link["evidence"] == [
        {
            "via": "shared_concern",
            "kind": None,
            "label": None,
            "concern_ids": [shared["id"]],
            "case_ids": [],
        }
    ]
    # Audited in one event: about the child, with each child shown (ADR 0126).
    (read,) = events(database, "pupil.links_read")
    assert read.pupil_id == world.zoe.id
    assert page_pupils(database, read) == [world.zack.id]


def test_a_shared_entity_links_children_however_it_is_written(desk: Desk) -> None:
    world = desk.world
    hers = sign(desk, world.staff_a, ["secretive"])
    his = sign(desk, world.staff_b, ["unexplained-money-or-items"], pupils=[world.zack])
    made = _entity(desk, f"{CONCERNS}/{hers['id']}", "vehicle", "AB12 CDE")
    assert made.status_code == 201, made.text
    body = made.json()
    assert body["kind"] == "vehicle" and body["label"] == "AB12 CDE"
    assert body["concern_id"] == hers["id"] and body["case_id"] is None
    assert body["recorded_by"]["display_name"] == "Jo Lead"
    assert _entity(desk, f"{CONCERNS}/{his['id']}", "vehicle", "ab12cde").status_code == 201
    # A person on a case is matched blind to case, spaces and punctuation.
    case, _ = desk.open_case(pupil_id=str(world.zack.id), concern_ids=[his["id"]])
    assert (
        _entity(desk, f"{CASES}/{case['id']}", "person", "Mr  Fictional-Adult.").status_code == 201
    )
    assert (
        _entity(desk, f"{CONCERNS}/{hers['id']}", "person", "mr fictional adult").status_code == 201
    )
    # Another kind with the same words is another thing.
    assert _entity(desk, f"{CONCERNS}/{hers['id']}", "online", "AB12CDE").status_code == 201
    link = _by_pupil(desk, world.zoe)[str(world.zack.id)]
    assert link["strength"] == 4
    assert sorted((e["via"], e["kind"], e["label"]) for e in link["evidence"]) == [
        ("shared_entity", "person", "Mr  Fictional-Adult."),
        ("shared_entity", "vehicle", "AB12 CDE"),
    ]
    person = next(e for e in link["evidence"] if e["kind"] == "person")
    assert person["case_ids"] == [case["id"]] and person["concern_ids"] == [hers["id"]]
    # Each record lists its own.
    listed = desk.client.get(f"{CONCERNS}/{hers['id']}/entities", headers=desk.headers()).json()
    assert [(e["kind"], e["label"]) for e in listed["items"]] == [
        ("vehicle", "AB12 CDE"),
        ("person", "mr fictional adult"),
        ("online", "AB12CDE"),
    ]
    on_case = desk.client.get(f"{CASES}/{case['id']}/entities", headers=desk.headers()).json()
    assert [e["label"] for e in on_case["items"]] == ["Mr  Fictional-Adult."]


def test_the_same_location_links_children(desk: Desk) -> None:
    world = desk.world
    hers = sign(desk, world.staff_a, ["secretive"], location="Fictional Park, by the gates")
    his = sign(
        desk, world.staff_b, [], pupils=[world.zack], location="fictional park by the GATES!"
    )
    sign(desk, world.staff_b, [], pupils=[world.zack], location="Somewhere Else Entirely")
    link = _by_pupil(desk, world.zoe)[str(world.zack.id)]
    assert link["strength"] == 1
    assert link["evidence"] == [
        {
            "via": "same_location",
            "kind": None,
            "label": "Fictional Park, by the gates",
            "concern_ids": sorted([hers["id"], his["id"]]),
            "case_ids": [],
        }
    ]


def test_links_are_strongest_first(desk: Desk) -> None:
    world = desk.world
    third = make_pupil(database_of(desk), world.school, "Tia", "Pretend")
    sign(desk, world.staff_a, [], pupils=[world.zoe, world.zack], location="The Fictional Arcade")
    sign(desk, world.staff_a, [], pupils=[third], location="the fictional arcade")
    links = _links(desk, world.zoe).json()["items"]
    assert [(i["display_name"], i["strength"]) for i in links] == [
        ("Zack Madeup", 3),
        ("Tia Pretend", 1),
    ]


def test_another_schools_records_are_never_linked(desk: Desk) -> None:
    world = desk.world
    hers = sign(desk, world.staff_a, ["secretive"], location="Fictional Park")
    assert _entity(desk, f"{CONCERNS}/{hers['id']}", "vehicle", "AB12 CDE").status_code == 201
    theirs = desk.client.post(
        CONCERNS,
        json={
            "pupil_ids": [str(world.elsewhere.id)],
            "guidance_key": "cse",
            "indicators": ["secretive"],
            "description": "A fictional worry at another school.",
            "observed_at": hers["observed_at"],
            "location": "Fictional Park",
            "immediate_danger": False,
            "police_contacted": False,
        },
        headers=desk.headers(world.other_staff),
    )
    assert theirs.status_code == 201, theirs.text
    other = theirs.json()["id"]
    assert (
        _entity(desk, f"{CONCERNS}/{other}", "vehicle", "AB12CDE", world.other_dsl).status_code
        == 201
    )
    assert _by_pupil(desk, world.zoe) == {}
    # Neither school reaches the other's records or pupils.
    assert (
        _entity(desk, f"{CONCERNS}/{hers['id']}", "person", "X", world.other_dsl).status_code == 404
    )
    assert _entity(desk, f"{CONCERNS}/{other}", "person", "X").status_code == 404
    assert _links(desk, world.zoe, world.other_dsl).status_code == 404
    entities = desk.client.get(
        f"{API}/entities", params={"min_children": 2}, headers=desk.headers()
    ).json()
    assert entities == {"items": []}


def test_staff_are_refused(desk: Desk) -> None:
    world = desk.world
    hers = sign(desk, world.staff_a, ["secretive"])
    case, _ = desk.open_case(concern_ids=[hers["id"]])
    staff = world.staff_a
    assert _entity(desk, f"{CONCERNS}/{hers['id']}", "person", "X", staff).status_code == 403
    assert _entity(desk, f"{CASES}/{case['id']}", "person", "X", staff).status_code == 403
    assert _links(desk, world.zoe, staff).status_code == 403
    assert desk.client.get(f"{API}/entities", headers=desk.headers(staff)).status_code == 403


def test_a_label_needs_a_letter_or_digit(desk: Desk) -> None:
    hers = sign(desk, desk.world.staff_a, ["secretive"])
    answer = _entity(desk, f"{CONCERNS}/{hers['id']}", "person", " -- !! ")
    assert answer.status_code == 422
    assert answer.json()["errors"][0]["loc"] == ["body", "label"]
    assert _entity(desk, f"{CONCERNS}/{hers['id']}", "alien", "X").status_code == 422


def test_entities_connecting_three_children_are_listed(desk: Desk, database) -> None:
    world = desk.world
    third = make_pupil(database_of(desk), world.school, "Tia", "Pretend")
    for pupil, label in ((world.zoe, "AB12 CDE"), (world.zack, "ab12 cde"), (third, "AB-12-CDE")):
        concern = sign(desk, world.staff_a, [], pupils=[pupil])
        assert _entity(desk, f"{CONCERNS}/{concern['id']}", "vehicle", label).status_code == 201
    # A person seen with two children only.
    concern = sign(desk, world.staff_a, [], pupils=[world.zoe, world.zack])
    assert (
        _entity(desk, f"{CONCERNS}/{concern['id']}", "person", "An Older Friend").status_code == 201
    )
    answer = desk.client.get(f"{API}/entities", headers=desk.headers())
    assert answer.status_code == 200, answer.text
    (item,) = answer.json()["items"]
    assert item["kind"] == "vehicle" and item["label"] == "AB12 CDE" and item["children"] == 3
    assert sorted(p["display_name"] for p in item["pupils"]) == [
        "Tia Pretend",
        "Zack Madeup",
        "Zoë Fictional",
    ]
    two = desk.client.get(f"{API}/entities", params={"min_children": 2}, headers=desk.headers())
    assert [i["kind"] for i in two.json()["items"]] == ["vehicle", "person"]
    assert events(database, "entity.list_read")
