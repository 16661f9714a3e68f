"""Every timestamp a request carries is bounded (issue 22, point 8): at the ends of the
calendar an offset pushes a valid-looking timestamp past what a datetime holds when it is
converted to UTC. That is a 422 naming the field (an MIS record is rejected alone), never
a 500, and nothing is written."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from db.engine import Database
from models import School
from tests.desk import CONCERNS, Desk, events
from tests.factories import auth, make_service_account

# Both convert to UTC outside what a datetime holds; the third is merely absurd.
OVERFLOWING = ("0001-01-01T00:00:00+23:59", "9999-12-31T23:59:59-23:59")
OUT_OF_RANGE = ("1066-10-14T09:00:00Z", *OVERFLOWING)


def _field(problem: dict[str, Any]) -> list[Any]:
    return [error["loc"] for error in problem["errors"]]


@pytest.mark.parametrize("moment", OUT_OF_RANGE)
def test_a_concern_observed_outside_the_range_is_a_422_and_writes_nothing(
    desk: Desk, database: Database, moment: str
) -> None:
    body = {
        "pupil_ids": [str(desk.world.zoe.id)],
        "guidance_key": "cse",
        "indicators": [],
        "description": "A fictional observation.",
        "observed_at": moment,
        "immediate_danger": False,
        "police_contacted": False,
    }
    response = desk.client.post(CONCERNS, json=body, headers=desk.headers(desk.world.staff_a))
    assert response.status_code == 422, response.text
    assert _field(response.json()) == [["body", "observed_at"]]
    assert events(database, "concern.create") == []


@pytest.mark.parametrize("moment", OVERFLOWING)
def test_a_query_filter_outside_the_range_is_a_422(desk: Desk, moment: str) -> None:
    for name in ("from", "to"):
        response = desk.client.get(CONCERNS, params={name: moment}, headers=desk.headers())
        assert response.status_code == 422, response.text
        assert _field(response.json()) == [["query", name]]


@pytest.mark.parametrize("moment", OVERFLOWING)
def test_a_case_action_outside_the_range_is_a_422(desk: Desk, moment: str) -> None:
    case, _ = desk.open_case()
    response = desk.change_case(
        case["id"],
        "actions",
        {"type": "discussion", "description": "A fictional talk.", "occurred_at": moment},
    )
    assert response.status_code == 422, response.text
    assert _field(response.json()) == [["body", "occurred_at"]]


def test_an_mis_record_outside_the_range_is_rejected_alone(
    app: FastAPI, client: TestClient, database: Database, school: School
) -> None:
    headers = auth(app, make_service_account(database, school))
    record = {
        "source": "sims",
        "given_name": "Rowan",
        "family_name": "Inventedson",
        "date_of_birth": "2014-05-06",
    }
    records = [
        {**record, "external_id": "S-1", "source_updated_at": "2026-10-01T10:00:00Z"},
        {**record, "external_id": "S-2", "source_updated_at": OVERFLOWING[1]},
        {**record, "external_id": "S-3", "source_updated_at": OVERFLOWING[0]},
    ]
    response = client.put("/api/v1/mis/pupils", headers=headers, json={"records": records})
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["result"] for r in results] == ["created", "rejected", "rejected"]
    assert all(r["reason"].startswith("source_updated_at") for r in results[1:])


def test_a_concern_observed_before_the_childs_birth_is_a_422(
    desk: Desk, database: Database
) -> None:
    """Zoë was born on 9 March 2014 (an English date, GMT then): an observation at 23:30 on
    the 8th is before it; one at 00:30 on the 9th is on the day, and may be recorded."""
    body = {
        "pupil_ids": [str(desk.world.zoe.id)],
        "guidance_key": "cse",
        "indicators": [],
        "description": "A fictional observation.",
        "immediate_danger": False,
        "police_contacted": False,
    }
    headers = desk.headers(desk.world.staff_a)
    before = desk.client.post(
        CONCERNS, json={**body, "observed_at": "2014-03-08T23:30:00Z"}, headers=headers
    )
    assert before.status_code == 422, before.text
    assert _field(before.json()) == [["body", "observed_at"]]
    assert "date of birth" in before.json()["detail"]
    assert events(database, "concern.create") == []
    on_the_day = desk.client.post(
        CONCERNS, json={**body, "observed_at": "2014-03-09T00:30:00+00:00"}, headers=headers
    )
    assert on_the_day.status_code == 201, on_the_day.text
