"""Changes that make or keep someone a DSL need a DSL (issue 22, point 1;
docs/adr/0080-privileged-changes-need-a-dsl.md).

An admin cannot obtain an account that reads every concern alone: not by creating one, not
by promoting one, not by resetting a DSL's password or MFA. Each becomes a request that a
DSL or deputy DSL of the school approves (and the change applies then), rejects, or an
admin withdraws; nobody decides about their own account or on their own request.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pyotp
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlmodel import col, select
from typer.testing import CliRunner

from api.cli import app as cli
from core.errors import Conflict
from db.engine import Database
from models import AlertEvent, AuditEvent, User
from models.privileged_request import PrivilegedKind, PrivilegedRequest
from models.user import Role
from services import privileged
from services.context import RequestContext
from services.principal import Principal
from tests import factories
from tests.desk import API, CONCERNS, Desk, events
from tests.factories import DEFAULT_PASSWORD, make_user
from tests.mailbox import SIGN_IN_URL, Mailbox, drain, make_worker

USERS = f"{API}/users"
REQUESTS = f"{API}/privileged-requests"
TOKEN = f"{API}/auth/token"
NEW_PASSWORD = "quartz-lantern-meadow-ferry-71"


def _login(client: TestClient, email: str, password: str, totp: str | None = None) -> Any:
    data = {"grant_type": "password", "username": email, "password": password}
    if totp is not None:
        data["totp"] = totp
    return client.post(TOKEN, data=data)


def _bearer(response: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def _code(desk: Desk, who: factories.TestUser) -> str:
    """The code of ``who``'s authenticator now; the clock moves on a step first, so that no
    code is used twice."""
    desk.clock.advance(seconds=30)
    return pyotp.TOTP(who.totp_secret or "").at(desk.clock.now())


@dataclass
class Asked:
    """What an admin did on one path, and the account it was about."""

    response: Any
    user_id: str
    email: str
    # The password the account will have once the change is applied.
    password: str
    request_id: str


def _request_about(desk: Desk, user_id: str) -> str:
    listed = desk.client.get(
        REQUESTS,
        params={"user_id": user_id, "status": "pending"},
        headers=desk.headers(desk.world.admin),
    )
    assert listed.status_code == 200, listed.text
    (item,) = listed.json()["items"]
    return str(item["id"])


def _create(desk: Desk) -> Asked:
    body = {
        "email": "new.lead@fictional-school.example",
        "display_name": "New Lead",
        "role": "dsl",
        "password": NEW_PASSWORD,
    }
    response = desk.client.post(USERS, json=body, headers=desk.headers(desk.world.admin))
    user_id = response.json()["id"]
    return Asked(response, user_id, body["email"], NEW_PASSWORD, _request_about(desk, user_id))


def _promote(desk: Desk) -> Asked:
    staff = desk.world.staff_b
    response = desk.client.patch(
        f"{USERS}/{staff.id}",
        json={"role": "deputy_dsl", "display_name": "Alex Tutor-Lead"},
        headers=desk.headers(desk.world.admin),
    )
    user_id = str(staff.id)
    return Asked(response, user_id, staff.email, DEFAULT_PASSWORD, _request_about(desk, user_id))


def _password(desk: Desk) -> Asked:
    dsl = desk.world.deputy
    response = desk.client.post(
        f"{USERS}/{dsl.id}/password",
        json={"password": NEW_PASSWORD},
        headers=desk.headers(desk.world.admin),
    )
    return Asked(response, str(dsl.id), dsl.email, NEW_PASSWORD, response.json()["id"])


def _mfa(desk: Desk) -> Asked:
    dsl = desk.world.deputy
    response = desk.client.post(
        f"{USERS}/{dsl.id}/reset-mfa", headers=desk.headers(desk.world.admin)
    )
    return Asked(response, str(dsl.id), dsl.email, DEFAULT_PASSWORD, response.json()["id"])


PATHS: dict[str, Callable[[Desk], Asked]] = {
    "create": _create,
    "promote": _promote,
    "password": _password,
    "mfa": _mfa,
}


def _pending(desk: Desk, asked: Asked) -> dict[str, Any]:
    found = desk.client.get(
        f"{REQUESTS}/{asked.request_id}", headers=desk.headers(desk.world.admin)
    )
    assert found.status_code == 200, found.text
    body: dict[str, Any] = found.json()
    return body


@pytest.mark.parametrize("path", sorted(PATHS))
def test_an_admin_alone_gets_no_account_that_reads_concerns(path: str, desk: Desk) -> None:
    """Whatever the path, the admin is left with nothing that reads a concern: the account
    is not a DSL, or its credentials are the DSL's own still."""
    concern = desk.concern()
    asked = PATHS[path](desk)
    if path in ("create", "promote"):
        assert asked.response.status_code == {"create": 201, "promote": 200}[path]
        shown = asked.response.json()
        assert shown["role"] == "staff" and shown["pending_role"] in ("dsl", "deputy_dsl")
        if path == "promote":
            assert shown["display_name"] == "Alex Tutor-Lead"  # the rest applies now
        signed_in = _login(desk.client, asked.email, asked.password)
        assert signed_in.status_code == 200
        token = _bearer(signed_in)
        assert desk.client.get(f"{CONCERNS}/{concern['id']}", headers=token).status_code == 404
        assert desk.client.get(CONCERNS, headers=token).json()["items"] == []
    else:
        assert asked.response.status_code == 202, asked.response.text
        assert asked.response.headers["location"] == f"{REQUESTS}/{asked.request_id}"
        assert asked.response.json()["status"] == "pending"
        # The admin's password is not the deputy's; the deputy's own still is, with their code.
        assert _login(desk.client, asked.email, NEW_PASSWORD).status_code == 401
        no_code = _login(desk.client, asked.email, DEFAULT_PASSWORD)
        assert no_code.status_code == 401
        assert no_code.json()["type"].endswith("/mfa-required")
    request = _pending(desk, asked)
    assert request["status"] == "pending"
    assert request["user"]["id"] == asked.user_id
    assert request["requested_by"]["id"] == str(desk.world.admin.id)
    assert "password" not in str(request).lower().replace("set_password", "")


@pytest.mark.parametrize("path", sorted(PATHS))
def test_a_dsl_approves_and_the_change_is_made(path: str, desk: Desk, database: Database) -> None:
    asked = PATHS[path](desk)
    approved = desk.client.post(
        f"{REQUESTS}/{asked.request_id}/approve", headers=desk.headers(desk.world.dsl)
    )
    assert approved.status_code == 200, approved.text
    body = approved.json()
    assert body["status"] == "approved"
    assert body["decided_by"] == {"id": str(desk.world.dsl.id), "display_name": "Jo Lead"}
    assert body["decided_at"] is not None
    account = desk.client.get(
        f"{USERS}/{asked.user_id}", headers=desk.headers(desk.world.admin)
    ).json()
    assert account["pending_role"] is None
    if path in ("create", "promote"):
        assert account["role"] == {"create": "dsl", "promote": "deputy_dsl"}[path]
        # A new DSL signs in to enrol first: nothing else until then.
        limited = _login(desk.client, asked.email, asked.password)
        assert limited.status_code == 200
        refused = desk.client.get(CONCERNS, headers=_bearer(limited))
        assert refused.json()["type"].endswith("/mfa-enrollment-required")
    elif path == "password":
        deputy = desk.world.deputy
        old = _login(desk.client, asked.email, DEFAULT_PASSWORD, _code(desk, deputy))
        assert old.status_code == 401
        assert (
            _login(desk.client, asked.email, NEW_PASSWORD, _code(desk, deputy)).status_code == 200
        )
        with database.transaction() as session:
            stored = session.get(PrivilegedRequest, uuid.UUID(asked.request_id))
            assert stored is not None and stored.password_hash is None
    else:
        unenrolled = _login(desk.client, asked.email, DEFAULT_PASSWORD)
        assert unenrolled.status_code == 200
        assert (
            desk.client.get(f"{API}/auth/me", headers=_bearer(unenrolled)).json()["mfa_enrolled"]
            is False
        )
    # Decided once: a second decision is a 409.
    again = desk.client.post(
        f"{REQUESTS}/{asked.request_id}/approve", headers=desk.headers(desk.world.dsl)
    )
    assert again.status_code == 409
    assert again.json()["request_status"] == "approved"


def test_approving_ends_the_accounts_tokens(desk: Desk) -> None:
    deputy = desk.world.deputy
    old = desk.headers(deputy)
    assert desk.client.get(CONCERNS, headers=old).status_code == 200
    asked = _mfa(desk)
    assert desk.client.get(CONCERNS, headers=old).status_code == 200  # nothing yet
    desk.client.post(f"{REQUESTS}/{asked.request_id}/approve", headers=desk.headers())
    assert desk.client.get(CONCERNS, headers=old).status_code == 401


def test_a_rejected_request_changes_nothing_and_forgets_the_password(
    desk: Desk, database: Database
) -> None:
    asked = _password(desk)
    rejected = desk.client.post(
        f"{REQUESTS}/{asked.request_id}/reject", headers=desk.headers(desk.world.dsl)
    )
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    assert _login(desk.client, asked.email, NEW_PASSWORD).status_code == 401
    with database.transaction() as session:
        stored = session.get(PrivilegedRequest, uuid.UUID(asked.request_id))
        assert stored is not None and stored.password_hash is None
    late = desk.client.post(
        f"{REQUESTS}/{asked.request_id}/approve", headers=desk.headers(desk.world.dsl)
    )
    assert late.status_code == 409
    assert late.json()["type"].endswith("/request-not-pending")


def test_nobody_decides_about_their_own_account(desk: Desk) -> None:
    world = desk.world
    # The deputy's own password: not theirs to approve; the DSL's.
    asked = _password(desk)
    own = desk.client.post(
        f"{REQUESTS}/{asked.request_id}/approve", headers=desk.headers(world.deputy)
    )
    assert own.status_code == 403
    assert own.json()["type"].endswith("/another-dsl-required")
    assert _pending(desk, asked)["status"] == "pending"
    refused = desk.client.post(
        f"{REQUESTS}/{asked.request_id}/reject", headers=desk.headers(world.deputy)
    )
    assert refused.status_code == 403
    # An admin asking about themselves: their own role is not theirs to change...
    mine = desk.client.patch(
        f"{USERS}/{world.admin.id}", json={"role": "dsl"}, headers=desk.headers(world.admin)
    )
    assert mine.status_code == 409
    # ... and a request another admin made about them is not theirs to approve.
    other_admin = make_user(database_of(desk), world.school, Role.admin)
    asked_for = desk.client.patch(
        f"{USERS}/{world.admin.id}", json={"role": "dsl"}, headers=desk.headers(other_admin)
    )
    assert asked_for.status_code == 200 and asked_for.json()["pending_role"] == "dsl"
    request_id = _request_about(desk, str(world.admin.id))
    for verb in ("approve", "reject"):
        answer = desk.client.post(
            f"{REQUESTS}/{request_id}/{verb}", headers=desk.headers(world.admin)
        )
        assert answer.status_code == 403


def database_of(desk: Desk) -> Database:
    database: Database = desk.world.app.state.database
    return database


def test_nobody_decides_on_a_request_they_made(desk: Desk) -> None:
    """An admin who has since become a DSL cannot approve what they asked for as admin."""
    world = desk.world
    asker = make_user(database_of(desk), world.school, Role.admin)
    promoted = desk.client.patch(
        f"{USERS}/{world.staff_b.id}", json={"role": "dsl"}, headers=desk.headers(asker)
    )
    assert promoted.status_code == 200
    theirs = _request_about(desk, str(world.staff_b.id))
    # The asker is made a deputy DSL in turn (asked by the school's admin, approved).
    desk.client.patch(
        f"{USERS}/{asker.id}", json={"role": "deputy_dsl"}, headers=desk.headers(world.admin)
    )
    about_asker = _request_about(desk, str(asker.id))
    assert (
        desk.client.post(
            f"{REQUESTS}/{about_asker}/approve", headers=desk.headers(world.dsl)
        ).status_code
        == 200
    )
    with database_of(desk).transaction() as session:
        now_deputy = session.get(User, asker.id)
        assert now_deputy is not None and now_deputy.role == "deputy_dsl"
        asker.user = now_deputy
    refused = desk.client.post(f"{REQUESTS}/{theirs}/approve", headers=desk.headers(asker))
    assert refused.status_code == 403
    assert refused.json()["type"].endswith("/another-dsl-required")


def test_a_request_expires(desk: Desk) -> None:
    asked = _promote(desk)
    desk.clock.advance(days=7, seconds=1)
    late = desk.client.post(
        f"{REQUESTS}/{asked.request_id}/approve", headers=desk.headers(desk.world.dsl)
    )
    assert late.status_code == 409
    assert late.json()["request_status"] == "expired"
    assert _pending(desk, asked)["status"] == "expired"
    account = desk.client.get(
        f"{USERS}/{asked.user_id}", headers=desk.headers(desk.world.admin)
    ).json()
    assert account["role"] == "staff" and account["pending_role"] is None
    listed = desk.client.get(
        REQUESTS, params={"status": "expired"}, headers=desk.headers(desk.world.admin)
    ).json()["items"]
    assert [item["id"] for item in listed] == [asked.request_id]
    # Room for a new request.
    again = desk.client.patch(
        f"{USERS}/{asked.user_id}",
        json={"role": "deputy_dsl"},
        headers=desk.headers(desk.world.admin),
    )
    assert again.status_code == 200 and again.json()["pending_role"] == "deputy_dsl"
    assert _request_about(desk, asked.user_id) != asked.request_id


def test_a_request_just_before_expiry_is_still_decided(desk: Desk) -> None:
    asked = _promote(desk)
    desk.clock.advance(days=6, hours=23, minutes=59)
    approved = desk.client.post(
        f"{REQUESTS}/{asked.request_id}/approve", headers=desk.headers(desk.world.dsl)
    )
    assert approved.status_code == 200, approved.text


def test_another_schools_requests_are_not_found(desk: Desk) -> None:
    asked = _mfa(desk)
    world = desk.world
    other_admin = make_user(database_of(desk), world.other_school, Role.admin)
    for who, verb in (
        (world.other_dsl, "approve"),
        (world.other_dsl, "reject"),
        (other_admin, "withdraw"),
    ):
        answer = desk.client.post(
            f"{REQUESTS}/{asked.request_id}/{verb}", headers=desk.headers(who)
        )
        assert answer.status_code == 404, (verb, answer.text)
    for who in (world.other_dsl, other_admin):
        assert (
            desk.client.get(f"{REQUESTS}/{asked.request_id}", headers=desk.headers(who)).status_code
            == 404
        )
        assert desk.client.get(REQUESTS, headers=desk.headers(who)).json()["items"] == []
    assert _pending(desk, asked)["status"] == "pending"


def test_one_pending_request_per_account_and_kind(desk: Desk) -> None:
    world = desk.world
    first = _promote(desk)
    same = desk.client.patch(
        f"{USERS}/{first.user_id}", json={"role": "deputy_dsl"}, headers=desk.headers(world.admin)
    )
    assert same.status_code == 200 and same.json()["pending_role"] == "deputy_dsl"
    assert _request_about(desk, first.user_id) == first.request_id
    other = desk.client.patch(
        f"{USERS}/{first.user_id}", json={"role": "dsl"}, headers=desk.headers(world.admin)
    )
    assert other.status_code == 409
    assert other.json()["type"].endswith("/request-pending")
    assert other.json()["pending_request_id"] == first.request_id
    # A password for an account being granted the role needs a DSL too.
    password = desk.client.post(
        f"{USERS}/{first.user_id}/password",
        json={"password": NEW_PASSWORD},
        headers=desk.headers(world.admin),
    )
    assert password.status_code == 202
    second_password = desk.client.post(
        f"{USERS}/{first.user_id}/password",
        json={"password": "another-" + NEW_PASSWORD},
        headers=desk.headers(world.admin),
    )
    assert second_password.status_code == 409
    # An MFA reset asked twice is the same request.
    mfa = [
        desk.client.post(f"{USERS}/{world.deputy.id}/reset-mfa", headers=desk.headers(world.admin))
        for _ in range(2)
    ]
    assert [answer.status_code for answer in mfa] == [202, 202]
    assert mfa[0].json()["id"] == mfa[1].json()["id"]
    # Withdrawn, it makes room.
    withdrawn = desk.client.post(
        f"{REQUESTS}/{first.request_id}/withdraw", headers=desk.headers(world.admin)
    )
    assert withdrawn.status_code == 200 and withdrawn.json()["status"] == "withdrawn"
    assert withdrawn.json()["decided_by"]["id"] == str(world.admin.id)
    now_dsl = desk.client.patch(
        f"{USERS}/{first.user_id}", json={"role": "dsl"}, headers=desk.headers(world.admin)
    )
    assert now_dsl.status_code == 200 and now_dsl.json()["pending_role"] == "dsl"
    assert (
        desk.client.post(
            f"{REQUESTS}/{first.request_id}/withdraw", headers=desk.headers(world.admin)
        ).status_code
        == 409
    )


def test_staff_and_admin_changes_are_as_before(desk: Desk) -> None:
    """What needs no DSL is done at once: a member of staff's password, an admin's role."""
    world = desk.world
    password = desk.client.post(
        f"{USERS}/{world.staff_a.id}/password",
        json={"password": NEW_PASSWORD},
        headers=desk.headers(world.admin),
    )
    assert password.status_code == 204
    assert _login(desk.client, world.staff_a.email, NEW_PASSWORD).status_code == 200
    made_admin = desk.client.patch(
        f"{USERS}/{world.staff_b.id}", json={"role": "admin"}, headers=desk.headers(world.admin)
    )
    assert made_admin.json()["role"] == "admin" and made_admin.json()["pending_role"] is None
    # Taking a DSL's role away needs no DSL either.
    demoted = desk.client.patch(
        f"{USERS}/{world.deputy.id}", json={"role": "staff"}, headers=desk.headers(world.admin)
    )
    assert demoted.json()["role"] == "staff"


def test_approving_a_grant_keeps_the_last_admin(desk: Desk) -> None:
    world = desk.world
    second = make_user(database_of(desk), world.school, Role.admin)
    for asker, about in ((world.admin, second), (second, world.admin)):
        answer = desk.client.patch(
            f"{USERS}/{about.id}", json={"role": "dsl"}, headers=desk.headers(asker)
        )
        assert answer.status_code == 200, answer.text
    first, last = (_request_about(desk, str(about.id)) for about in (second, world.admin))
    assert (
        desk.client.post(f"{REQUESTS}/{first}/approve", headers=desk.headers()).status_code == 200
    )
    kept = desk.client.post(f"{REQUESTS}/{last}/approve", headers=desk.headers())
    assert kept.status_code == 409
    assert _pending(desk, Asked(None, "", "", "", last))["status"] == "pending"


def test_requests_and_decisions_are_audited_with_ids_only(desk: Desk, database: Database) -> None:
    asked = _create(desk)
    desk.client.post(f"{REQUESTS}/{asked.request_id}/approve", headers=desk.headers())
    password = _password(desk)
    desk.client.post(f"{REQUESTS}/{password.request_id}/reject", headers=desk.headers())
    trail = [
        (e.action, e.entity_type, str(e.entity_id), str(e.actor_id))
        for e in events(database)
        if e.action.startswith(("user.", "privileged_request."))
    ]
    admin, dsl = str(desk.world.admin.id), str(desk.world.dsl.id)
    assert trail == [
        ("user.create", "user", asked.user_id, admin),
        ("privileged_request.create", "privileged_request", asked.request_id, admin),
        ("user.update", "user", asked.user_id, dsl),
        ("privileged_request.approve", "privileged_request", asked.request_id, dsl),
        ("privileged_request.create", "privileged_request", password.request_id, admin),
        ("privileged_request.reject", "privileged_request", password.request_id, dsl),
    ]
    with database.transaction() as session:
        rows = session.exec(select(AuditEvent).order_by(col(AuditEvent.seq))).all()
        stored = " ".join(str(row.model_dump()) for row in rows)
    for clear in (NEW_PASSWORD, asked.email, "New Lead", "dsl@", "Jo Lead"):
        assert clear not in stored


def test_an_admins_audit_view_shows_the_requests(desk: Desk) -> None:
    asked = _mfa(desk)
    listed = desk.client.get(
        f"{API}/audit",
        params={"entity_type": "privileged_request"},
        headers=desk.headers(desk.world.admin),
    )
    assert listed.status_code == 200, listed.text
    assert [e["entity_id"] for e in listed.json()["items"]] == [asked.request_id]


runner = CliRunner()


def test_the_command_line_still_makes_a_dsl_at_once(cli_env: Database) -> None:
    """The operator at the command line is the trust root: a school's first DSL."""
    urn = "100080"
    school = runner.invoke(cli, ["create-school", "--name", "Fictional Academy", "--urn", urn])
    assert school.exit_code == 0, school.output
    made = runner.invoke(
        cli,
        [
            "create-user",
            "--school-urn",
            urn,
            "--email",
            "first.lead@fictional-school.example",
            "--role",
            "dsl",
            "--display-name",
            "First Lead",
        ],
        input="a-fictional-cli-passphrase\n",
    )
    assert made.exit_code == 0, made.output
    with cli_env.transaction() as session:
        user = session.exec(select(User)).one()
        assert user.role == "dsl"
        assert session.exec(select(PrivilegedRequest)).all() == []


def test_the_operator_approves_when_no_other_dsl_can(desk: Desk, cli_env: Database) -> None:
    """The school's only DSL lost their phone: nobody else there may approve the reset."""
    world = desk.world
    asked = desk.client.post(f"{USERS}/{world.dsl.id}/reset-mfa", headers=desk.headers(world.admin))
    request_id = asked.json()["id"]
    listed = runner.invoke(cli, ["privileged-requests", "list", "--school-urn", world.school.urn])
    assert listed.exit_code == 0, listed.output
    assert listed.stdout.split()[:3] == [request_id, "reset_mfa", world.dsl.email]
    approved = runner.invoke(cli, ["privileged-requests", "approve", request_id])
    assert approved.exit_code == 0, approved.output
    shown = _pending(desk, Asked(None, "", "", "", request_id))
    assert shown["status"] == "approved" and shown["decided_by"] is None
    unenrolled = _login(desk.client, world.dsl.email, DEFAULT_PASSWORD)
    assert unenrolled.status_code == 200
    again = runner.invoke(cli, ["privileged-requests", "approve", request_id])
    assert again.exit_code == 1 and "approved" in again.stderr
    system = [e for e in events(cli_env) if e.action == "privileged_request.approve"]
    assert [(e.actor_type, e.actor_id) for e in system] == [("system", None)]


def _context_of(desk: Desk, who: factories.TestUser) -> RequestContext:
    user = who.user
    return RequestContext(
        principal=Principal(
            id=user.id, school_id=user.school_id, role=Role(user.role), kind="user"
        ),
        now=desk.clock.now(),
        request_id=None,
        guidance=desk.world.app.state.guidance,
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
@pytest.mark.parametrize("race", ["two approvals", "two passwords"])
def test_two_at_once_take_turns(desk: Desk, database: Database, backend: str, race: str) -> None:
    """Two DSLs approving one request at once apply it once; two admins asking at once
    leave one request pending (the second waits for the first, then is refused)."""
    if backend != "postgresql":
        pytest.skip("SQLite's BEGIN IMMEDIATE lets one writer in at a time: nothing to race")
    world = desk.world
    asked = _password(desk)
    request_id = uuid.UUID(asked.request_id)
    hashed = "fictional-hash"

    def act(session: Any, first: bool) -> None:
        if race == "two approvals":
            who = world.dsl if first else make_user(database, world.school, Role.dsl)
            privileged.approve(session, _context_of(desk, who), request_id=request_id)
        else:
            user = session.get(User, world.staff_a.id)
            privileged.request_change(
                session,
                _context_of(desk, world.admin),
                user=user,
                kind=PrivilegedKind.set_password,
                password_hash=hashed,
                window=timedelta(days=7),
            )

    holding = database.session()
    act(holding, True)
    outcome: list[str] = []

    def the_second() -> None:
        try:
            with database.transaction() as session:
                act(session, False)
            outcome.append("done")
        except Conflict:
            outcome.append("refused")

    racer = threading.Thread(target=the_second)
    racer.start()
    deadline = time.monotonic() + 30
    while racer.is_alive() and not _waiting_on_a_lock(database):
        assert time.monotonic() < deadline, "the second neither finished nor waited"
        time.sleep(0.01)
    holding.finish(None)
    racer.join(timeout=30)
    assert outcome == ["refused"]
    with database.transaction() as session:
        actions = [e.action for e in session.exec(select(AuditEvent)).all()]
    if race == "two approvals":
        assert actions.count("privileged_request.approve") == 1
    else:
        assert actions.count("privileged_request.create") == 2  # the deputy's, and one more


# --- the school's DSLs are told, content-free ---------------------------------------------


def test_the_schools_dsls_are_emailed_of_each_request_and_decision(
    desk: Desk, database: Database, mailbox: Mailbox
) -> None:
    """Every active DSL and deputy of the school, even one who turned non-urgent emails
    off; nobody else; and the email says only that an account change awaits (or had) a
    DSL's decision, with the sign-in link: no account, name, role or email."""
    world = desk.world
    off = desk.client.put(
        f"{API}/auth/me/alert-preferences",
        json={"email_non_urgent": False},
        headers=desk.headers(world.deputy),
    )
    assert off.status_code == 200
    worker = make_worker(database, desk.clock, mailbox)
    asked = _create(desk)
    drain(worker)
    told = mailbox.messages()
    assert sorted(m.recipients[0] for m in told) == sorted([world.dsl.email, world.deputy.email])
    for message in told:
        assert message.subject == (
            "An account change awaits a DSL's decision at Fictional Academy "
            f"(URN {world.school.urn})"
        )
        assert SIGN_IN_URL in message.text
        assert "awaits a decision by a DSL or deputy DSL" in message.text
    desk.clock.advance(minutes=5)
    desk.client.post(f"{REQUESTS}/{asked.request_id}/approve", headers=desk.headers())
    drain(worker)
    decided = mailbox.messages()[len(told) :]
    # Told to the DSL desk as it is when the decision is published: the new DSL too.
    assert sorted(m.recipients[0] for m in decided) == sorted(
        [world.dsl.email, world.deputy.email, asked.email]
    )
    assert {m.subject.split(" at ")[0] for m in decided} == {"An account change was approved"}
    # A rejection and a withdrawal are told as "not made".
    _mfa(desk)
    drain(worker)
    withdrawn = _request_about(desk, str(world.deputy.id))
    desk.client.post(f"{REQUESTS}/{withdrawn}/withdraw", headers=desk.headers(world.admin))
    drain(worker)
    last = mailbox.messages()[-3:]
    assert {m.subject.split(" at ")[0] for m in last} == {"An account change was not made"}
    assert len(mailbox.messages()) == 2 + 3 + 3 + 3
    said = " ".join(m.subject + " " + m.text for m in mailbox.messages())
    for secret in (
        asked.email,
        "New Lead",
        NEW_PASSWORD,
        world.admin.email,
        world.admin.user.display_name,
        world.deputy.email,
        world.deputy.user.display_name,
        "deputy_dsl",
        "password",
        "two-factor",
    ):
        assert secret not in said, secret
    # The events carry ids, a flag and times only.
    with database.transaction() as session:
        kinds = session.exec(select(AlertEvent.type).order_by(col(AlertEvent.id))).all()
        data = [json.loads(row) for row in session.exec(select(AlertEvent.data)).all()]
    assert list(kinds) == [
        "privileged.requested",
        "privileged.decided",
        "privileged.requested",
        "privileged.decided",
    ]
    assert {key for item in data for key in item} == {
        "request_id",
        "expires_at",
        "approved",
        "decided_at",
    }


def test_nothing_is_told_of_a_request_that_was_refused(
    desk: Desk, database: Database, mailbox: Mailbox
) -> None:
    """A 409 rolls back its event with everything else: the DSLs hear only of what is."""
    world = desk.world
    worker = make_worker(database, desk.clock, mailbox)
    first = _promote(desk)
    refused = desk.client.patch(
        f"{USERS}/{first.user_id}", json={"role": "dsl"}, headers=desk.headers(world.admin)
    )
    assert refused.status_code == 409
    drain(worker)
    assert len(mailbox.messages()) == 2  # the first request's, to the DSL and the deputy
