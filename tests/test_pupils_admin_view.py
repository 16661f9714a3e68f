"""What an admin is answered about pupils never says which children have a safeguarding
file (issue 22, point 4): every pupil endpoint an admin can call answers a child with
concerns and an open case exactly as it answers a child with none, apart from the
children's own details; the rule is ``services.access.pupil_fields_shown``."""

from __future__ import annotations

import json
from typing import Any

from stdnum.gb.upn import calc_check_digit

from db.engine import Database
from models.pupil import Pupil, PupilPublic
from services import access
from tests.desk import API, Desk, events

MIS = f"{API}/mis"
# A pupil's own details: masked before two children's answers are compared.
OWN = frozenset(
    {"given_name", "family_name", "preferred_name", "display_name", "upn", "external_id"}
)
# Ids and times of what each call made or was (a pupil, a sync run, the request).
IDS = frozenset({"id", "created_at", "request_id"})


def _upn(serial: int) -> str:
    """A well-formed permanent UPN with LA code 000, which no real child has."""
    body = f"000000026{serial:02d}0"
    return calc_check_digit(body) + body


def _apart_from_identity(value: Any, pupil: Pupil) -> Any:
    """``value`` with the child's own details and the ids made for them masked."""
    if isinstance(value, dict):
        return {
            key: "<own>" if key in OWN | IDS else _apart_from_identity(item, pupil)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_apart_from_identity(item, pupil) for item in value]
    if isinstance(value, str):
        return value.replace(str(pupil.id), "<pupil>")
    return value


def _answer(response: Any, pupil: Pupil) -> tuple[int, str, str]:
    """What a client sees of an answer, the child's own details masked."""
    body = _apart_from_identity(response.json(), pupil)
    return response.status_code, response.headers["content-type"], json.dumps(body)


def _give_zoe_a_file(desk: Desk) -> None:
    """Zoë: two concerns, one triaged and assigned, an addendum, an open case with an
    action, a decision and a referral, a safeguarding profile. Zack: nothing."""
    first = desk.concern()
    desk.concern(who=desk.world.staff_b, immediate_danger=True)
    desk.client.post(
        f"{API}/concerns/{first['id']}/addenda",
        json={"text": "More.", "reason": "Fictional."},
        headers=desk.headers(),
    )
    body = {"status": "acknowledged", "assigned_to": str(desk.world.dsl.id), "reason": "F."}
    assert desk.triage(first["id"], body).status_code == 200
    case, etag = desk.open_case(concern_ids=[first["id"]])
    action = {"type": "meeting", "description": "M.", "occurred_at": "2026-11-01T10:00:00Z"}
    etag = desk.change_case(case["id"], "actions", action, etag=etag).headers["etag"]
    decision = {"decision": "Refer.", "reason": "Fictional."}
    assert desk.change_case(case["id"], "decisions", decision, etag=etag).status_code == 201
    # Issue 20: a safeguarding profile with a current status, and a referral.
    profile = {
        "statuses": [{"kind": "child_protection_plan", "from": "2026-01-05"}],
        "people": [],
        "professionals": [],
    }
    put = desk.client.put(
        f"{API}/pupils/{desk.world.zoe.id}/profile",
        json=profile,
        headers=desk.headers(**{"If-Match": '"profile-0"'}),
    )
    assert put.status_code == 200, put.text
    referral = {"agency": "police", "made_at": "2026-11-01T10:00:00Z"}
    referred = desk.client.post(
        f"{API}/cases/{case['id']}/referrals", json=referral, headers=desk.headers()
    )
    assert referred.status_code == 201, referred.text


def _admin_answers(desk: Desk, pupil: Pupil, serial: int) -> list[tuple[str, Any]]:
    """Every admin-reachable pupil endpoint, called by the admin about ``pupil``."""
    admin = desk.headers(desk.world.admin)
    client = desk.client
    upn, external_id = _upn(serial), f"SIMS-{serial}"
    record = {
        "source": "sims",
        "external_id": external_id,
        "given_name": pupil.given_name,
        "family_name": pupil.family_name,
        "date_of_birth": "2014-03-09",
        "upn": upn,
        "year_group": "Year 7",
        "registration_group": "7G",
        "source_updated_at": "2026-10-01T10:00:00Z",
    }
    student = {
        "id": f"W{serial:010d}",
        "forename": pupil.given_name,
        "surname": pupil.family_name,
        "date_of_birth": {"date": "2014-03-09 00:00:00.000000", "timezone": "Europe/London"},
        "updated_at": {"date": "2026-10-01 09:30:00.000000", "timezone": "Europe/London"},
        "education_details": {"data": {"upn": upn}},
        "year": {"data": {"name": "Year 7"}},
        "registration_group": {"data": {"name": "7G"}},
    }
    calls = [
        ("read", lambda: client.get(f"{API}/pupils/{pupil.id}", headers=admin)),
        ("chronology", lambda: client.get(f"{API}/pupils/{pupil.id}/chronology", headers=admin)),
        ("export", lambda: client.get(f"{API}/pupils/{pupil.id}/export", headers=admin)),
        (
            "update",
            lambda: client.patch(
                f"{API}/pupils/{pupil.id}",
                json={"upn": upn, "registration_group": "7G"},
                headers=admin,
            ),
        ),
        (
            "update nothing",
            lambda: client.patch(f"{API}/pupils/{pupil.id}", json={}, headers=admin),
        ),
        (
            "create with its UPN",
            lambda: client.post(
                f"{API}/pupils",
                json={
                    "given_name": "Another",
                    "family_name": "Child",
                    "date_of_birth": "2014-03-09",
                    "upn": upn,
                },
                headers=admin,
            ),
        ),
        (
            "MIS links",
            lambda: client.put(f"{MIS}/pupils", json={"records": [record]}, headers=admin),
        ),
        (
            "MIS again",
            lambda: client.put(f"{MIS}/pupils", json={"records": [record]}, headers=admin),
        ),
        (
            "MIS moves",
            lambda: client.put(
                f"{MIS}/pupils",
                json={
                    "records": [
                        record
                        | {"year_group": "Year 8", "source_updated_at": "2026-10-02T10:00:00Z"}
                    ]
                },
                headers=admin,
            ),
        ),
        (
            "Wonde",
            lambda: client.post(
                f"{MIS}/wonde/students", json={"data": [student], "meta": {}}, headers=admin
            ),
        ),
        (
            "leaves",
            lambda: client.post(
                f"{MIS}/pupils/leavers",
                json={"source": "sims", "external_ids": [external_id]},
                headers=admin,
            ),
        ),
    ]
    return [(name, call()) for name, call in calls]


def test_admins_pupil_answers_are_alike_whether_or_not_the_child_has_a_file(
    desk: Desk, database: Database
) -> None:
    w = desk.world
    _give_zoe_a_file(desk)
    with_file = _admin_answers(desk, w.zoe, 1)
    without = _admin_answers(desk, w.zack, 2)
    assert [name for name, _ in with_file] == [name for name, _ in without]
    for (name, zoe), (_, zack) in zip(with_file, without, strict=True):
        assert _answer(zoe, w.zoe) == _answer(zack, w.zack), name
    # They are real answers, not refusals all along.
    statuses = {name: response.status_code for name, response in with_file}
    assert statuses == {
        "read": 403,
        "chronology": 403,
        "export": 403,
        "update": 200,
        "update nothing": 200,
        "create with its UPN": 409,
        "MIS links": 200,
        "MIS again": 200,
        "MIS moves": 200,
        "Wonde": 200,
        "leaves": 200,
    }
    updated = dict(with_file)["update"].json()
    # The record's fields, and the DSL desk's own at their default (null) whatever the file
    # holds (issue 20: the profile's current statuses).
    assert set(updated) == access.PUPIL_RECORD_FIELDS | {"safeguarding_statuses"}
    assert updated["safeguarding_statuses"] is None
    assert dict(with_file)["MIS links"].json()["results"][0]["warnings"] == [
        "linked_existing_pupil"
    ]


def test_a_sweep_answers_alike_whether_or_not_the_child_has_a_file(desk: Desk) -> None:
    """A full run that leaves out one child: the answer, when it marks Zoë (with a file)
    or Zack (with none) as left, is the same apart from which child."""
    w = desk.world
    _give_zoe_a_file(desk)
    admin = desk.headers(w.admin)
    for pupil, serial in ((w.zoe, 1), (w.zack, 2)):
        body = {"upn": _upn(serial)}
        patched = desk.client.patch(f"{API}/pupils/{pupil.id}", json=body, headers=admin)
        assert patched.status_code == 200, patched.text

    def record(pupil: Pupil, serial: int, updated: str) -> dict[str, Any]:
        # The UPN and date of birth link the MIS's record to the pupil entered by hand.
        return {
            "source": "sims",
            "external_id": f"SIMS-{serial}",
            "given_name": pupil.given_name,
            "family_name": pupil.family_name,
            "date_of_birth": "2014-03-09",
            "upn": _upn(serial),
            "source_updated_at": updated,
        }

    def sweep(kept: tuple[Pupil, int], left: tuple[Pupil, int], updated: str) -> Any:
        everyone = [record(*kept, updated), record(*left, updated)]
        restored = desk.client.put(f"{MIS}/pupils", json={"records": everyone}, headers=admin)
        assert restored.status_code == 200, restored.text
        run = desk.client.post(
            f"{MIS}/sync-runs", json={"kind": "full", "source": "sims"}, headers=admin
        ).json()["id"]
        batch = {"run_id": run, "records": [record(*kept, updated)]}
        assert desk.client.put(f"{MIS}/pupils", json=batch, headers=admin).status_code == 200
        return desk.client.post(
            f"{MIS}/sync-runs/{run}/complete", json={"force": True}, headers=admin
        )

    zoe_left = sweep((w.zack, 2), (w.zoe, 1), "2026-10-01T10:00:00Z")
    zack_left = sweep((w.zoe, 1), (w.zack, 2), "2026-10-02T10:00:00Z")
    assert zoe_left.status_code == 200, zoe_left.text
    assert zoe_left.json()["sweep"]["pupil_ids"] == [str(w.zoe.id)]
    assert _answer(zoe_left, w.zoe) == _answer(zack_left, w.zack)


def test_an_admins_pupil_update_is_audited_alike_and_names_no_file(
    desk: Desk, database: Database
) -> None:
    w = desk.world
    _give_zoe_a_file(desk)
    admin = desk.headers(w.admin)
    rows = {}
    for pupil in (w.zoe, w.zack):
        before = {event.id for event in events(database)}
        response = desk.client.patch(
            f"{API}/pupils/{pupil.id}", json={"registration_group": "7G"}, headers=admin
        )
        assert response.status_code == 200, response.text
        (row,) = [event for event in events(database) if event.id not in before]
        rows[pupil.id] = row
    for pupil, row in ((w.zoe, rows[w.zoe.id]), (w.zack, rows[w.zack.id])):
        # The pupil record it changed, and nothing of the child's file.
        assert (row.action, row.entity_type, row.entity_id, row.pupil_id) == (
            "pupil.update",
            "pupil",
            pupil.id,
            pupil.id,
        )
        assert (row.actor_id, row.actor_role, row.outcome) == (w.admin.id, "admin", "success")

    def alike(row: Any) -> dict[str, Any]:
        unlike = {"id", "seq", "entity_id", "pupil_id", "request_id", "prev_hash", "hash"}
        return {k: v for k, v in row.model_dump().items() if k not in unlike}

    assert alike(rows[w.zoe.id]) == alike(rows[w.zack.id])
    # The admin's own view of those events names neither child.
    page = desk.client.get(f"{API}/audit", params={"action": "pupil.update"}, headers=admin)
    assert page.status_code == 200, page.text
    shown = page.json()["items"]
    assert len(shown) == 2
    assert all(item["pupil_id"] is None and item["entity_id"] is None for item in shown)


def test_a_pupil_answer_holds_only_what_an_admin_may_read_unless_the_dsl_desk_asks() -> None:
    """Every field of the pupil answer is either the record's (an admin may read it) or
    has a default that an admin's answer shows instead: a field of the child's file added
    later cannot reach an admin by being forgotten here."""
    for name, field in PupilPublic.model_fields.items():
        assert name in access.PUPIL_RECORD_FIELDS or not field.is_required(), name
    assert PupilPublic.model_fields.keys() >= access.PUPIL_RECORD_FIELDS
