"""Step-up (issue 21 point 6, RFC 9470): the chronology and exports need a sign-in with a
one-time code in the last 15 minutes; ``POST /auth/step-up`` with a code gives one."""

from __future__ import annotations

from datetime import timedelta

import pyotp
from fastapi.testclient import TestClient

from db.engine import Database
from tests.desk import API, Desk, events
from tests.factories import DEFAULT_PASSWORD, auth

STEP_UP = f"{API}/auth/step-up"
CHALLENGE = 'Bearer error="insufficient_user_authentication", max_age=900'


def _sign_in(client: TestClient, desk: Desk) -> dict[str, str]:
    dsl = desk.world.dsl
    code = pyotp.TOTP(dsl.totp_secret or "").at(desk.clock.now())
    answer = client.post(
        f"{API}/auth/token",
        data={
            "grant_type": "password",
            "username": dsl.email,
            "password": DEFAULT_PASSWORD,
            "totp": code,
        },
    )
    assert answer.status_code == 200, answer.text
    return answer.json()


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _refused(answer) -> None:
    assert answer.status_code == 401, answer.text
    assert answer.json()["type"].endswith("/step-up-required")
    assert answer.headers["www-authenticate"] == CHALLENGE


def test_a_fresh_sign_in_reads_and_an_old_one_is_refused(
    client: TestClient, desk: Desk, database: Database
) -> None:
    zoe = desk.world.zoe
    desk.concern()
    tokens = _sign_in(client, desk)
    chronology = f"{API}/pupils/{zoe.id}/chronology"
    exports = [f"{API}/pupils/{zoe.id}/export?format={f}" for f in ("json", "csv", "pdf")]
    for path in [chronology, *exports]:
        assert client.get(path, headers=_bearer(tokens["access_token"])).status_code == 200
    # 16 minutes on, a refreshed access token is live, but its auth_time is too old.
    desk.clock.advance(minutes=16)
    refreshed = client.post(f"{API}/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert refreshed.status_code == 200
    stale = _bearer(refreshed.json()["access_token"])
    # A refresh keeps the sign-in's auth_time: still refused.
    for path in [chronology, *exports]:
        _refused(client.get(path, headers=stale))
    # Other reads are untouched.
    assert client.get(f"{API}/pupils/{zoe.id}", headers=stale).status_code == 200
    # Step-up with a code, no password: a new pair that reads again.
    code = pyotp.TOTP(desk.world.dsl.totp_secret or "").at(desk.clock.now())
    stepped = client.post(STEP_UP, json={"totp": code}, headers=stale)
    assert stepped.status_code == 200, stepped.text
    assert stepped.json()["refresh_token"]
    fresh = _bearer(stepped.json()["access_token"])
    for path in [chronology, *exports]:
        assert client.get(path, headers=fresh).status_code == 200
    # ... and its refresh keeps the new auth_time.
    again = client.post(
        f"{API}/auth/refresh", json={"refresh_token": stepped.json()["refresh_token"]}
    )
    assert client.get(chronology, headers=_bearer(again.json()["access_token"])).status_code == 200
    assert [e.outcome for e in events(database, "auth.step_up")] == ["success"]


def test_a_token_without_auth_time_is_refused(client: TestClient, desk: Desk) -> None:
    zoe = desk.world.zoe
    headers = auth(desk.world.app, desk.world.dsl, now=desk.clock.now(), auth_time=None)
    _refused(client.get(f"{API}/pupils/{zoe.id}/chronology", headers=headers))
    # Exactly at the limit it passes; a second later it does not.
    at = desk.clock.now() - timedelta(minutes=15)
    headers = auth(desk.world.app, desk.world.dsl, now=desk.clock.now(), auth_time=at)
    assert client.get(f"{API}/pupils/{zoe.id}/chronology", headers=headers).status_code == 200
    at -= timedelta(seconds=1)
    headers = auth(desk.world.app, desk.world.dsl, now=desk.clock.now(), auth_time=at)
    _refused(client.get(f"{API}/pupils/{zoe.id}/export", headers=headers))


def test_staff_are_refused_by_role_first(client: TestClient, desk: Desk) -> None:
    zoe = desk.world.zoe
    headers = auth(desk.world.app, desk.world.staff_a, now=desk.clock.now())
    assert client.get(f"{API}/pupils/{zoe.id}/chronology", headers=headers).status_code == 403


def test_a_wrong_code_is_a_422_counted_and_audited(
    client: TestClient, desk: Desk, database: Database
) -> None:
    dsl = desk.world.dsl
    headers = auth(desk.world.app, dsl, now=desk.clock.now(), auth_time=None)
    right = pyotp.TOTP(dsl.totp_secret or "").at(desk.clock.now())
    wrong = "000000" if right != "000000" else "111111"
    answer = client.post(STEP_UP, json={"totp": wrong}, headers=headers)
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"][0]["loc"] == ["body", "totp"]
    for _ in range(4):
        client.post(STEP_UP, json={"totp": wrong}, headers=headers)
    throttled = client.post(STEP_UP, json={"totp": right}, headers=headers)
    assert throttled.status_code == 429
    assert [e.outcome for e in events(database, "auth.step_up")] == ["denied"] * 5


def test_step_up_needs_a_person_enrolled(client: TestClient, desk: Desk) -> None:
    staff = desk.world.staff_a  # not enrolled
    answer = client.post(
        STEP_UP, json={"totp": "123456"}, headers=auth(desk.world.app, staff, now=desk.clock.now())
    )
    assert answer.status_code == 409
    mis = auth(desk.world.app, desk.world.mis, now=desk.clock.now())
    assert client.post(STEP_UP, json={"totp": "123456"}, headers=mis).status_code == 403
    no_token = client.post(STEP_UP, json={"totp": "123456"})
    assert no_token.status_code == 401
