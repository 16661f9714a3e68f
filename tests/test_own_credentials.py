"""Own credentials and the last admin (issue 22, point 5).

An access token alone never changes its own account's password or MFA: the admin routes
refuse the caller's own account, and the self-service routes (``POST /auth/password``,
``POST /auth/mfa/reset``) need the current password and, once enrolled, a current code.
No path leaves a school without an active admin, even two admins at once on PostgreSQL.
"""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

import pyotp
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlmodel import col, select

from core.clock import FrozenClock, utcnow
from core.errors import Conflict
from db.engine import Database
from models import AuditEvent, School, User
from models.user import Role, UserUpdate
from services import users
from services.context import RequestContext
from services.principal import Principal
from tests import factories
from tests.factories import DEFAULT_PASSWORD, auth, make_service_account, make_user

API = "/api/v1"
TOKEN = f"{API}/auth/token"
ME = f"{API}/auth/me"
PASSWORD = f"{API}/auth/password"
MFA_RESET = f"{API}/auth/mfa/reset"
USERS = f"{API}/users"
NEW_PASSWORD = "a-quiet-heron-over-fictional-marshes"


def _login(
    client: TestClient, who: factories.TestUser, password: str, totp: str | None = None
) -> Any:
    data = {"grant_type": "password", "username": who.email, "password": password}
    if totp is not None:
        data["totp"] = totp
    return client.post(TOKEN, data=data)


def _code(who: factories.TestUser, clock: FrozenClock) -> str:
    return pyotp.TOTP(who.totp_secret or "").at(clock.now())


def _actions(database: Database, user: factories.TestUser) -> list[tuple[str, str]]:
    with database.transaction() as session:
        events = session.exec(
            select(AuditEvent).where(AuditEvent.entity_id == user.id).order_by(col(AuditEvent.seq))
        ).all()
        return [(event.action, event.outcome) for event in events]


def _account(database: Database, user: factories.TestUser) -> User:
    with database.transaction() as session:
        found = session.get(User, user.id)
        assert found is not None
        return found


# --- the admin routes refuse the caller's own account ------------------------------------------


def test_an_admin_cannot_set_their_own_password_through_administration(
    client: TestClient, app: FastAPI, database: Database, school: School
) -> None:
    admin = make_user(database, school, Role.admin)
    refused = client.post(
        f"{USERS}/{admin.id}/password",
        json={"password": NEW_PASSWORD},
        headers=auth(app, admin),
    )
    assert refused.status_code == 403, refused.text
    assert refused.json()["type"].endswith("/self-service-required")
    assert "POST /api/v1/auth/password" in refused.json()["detail"]
    assert NEW_PASSWORD not in refused.text
    # Nothing changed: the old password still signs in, the new one does not.
    assert _login(client, admin, NEW_PASSWORD).status_code == 401
    assert client.get(ME, headers=auth(app, admin)).status_code == 200
    # Another admin still may.
    other = make_user(database, school, Role.admin)
    assert (
        client.post(
            f"{USERS}/{admin.id}/password",
            json={"password": NEW_PASSWORD},
            headers=auth(app, other),
        ).status_code
        == 204
    )


def test_an_admin_cannot_reset_their_own_mfa_through_administration(
    client: TestClient, app: FastAPI, database: Database, school: School
) -> None:
    admin = make_user(database, school, Role.admin)
    refused = client.post(f"{USERS}/{admin.id}/reset-mfa", headers=auth(app, admin))
    assert refused.status_code == 403, refused.text
    assert refused.json()["type"].endswith("/self-service-required")
    assert "POST /api/v1/auth/mfa/reset" in refused.json()["detail"]
    assert _account(database, admin).mfa_enrolled is True
    assert "user.mfa_reset" not in [action for action, _ in _actions(database, admin)]


# --- changing one's own password -----------------------------------------------------------------


def test_changing_your_password_needs_the_current_one_and_a_current_code(
    client: TestClient, app: FastAPI, database: Database, school: School, clock: FrozenClock
) -> None:
    dsl = make_user(database, school, Role.dsl)
    headers = auth(app, dsl, now=clock.now())
    body = {"current_password": DEFAULT_PASSWORD, "new_password": NEW_PASSWORD}

    wrong_password = client.post(
        PASSWORD,
        json=body | {"current_password": "not-my-password", "totp": _code(dsl, clock)},
        headers=headers,
    )
    assert wrong_password.status_code == 422
    assert wrong_password.json()["errors"][0]["loc"] == ["body", "current_password"]
    no_code = client.post(PASSWORD, json=body, headers=headers)
    assert no_code.status_code == 422
    assert no_code.json()["errors"][0]["loc"] == ["body", "totp"]
    wrong_code = client.post(PASSWORD, json=body | {"totp": "000000"}, headers=headers)
    if _code(dsl, clock) != "000000":
        assert wrong_code.status_code == 422
    # Nothing changed so far.
    assert client.get(ME, headers=headers).status_code == 200

    changed = client.post(PASSWORD, json=body | {"totp": _code(dsl, clock)}, headers=headers)
    assert changed.status_code == 204, changed.text
    # Every token of the account ends; the new password (and a fresh code) signs in.
    assert client.get(ME, headers=headers).status_code == 401
    clock.advance(seconds=30)
    assert _login(client, dsl, DEFAULT_PASSWORD, _code(dsl, clock)).status_code == 401
    clock.advance(seconds=30)
    assert _login(client, dsl, NEW_PASSWORD, _code(dsl, clock)).status_code == 200
    actions = _actions(database, dsl)
    assert ("auth.password_change", "success") in actions
    assert ("auth.password_change", "denied") in actions
    assert NEW_PASSWORD not in str(actions) and DEFAULT_PASSWORD not in str(actions)


def test_a_code_used_to_change_the_password_cannot_be_used_again(
    client: TestClient, app: FastAPI, database: Database, school: School, clock: FrozenClock
) -> None:
    admin = make_user(database, school, Role.admin)
    code = _code(admin, clock)
    assert (
        client.post(
            PASSWORD,
            json={"current_password": DEFAULT_PASSWORD, "new_password": NEW_PASSWORD, "totp": code},
            headers=auth(app, admin, now=clock.now()),
        ).status_code
        == 204
    )
    assert _login(client, admin, NEW_PASSWORD, code).status_code == 401


def test_staff_without_mfa_change_their_password_with_the_current_one_and_the_policy_holds(
    client: TestClient, app: FastAPI, database: Database, school: School
) -> None:
    staff = make_user(database, school, Role.staff)
    headers = auth(app, staff)
    weak = client.post(
        PASSWORD,
        json={"current_password": DEFAULT_PASSWORD, "new_password": "aaaaaaaaaaaa"},
        headers=headers,
    )
    assert weak.status_code == 422
    assert weak.json()["errors"][0]["loc"] == ["body", "new_password"]
    assert weak.json()["errors"][0]["type"] == "password_too_weak"
    assert (
        client.post(
            PASSWORD,
            json={"current_password": DEFAULT_PASSWORD, "new_password": NEW_PASSWORD},
            headers=headers,
        ).status_code
        == 204
    )
    assert _login(client, staff, NEW_PASSWORD).status_code == 200


def test_wrong_current_passwords_count_towards_the_sign_in_throttle(
    client: TestClient, app: FastAPI, database: Database, school: School
) -> None:
    staff = make_user(database, school, Role.staff)
    headers = auth(app, staff)
    body = {"current_password": "not-my-password", "new_password": NEW_PASSWORD}
    statuses = [client.post(PASSWORD, json=body, headers=headers).status_code for _ in range(6)]
    assert statuses == [422] * 5 + [429]
    throttled = client.post(
        PASSWORD, json=body | {"current_password": DEFAULT_PASSWORD}, headers=headers
    )
    assert throttled.status_code == 429 and "Retry-After" in throttled.headers
    # The sign-in of the account is throttled too: a stolen token cannot guess on.
    assert _login(client, staff, DEFAULT_PASSWORD).status_code == 429


def test_a_service_account_has_no_password_to_change(
    client: TestClient, app: FastAPI, database: Database, school: School
) -> None:
    account = make_service_account(database, school)
    response = client.post(
        PASSWORD,
        json={"current_password": "x" * 12, "new_password": NEW_PASSWORD},
        headers=auth(app, account),
    )
    assert response.status_code == 403


# --- resetting one's own MFA ---------------------------------------------------------------------


def test_resetting_your_own_mfa_needs_the_password_and_a_current_code(
    client: TestClient, app: FastAPI, database: Database, school: School, clock: FrozenClock
) -> None:
    admin = make_user(database, school, Role.admin)
    headers = auth(app, admin, now=clock.now())
    wrong = client.post(
        MFA_RESET,
        json={"current_password": "not-my-password", "totp": _code(admin, clock)},
        headers=headers,
    )
    assert wrong.status_code == 422
    assert wrong.json()["errors"][0]["loc"] == ["body", "current_password"]
    assert _account(database, admin).mfa_enrolled is True
    done = client.post(
        MFA_RESET,
        json={"current_password": DEFAULT_PASSWORD, "totp": _code(admin, clock)},
        headers=headers,
    )
    assert done.status_code == 204, done.text
    assert _account(database, admin).mfa_enrolled is False
    assert client.get(ME, headers=headers).status_code == 401
    # Signing in again gives a token for enrolment only.
    limited = _login(client, admin, DEFAULT_PASSWORD)
    assert limited.status_code == 200
    bearer = {"Authorization": f"Bearer {limited.json()['access_token']}"}
    assert client.get(USERS, headers=bearer).status_code == 403
    assert ("auth.mfa_reset", "success") in _actions(database, admin)


def test_resetting_mfa_that_is_not_set_up_is_a_conflict(
    client: TestClient, app: FastAPI, database: Database, school: School
) -> None:
    staff = make_user(database, school, Role.staff)
    response = client.post(
        MFA_RESET,
        json={"current_password": DEFAULT_PASSWORD, "totp": "123456"},
        headers=auth(app, staff),
    )
    assert response.status_code == 409


# --- the last active admin -----------------------------------------------------------------------


def _active_admins(database: Database, school: School) -> int:
    with database.transaction() as session:
        return len(
            session.exec(
                select(User.id).where(
                    User.school_id == school.id,
                    User.role == Role.admin.value,
                    col(User.active).is_(True),
                )
            ).all()
        )


def test_the_last_active_admin_stays_whoever_is_taken_away_first(
    client: TestClient, app: FastAPI, database: Database, school: School
) -> None:
    first = make_user(database, school, Role.admin)
    second = make_user(database, school, Role.admin)
    demoted = client.patch(f"{USERS}/{second.id}", json={"role": "staff"}, headers=auth(app, first))
    assert demoted.status_code == 200
    refused = client.patch(f"{USERS}/{first.id}", json={"active": False}, headers=auth(app, first))
    assert refused.status_code == 409
    assert "at least one active admin" in refused.json()["detail"]
    assert _active_admins(database, school) == 1


def _context(app: FastAPI, school: School, who: factories.TestUser) -> RequestContext:
    return RequestContext(
        principal=Principal(id=who.id, school_id=school.id, role=Role.admin, kind="user"),
        now=utcnow(),
        request_id=None,
        guidance=app.state.guidance,
    )


def _waiting_on_a_lock(database: Database) -> bool:
    with database.engine.connect() as connection:
        waiting = connection.execute(
            text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        ).scalar_one()
    return bool(waiting)


@pytest.mark.xdist_group("many_connections")
@pytest.mark.parametrize("change", [{"active": False}, {"role": "staff"}], ids=["off", "demoted"])
def test_two_admins_taking_each_other_away_at_once_leave_one(
    app: FastAPI, database: Database, school: School, backend: str, change: dict[str, Any]
) -> None:
    if backend != "postgresql":
        pytest.skip("SQLite's BEGIN IMMEDIATE lets one writer in at a time: nothing to race")
    first = make_user(database, school, Role.admin)
    second = make_user(database, school, Role.admin)
    # The first admin's change is made and held open, uncommitted...
    holding = database.session()
    users.update_user(
        holding,
        _context(app, school, first),
        user_id=second.id,
        data=UserUpdate(**change),
        window=timedelta(days=7),
    )
    outcome: list[str] = []

    def the_second_admin() -> None:
        try:
            with database.transaction() as session:
                users.update_user(
                    session,
                    _context(app, school, second),
                    user_id=first.id,
                    data=UserUpdate(**change),
                    window=timedelta(days=7),
                )
            outcome.append("changed")
        except Conflict:
            outcome.append("refused")

    # ... while the second admin takes the first away: it must wait for the first's
    # transaction (a row lock) and then see its change, not decide on what it read before.
    racer = threading.Thread(target=the_second_admin)
    racer.start()
    deadline = time.monotonic() + 30
    while racer.is_alive() and not _waiting_on_a_lock(database):
        assert time.monotonic() < deadline, "the second change neither finished nor waited"
        time.sleep(0.01)
    holding.finish(None)
    racer.join(timeout=30)
    assert outcome == ["refused"]
    assert _active_admins(database, school) == 1


def test_the_token_version_moves_only_when_the_role_or_active_flag_does(
    client: TestClient, app: FastAPI, database: Database, school: School
) -> None:
    admin = make_user(database, school, Role.admin)
    staff = make_user(database, school, Role.staff)
    before = _account(database, staff).token_version
    renamed = client.patch(
        f"{USERS}/{staff.id}", json={"display_name": "Renamed Teacher"}, headers=auth(app, admin)
    )
    assert renamed.status_code == 200
    assert _account(database, staff).token_version == before
    client.patch(f"{USERS}/{staff.id}", json={"active": False}, headers=auth(app, admin))
    assert _account(database, staff).token_version == before + 1
