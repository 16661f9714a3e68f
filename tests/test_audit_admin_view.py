"""An admin's view of the audit log never says which child an event is about (issue 22,
point 4): actors, actions, times and outcomes, but no pupil ids and no ids of children's
records, and no filtering by them. The DSL desk sees everything, as before."""

from __future__ import annotations

from tests.desk import Desk

AUDIT = "/api/v1/audit"


def _events(desk: Desk, who: object, **params: str) -> list[dict[str, object]]:
    response = desk.client.get(AUDIT, params={"limit": "200", **params}, headers=desk.headers(who))
    assert response.status_code == 200, response.text
    items: list[dict[str, object]] = response.json()["items"]
    return items


def test_an_admin_sees_actions_but_never_which_child(desk: Desk) -> None:
    concern = desk.concern()
    desk.read_concern(concern["id"])
    zoe = str(desk.world.zoe.id)

    as_dsl = _events(desk, desk.world.dsl)
    assert any(item["pupil_id"] == zoe for item in as_dsl)
    assert any(item["entity_id"] == concern["id"] for item in as_dsl)

    as_admin = _events(desk, desk.world.admin)
    assert {item["action"] for item in as_admin} >= {"concern.create", "concern.read"}
    assert all(item["pupil_id"] is None for item in as_admin)
    assert all(
        item["entity_id"] is None
        for item in as_admin
        if item["entity_type"] in {"concern", "addendum", "case", "pupil"}
    )
    assert zoe not in str(as_admin) and concern["id"] not in str(as_admin)


def test_an_admin_may_not_filter_by_a_child_or_a_childs_record(desk: Desk) -> None:
    concern = desk.concern()
    admin = desk.headers(desk.world.admin)
    for params in (
        {"pupil_id": str(desk.world.zoe.id)},
        {"entity_type": "concern", "entity_id": concern["id"]},
        {"entity_id": concern["id"]},
    ):
        response = desk.client.get(AUDIT, params=params, headers=admin)
        assert response.status_code == 403, (params, response.text)
    # Administration's own records may be looked up by id.
    staff = str(desk.world.staff_a.id)
    response = desk.client.get(
        AUDIT, params={"entity_type": "user", "entity_id": staff}, headers=admin
    )
    assert response.status_code == 200, response.text
    # The DSL desk filters by child as before.
    by_child = _events(desk, desk.world.dsl, pupil_id=str(desk.world.zoe.id))
    assert by_child and all(item["pupil_id"] == str(desk.world.zoe.id) for item in by_child)


def test_security_probes_of_a_childs_file_name_no_child_to_an_admin(desk: Desk) -> None:
    """Issue 22, point 6: a refused or not-found request for a child's file is a security
    event with the id asked for; an admin sees that it happened, by whom, never the id."""
    zoe = str(desk.world.zoe.id)
    concern = desk.concern()
    admin = desk.headers(desk.world.admin)
    for path in (f"/api/v1/pupils/{zoe}/chronology", f"/api/v1/concerns/{concern['id']}"):
        assert desk.client.get(path, headers=admin).status_code == 403
    staff = desk.headers(desk.world.staff_b)
    assert desk.client.get(f"/api/v1/pupils/{zoe}", headers=staff).status_code == 403
    assert desk.client.get(f"/api/v1/concerns/{concern['id']}", headers=staff).status_code == 404

    as_dsl = [e for e in _events(desk, desk.world.dsl) if e["action"] == "security.probe"]
    assert {e["entity_id"] for e in as_dsl} == {zoe, concern["id"]}
    as_admin = _events(desk, desk.world.admin)
    probes = [item for item in as_admin if item["action"] == "security.probe"]
    assert len(probes) == 4
    assert {(p["actor_id"], p["outcome"]) for p in probes} == {
        (str(desk.world.admin.id), "refused"),
        (str(desk.world.staff_b.id), "refused"),
        (str(desk.world.staff_b.id), "not_found"),
    }
    assert all(p["entity_id"] is None and p["pupil_id"] is None for p in probes)
    assert zoe not in str(as_admin) and concern["id"] not in str(as_admin)
