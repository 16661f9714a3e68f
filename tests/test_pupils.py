"""Pupils: name search (accents and case ignored), the full record for DSLs, entry by hand.

Every name here is invented.
"""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import select

from db.engine import Database
from models import AuditEvent, School
from models.pupil import Pupil, name_key
from models.user import Role
from tests.factories import auth, make_pupil, make_school, make_service_account, make_user

PUPILS = "/api/v1/pupils"
VALID_UPN = "Z000000026001"  # LA code 000 does not exist: this can be no real child's UPN


@pytest.fixture
def other_school(database: Database) -> School:
    return make_school(database, name="Imaginary High School")


@pytest.fixture
def headers(app: FastAPI, database: Database, school: School) -> dict[str, dict[str, str]]:
    found = {
        role.value: auth(app, make_user(database, school, role))
        for role in Role
        if role != Role.mis
    }
    found["mis"] = auth(app, make_service_account(database, school))
    return found


@pytest.fixture
def roster(database: Database, school: School, other_school: School) -> dict[str, Pupil]:
    return {
        "zoe": make_pupil(database, school, "Zoë", "Fictional"),
        "zack": make_pupil(database, school, "Zack", "Madeup", year_group="Year 9"),
        "lexi": make_pupil(database, school, "Alexandra", "Imaginary", preferred_name="Lexi"),
        "zoey_left": make_pupil(database, school, "Zoey", "Departed", status="left"),
        "elsewhere": make_pupil(database, other_school, "Zoe", "Elsewhere"),
    }


def _names(response) -> list[str]:
    assert response.status_code == 200, response.text
    return [item["display_name"] for item in response.json()["items"]]


def test_name_keys_strip_accents_and_case() -> None:
    assert name_key("Zoë") == "zoe"
    assert name_key("ZOË-Anne") == "zoe anne"
    assert name_key("O'Brien") == "obrien"
    assert name_key("Łukasz Ørsted") == "łukasz ørsted"  # letters without a base stay
    assert name_key("Siân") == "sian"


def test_search_is_accent_and_case_insensitive_and_answers_only_what_picks_a_child(
    client: TestClient, headers, roster
) -> None:
    response = client.get(PUPILS, params={"q": "zoe"}, headers=headers["staff"])
    assert _names(response) == ["Zoë Fictional"]
    (item,) = response.json()["items"]
    assert set(item) == {"id", "display_name", "year_group", "registration_group"}
    assert item == {
        "id": str(roster["zoe"].id),
        "display_name": "Zoë Fictional",
        "year_group": "Year 7",
        "registration_group": "7F",
    }
    assert _names(client.get(PUPILS, params={"q": "ZOË"}, headers=headers["dsl"])) == [
        "Zoë Fictional"
    ]


def test_search_matches_the_start_of_given_family_or_preferred_name(
    client: TestClient, headers, roster
) -> None:
    staff = headers["staff"]
    assert _names(client.get(PUPILS, params={"q": "Fict"}, headers=staff)) == ["Zoë Fictional"]
    # The preferred name is searched and shown.
    assert _names(client.get(PUPILS, params={"q": "lex"}, headers=staff)) == ["Lexi Imaginary"]
    # The given name still finds a pupil who goes by another name.
    assert _names(client.get(PUPILS, params={"q": "alexa"}, headers=staff)) == ["Lexi Imaginary"]
    # A prefix, not a substring.
    assert _names(client.get(PUPILS, params={"q": "ictional"}, headers=staff)) == []
    # Each word must match one of the names.
    assert _names(client.get(PUPILS, params={"q": "zo fic"}, headers=staff)) == ["Zoë Fictional"]
    assert _names(client.get(PUPILS, params={"q": "zo madeup"}, headers=staff)) == []
    # Ordered by family name.
    assert _names(client.get(PUPILS, params={"q": "z"}, headers=staff)) == [
        "Zoë Fictional",
        "Zack Madeup",
    ]


def test_left_pupils_are_excluded_unless_a_dsl_asks(client: TestClient, headers, roster) -> None:
    assert _names(client.get(PUPILS, params={"q": "zoey"}, headers=headers["staff"])) == []
    assert _names(client.get(PUPILS, params={"q": "zoey"}, headers=headers["dsl"])) == []
    included = client.get(
        PUPILS, params={"q": "zo", "include_left": "true"}, headers=headers["deputy_dsl"]
    )
    assert _names(included) == ["Zoey Departed", "Zoë Fictional"]
    refused = client.get(
        PUPILS, params={"q": "zo", "include_left": "true"}, headers=headers["staff"]
    )
    assert refused.status_code == 403


def test_search_never_crosses_schools(client: TestClient, headers, roster) -> None:
    assert _names(client.get(PUPILS, params={"q": "elsewhere"}, headers=headers["dsl"])) == []


def test_search_refuses_roles_that_do_not_pick_pupils(client: TestClient, headers, roster) -> None:
    for role in ("admin", "mis"):
        assert client.get(PUPILS, params={"q": "zoe"}, headers=headers[role]).status_code == 403


def test_search_needs_a_name(client: TestClient, headers, roster) -> None:
    assert client.get(PUPILS, headers=headers["staff"]).status_code == 422
    assert client.get(PUPILS, params={"q": "-"}, headers=headers["staff"]).status_code == 422
    too_many = client.get(PUPILS, params={"q": "z", "limit": 201}, headers=headers["staff"])
    assert too_many.status_code == 422


def test_search_pages_with_a_cursor(client: TestClient, headers, database, school) -> None:
    for n in range(5):
        make_pupil(database, school, f"Pat{n}", "Pagewise")
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, str | int] = {"q": "pagewise", "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = client.get(PUPILS, params=params, headers=headers["staff"]).json()
        seen += [item["display_name"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"Pat{n} Pagewise" for n in range(5)]
    bad = client.get(PUPILS, params={"q": "p", "cursor": "not-a-cursor"}, headers=headers["staff"])
    assert bad.status_code == 422


def test_search_is_audited_without_the_search_term(
    client: TestClient, headers, roster, database
) -> None:
    client.get(PUPILS, params={"q": "zoe"}, headers=headers["staff"])
    with database.transaction() as session:
        events = session.exec(select(AuditEvent).where(AuditEvent.action == "pupil.search")).all()
    assert len(events) == 1
    assert "zoe" not in repr(events[0].model_dump()).lower()


def test_full_record_is_for_dsls_of_the_school(
    client: TestClient, headers, roster, database
) -> None:
    zoe = roster["zoe"]
    response = client.get(f"{PUPILS}/{zoe.id}", headers=headers["dsl"])
    assert response.status_code == 200
    body = response.json()
    assert body["given_name"] == "Zoë" and body["date_of_birth"] == "2014-03-09"
    assert body["display_name"] == "Zoë Fictional" and body["status"] == "active"
    assert "given_name_key" not in body and "school_id" not in body
    for role in ("staff", "admin", "mis"):
        assert client.get(f"{PUPILS}/{zoe.id}", headers=headers[role]).status_code == 403
    # Another school's pupil does not exist, as far as this school can tell.
    elsewhere = client.get(f"{PUPILS}/{roster['elsewhere'].id}", headers=headers["dsl"])
    assert elsewhere.status_code == 404
    with database.transaction() as session:
        reads = session.exec(select(AuditEvent).where(AuditEvent.action == "pupil.read")).all()
    assert [(e.entity_id, e.pupil_id) for e in reads] == [(zoe.id, zoe.id)]


NEW_PUPIL = {
    "given_name": "Zoë",
    "family_name": "Handentered",
    "date_of_birth": "2015-01-31",
    "upn": VALID_UPN,
    "year_group": "Year 6",
    "registration_group": "6B",
}


def test_create_pupil_by_hand(client: TestClient, headers, database) -> None:
    response = client.post(PUPILS, json=NEW_PUPIL, headers=headers["admin"])
    assert response.status_code == 201, response.text
    body = response.json()
    assert response.headers["location"] == f"{PUPILS}/{body['id']}"
    assert body | NEW_PUPIL == body
    assert body["status"] == "active" and body["source"] is None
    # Searchable at once, by an accent-free spelling.
    found = client.get(PUPILS, params={"q": "zoe hand"}, headers=headers["staff"])
    assert _names(found) == ["Zoë Handentered"]
    with database.transaction() as session:
        event = session.exec(select(AuditEvent).where(AuditEvent.action == "pupil.create")).one()
    assert str(event.pupil_id) == body["id"]


@pytest.mark.parametrize("role", ["dsl", "deputy_dsl"])
def test_dsls_may_create_pupils(client: TestClient, headers, role) -> None:
    assert client.post(PUPILS, json=NEW_PUPIL, headers=headers[role]).status_code == 201


@pytest.mark.parametrize(
    "change",
    [
        {"id": "01936b2e-5f7a-7cc0-8a38-2c1f1c5d9a10"},
        {"school_id": "01936b2e-5f7a-7cc0-8a38-2c1f1c5d9a10"},
        {"status": "left"},
        {"source": "wonde"},
        {"upn": "A000000026001"},  # wrong check letter
        {"upn": "Z00000002600"},  # too short
        {"date_of_birth": "2099-01-01"},
        {"date_of_birth": "2015-02-30"},
        {"given_name": "   "},
        {"family_name": None},
    ],
)
def test_create_pupil_refuses_bad_or_server_owned_fields(
    client: TestClient, headers, change
) -> None:
    response = client.post(PUPILS, json=NEW_PUPIL | change, headers=headers["admin"])
    assert response.status_code == 422, response.text


def test_create_pupil_refuses_a_upn_already_in_the_school(client: TestClient, headers) -> None:
    assert client.post(PUPILS, json=NEW_PUPIL, headers=headers["admin"]).status_code == 201
    again = client.post(PUPILS, json=NEW_PUPIL, headers=headers["admin"])
    assert again.status_code == 409


def test_staff_and_mis_cannot_create_pupils(client: TestClient, headers) -> None:
    for role in ("staff", "mis"):
        assert client.post(PUPILS, json=NEW_PUPIL, headers=headers[role]).status_code == 403


def test_update_changes_only_what_is_sent_and_keeps_search_in_step(
    client: TestClient, headers, roster, database
) -> None:
    zack = roster["zack"]
    response = client.patch(
        f"{PUPILS}/{zack.id}", json={"preferred_name": "Zed"}, headers=headers["admin"]
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["preferred_name"] == "Zed" and body["given_name"] == "Zack"
    assert body["year_group"] == "Year 9"
    assert _names(client.get(PUPILS, params={"q": "zed"}, headers=headers["staff"])) == [
        "Zed Madeup"
    ]
    with database.transaction() as session:
        event = session.exec(select(AuditEvent).where(AuditEvent.action == "pupil.update")).one()
    assert event.pupil_id == zack.id


def test_marking_a_pupil_left_removes_them_from_search(client: TestClient, headers, roster) -> None:
    zack = roster["zack"]
    response = client.patch(
        f"{PUPILS}/{zack.id}",
        json={"status": "left", "left_on": "2026-07-22"},
        headers=headers["dsl"],
    )
    assert response.status_code == 200
    assert response.json()["status"] == "left" and response.json()["left_on"] == "2026-07-22"
    assert _names(client.get(PUPILS, params={"q": "zack"}, headers=headers["staff"])) == []
    back = client.patch(f"{PUPILS}/{zack.id}", json={"status": "active"}, headers=headers["dsl"])
    assert back.json()["left_on"] is None


@pytest.mark.parametrize(
    "change",
    [{"given_name": None}, {"date_of_birth": None}, {"school_id": None}, {"nickname": "Z"}],
)
def test_update_refuses_clearing_required_fields_and_unknown_fields(
    client: TestClient, headers, roster, change
) -> None:
    response = client.patch(f"{PUPILS}/{roster['zack'].id}", json=change, headers=headers["admin"])
    assert response.status_code == 422


def test_update_of_another_schools_pupil_is_404(client: TestClient, headers, roster) -> None:
    response = client.patch(
        f"{PUPILS}/{roster['elsewhere'].id}", json={"preferred_name": "X"}, headers=headers["admin"]
    )
    assert response.status_code == 404
