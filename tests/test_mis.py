"""MIS sync: idempotent pupil and staff upserts, UPN checks, leavers, runs and their sweep,
the Wonde page mapping, and file imports from the command line.

Every name, id and UPN-holder here is invented.
"""

from __future__ import annotations

import json
import shutil
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import col, select
from typer.testing import CliRunner

from api.cli import app as cli_app
from db.engine import Database
from models import AuditEvent, School
from models.mis import MISRecord, SyncRun
from models.pupil import Pupil
from models.user import Role, User
from services import audit
from services.mis import pupils as mis_pupils
from services.mis.files import CSV_COLUMNS
from services.mis.validation import check_upn
from services.mis.wonde import wonde_student_records
from tests.factories import auth, make_school, make_service_account, make_user

MIS = "/api/v1/mis"
PRIVILEGED = "privileged_account_not_synced"
FIXTURES = Path(__file__).parent / "fixtures" / "mis"
# Each has a letter beyond "f", so no id or hash in an audit row can contain one by chance.
WONDE_NAMES = ("Zoë", "Zo", "Fictional", "Kai", "Madeup", "Ivy", "Imaginary")


@pytest.fixture
def mis_headers(app: FastAPI, database: Database, school: School) -> dict[str, str]:
    return auth(app, make_service_account(database, school))


def wonde_page() -> dict[str, Any]:
    return json.loads((FIXTURES / "wonde_students_page.json").read_text(encoding="utf-8"))


def pupil_record(external_id: str, **overrides: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "source": "sims",
        "external_id": external_id,
        "given_name": "Rowan",
        "family_name": "Inventedson",
        "date_of_birth": "2014-05-06",
        "year_group": "Year 8",
        "registration_group": "8R",
        "source_updated_at": "2026-10-01T10:00:00Z",
    }
    record.update(overrides)
    return record


def staff_record(external_id: str, email: str, **overrides: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "source": "sims",
        "external_id": external_id,
        "email": email,
        "given_name": "Morgan",
        "family_name": "Makebelieve",
        "source_updated_at": "2026-10-01T10:00:00Z",
    }
    record.update(overrides)
    return record


def results(response: Any) -> list[tuple[str, list[str]]]:
    assert response.status_code == 200, response.text
    return [(r["result"], r["warnings"]) for r in response.json()["results"]]


def put_pupils(client: TestClient, headers: dict[str, str], records: list[Any], **body: Any):
    return client.put(f"{MIS}/pupils", headers=headers, json={"records": records, **body})


def start_run(client: TestClient, headers: dict[str, str], kind: str, source: str) -> str:
    response = client.post(
        f"{MIS}/sync-runs", headers=headers, json={"kind": kind, "source": source}
    )
    assert response.status_code == 201, response.text
    assert response.headers["location"].endswith(response.json()["id"])
    return str(response.json()["id"])


def pupils_of(database: Database, school: School) -> dict[str | None, Pupil]:
    with database.transaction() as session:
        return {
            p.external_id: p
            for p in session.exec(select(Pupil).where(Pupil.school_id == school.id))
        }


# --- UPNs and the Wonde mapping (no database) --------------------------------------------


@pytest.mark.parametrize(
    ("raw", "stored", "warnings"),
    [
        ("P207000016049", "P207000016049", []),
        ("B207000016049", "B207000016049", ["upn_check_letter_invalid"]),
        ("A80120000501A", "A80120000501A", ["upn_temporary"]),
        ("p207 0000 16049", "P207000016049", []),
        # An LA code newer than stdnum's list (North Northamptonshire, 2021) is not an error.
        ("X940000000001", "X940000000001", []),
        ("P20700001604", None, ["upn_invalid_format"]),  # 12 characters
        ("P2070000160A9", None, ["upn_invalid_format"]),  # a letter among the digits
        ("1207000016049", None, ["upn_invalid_format"]),  # no check letter
        ("", None, []),
        (None, None, []),
    ],
)
def test_check_upn(raw: str | None, stored: str | None, warnings: list[str]) -> None:
    assert check_upn(raw) == (stored, warnings)


def test_wonde_mapping_uses_legal_names_and_reads_dates_in_their_zone() -> None:
    records, warnings = wonde_student_records(wonde_page()["data"])
    first = records[0]
    assert (first["given_name"], first["family_name"], first["preferred_name"]) == (
        "Zoë",
        "Fictional",
        "Zo",
    )
    assert first["external_id"] == "A1000000001" and first["source"] == "wonde"
    assert first["upn"] == "P207000016049"
    assert (first["year_group"], first["registration_group"]) == ("Year 7", "7F")
    # 09:30 in London in October is 08:30 UTC; the birth date is never shifted.
    assert datetime.fromisoformat(first["source_updated_at"]) == datetime(
        2026, 10, 1, 8, 30, tzinfo=UTC
    )
    assert first["date_of_birth"] == "2015-04-21"
    # Without legal names, forename and surname are the names and there is no preferred.
    assert (records[1]["given_name"], records[1]["preferred_name"]) == ("Kai", None)
    assert warnings == {}

    known_as = dict(wonde_page()["data"][0], surname="Otherfamily")
    _, warned = wonde_student_records([known_as])
    assert warned == {0: ["preferred_surname_differs"]}


# --- pupils --------------------------------------------------------------------------------


def test_wonde_page_created_then_unchanged_then_stale(
    client: TestClient, database: Database, school: School, mis_headers: dict[str, str]
) -> None:
    page = wonde_page()
    first = client.post(f"{MIS}/wonde/students", headers=mis_headers, json=page)
    assert results(first) == [
        ("created", []),
        ("created", ["upn_temporary"]),
        ("created", ["upn_check_letter_invalid"]),
    ]
    assert first.json()["counts"] == {
        "created": 3,
        "updated": 0,
        "unchanged": 0,
        "stale": 0,
        "rejected": 0,
    }
    stored = pupils_of(database, school)
    zoe = stored["A1000000001"]
    assert (zoe.given_name, zoe.preferred_name, zoe.source, zoe.status) == (
        "Zoë",
        "Zo",
        "wonde",
        "active",
    )
    assert zoe.date_of_birth == date(2015, 4, 21)
    assert stored["A1000000003"].upn == "B207000016049"

    again = client.post(f"{MIS}/wonde/students", headers=mis_headers, json=page)
    assert [r for r, _ in results(again)] == ["unchanged"] * 3

    older = wonde_page()
    older["data"] = [older["data"][0]]
    older["data"][0]["updated_at"]["date"] = "2026-09-15 09:30:00.000000"
    older["data"][0]["legal_surname"] = "Renamed"
    assert [
        r for r, _ in results(client.post(f"{MIS}/wonde/students", headers=mis_headers, json=older))
    ] == ["stale"]
    assert pupils_of(database, school)["A1000000001"].family_name == "Fictional"

    newer = wonde_page()
    newer["data"] = [newer["data"][0]]
    newer["data"][0]["updated_at"]["date"] = "2026-10-02 09:30:00.000000"
    newer["data"][0]["registration_group"]["data"]["name"] = "7G"
    assert [
        r for r, _ in results(client.post(f"{MIS}/wonde/students", headers=mis_headers, json=newer))
    ] == ["updated"]
    assert pupils_of(database, school)["A1000000001"].registration_group == "7G"


def test_one_bad_record_is_rejected_and_the_others_succeed(
    client: TestClient, database: Database, school: School, mis_headers: dict[str, str]
) -> None:
    records: list[Any] = [
        pupil_record("S-1"),
        pupil_record("S-2", date_of_birth=None),
        pupil_record("S-3", nickname="Ro"),
        pupil_record("S-4", source_updated_at="2026-10-01T10:00:00"),  # no offset
        pupil_record("S-1"),  # the same record twice in one batch
        pupil_record("S-5", year_group="Y" * 50, upn="not-a-upn"),
        pupil_record("S-6", date_of_birth="2999-01-01"),
        pupil_record("S-7", source="Not A Slug"),
    ]
    response = put_pupils(client, mis_headers, records)
    body = response.json()
    assert [r["result"] for r in body["results"]] == [
        "created",
        "rejected",
        "rejected",
        "rejected",
        "rejected",
        "created",
        "rejected",
        "rejected",
    ]
    reasons = [r["reason"] for r in body["results"]]
    assert reasons[1].startswith("date_of_birth")
    assert reasons[2].startswith("nickname")
    assert reasons[3].startswith("source_updated_at")
    assert "repeats" in reasons[4]
    assert body["results"][5]["warnings"] == ["year_group_invalid", "upn_invalid_format"]
    assert reasons[7].startswith("source")
    assert [r["index"] for r in body["results"]] == list(range(8))
    assert body["counts"]["created"] == 2 and body["counts"]["rejected"] == 6
    stored = pupils_of(database, school)
    assert set(stored) == {"S-1", "S-5"}
    assert stored["S-5"].upn is None and stored["S-5"].year_group is None


def test_text_no_database_can_store_is_rejected_not_a_server_error(
    client: TestClient, school: School, mis_headers: dict[str, str]
) -> None:
    # NUL is valid JSON and valid Python text but PostgreSQL refuses it; a lone surrogate
    # (a JSON escape) cannot be encoded at all. Both must fail the same way on every
    # database, and never as a 500.
    headers = {**mis_headers, "content-type": "application/json"}

    def record(external_id: str, given_name: str) -> str:
        # Raw JSON text: json.dumps would escape the backslashes these escapes need.
        return (
            f'{{"source": "sims", "external_id": "{external_id}", "given_name": "{given_name}",'
            ' "family_name": "Madeup", "date_of_birth": "2014-05-06",'
            ' "source_updated_at": "2026-10-01T10:00:00Z"}'
        )

    records = [record(r"S-\u0000", "Ro"), record("S-2", r"R\u0000o"), record(r"S\udc00", "Ro")]
    body = '{"records": [' + ", ".join(records) + "]}"
    response = client.put(f"{MIS}/pupils", headers=headers, content=body.encode())
    assert response.status_code == 200, response.text
    found = response.json()["results"]
    assert [(r["result"], r["external_id"]) for r in found] == [
        ("rejected", None),
        ("rejected", "S-2"),
        ("rejected", None),
    ]
    assert "NUL" in found[1]["reason"]
    leavers = client.post(
        f"{MIS}/pupils/leavers",
        headers=headers,
        content=rb'{"source": "sims", "external_ids": ["S-\u0000"]}',
    )
    assert leavers.status_code == 422


def test_batch_limits_and_unknown_fields(
    client: TestClient, school: School, mis_headers: dict[str, str]
) -> None:
    too_many = put_pupils(client, mis_headers, [pupil_record(f"S-{n}") for n in range(501)])
    assert too_many.status_code == 422
    assert too_many.json()["errors"][0]["loc"][:2] == ["body", "records"]
    unknown = put_pupils(client, mis_headers, [], school_id=str(uuid.uuid4()))
    assert unknown.status_code == 422
    wonde_extra = client.post(
        f"{MIS}/wonde/students", headers=mis_headers, json={"data": [], "school_id": "x"}
    )
    assert wonde_extra.status_code == 422
    not_a_run = put_pupils(client, mis_headers, [pupil_record("S-1")], run_id=str(uuid.uuid4()))
    assert not_a_run.status_code == 422
    assert not_a_run.json()["errors"][0]["loc"] == ["body", "run_id"]


def test_runs_belong_to_one_school_and_one_source(
    app: FastAPI, client: TestClient, database: Database, mis_headers: dict[str, str]
) -> None:
    elsewhere = auth(app, make_service_account(database, make_school(database)))
    foreign_run = start_run(client, elsewhere, "delta", "sims")
    refused = put_pupils(client, mis_headers, [pupil_record("S-1")], run_id=foreign_run)
    assert refused.status_code == 422
    assert client.get(f"{MIS}/sync-runs/{foreign_run}", headers=mis_headers).status_code == 404
    assert (
        client.post(f"{MIS}/sync-runs/{foreign_run}/complete", headers=mis_headers).status_code
        == 404
    )

    run = start_run(client, mis_headers, "delta", "sims")
    mixed = put_pupils(
        client,
        mis_headers,
        [pupil_record("S-1"), pupil_record("S-2", source="arbor")],
        run_id=run,
    )
    assert [r for r, _ in results(mixed)] == ["created", "rejected"]
    done = client.post(f"{MIS}/sync-runs/{run}/complete", headers=mis_headers, json={})
    assert done.status_code == 200
    assert done.json()["status"] == "completed"
    assert done.json()["sweep"]["marked_left"] == 0  # a delta run sweeps nothing
    assert done.json()["pupils"]["created"] == 1 and done.json()["pupils"]["rejected"] == 1
    # Completing again is safe and answers the same; a completed run takes no more batches.
    assert client.post(f"{MIS}/sync-runs/{run}/complete", headers=mis_headers).json() == done.json()
    assert put_pupils(client, mis_headers, [pupil_record("S-3")], run_id=run).status_code == 422


def _roster(client: TestClient, headers: dict[str, str], size: int) -> list[dict[str, Any]]:
    records = [pupil_record(f"R-{n:03d}") for n in range(size)]
    assert [r for r, _ in results(put_pupils(client, headers, records))] == ["created"] * size
    return records


def test_sweep_refuses_at_eleven_percent_and_proceeds_with_force(
    client: TestClient, database: Database, school: School, mis_headers: dict[str, str]
) -> None:
    records = _roster(client, mis_headers, 100)
    run = start_run(client, mis_headers, "full", "sims")
    # 89 of the 100 arrive; one of them is stale and one rejected: both still count as seen.
    seen = records[:89]
    seen[0] = dict(seen[0], source_updated_at="2026-01-01T00:00:00Z")
    seen[1] = dict(seen[1], date_of_birth="not a date")
    assert results(put_pupils(client, mis_headers, seen, run_id=run))[0][0] == "stale"

    refused = client.post(f"{MIS}/sync-runs/{run}/complete", headers=mis_headers, json={})
    assert refused.status_code == 409
    problem = refused.json()
    assert problem["type"].endswith("sweep-limit-exceeded")
    assert (problem["would_mark_left"], problem["active"]) == (11, 100)
    assert all(p.status == "active" for p in pupils_of(database, school).values())
    assert client.get(f"{MIS}/sync-runs/{run}", headers=mis_headers).json()["status"] == "open"

    forced = client.post(
        f"{MIS}/sync-runs/{run}/complete", headers=mis_headers, json={"force": True}
    )
    assert forced.status_code == 200, forced.text
    sweep = forced.json()["sweep"]
    assert (sweep["active_before"], sweep["marked_left"]) == (100, 11)
    assert forced.json()["forced"] is True
    stored = pupils_of(database, school)
    left = {external_id for external_id, p in stored.items() if p.status == "left"}
    assert left == {f"R-{n:03d}" for n in range(89, 100)}
    assert {str(stored[e].id) for e in left} == set(sweep["pupil_ids"])
    assert all(stored[e].left_on is not None for e in left)


def test_sweep_of_ten_percent_needs_no_force_and_a_newer_full_run_abandons_an_older(
    client: TestClient, database: Database, school: School, mis_headers: dict[str, str]
) -> None:
    records = _roster(client, mis_headers, 20)
    crashed = start_run(client, mis_headers, "full", "sims")
    run = start_run(client, mis_headers, "full", "sims")
    assert client.get(f"{MIS}/sync-runs/{crashed}", headers=mis_headers).json()["status"] == (
        "abandoned"
    )
    abandoned = client.post(f"{MIS}/sync-runs/{crashed}/complete", headers=mis_headers)
    assert abandoned.status_code == 409

    # A delta run overlapping the full run does not hide what the full run saw.
    delta = start_run(client, mis_headers, "delta", "sims")
    results(put_pupils(client, mis_headers, records[:18], run_id=run))
    results(put_pupils(client, mis_headers, records[:5], run_id=delta))
    done = client.post(f"{MIS}/sync-runs/{run}/complete", headers=mis_headers)
    assert done.status_code == 200, done.text
    assert done.json()["sweep"]["marked_left"] == 2


def test_leavers_are_kept_and_restored_by_a_later_upsert(
    client: TestClient, database: Database, school: School, mis_headers: dict[str, str]
) -> None:
    records = _roster(client, mis_headers, 3)
    response = client.post(
        f"{MIS}/pupils/leavers",
        headers=mis_headers,
        json={
            "source": "sims",
            "external_ids": ["R-000", "R-001", "NOPE"],
            "left_on": "2026-10-20",
        },
    )
    assert response.status_code == 200, response.text
    assert response.json()["results"] == [
        {"external_id": "R-000", "result": "left"},
        {"external_id": "R-001", "result": "left"},
        {"external_id": "NOPE", "result": "not_found"},
    ]
    again = client.post(
        f"{MIS}/pupils/leavers",
        headers=mis_headers,
        json={"source": "sims", "external_ids": ["R-000"]},
    )
    assert again.json()["counts"] == {"already_left": 1}
    stored = pupils_of(database, school)
    assert (stored["R-000"].status, stored["R-000"].left_on) == ("left", date(2026, 10, 20))

    future = (date.today() + timedelta(days=30)).isoformat()
    assert (
        client.post(
            f"{MIS}/pupils/leavers",
            headers=mis_headers,
            json={"source": "sims", "external_ids": ["R-002"], "left_on": future},
        ).status_code
        == 422
    )

    # The same record as before (not stale): the MIS says the pupil is on roll again.
    restored = put_pupils(client, mis_headers, [records[0]])
    assert results(restored) == [("updated", ["pupil_restored"])]
    stored = pupils_of(database, school)
    assert (stored["R-000"].status, stored["R-000"].left_on) == ("active", None)
    assert stored["R-001"].status == "left"
    assert results(put_pupils(client, mis_headers, [records[0]])) == [("unchanged", [])]


def test_a_hand_entered_pupil_is_linked_by_upn_and_date_of_birth(
    client: TestClient, database: Database, school: School, mis_headers: dict[str, str]
) -> None:
    with database.transaction() as session:
        by_hand = Pupil(
            school_id=school.id,
            given_name="Zoe",
            family_name="Fictional",
            date_of_birth=date(2015, 4, 21),
            upn="P207000016049",
        )
        session.add(by_hand)
    first = client.post(f"{MIS}/wonde/students", headers=mis_headers, json=wonde_page())
    assert results(first)[0] == ("updated", ["linked_existing_pupil"])
    stored = pupils_of(database, school)
    assert stored["A1000000001"].id == by_hand.id
    assert stored["A1000000001"].given_name == "Zoë"
    assert len(stored) == 3

    duplicate = put_pupils(client, mis_headers, [pupil_record("S-9", upn="P207000016049")])
    assert results(duplicate) == [("created", ["upn_duplicate"])]


def test_a_record_written_concurrently_is_rejected_alone(
    client: TestClient,
    database: Database,
    school: School,
    mis_headers: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert results(put_pupils(client, mis_headers, [pupil_record("S-1")])) == [("created", [])]
    # As if another sync committed S-1 between this batch's lookups and its insert.
    monkeypatch.setattr(mis_pupils, "mis_records", lambda *_a, **_k: {})
    monkeypatch.setattr(mis_pupils, "_pupils_by_key", lambda *_a, **_k: {})
    response = put_pupils(client, mis_headers, [pupil_record("S-1"), pupil_record("S-2")])
    assert [r["result"] for r in response.json()["results"]] == ["rejected", "created"]
    assert "send it again" in response.json()["results"][0]["reason"]
    assert set(pupils_of(database, school)) == {"S-1", "S-2"}
    with database.transaction() as session:
        assert audit.verify_chain(session, school_id=school.id).ok


def test_sources_are_lower_case_slugs(
    client: TestClient, school: School, mis_headers: dict[str, str]
) -> None:
    bad = client.post(
        f"{MIS}/sync-runs", headers=mis_headers, json={"kind": "full", "source": "My MIS!"}
    )
    assert bad.status_code == 422
    run = client.post(
        f"{MIS}/sync-runs", headers=mis_headers, json={"kind": "full", "source": "SIMS"}
    )
    assert run.status_code == 201 and run.json()["source"] == "sims"
    assert results(put_pupils(client, mis_headers, [pupil_record("S-1", source="SIMS")])) == [
        ("created", [])
    ]


# --- staff ---------------------------------------------------------------------------------


def test_staff_are_created_without_a_password_and_upserted_idempotently(
    client: TestClient, database: Database, school: School, mis_headers: dict[str, str]
) -> None:
    batch = [
        staff_record("T-1", "Morgan.Makebelieve@fictional-school.example"),
        staff_record("T-2", "not-an-email"),
    ]
    first = client.put(f"{MIS}/staff", headers=mis_headers, json={"records": batch})
    assert [r for r, _ in results(first)] == ["created", "rejected"]
    assert first.json()["results"][1]["reason"].startswith("email")
    with database.transaction() as session:
        user = session.exec(select(User).where(User.school_id == school.id)).one()
    assert (user.email, user.role, user.password_hash, user.active) == (
        "morgan.makebelieve@fictional-school.example",
        "staff",
        None,
        True,
    )
    again = client.put(f"{MIS}/staff", headers=mis_headers, json={"records": batch[:1]})
    assert results(again) == [("unchanged", [])]
    renamed = staff_record(
        "T-1",
        "morgan.makebelieve@fictional-school.example",
        family_name="Newname",
        source_updated_at="2026-10-02T10:00:00Z",
    )
    assert results(
        client.put(f"{MIS}/staff", headers=mis_headers, json={"records": [renamed]})
    ) == [("updated", [])]


def test_an_existing_account_is_linked_by_email_and_keeps_its_role(
    client: TestClient, database: Database, school: School, mis_headers: dict[str, str]
) -> None:
    teacher = make_user(database, school, Role.staff, mfa=True)
    other_school_user = make_user(database, make_school(database), Role.staff)
    records = [
        staff_record("T-1", teacher.email.upper()),
        staff_record("T-2", other_school_user.email),
        staff_record("T-3", teacher.email),
    ]
    response = client.put(f"{MIS}/staff", headers=mis_headers, json={"records": records})
    assert [r for r, _ in results(response)] == ["updated", "rejected", "rejected"]
    assert response.json()["results"][0]["warnings"] == ["linked_existing_account"]
    with database.transaction() as session:
        linked = session.get(User, teacher.id)
        assert linked is not None
        assert (linked.role, linked.display_name) == ("staff", "Morgan Makebelieve")
        assert linked.password_hash is not None and linked.mfa_enrolled
        count = len(list(session.exec(select(User).where(User.school_id == school.id))))
    assert count == 1


def test_a_staff_leavers_existing_tokens_are_refused_at_once(
    app: FastAPI,
    client: TestClient,
    database: Database,
    school: School,
    mis_headers: dict[str, str],
) -> None:
    teacher = make_user(database, school, Role.staff)
    linked = client.put(
        f"{MIS}/staff", headers=mis_headers, json={"records": [staff_record("T-1", teacher.email)]}
    )
    assert results(linked) == [("updated", ["linked_existing_account"])]
    login = client.post(
        "/api/v1/auth/token",
        data={"grant_type": "password", "username": teacher.email, "password": teacher.password},
    )
    assert login.status_code == 200, login.text
    signed_in = {"Authorization": f"Bearer {login.json()['access_token']}"}
    minted = auth(app, teacher)
    assert client.get("/api/v1/auth/me", headers=signed_in).status_code == 200

    response = client.post(
        f"{MIS}/staff/leavers",
        headers=mis_headers,
        json={"source": "sims", "external_ids": ["T-1"]},
    )
    assert response.json()["results"] == [{"external_id": "T-1", "result": "deactivated"}]
    for headers in (signed_in, minted):
        refused = client.get("/api/v1/auth/me", headers=headers)
        assert refused.status_code == 401
    refresh = client.post(
        "/api/v1/auth/refresh", json={"refresh_token": login.json()["refresh_token"]}
    )
    assert refresh.status_code == 401
    # A later upsert does not reactivate: that is an admin's decision.
    later = staff_record("T-1", teacher.email, source_updated_at="2026-10-05T10:00:00Z")
    assert results(client.put(f"{MIS}/staff", headers=mis_headers, json={"records": [later]})) == [
        ("unchanged", ["account_inactive"])
    ]


def test_a_passed_leaving_date_deactivates_but_never_an_admin(
    app: FastAPI,
    client: TestClient,
    database: Database,
    school: School,
    mis_headers: dict[str, str],
) -> None:
    teacher = make_user(database, school, Role.staff)
    admin = make_user(database, school, Role.admin)
    minted = auth(app, teacher)
    yesterday = (date.today() - timedelta(days=2)).isoformat()
    records = [
        staff_record("T-1", teacher.email, leaving_date=yesterday),
        staff_record("T-2", admin.email, leaving_date=yesterday),
        staff_record("T-3", "new.leaver@fictional-school.example", leaving_date=yesterday),
        staff_record("T-4", "new.starter@fictional-school.example", leaving_date="2099-07-31"),
    ]
    response = client.put(f"{MIS}/staff", headers=mis_headers, json={"records": records})
    assert results(response) == [
        ("updated", ["linked_existing_account", "account_deactivated"]),
        ("rejected", [PRIVILEGED]),
        ("created", ["account_deactivated"]),
        ("created", []),
    ]
    assert client.get("/api/v1/auth/me", headers=minted).status_code == 401
    with database.transaction() as session:
        assert session.get(User, admin.id).active  # type: ignore[union-attr]
    leavers = client.post(
        f"{MIS}/staff/leavers",
        headers=mis_headers,
        json={"source": "sims", "external_ids": ["T-2"]},
    )
    assert leavers.json()["results"] == [{"external_id": "T-2", "result": "not_found"}]
    assert results(client.put(f"{MIS}/staff", headers=mis_headers, json={"records": records})) == [
        ("unchanged", []),
        ("rejected", [PRIVILEGED]),
        ("unchanged", []),
        ("unchanged", []),
    ]


# --- privileged accounts: never linked to, renamed or deactivated by a sync ----------------


def account_state(database: Database, user_id: uuid.UUID) -> tuple[Any, ...]:
    with database.transaction() as session:
        user = session.get(User, user_id)
        assert user is not None
        return (user.email, user.display_name, user.role, user.active, user.token_version)


def set_account(database: Database, user_id: uuid.UUID, **values: Any) -> None:
    """What an admin (or a DSL's approval) does outside the sync: a promotion, a reactivation."""
    with database.transaction() as session:
        user = session.get(User, user_id)
        assert user is not None
        for name, value in values.items():
            setattr(user, name, value)
        session.add(user)


def staff_events(database: Database, school: School) -> list[str]:
    with database.transaction() as session:
        return [
            e.action
            for e in session.exec(
                select(AuditEvent)
                .where(AuditEvent.school_id == school.id, col(AuditEvent.action).startswith("mis."))
                .order_by(col(AuditEvent.seq))
            )
        ]


@pytest.mark.parametrize("role", [Role.dsl, Role.deputy_dsl, Role.admin])
def test_a_new_record_with_a_privileged_accounts_email_is_rejected_and_changes_nothing(
    app: FastAPI,
    client: TestClient,
    database: Database,
    school: School,
    mis_headers: dict[str, str],
    role: Role,
) -> None:
    make_user(database, school, Role.admin)  # so that no last-admin rule is what keeps it
    account = make_user(database, school, role)
    minted = auth(app, account)
    before = account_state(database, account.id)
    yesterday = (date.today() - timedelta(days=2)).isoformat()
    record = staff_record("T-1", account.email.upper(), leaving_date=yesterday)
    response = client.put(f"{MIS}/staff", headers=mis_headers, json={"records": [record]})
    assert results(response) == [("rejected", [PRIVILEGED])]
    reason = response.json()["results"][0]["reason"]
    assert "never links to, renames or deactivates DSL, deputy DSL or admin accounts" in reason
    assert account_state(database, account.id) == before
    assert client.get("/api/v1/auth/me", headers=minted).status_code == 200
    with database.transaction() as session:
        assert session.exec(select(MISRecord)).first() is None
    assert staff_events(database, school) == ["mis.staff_received"]
    # Sent again, by an admin this time: the same answer, still nothing linked.
    admin = auth(app, make_user(database, school, Role.admin))
    again = client.put(f"{MIS}/staff", headers=admin, json={"records": [record]})
    assert results(again) == [("rejected", [PRIVILEGED])]
    assert account_state(database, account.id) == before


@pytest.mark.parametrize("role", [Role.dsl, Role.admin])
def test_an_account_promoted_after_linking_is_never_renamed_or_deactivated(
    app: FastAPI,
    client: TestClient,
    database: Database,
    school: School,
    mis_headers: dict[str, str],
    role: Role,
) -> None:
    make_user(database, school, Role.admin)
    teacher = make_user(database, school, Role.staff, mfa=True)
    linked = client.put(
        f"{MIS}/staff", headers=mis_headers, json={"records": [staff_record("T-1", teacher.email)]}
    )
    assert results(linked) == [("updated", ["linked_existing_account"])]
    set_account(database, teacher.id, role=role.value, display_name="Morgan Promoted")
    minted = auth(app, teacher, role=role.value)
    before = account_state(database, teacher.id)
    yesterday = (date.today() - timedelta(days=2)).isoformat()
    leaving = staff_record(
        "T-1",
        "changed.address@fictional-school.example",
        family_name="Renamed",
        leaving_date=yesterday,
        source_updated_at="2026-10-02T10:00:00Z",
    )
    for _ in range(2):  # the second time after a reactivation
        response = client.put(f"{MIS}/staff", headers=mis_headers, json={"records": [leaving]})
        assert results(response) == [("unchanged", [PRIVILEGED])]
        assert account_state(database, teacher.id) == before
        me = client.get("/api/v1/auth/me", headers=minted)
        assert me.status_code == 200, (_, me.text)
        set_account(database, teacher.id, active=False)
        set_account(database, teacher.id, active=True)
    assert staff_events(database, school) == [
        "mis.staff_received",
        "mis.staff_linked",
        "mis.staff_received",
        "mis.staff_received",
    ]
    # An ordinary account again: the record applies as it would have.
    set_account(database, teacher.id, role=Role.staff.value)
    response = client.put(f"{MIS}/staff", headers=mis_headers, json={"records": [leaving]})
    assert results(response) == [("updated", ["account_deactivated"])]
    email, name, _, active, _ = account_state(database, teacher.id)
    assert email == "changed.address@fictional-school.example"
    assert (name, active) == ("Morgan Renamed", False)


def test_staff_leavers_never_deactivate_a_dsl_or_an_admin(
    app: FastAPI,
    client: TestClient,
    database: Database,
    school: School,
    mis_headers: dict[str, str],
) -> None:
    make_user(database, school, Role.admin)
    accounts = [make_user(database, school, Role.staff, mfa=True) for _ in range(4)]
    records = [staff_record(f"T-{n}", a.email) for n, a in enumerate(accounts)]
    linked = client.put(f"{MIS}/staff", headers=mis_headers, json={"records": records})
    assert [r for r, _ in results(linked)] == ["updated"] * 4
    roles = (Role.dsl, Role.deputy_dsl, Role.admin, Role.staff)
    for account, role in zip(accounts, roles, strict=True):
        set_account(database, account.id, role=role.value)
    minted = [auth(app, a, role=r.value) for a, r in zip(accounts, roles, strict=True)]
    before = [account_state(database, a.id) for a in accounts]
    for _ in range(2):  # the second time after a reactivation
        response = client.post(
            f"{MIS}/staff/leavers",
            headers=mis_headers,
            json={"source": "sims", "external_ids": ["T-0", "T-1", "T-2"]},
        )
        assert response.status_code == 200, response.text
        assert [r["result"] for r in response.json()["results"]] == ["last_admin_kept"] * 3
        assert [account_state(database, a.id) for a in accounts[:3]] == before[:3]
        for headers in minted[:3]:
            assert client.get("/api/v1/auth/me", headers=headers).status_code == 200
        set_account(database, accounts[0].id, active=False)
        set_account(database, accounts[0].id, active=True)
    assert "mis.staff_deactivated" not in staff_events(database, school)
    # An ordinary member of staff still leaves.
    ordinary = client.post(
        f"{MIS}/staff/leavers",
        headers=mis_headers,
        json={"source": "sims", "external_ids": ["T-3"]},
    )
    assert ordinary.json()["results"] == [{"external_id": "T-3", "result": "deactivated"}]
    assert client.get("/api/v1/auth/me", headers=minted[3]).status_code == 401


# --- rules ---------------------------------------------------------------------------------


def test_mis_cannot_read_concerns_pupils_audit_or_administer_users(
    client: TestClient, school: School, mis_headers: dict[str, str]
) -> None:
    some_id = uuid.uuid4()
    for method, path in [
        ("GET", "/api/v1/concerns"),
        ("GET", f"/api/v1/concerns/{some_id}"),
        ("GET", f"/api/v1/pupils/{some_id}"),
        ("GET", "/api/v1/pupils?q=zo"),
        ("GET", "/api/v1/audit"),
        ("GET", "/api/v1/users"),
        ("POST", "/api/v1/users"),
        ("GET", "/api/v1/service-accounts"),
    ]:
        assert client.request(method, path, headers=mis_headers, json={}).status_code == 403, path


def test_admin_may_sync_and_other_roles_may_not(
    app: FastAPI, client: TestClient, database: Database, school: School
) -> None:
    admin = auth(app, make_user(database, school, Role.admin))
    assert results(put_pupils(client, admin, [pupil_record("S-1")])) == [("created", [])]
    for role in (Role.staff, Role.dsl, Role.deputy_dsl):
        headers = auth(app, make_user(database, school, role))
        assert put_pupils(client, headers, [pupil_record("S-2")]).status_code == 403


def test_audit_rows_carry_the_run_id_and_no_names(
    client: TestClient, database: Database, school: School, mis_headers: dict[str, str]
) -> None:
    run = start_run(client, mis_headers, "full", "wonde")
    page = client.post(f"{MIS}/wonde/students?run_id={run}", headers=mis_headers, json=wonde_page())
    assert [r for r, _ in results(page)] == ["created"] * 3
    assert page.json()["run_id"] == run
    staff = client.put(
        f"{MIS}/staff",
        headers=mis_headers,
        json={
            "run_id": run,
            "records": [staff_record("T-1", "x.y@fictional-school.example", source="wonde")],
        },
    )
    assert results(staff) == [("created", [])]
    done = client.post(f"{MIS}/sync-runs/{run}/complete", headers=mis_headers)
    assert done.status_code == 200

    with database.transaction() as session:
        events = list(
            session.exec(
                select(AuditEvent)
                .where(AuditEvent.school_id == school.id, col(AuditEvent.action).startswith("mis."))
                .order_by(col(AuditEvent.seq))
            )
        )
    actions = [e.action for e in events]
    assert actions[0] == "mis.sync_run_started" and actions[-1] == "mis.sync_run_completed"
    assert actions.count("mis.pupil_created") == 3 and "mis.staff_created" in actions
    assert {str(e.run_id) for e in events} == {run}
    created = [e for e in events if e.action == "mis.pupil_created"]
    assert all(e.pupil_id is not None and e.entity_id == e.pupil_id for e in created)
    # The events of a batch are appended together: the chain must verify as if one by one.
    with database.transaction() as session:
        assert audit.verify_chain(session, school_id=school.id).ok
    names = [*WONDE_NAMES, "Morgan", "Makebelieve"]
    for event in events:
        for column in AuditEvent.__table__.columns:  # type: ignore[attr-defined]
            value = getattr(event, column.name)
            if isinstance(value, str):
                assert not any(name.lower() in value.lower() for name in names), column.name


def test_the_run_counts_add_up(
    client: TestClient, school: School, mis_headers: dict[str, str]
) -> None:
    run = start_run(client, mis_headers, "delta", "wonde")
    for _ in range(2):
        url = f"{MIS}/wonde/students?run_id={run}"
        assert client.post(url, headers=mis_headers, json=wonde_page()).status_code == 200
    counts = client.get(f"{MIS}/sync-runs/{run}", headers=mis_headers).json()["pupils"]
    assert counts == {"created": 3, "updated": 0, "unchanged": 3, "stale": 0, "rejected": 0}
    bad = client.post(
        f"{MIS}/wonde/students?run_id={uuid.uuid4()}", headers=mis_headers, json=wonde_page()
    )
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["loc"] == ["query", "run_id"]


# --- command line ----------------------------------------------------------------------------

runner = CliRunner()


def _counts(output: str) -> dict[str, int]:
    found = {}
    for line in output.splitlines():
        word, _, number = line.partition(" ")
        if number.isdigit():
            found[word] = int(number)
    return found


def test_csv_import_reports_counts_and_rejected_lines(cli_env: Database, school: School) -> None:
    args = ["import-pupils", "--school-urn", school.urn, str(FIXTURES / "pupils.csv")]
    result = runner.invoke(cli_app, args)
    assert result.exit_code == 1, result.output  # some rows were rejected
    assert _counts(result.stdout) == {
        "created": 3,
        "updated": 0,
        "unchanged": 0,
        "stale": 0,
        "rejected": 2,
        "left": 0,
    }
    rejected = [line for line in result.stdout.splitlines() if line.startswith("line ")]
    assert rejected[0].startswith("line 4: rejected (CSV-0003): date_of_birth")
    assert rejected[1].startswith("line 7: rejected (CSV-0005): given_name")
    assert len(rejected) == 2
    stored = pupils_of(cli_env, school)
    assert set(stored) == {"CSV-0001", "CSV-0002", "CSV-0004"}
    assert stored["CSV-0004"].given_name == "Bea Twoline"
    assert stored["CSV-0001"].source == "csv"

    again = runner.invoke(cli_app, args)
    assert _counts(again.stdout)["unchanged"] == 3
    with cli_env.transaction() as session:
        runs = list(session.exec(select(SyncRun).where(SyncRun.school_id == school.id)))
    assert len(runs) == 2 and all(r.status == "completed" for r in runs)


def test_csv_import_refuses_a_wrong_header(
    cli_env: Database, school: School, tmp_path: Path
) -> None:
    wrong = tmp_path / "wrong.csv"
    wrong.write_text("id,name\n1,Someone\n", encoding="utf-8")
    result = runner.invoke(cli_app, ["import-pupils", "--school-urn", school.urn, str(wrong)])
    assert result.exit_code == 2
    assert "header" in result.stderr
    unknown_school = runner.invoke(
        cli_app, ["import-pupils", "--school-urn", "999998", str(FIXTURES / "pupils.csv")]
    )
    assert unknown_school.exit_code == 2


def test_oneroster_import(cli_env: Database, school: School, tmp_path: Path) -> None:
    users = tmp_path / "users.csv"
    shutil.copy(FIXTURES / "oneroster_users.csv", users)
    shutil.copy(FIXTURES / "oneroster_demographics.csv", tmp_path / "demographics.csv")
    args = ["import-pupils", "--school-urn", school.urn, "--format", "oneroster", str(users)]
    result = runner.invoke(cli_app, args)
    assert result.exit_code == 1, result.output
    counts = _counts(result.stdout)
    assert (counts["created"], counts["rejected"]) == (2, 1)
    assert "line 5: rejected (OR-S-003): date_of_birth" in result.stdout
    stored = pupils_of(cli_env, school)
    assert set(stored) == {"OR-S-001", "OR-S-002"}  # the teacher is not a pupil
    assert (stored["OR-S-001"].source, stored["OR-S-001"].year_group) == ("oneroster", "07")
    assert stored["OR-S-001"].date_of_birth == date(2015, 4, 21)

    # A later export marks one pupil for deletion: they are marked as left, never deleted.
    text = users.read_text(encoding="utf-8").replace(
        "OR-S-002,active,2026-10-01T09:30:00Z", "OR-S-002,tobedeleted,2026-10-02T09:30:00Z"
    )
    users.write_text(text, encoding="utf-8")
    second = runner.invoke(cli_app, args)
    assert _counts(second.stdout)["left"] == 1
    assert pupils_of(cli_env, school)["OR-S-002"].status == "left"


def test_full_csv_import_sweeps_within_the_limit(
    cli_env: Database, school: School, tmp_path: Path
) -> None:
    header = ",".join(CSV_COLUMNS) + "\n"
    rows = [f"F-{n:02d},,Rowan,Inventedson,,2014-05-06,Year 8,8R\n" for n in range(20)]
    everyone = tmp_path / "everyone.csv"
    everyone.write_text(header + "".join(rows), encoding="utf-8")
    base = ["import-pupils", "--school-urn", school.urn, "--full"]
    assert runner.invoke(cli_app, [*base, str(everyone)]).exit_code == 0

    most = tmp_path / "most.csv"
    most.write_text(header + "".join(rows[:17]), encoding="utf-8")  # 3 of 20 missing: 15 %
    refused = runner.invoke(cli_app, [*base, str(most)])
    assert refused.exit_code == 1
    assert "sweep refused" in refused.stderr
    assert all(p.status == "active" for p in pupils_of(cli_env, school).values())
    forced = runner.invoke(cli_app, [*base, "--force", str(most)])
    assert forced.exit_code == 0, forced.output
    assert _counts(forced.stdout)["left"] == 3
    with cli_env.transaction() as session:
        statuses = sorted(r.status for r in session.exec(select(SyncRun)))
        records = len(list(session.exec(select(MISRecord))))
    assert statuses == ["abandoned", "completed", "completed"] and records == 20
