"""The per-request account check (issue #3) as the hot paths run it (issue #7).

A verified token is re-checked against the account on every request, inside the
request's own transaction and before anything else in it: an account deactivated, moved
to another role or signed out everywhere after the token was issued gets a 401, and
nothing of the request is written, whatever route it calls (the role guards decide from
the token, so they must not answer 403 for an account that is no longer valid).
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import event, func
from sqlmodel import select

from core.clock import FrozenClock
from db.engine import Database
from models import AuditEvent, Concern, User
from models.user import Role
from tests.desk import CONCERNS, World, concern_body, create


def _deactivate(database: Database, user_id: Any) -> None:
    with database.transaction() as session:
        user = session.get(User, user_id)
        assert user is not None
        user.active = False


def _counts(database: Database) -> tuple[int, int]:
    with database.transaction() as session:
        concerns = session.exec(select(func.count()).select_from(Concern)).one()
        events = session.exec(select(func.count()).select_from(AuditEvent)).one()
        return int(concerns), int(events)


def test_a_deactivated_recorder_is_refused_on_every_concern_route_and_nothing_is_written(
    client: TestClient, world: World, database: Database, clock: FrozenClock
) -> None:
    mine = create(client, world, world.staff_a, clock)
    headers = world.headers(world.staff_a)
    assert client.get(f"{CONCERNS}/{mine['id']}", headers=headers).status_code == 200
    _deactivate(database, world.staff_a.id)
    before = _counts(database)

    answers = {
        "create": client.post(
            CONCERNS, json=concern_body(clock, [world.zoe]), headers=headers
        ).status_code,
        "read": client.get(f"{CONCERNS}/{mine['id']}", headers=headers).status_code,
        "list": client.get(CONCERNS, headers=headers).status_code,
        "addendum": client.post(
            f"{CONCERNS}/{mine['id']}/addenda",
            json={"text": "More detail, fictional.", "reason": "Remembered later."},
            headers=headers,
        ).status_code,
        # Touches no table at all: the check still runs, before the (empty) commit.
        "append-only 405": client.delete(f"{CONCERNS}/{mine['id']}", headers=headers).status_code,
        # A DSL-only route: the guard would say 403 from the token; the account says 401.
        "dsl-only": client.get("/api/v1/reports/summary", headers=headers).status_code,
    }
    assert answers == dict.fromkeys(answers, 401)
    assert _counts(database) == before


def test_a_role_changed_since_the_token_is_refused_on_the_hot_paths(
    client: TestClient, world: World, database: Database, clock: FrozenClock
) -> None:
    mine = create(client, world, world.dsl, clock)
    headers = world.headers(world.dsl)
    with database.transaction() as session:
        user = session.get(User, world.dsl.id)
        assert user is not None
        user.role = Role.staff.value  # changed behind the API's back: no token version bump
    assert client.get(f"{CONCERNS}/{mine['id']}", headers=headers).status_code == 401
    assert client.get(CONCERNS, headers=headers).status_code == 401


def test_the_account_is_read_first_in_the_requests_transaction(
    client: TestClient, world: World, database: Database, clock: FrozenClock
) -> None:
    mine = create(client, world, world.staff_a, clock)
    headers = world.headers(world.staff_a)
    statements: list[str] = []

    def remember(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(" ".join(statement.split()).lower())

    event.listen(database.engine, "before_cursor_execute", remember)
    try:
        assert client.get(f"{CONCERNS}/{mine['id']}", headers=headers).status_code == 200
    finally:
        event.remove(database.engine, "before_cursor_execute", remember)
    data = [s for s in statements if not s.startswith(("begin", "pragma", "set "))]
    assert data, statements
    assert data[0].startswith("select") and "from user_account" in data[0], data[:3]


def test_a_refusal_before_the_database_still_answers_401_for_a_dead_token(
    client: TestClient, world: World, database: Database
) -> None:
    # An admin may not see concerns: the service refuses (403) before any statement runs.
    headers = world.headers(world.admin)
    assert client.get(CONCERNS, headers=headers).status_code == 403
    _deactivate(database, world.admin.id)
    assert client.get(CONCERNS, headers=headers).status_code == 401


def test_a_retried_create_with_an_idempotency_key_is_refused_for_a_dead_token(
    client: TestClient, world: World, database: Database, clock: FrozenClock
) -> None:
    headers = world.headers(world.staff_a) | {"Idempotency-Key": "fictional-retry-1"}
    body = concern_body(clock, [world.zoe])
    assert client.post(CONCERNS, json=body, headers=headers).status_code == 201
    _deactivate(database, world.staff_a.id)
    before = _counts(database)
    assert client.post(CONCERNS, json=body, headers=headers).status_code == 401
    assert _counts(database) == before


def test_the_check_cannot_be_arranged_for_a_transaction_already_begun(
    database: Database, world: World, app: FastAPI
) -> None:
    from core.tokens import decode_access_token
    from services import identity

    token = world.headers(world.staff_a)["Authorization"].removeprefix("Bearer ")
    claims = decode_access_token(app.state.keys, token, now=app.state.clock.now())
    with database.transaction() as session:
        session.connection()  # the transaction has begun: a deferred check would never run
        with pytest.raises(RuntimeError):
            identity.check_account_in_transaction(session, claims)
