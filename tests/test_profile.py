"""Issue 20, point 1: a child's safeguarding profile. Every version kept (history, newest
first, who and when), strict validation, concurrent edits refused by If-Match, the DSL
desk's alone, audited with ids only, a profile change in the chronology, the current
statuses on the DSL's pupil record (never an admin's), and blanked by ``erase_profile``.

Every name, number and address here is invented (Ofcom's drama numbers, .example domains).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import col, select

from db.engine import Database
from models import PupilProfileVersion
from services.profile import erase_profile
from tests.desk import API, Desk, events

CANARY = "Canary-Profile-Note"


@pytest.fixture
def morning(desk: Desk) -> Desk:
    desk.clock._now = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    return desk


def _url(desk: Desk, pupil: Any = None) -> str:
    return f"{API}/pupils/{(pupil or desk.world.zoe).id}/profile"


def _body(**overrides: Any) -> dict[str, Any]:
    return {
        "statuses": [
            {"kind": "child_protection_plan", "from": "2026-09-14", "note": CANARY},
            {"kind": "early_help", "from": "2025-01-06", "to": "2025-07-18"},
        ],
        "people": [
            {
                "name": "Dana Fictional",
                "relationship": "mother",
                "parental_responsibility": True,
                "phone": "01632 960123",
                "email": "dana@fictional.example",
            },
            {
                "name": "Lee Fictional",
                "relationship": "stepfather",
                "parental_responsibility": False,
            },
        ],
        "professionals": [
            {
                "name": "Riley Caseworker",
                "role": "social worker",
                "agency": "Fictionshire children's social care",
                "phone": "+44 1632 960456",
            }
        ],
    } | overrides


def _read(desk: Desk, who: Any = None) -> tuple[dict[str, Any], str]:
    response = desk.client.get(_url(desk), headers=desk.headers(who))
    assert response.status_code == 200, response.text
    return response.json(), response.headers["etag"]


def _put(desk: Desk, body: dict[str, Any], etag: str | None = "read", who: Any = None) -> Any:
    if etag == "read":
        etag = _read(desk, who)[1]
    extra = {"If-Match": etag} if etag else {}
    return desk.client.put(_url(desk), json=body, headers=desk.headers(who, **extra))


def test_a_pupil_without_a_profile_reads_version_zero(morning: Desk) -> None:
    profile, etag = _read(morning)
    assert etag == '"profile-0"'
    assert profile == {
        "pupil_id": str(morning.world.zoe.id),
        "version": 0,
        "statuses": [],
        "people": [],
        "professionals": [],
        "recorded_at": None,
        "recorded_by": None,
        "erased": False,
    }


def test_put_replaces_the_profile_and_history_keeps_every_version(
    morning: Desk, database: Database
) -> None:
    desk, world = morning, morning.world
    first = _put(desk, _body())
    assert first.status_code == 200, first.text
    assert first.headers["etag"] == '"profile-1"'
    written = first.json()
    assert written["version"] == 1
    assert written["statuses"][0] == {
        "kind": "child_protection_plan",
        "from": "2026-09-14",
        "to": None,
        "note": CANARY,
    }
    assert written["recorded_by"] == {"id": str(world.dsl.id), "display_name": "Jo Lead"}
    desk.clock.advance(hours=2)
    second = _put(desk, _body(people=[]), who=world.deputy)
    assert second.status_code == 200, second.text
    desk.clock.advance(hours=2)
    third = _put(desk, _body(statuses=[], professionals=[]))
    assert third.status_code == 200, third.text
    assert _read(desk) == (third.json(), '"profile-3"')

    history = desk.client.get(f"{_url(desk)}/history", headers=desk.headers())
    assert history.status_code == 200, history.text
    items = history.json()["items"]
    assert [item["version"] for item in items] == [3, 2, 1]
    assert [item["recorded_by"]["id"] for item in items] == [
        str(world.dsl.id),
        str(world.deputy.id),
        str(world.dsl.id),
    ]
    assert items[2]["people"] == written["people"] and items[1]["people"] == []
    assert items[0]["recorded_at"] > items[1]["recorded_at"] > items[2]["recorded_at"]
    # Pages, newest first.
    page = desk.client.get(f"{_url(desk)}/history?limit=2", headers=desk.headers()).json()
    assert [item["version"] for item in page["items"]] == [3, 2]
    rest = desk.client.get(
        f"{_url(desk)}/history",
        params={"limit": 2, "cursor": page["next_cursor"]},
        headers=desk.headers(),
    ).json()
    assert [item["version"] for item in rest["items"]] == [1] and rest["next_cursor"] is None
    with database.transaction() as session:
        assert len(list(session.exec(select(PupilProfileVersion)))) == 3


def test_audited_with_ids_only(morning: Desk, database: Database) -> None:
    desk, world = morning, morning.world
    assert _put(desk, _body()).status_code == 200
    desk.client.get(f"{_url(desk)}/history", headers=desk.headers())
    updates = events(database, "profile.update")
    assert [(e.pupil_id, e.entity_type, e.actor_id) for e in updates] == [
        (world.zoe.id, "profile", world.dsl.id)
    ]
    assert len(events(database, "profile.read")) == 1
    assert len(events(database, "profile.history")) == 1
    for event in events(database):
        assert CANARY not in str(event.model_dump())


def test_if_match_is_required_and_a_stale_one_changes_nothing(
    morning: Desk, database: Database
) -> None:
    desk = morning
    missing = _put(desk, _body(), etag=None)
    assert missing.status_code == 428, missing.text
    assert _put(desk, _body(), etag='"profile-0"').status_code == 200
    stale = _put(desk, _body(people=[]), etag='"profile-0"')
    assert stale.status_code == 412, stale.text
    assert stale.headers["content-type"] == "application/problem+json"
    assert _put(desk, _body(), etag="*").status_code == 428
    assert _read(desk)[0]["version"] == 1


@pytest.mark.parametrize(
    ("change", "where"),
    [
        ({"statuses": [{"kind": "on_a_list", "from": "2026-01-01"}]}, "kind"),
        ({"statuses": [{"kind": "ehcp", "from": "2026-13-01"}]}, "from"),
        ({"statuses": [{"kind": "ehcp", "from": "2026-01-01T00:00:00Z"}]}, "from"),
        ({"statuses": [{"kind": "ehcp", "from": "2026-05-01", "to": "2026-04-30"}]}, "statuses"),
        ({"statuses": [{"kind": "ehcp", "from": "2026-05-01", "until": "2026-06-01"}]}, "until"),
        ({"statuses": [{"kind": "ehcp", "from": "2026-05-01", "note": "   "}]}, "note"),
        (
            {"people": [{"name": "A", "relationship": "aunt", "parental_responsibility": "yes"}]},
            "parental_responsibility",
        ),
        (
            {
                "people": [
                    {
                        "name": "A",
                        "relationship": "aunt",
                        "parental_responsibility": True,
                        "phone": "call me",
                    }
                ]
            },
            "phone",
        ),
        (
            {
                "people": [
                    {
                        "name": "A",
                        "relationship": "aunt",
                        "parental_responsibility": True,
                        "phone": "12",
                    }
                ]
            },
            "phone",
        ),
        (
            {
                "people": [
                    {
                        "name": "A",
                        "relationship": "aunt",
                        "parental_responsibility": True,
                        "email": "not-an-address",
                    }
                ]
            },
            "email",
        ),
        (
            {
                "people": [
                    {"name": "x" * 201, "relationship": "aunt", "parental_responsibility": True}
                ]
            },
            "name",
        ),
        ({"professionals": [{"name": "B", "role": "nurse"}]}, "agency"),
        ({"version": 7}, "version"),
    ],
)
def test_validation_errors_are_422_naming_the_field(
    morning: Desk, database: Database, change: dict[str, Any], where: str
) -> None:
    response = _put(morning, _body() | change)
    assert response.status_code == 422, response.text
    problem = response.json()
    assert response.headers["content-type"] == "application/problem+json"
    assert any(where in [str(part) for part in error["loc"]] for error in problem["errors"])
    assert _read(morning)[0]["version"] == 0


def test_a_missing_list_is_422(morning: Desk) -> None:
    body = _body()
    del body["professionals"]
    assert _put(morning, body).status_code == 422


@pytest.mark.parametrize("role", ["staff_a", "admin", "mis"])
def test_staff_admin_and_mis_are_refused(morning: Desk, role: str) -> None:
    desk = morning
    who = getattr(desk.world, role)
    assert desk.client.get(_url(desk), headers=desk.headers(who)).status_code == 403
    put = desk.client.put(
        _url(desk), json=_body(), headers=desk.headers(who, **{"If-Match": '"profile-0"'})
    )
    assert put.status_code == 403
    history = desk.client.get(f"{_url(desk)}/history", headers=desk.headers(who))
    assert history.status_code == 403


def test_another_schools_pupil_is_a_404(morning: Desk) -> None:
    desk = morning
    elsewhere = _url(desk, desk.world.elsewhere)
    assert desk.client.get(elsewhere, headers=desk.headers()).status_code == 404
    put = desk.client.put(
        elsewhere, json=_body(), headers=desk.headers(**{"If-Match": '"profile-0"'})
    )
    assert put.status_code == 404
    assert desk.client.get(f"{elsewhere}/history", headers=desk.headers()).status_code == 404


def test_each_change_is_a_profile_change_in_the_chronology(morning: Desk) -> None:
    desk = morning
    assert _put(desk, _body()).status_code == 200
    desk.clock.advance(hours=1)
    assert _put(desk, _body(statuses=[])).status_code == 200
    page = desk.client.get(
        f"{API}/pupils/{desk.world.zoe.id}/chronology", headers=desk.headers()
    ).json()
    changes = [item for item in page["items"] if item["type"] == "profile_changed"]
    assert [item["details"]["version"] for item in changes] == [1, 2]
    assert changes[0]["summary"].startswith(
        "Safeguarding profile, version 1: statuses: child protection plan from 2026-09-14;"
    )
    assert "2 people; 1 professional" in changes[0]["summary"]
    assert changes[1]["summary"].startswith("Safeguarding profile, version 2: statuses: none")
    assert changes[0]["by"]["display_name"] == "Jo Lead"
    assert changes[0]["source"]["href"].endswith(f"/pupils/{desk.world.zoe.id}/profile")


def test_current_statuses_are_on_the_dsls_pupil_record_only(morning: Desk) -> None:
    desk, world = morning, morning.world
    record = desk.client.get(f"{API}/pupils/{world.zoe.id}", headers=desk.headers()).json()
    assert record["safeguarding_statuses"] == []
    assert _put(desk, _body()).status_code == 200
    record = desk.client.get(f"{API}/pupils/{world.zoe.id}", headers=desk.headers()).json()
    # The ended early help is not current; the plan is.
    assert [s["kind"] for s in record["safeguarding_statuses"]] == ["child_protection_plan"]
    # A status that begins tomorrow is not current yet.
    tomorrow = (desk.clock.now() + timedelta(days=2)).date().isoformat()
    later = _body(statuses=[{"kind": "looked_after", "from": tomorrow}])
    assert _put(desk, later).status_code == 200
    record = desk.client.get(f"{API}/pupils/{world.zoe.id}", headers=desk.headers()).json()
    assert record["safeguarding_statuses"] == []
    # An admin correcting the record is never told of the file.
    assert _put(desk, _body()).status_code == 200
    patched = desk.client.patch(
        f"{API}/pupils/{world.zoe.id}",
        json={"registration_group": "7G"},
        headers=desk.headers(world.admin),
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["safeguarding_statuses"] is None
    as_dsl = desk.client.patch(
        f"{API}/pupils/{world.zoe.id}", json={"registration_group": "7F"}, headers=desk.headers()
    )
    assert [s["kind"] for s in as_dsl.json()["safeguarding_statuses"]] == ["child_protection_plan"]


def test_erase_profile_blanks_every_version_keeping_ids_and_dates(
    morning: Desk, database: Database
) -> None:
    desk, world = morning, morning.world
    for _ in range(2):
        assert _put(desk, _body()).status_code == 200
        desk.clock.advance(minutes=5)
    with database.transaction() as session:
        before = {
            row.id: (row.version, row.recorded_at)
            for row in session.exec(select(PupilProfileVersion))
        }
        assert erase_profile(session, world.school.id, world.zoe.id) == 2
    with database.transaction() as session:
        rows = list(
            session.exec(select(PupilProfileVersion).order_by(col(PupilProfileVersion.version)))
        )
    assert {row.id: (row.version, row.recorded_at) for row in rows} == before
    assert all(row.erased_at is not None for row in rows)
    assert all(CANARY not in row.statuses + row.people + row.professionals for row in rows)
    history = desk.client.get(f"{_url(desk)}/history", headers=desk.headers()).json()["items"]
    assert [(h["version"], h["erased"], h["statuses"], h["people"]) for h in history] == [
        (2, True, [], []),
        (1, True, [], []),
    ]
