"""Idempotency keys on every create (issue 22, point 13): an addendum sent twice with one
key is one addendum, and the window every key stands for is a setting (72 hours)."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import col, func, select

from core.clock import FrozenClock
from core.settings import Settings
from db.engine import Database
from models import AuditEvent
from models.concern import Addendum
from tests.desk import CONCERNS, World, concern_body, create

ADDENDUM = {"text": "The bus stop was on Fictional Road.", "reason": "Correcting the place."}


def _addenda(database: Database) -> int:
    with database.transaction() as session:
        return int(session.exec(select(func.count()).select_from(Addendum)).one())


def _outcomes(database: Database, action: str) -> list[str]:
    with database.transaction() as session:
        query = select(AuditEvent).where(AuditEvent.action == action).order_by(col(AuditEvent.seq))
        return [event.outcome for event in session.exec(query)]


def test_a_replayed_addendum_is_the_first_one(
    client: TestClient, world: World, clock: FrozenClock, database: Database
) -> None:
    concern = create(client, world, world.staff_a, clock)
    url = f"{CONCERNS}/{concern['id']}/addenda"
    headers = {"Idempotency-Key": "fictional-addendum-1"} | world.headers(world.staff_a)
    first = client.post(url, json=ADDENDUM, headers=headers)
    clock.advance(minutes=10)
    again = client.post(url, json=ADDENDUM, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert _addenda(database) == 1
    # One addendum recorded; the replay is audited as what it is, a replay.
    assert _outcomes(database, "addendum.create") == ["success", "replayed"]
    read = client.get(f"{CONCERNS}/{concern['id']}", headers=world.headers(world.staff_a))
    assert [a["id"] for a in read.json()["addenda"]] == [first.json()["id"]]


def test_the_same_key_with_another_addendum_is_422(
    client: TestClient, world: World, clock: FrozenClock, database: Database
) -> None:
    concern = create(client, world, world.staff_a, clock)
    url = f"{CONCERNS}/{concern['id']}/addenda"
    headers = {"Idempotency-Key": "fictional-addendum-2"} | world.headers(world.staff_a)
    assert client.post(url, json=ADDENDUM, headers=headers).status_code == 201
    changed = ADDENDUM | {"text": "Something else entirely."}
    response = client.post(url, json=changed, headers=headers)
    assert response.status_code == 422
    assert response.json()["errors"][0]["loc"] == ["header", "Idempotency-Key"]
    # The same body on another concern is another request too.
    other = create(client, world, world.staff_a, clock)
    elsewhere = client.post(f"{CONCERNS}/{other['id']}/addenda", json=ADDENDUM, headers=headers)
    assert elsewhere.status_code == 422
    assert _addenda(database) == 1


def test_addendum_keys_are_per_user(
    client: TestClient, world: World, clock: FrozenClock, database: Database
) -> None:
    concern = create(client, world, world.staff_a, clock)
    url = f"{CONCERNS}/{concern['id']}/addenda"
    key = {"Idempotency-Key": "fictional-addendum-3"}
    mine = client.post(url, json=ADDENDUM, headers=key | world.headers(world.staff_a))
    theirs = client.post(url, json=ADDENDUM, headers=key | world.headers(world.dsl))
    assert mine.status_code == theirs.status_code == 201
    assert mine.json()["id"] != theirs.json()["id"]
    assert "idempotent-replayed" not in theirs.headers
    assert _addenda(database) == 2


def test_an_addendum_key_stands_for_72_hours(
    client: TestClient, world: World, clock: FrozenClock, database: Database
) -> None:
    concern = create(client, world, world.staff_a, clock)
    url = f"{CONCERNS}/{concern['id']}/addenda"

    def headers() -> dict[str, str]:  # a fresh token at each moment of the frozen clock
        return {"Idempotency-Key": "fictional-addendum-4"} | world.headers(world.staff_a)

    first = client.post(url, json=ADDENDUM, headers=headers()).json()
    clock.advance(hours=71, minutes=59)
    assert client.post(url, json=ADDENDUM, headers=headers()).json()["id"] == first["id"]
    clock.advance(minutes=2)
    later = client.post(url, json=ADDENDUM, headers=headers())
    assert later.status_code == 201 and later.json()["id"] != first["id"]
    assert "idempotent-replayed" not in later.headers
    assert _addenda(database) == 2


def test_the_window_is_72_hours_unless_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CONCERNLOG_IDEMPOTENCY_HOURS", raising=False)
    assert Settings().idempotency_hours == 72
    monkeypatch.setenv("CONCERNLOG_IDEMPOTENCY_HOURS", "6")
    assert Settings().idempotency_hours == 6


def test_a_configured_window_applies_to_concerns(
    app: FastAPI, client: TestClient, world: World, clock: FrozenClock
) -> None:
    app.state.settings = app.state.settings.model_copy(update={"idempotency_hours": 2})

    def headers() -> dict[str, str]:
        return {"Idempotency-Key": "fictional-concern-5"} | world.headers(world.staff_a)

    body = concern_body(clock, [world.zoe])
    first = client.post(CONCERNS, json=body, headers=headers())
    assert first.status_code == 201, first.text
    clock.advance(hours=1, minutes=59)
    assert client.post(CONCERNS, json=body, headers=headers()).json()["id"] == first.json()["id"]
    clock.advance(minutes=2)
    assert client.post(CONCERNS, json=body, headers=headers()).json()["id"] != first.json()["id"]
