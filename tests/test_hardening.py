"""Input hardening: free text that is blank or that a database cannot store, and MIS
timestamps that are bare numbers, are refused the same way on every backend.

Every name and every text here is invented.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import func, select

from db.engine import Database
from models.case import Case, CaseAction, CaseDecision, CaseEvent
from models.concern import Addendum, Concern
from models.mis import MISPupilRecord
from models.triage import TriageEvent
from tests.desk import CASES, CONCERNS, Desk, concern_body, iso
from tests.factories import auth, make_school, make_service_account

# Whitespace only (str.strip's set, so a no-break space counts), and text with a NUL.
BLANK = ["", " ", " \t\n\r ", "\u00a0\u2003"]
UNSTORABLE = ["\x00", "Fictional\x00note", " \x00 "]

ACTION = {"type": "discussion", "description": "Talked with the form tutor (fictional)."}
DECISION = {"decision": "Refer to early help.", "reason": "A fictional pattern of worries."}
CLOSE = {"outcome": "Fictional support worked.", "reason": "Nothing new for six weeks."}

# (endpoint, a valid body, the free-text fields of that body)
CASE_BODIES: list[tuple[str, dict[str, Any], list[str]]] = [
    ("actions", ACTION | {"with_whom": "Form tutor (fictional)"}, ["description", "with_whom"]),
    ("decisions", DECISION, ["decision", "reason"]),
    ("close", CLOSE, ["outcome", "reason"]),
    ("reopen", {"reason": "A fictional new worry."}, ["reason"]),
    ("level", {"level": "child_in_need", "reason": "Fictional referral accepted."}, ["reason"]),
]


def _row_counts(database: Database) -> dict[str, int]:
    with database.transaction() as session:
        return {
            table.__name__: session.exec(select(func.count()).select_from(table)).one()
            for table in (Concern, Addendum, TriageEvent, Case, CaseEvent, CaseAction, CaseDecision)
        }


def _assert_refused(response: Any, field: str, sent: str) -> None:
    assert response.status_code == 422, (field, repr(sent), response.text)
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["errors"][0]["loc"][-1] == field, (field, repr(sent), problem)
    assert problem["detail"].startswith(field), problem
    assert "\x00" not in response.text  # the input is never echoed


@pytest.mark.parametrize(("what", "body", "fields"), CASE_BODIES, ids=[b[0] for b in CASE_BODIES])
def test_case_text_must_not_be_blank_or_unstorable(
    desk: Desk, database: Database, what: str, body: dict[str, Any], fields: list[str]
) -> None:
    case, _etag = desk.open_case()
    if what == "actions":
        body = body | {"occurred_at": iso(desk.clock.now())}
    before = _row_counts(database)
    for field in fields:
        for bad in BLANK + UNSTORABLE:
            _assert_refused(desk.change_case(case["id"], what, body | {field: bad}), field, bad)
    assert _row_counts(database) == before
    assert desk.read_case(case["id"])[1] == '"case-1"'


def test_opening_a_case_refuses_blank_or_unstorable_summary(desk: Desk, database: Database) -> None:
    before = _row_counts(database)
    body = {"pupil_id": str(desk.world.zoe.id), "level": "monitoring"}
    for bad in BLANK + UNSTORABLE:
        response = desk.client.post(CASES, json=body | {"summary": bad}, headers=desk.headers())
        _assert_refused(response, "summary", bad)
    assert _row_counts(database) == before


def test_triage_reason_must_not_be_blank_or_unstorable(desk: Desk, database: Database) -> None:
    concern = desk.concern()
    before = _row_counts(database)
    for bad in BLANK + UNSTORABLE:
        response = desk.triage(concern["id"], {"status": "acknowledged", "reason": bad})
        _assert_refused(response, "reason", bad)
    assert _row_counts(database) == before


def test_concern_and_addendum_text_must_not_be_blank_or_unstorable(
    desk: Desk, database: Database
) -> None:
    concern = desk.concern()
    before = _row_counts(database)
    staff = desk.headers(desk.world.staff_a)
    valid = concern_body(desk.clock, [desk.world.zoe])
    for bad in BLANK + UNSTORABLE:
        response = desk.client.post(CONCERNS, json=valid | {"description": bad}, headers=staff)
        _assert_refused(response, "description", bad)
    for bad in UNSTORABLE:
        response = desk.client.post(CONCERNS, json=valid | {"location": bad}, headers=staff)
        _assert_refused(response, "location", bad)
    addendum = {"text": "A fictional correction.", "reason": "Spoke to the driver."}
    for field in ("text", "reason"):
        for bad in BLANK + UNSTORABLE:
            response = desk.client.post(
                f"{CONCERNS}/{concern['id']}/addenda",
                json=addendum | {field: bad},
                headers=staff,
            )
            _assert_refused(response, field, bad)
    assert _row_counts(database) == before


def test_valid_text_is_kept_exactly_as_sent(desk: Desk) -> None:
    summary = "  Fictional worries,\n\tfrom two staff.  "
    case, _etag = desk.open_case(summary=summary)
    assert case["summary"] == summary
    action = ACTION | {"occurred_at": iso(desk.clock.now()), "with_whom": " Tutor "}
    response = desk.change_case(case["id"], "actions", action)
    assert response.status_code == 201, response.text
    assert desk.read_case(case["id"])[0]["actions"][0]["with_whom"] == " Tutor "
    # Location is optional: blank still means "no location".
    assert desk.concern(location=" \t ")["location"] is None


def test_the_openapi_document_states_the_text_rule(public_app: FastAPI) -> None:
    schemas = public_app.openapi()["components"]["schemas"]
    pattern = schemas["DecisionCreate"]["properties"]["reason"]["pattern"]
    import re

    assert re.match(pattern, "A fictional reason.") and re.match(pattern, " x ")
    for bad in BLANK + UNSTORABLE:
        assert not re.match(pattern, bad), repr(bad)


# --- MIS record timestamps ------------------------------------------------------------------


def _pupil(external_id: str, source_updated_at: object) -> dict[str, Any]:
    return {
        "source": "sims",
        "external_id": external_id,
        "given_name": "Rowan",
        "family_name": "Inventedson",
        "date_of_birth": "2014-05-06",
        "source_updated_at": source_updated_at,
    }


def test_mis_timestamps_must_be_rfc3339_not_numbers(
    app: FastAPI, client: TestClient, database: Database
) -> None:
    school = make_school(database, name="Fictional Academy")
    headers = auth(app, make_service_account(database, school))
    records = [
        _pupil("T-1", "2026-10-01T10:00:00Z"),
        _pupil("T-2", 0),
        _pupil("T-3", 1_790_000_000),
        _pupil("T-4", 1_790_000_000.5),
        _pupil("T-5", "1790000000"),
        _pupil("T-6", "2026-10-01T11:00:00+01:00"),
    ]
    response = client.put("/api/v1/mis/pupils", headers=headers, json={"records": records})
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["result"] for r in results] == [
        "created",
        "rejected",
        "rejected",
        "rejected",
        "rejected",
        "created",
    ]
    for rejected in results[1:5]:
        assert rejected["reason"].startswith("source_updated_at: "), rejected
        assert "RFC 3339" in rejected["reason"]
    assert response.json()["counts"]["rejected"] == 4


def test_mis_record_schema_still_reads_timestamps_with_offsets() -> None:
    record = MISPupilRecord.model_validate(_pupil("T-7", "2026-10-01T10:00:00.250+02:00"))
    assert record.source_updated_at.utcoffset() is not None


def test_mis_dates_must_be_dates_not_numbers(
    app: FastAPI, client: TestClient, database: Database
) -> None:
    school = make_school(database, name="Fictional Academy")
    headers = auth(app, make_service_account(database, school))
    pupils = [
        _pupil("D-1", "2026-10-01T10:00:00Z"),
        _pupil("D-2", "2026-10-01T10:00:00Z") | {"date_of_birth": 0},
        _pupil("D-3", "2026-10-01T10:00:00Z") | {"date_of_birth": "1400000000"},
    ]
    response = client.put("/api/v1/mis/pupils", headers=headers, json={"records": pupils})
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["result"] for r in results] == ["created", "rejected", "rejected"]
    assert all(r["reason"].startswith("date_of_birth: ") for r in results[1:]), results
    staff = {
        "source": "sims",
        "external_id": "ST-1",
        "email": "robin.madeup@fictional-school.example",
        "given_name": "Robin",
        "family_name": "Madeup",
        "leaving_date": 0,
        "source_updated_at": "2026-10-01T10:00:00Z",
    }
    response = client.put("/api/v1/mis/staff", headers=headers, json={"records": [staff]})
    assert response.status_code == 200, response.text
    (result,) = response.json()["results"]
    assert result["result"] == "rejected" and result["reason"].startswith("leaving_date: ")
    leavers = client.post(
        "/api/v1/mis/pupils/leavers",
        headers=headers,
        json={"source": "sims", "external_ids": ["D-1"], "left_on": 0},
    )
    assert leavers.status_code == 422, leavers.text
