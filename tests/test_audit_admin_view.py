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
