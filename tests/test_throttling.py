"""Sign-in throttling (issue 22, point 10; ADR 0052): a school behind one shared address is
not locked out by failures across its accounts. Limits per account, per (address, account)
pair and per address as a whole; a growing delay on an address's failures."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

import routers.auth
import services.auth.signin as signin
from models.user import LoginAttempt
from services.auth.signin import (
    DELAY_MAX_SECONDS,
    MAX_ACCOUNT_FAILURES,
    MAX_ADDRESS_FAILURES,
    MAX_PAIR_FAILURES,
    failure_delay,
)
from tests.factories import DEFAULT_PASSWORD, make_user

TOKEN = "/api/v1/auth/token"
WRONG = "wrong-password-entirely"
# TestClient's own client address, shared by every request of the `client` fixture.
SHARED_ADDRESS = "testclient"


def login(client: TestClient, email: str, password: str):
    return client.post(
        TOKEN, data={"grant_type": "password", "username": email, "password": password}
    )


@pytest.fixture(autouse=True)
def held(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The delays the router awaited, recorded instead of slept: no test waits."""
    delays: list[float] = []

    async def record(seconds: float) -> None:
        delays.append(seconds)

    monkeypatch.setattr(routers.auth, "sleep", record)
    return delays


@pytest.fixture
def from_elsewhere(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False, client=("192.0.2.7", 50000)) as other:
        yield other


def test_failures_across_accounts_from_one_address_do_not_lock_out_another(
    client: TestClient, database, school, clock
) -> None:
    known = [make_user(database, school, "staff") for _ in range(5)]
    emails = [user.email for user in known] + [
        f"guess{n}@fictional-school.example" for n in range(20)
    ]
    assert len(set(emails)) == 25
    for email in emails:
        assert login(client, email, WRONG).status_code == 401
    colleague = make_user(database, school, "staff")
    assert login(client, colleague.email, DEFAULT_PASSWORD).status_code == 200


def test_one_account_from_one_address_is_refused_at_the_pair_limit(
    client: TestClient, from_elsewhere: TestClient, database, school, clock, monkeypatch
) -> None:
    # The account limit (5) is below the pair limit and binds first; raised here so that
    # the pair limit is what refuses.
    monkeypatch.setattr(signin, "MAX_ACCOUNT_FAILURES", MAX_PAIR_FAILURES + 5)
    staff = make_user(database, school, "staff")
    for _ in range(MAX_PAIR_FAILURES):
        assert login(client, staff.email, WRONG).status_code == 401
    refused = login(client, staff.email, DEFAULT_PASSWORD)
    assert refused.status_code == 429
    assert 0 < int(refused.headers["retry-after"]) <= 15 * 60 + 1
    # The same account from another address, and another account from this one, still work.
    assert login(from_elsewhere, staff.email, DEFAULT_PASSWORD).status_code == 200
    other = make_user(database, school, "staff")
    assert login(client, other.email, DEFAULT_PASSWORD).status_code == 200


def test_unknown_account_is_refused_like_a_known_one(
    client: TestClient, database, school, clock
) -> None:
    staff = make_user(database, school, "staff")
    ghost = "nobody@fictional-school.example"
    for _ in range(MAX_ACCOUNT_FAILURES):
        assert login(client, staff.email, WRONG).status_code == 401
        assert login(client, ghost, WRONG).status_code == 401
    known, unknown = login(client, staff.email, WRONG), login(client, ghost, WRONG)
    assert known.status_code == unknown.status_code == 429
    assert known.headers["retry-after"] == unknown.headers["retry-after"]
    assert {**known.json(), "request_id": None} == {**unknown.json(), "request_id": None}


def test_address_ceiling_answers_429_with_retry_after(
    client: TestClient, database, school, clock
) -> None:
    # All but one of the ceiling's failures, each for a different account, written directly
    # (hashing a password 200 times would make a slow test).
    with database.transaction() as session:
        for n in range(MAX_ADDRESS_FAILURES - 1):
            session.add(
                LoginAttempt(
                    account_key=f"spray{n}@fictional-school.example",
                    client_address=SHARED_ADDRESS,
                    attempted_at=clock.now() - timedelta(minutes=10),
                )
            )
    assert login(client, "last-guess@fictional-school.example", WRONG).status_code == 401
    staff = make_user(database, school, "staff")
    refused = login(client, staff.email, DEFAULT_PASSWORD)
    assert refused.status_code == 429
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["error"] == "temporarily_unavailable"
    # The 200th most recent failure is 10 minutes old: the address reopens in about 5.
    assert 4 * 60 < int(refused.headers["retry-after"]) <= 5 * 60 + 1
    clock.advance(minutes=5, seconds=1)
    assert login(client, staff.email, DEFAULT_PASSWORD).status_code == 200


def test_account_limit_still_applies_across_addresses(
    app: FastAPI, client: TestClient, database, school, clock
) -> None:
    staff = make_user(database, school, "staff")
    for n in range(MAX_ACCOUNT_FAILURES):
        with TestClient(app, raise_server_exceptions=False, client=(f"192.0.2.{n}", 1)) as c:
            assert login(c, staff.email, WRONG).status_code == 401
    refused = login(client, staff.email, DEFAULT_PASSWORD)
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) > 0


def test_the_delay_grows_with_the_address_failures() -> None:
    delays = [failure_delay(n) for n in range(1, MAX_ADDRESS_FAILURES + 1)]
    assert delays[:19] == [0.0] * 19
    assert (failure_delay(20), failure_delay(29), failure_delay(30)) == (0.25, 0.25, 0.5)
    assert (failure_delay(40), failure_delay(50)) == (1.0, 2.0)
    assert failure_delay(60) == failure_delay(MAX_ADDRESS_FAILURES) == DELAY_MAX_SECONDS
    assert delays == sorted(delays)
    assert failure_delay(10**9) == DELAY_MAX_SECONDS


def test_failed_sign_ins_are_held_by_the_router(
    client: TestClient, database, school, clock, held: list[float]
) -> None:
    staff = make_user(database, school, "staff")
    for n in range(31):
        assert login(client, f"guess{n}@fictional-school.example", WRONG).status_code == 401
    # The 20th to 29th failures wait 0.25 s, the 30th and 31st 0.5 s; the rest none.
    assert held == [0.25] * 10 + [0.5] * 2
    held.clear()
    assert login(client, staff.email, DEFAULT_PASSWORD).status_code == 200
    assert held == []
