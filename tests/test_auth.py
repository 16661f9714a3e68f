"""Identity and access (issue 3): tokens, login, refresh rotation, MFA, throttling."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pyotp
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import col, select

from api.main import create_app
from core.clock import utcnow
from core.passwords import hash_password
from core.settings import ConfigurationError, Settings
from core.tokens import KeyRing, decode_access_token
from models import AuditEvent, User
from models.user import RefreshToken
from tests.factories import (
    DEFAULT_PASSWORD,
    TEST_SECRET,
    TRANSFER_KEY,
    auth,
    make_school,
    make_service_account,
    make_user,
    token_for,
)

TOKEN = "/api/v1/auth/token"
ME = "/api/v1/auth/me"
USERS = "/api/v1/users"


def login(client: TestClient, email: str, password: str, totp: str | None = None, **extra):
    data = {"grant_type": "password", "username": email, "password": password} | extra
    if totp is not None:
        data["totp"] = totp
    return client.post(TOKEN, data=data)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# --- bad tokens ----------------------------------------------------------------------------


def _forge(
    claims: dict, key: str = TEST_SECRET, algorithm: str = "HS256", kid: str = "default"
) -> str:
    """Sign a token by hand (HMAC), so the tests do not lean on the library under test."""
    digest_of = {"HS256": hashlib.sha256, "HS512": hashlib.sha512}[algorithm]
    signing_input = _b64({"alg": algorithm, "kid": kid, "typ": "JWT"}) + "." + _b64(claims)
    mac = hmac.new(key.encode(), signing_input.encode(), digest_of).digest()
    return signing_input + "." + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def _unverified(token: str, part: int) -> dict:
    segment = token.split(".")[part]
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


def _claims(user: User, **changes) -> dict:
    now = int(time.time())
    claims = {
        "sub": str(user.id),
        "role": user.role,
        "school_id": str(user.school_id),
        "iss": "concernlog",
        "aud": "concernlog-api",
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "jti": uuid.uuid4().hex,
        "typ": "access",
        "ver": user.token_version,
        "stp": "user",
    }
    for key, value in changes.items():
        if value is None:
            claims.pop(key, None)
        else:
            claims[key] = value
    return claims


def _b64(part: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(part).encode()).rstrip(b"=").decode()


BAD_TOKENS = {
    "alg none": lambda u: (
        _b64({"alg": "none", "kid": "default", "typ": "JWT"}) + "." + _b64(_claims(u)) + "."
    ),
    "other algorithm (HS512)": lambda u: _forge(_claims(u), algorithm="HS512"),
    "unknown kid": lambda u: _forge(_claims(u), kid="attacker"),
    "wrong key": lambda u: _forge(_claims(u), key="another-secret-another-secret-another"),
    "wrong issuer": lambda u: _forge(_claims(u, iss="someone-else")),
    "wrong audience": lambda u: _forge(_claims(u, aud="another-api")),
    "no exp": lambda u: _forge(_claims(u, exp=None)),
    "expired": lambda u: _forge(
        _claims(
            u, iat=int(time.time()) - 3600, nbf=int(time.time()) - 3600, exp=int(time.time()) - 60
        )
    ),
    "nbf in the future": lambda u: _forge(_claims(u, nbf=int(time.time()) + 600)),
    "no jti": lambda u: _forge(_claims(u, jti=None)),
    "no sub": lambda u: _forge(_claims(u, sub=None)),
    "no iat": lambda u: _forge(_claims(u, iat=None)),
    "typ refresh": lambda u: _forge(_claims(u, typ="refresh")),
    "over 8 KB": lambda u: _forge(_claims(u, padding="x" * 9000)),
    "garbage": lambda u: "not.a.jwt",
}


@pytest.mark.parametrize("variant", list(BAD_TOKENS))
def test_bad_tokens_are_401_with_bearer_challenge(
    client: TestClient, database, school, variant
) -> None:
    user = make_user(database, school, "staff")
    good = client.get(ME, headers=bearer(_forge(_claims(user.user))))
    assert good.status_code == 200  # the forging helper itself makes valid tokens
    response = client.get(ME, headers=bearer(BAD_TOKENS[variant](user.user)))
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.headers["content-type"] == "application/problem+json"


def test_missing_or_malformed_authorization_is_401(client: TestClient) -> None:
    for headers in ({}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer"}):
        response = client.get(ME, headers=headers)
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"


def test_access_token_claims_and_header(app: FastAPI, client: TestClient, database, school) -> None:
    user = make_user(database, school, "staff")
    body = login(client, user.email, DEFAULT_PASSWORD).json()
    token = body["access_token"]
    assert body["token_type"] == "bearer" and body["expires_in"] == 900
    header = _unverified(token, 0)
    assert header["alg"] == "HS256" and header["kid"] == "default"
    claims = _unverified(token, 1)
    assert {
        "sub",
        "role",
        "school_id",
        "iss",
        "aud",
        "iat",
        "nbf",
        "exp",
        "jti",
        "typ",
        "ver",
    } <= set(claims)
    assert claims["exp"] - claims["iat"] == 15 * 60
    assert claims["typ"] == "access" and claims["role"] == "staff"
    assert decode_access_token(app.state.keys, token, now=utcnow()).subject == user.id


def test_rotated_verification_key_by_kid(tmp_path, migrated_url: str, database, school) -> None:
    old = Settings(
        env="test", database_url=migrated_url, secret_key="old-secret-" + "o" * 32, jwt_key_id="k1"
    )
    new = Settings(
        env="test",
        database_url=migrated_url,
        secret_key="new-secret-" + "n" * 32,
        jwt_key_id="k2",
        jwt_verification_keys="k1=old-secret-" + "o" * 32,
    )
    user = make_user(database, school, "staff")
    old_app = create_app(old, database=database)
    new_app = create_app(new, database=database)
    old_token = token_for(old_app, user)
    with TestClient(new_app) as client:
        assert client.get(ME, headers=bearer(old_token)).status_code == 200
        assert client.get(ME, headers=auth(new_app, user)).status_code == 200
    with TestClient(old_app) as client:  # the old app does not know k2
        assert client.get(ME, headers=auth(new_app, user)).status_code == 401


@pytest.mark.parametrize("algorithm", ["RS256", "ES256"])
def test_asymmetric_signing_from_pem(
    tmp_path, migrated_url: str, database, school, algorithm
) -> None:
    private: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    if algorithm == "RS256":
        private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    else:
        private = ec.generate_private_key(ec.SECP256R1())
    pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    key_file = tmp_path / "signing.pem"
    key_file.write_bytes(pem)
    settings = Settings(
        env="test",
        database_url=migrated_url,
        jwt_algorithm=algorithm,
        jwt_private_key_file=key_file,
        secret_key=TEST_SECRET,
    )
    app = create_app(settings, database=database)
    user = make_user(database, school, "staff")
    with TestClient(app) as client:
        assert client.get(ME, headers=auth(app, user)).status_code == 200
        # An HS256 token signed with the public key (the classic confusion attack) is refused.
        public_pem = KeyRing(settings).verification["default"].key
        signing_input = _b64({"alg": "HS256", "kid": "default"}) + "." + _b64(_claims(user.user))
        mac = hmac.new(public_pem.encode(), signing_input.encode(), hashlib.sha256).digest()
        forged = signing_input + "." + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()
        assert client.get(ME, headers=bearer(forged)).status_code == 401


# --- per-request user check ----------------------------------------------------------------


def test_role_downgrade_kills_the_old_token(client: TestClient, app, database, school) -> None:
    admin = make_user(database, school, "admin")
    dsl = make_user(database, school, "dsl")
    dsl_token = auth(app, dsl)
    assert client.get(ME, headers=dsl_token).status_code == 200
    changed = client.patch(f"{USERS}/{dsl.id}", json={"role": "staff"}, headers=auth(app, admin))
    assert changed.status_code == 200, changed.text
    assert changed.json()["role"] == "staff"
    assert client.get(ME, headers=dsl_token).status_code == 401


def test_deactivated_user_is_refused_at_once(client: TestClient, app, database, school) -> None:
    admin = make_user(database, school, "admin")
    staff = make_user(database, school, "staff")
    token = auth(app, staff)
    assert (
        client.patch(
            f"{USERS}/{staff.id}", json={"active": False}, headers=auth(app, admin)
        ).status_code
        == 200
    )
    assert client.get(ME, headers=token).status_code == 401
    assert login(client, staff.email, DEFAULT_PASSWORD).status_code == 401


def test_password_reset_kills_the_old_token(client: TestClient, app, database, school) -> None:
    admin = make_user(database, school, "admin")
    staff = make_user(database, school, "staff")
    token = auth(app, staff)
    reset = client.post(
        f"{USERS}/{staff.id}/password",
        json={"password": "a-new-fictional-passphrase"},
        headers=auth(app, admin),
    )
    assert reset.status_code == 204
    assert client.get(ME, headers=token).status_code == 401
    assert login(client, staff.email, DEFAULT_PASSWORD).status_code == 401
    assert login(client, staff.email, "a-new-fictional-passphrase").status_code == 200


# --- login ---------------------------------------------------------------------------------


def test_login_with_password_is_case_insensitive_on_email(
    client: TestClient, database, school
) -> None:
    staff = make_user(database, school, "staff")
    response = login(client, staff.email.upper(), DEFAULT_PASSWORD)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "refresh_token"}
    me = client.get(ME, headers=bearer(body["access_token"])).json()
    assert me == {
        "id": str(staff.id),
        "email": staff.email,
        "display_name": staff.user.display_name,
        "role": "staff",
        "school_id": str(school.id),
        "mfa_enrolled": False,
    }


def test_wrong_password_and_unknown_email_answer_the_same(
    client: TestClient, database, school
) -> None:
    staff = make_user(database, school, "staff")
    wrong = login(client, staff.email, "not-the-password-at-all")
    unknown = login(client, "nobody@fictional-school.example", "not-the-password-at-all")
    assert wrong.status_code == unknown.status_code == 401
    strip = lambda r: {k: v for k, v in r.json().items() if k != "request_id"}  # noqa: E731
    assert strip(wrong) == strip(unknown)
    assert wrong.headers["www-authenticate"] == unknown.headers["www-authenticate"] == "Bearer"


def test_unknown_email_still_verifies_a_hash(monkeypatch, client: TestClient) -> None:
    import core.passwords as security

    calls = []
    original = security.password_hasher.verify

    def counting_verify(*args: str) -> bool:
        calls.append(1)
        return original(*args)

    monkeypatch.setattr(security.password_hasher, "verify", counting_verify)
    login(client, "nobody@fictional-school.example", "whatever-password")
    assert calls == [1]


def test_user_without_password_cannot_log_in(client: TestClient, database, school) -> None:
    staff = make_user(database, school, "staff", password=None)
    assert login(client, staff.email, "").status_code in (401, 422)
    assert login(client, staff.email, "anything-at-all-here").status_code == 401


def test_rehash_on_login_when_parameters_change(client: TestClient, database, school) -> None:
    from pwdlib import PasswordHash
    from pwdlib.hashers.argon2 import Argon2Hasher

    staff = make_user(database, school, "staff")
    weak = PasswordHash((Argon2Hasher(time_cost=1, memory_cost=8 * 1024, parallelism=1),)).hash(
        DEFAULT_PASSWORD
    )
    with database.transaction() as session:
        session.get(User, staff.id).password_hash = weak
    assert login(client, staff.email, DEFAULT_PASSWORD).status_code == 200
    with database.transaction() as session:
        stored = session.get(User, staff.id).password_hash
    assert stored != weak and "m=19456,t=2,p=1" in stored


def test_login_is_audited_without_secrets(client: TestClient, database, school) -> None:
    staff = make_user(database, school, "staff")
    login(client, staff.email, "wrong-password-entirely")
    login(client, staff.email, DEFAULT_PASSWORD)
    with database.transaction() as session:
        events = session.exec(select(AuditEvent).order_by(col(AuditEvent.seq))).all()
    assert [(e.action, e.outcome, e.entity_id) for e in events] == [
        ("auth.login_failed", "denied", staff.id),
        ("auth.login", "success", staff.id),
    ]
    dumped = json.dumps([e.model_dump(mode="json") for e in events])
    assert DEFAULT_PASSWORD not in dumped and staff.email not in dumped


# --- throttling ----------------------------------------------------------------------------


def test_lockout_after_five_failures_and_its_expiry(
    client: TestClient, database, school, clock
) -> None:
    staff = make_user(database, school, "staff")
    for _ in range(5):
        assert login(client, staff.email, "wrong-password-entirely").status_code == 401
    locked = login(client, staff.email, DEFAULT_PASSWORD)
    assert locked.status_code == 429
    assert 0 < int(locked.headers["retry-after"]) <= 15 * 60 + 1
    assert locked.headers["content-type"] == "application/problem+json"
    clock.advance(minutes=14)
    assert login(client, staff.email, DEFAULT_PASSWORD).status_code == 429
    clock.advance(minutes=1, seconds=1)
    assert login(client, staff.email, DEFAULT_PASSWORD).status_code == 200


def test_failures_from_one_address_across_accounts_leave_other_accounts_open(
    client: TestClient, database, school, clock
) -> None:
    """Issue 22, point 10: a school's shared address is limited per account, with a high
    ceiling for the address as a whole (tests/test_throttling.py)."""
    victim = make_user(database, school, "staff")
    for n in range(20):  # the old per-address limit; the 20th waits 0.25 s
        assert (
            login(client, f"guess{n}@fictional-school.example", "wrong-password-x").status_code
            == 401
        )
    assert login(client, victim.email, DEFAULT_PASSWORD).status_code == 200


def test_throttle_holds_across_app_instances(settings, database, school, clock) -> None:
    """Two app instances (as two worker processes) share the database's memory of failures."""
    staff = make_user(database, school, "staff")
    first, second = create_app(settings, database=database), create_app(settings, database=database)
    first.state.clock = second.state.clock = clock
    with TestClient(first) as a, TestClient(second) as b:
        for n in range(5):
            assert (
                login(a if n % 2 else b, staff.email, "wrong-password-entirely").status_code == 401
            )
        assert login(a, staff.email, DEFAULT_PASSWORD).status_code == 429
        assert login(b, staff.email, DEFAULT_PASSWORD).status_code == 429


# --- client credentials --------------------------------------------------------------------


def test_client_credentials_grant_has_no_refresh_token(
    client: TestClient, app, database, school
) -> None:
    admin = make_user(database, school, "admin")
    created = client.post(
        "/api/v1/service-accounts", json={"name": "Fictional Wonde sync"}, headers=auth(app, admin)
    )
    assert created.status_code == 201
    account = created.json()
    response = client.post(
        TOKEN,
        data={
            "grant_type": "client_credentials",
            "client_id": account["client_id"],
            "client_secret": account["client_secret"],
        },
    )
    assert response.status_code == 200, response.text
    assert "refresh_token" not in response.json()
    claims = _unverified(response.json()["access_token"], 1)
    assert claims["role"] == "mis" and claims["stp"] == "service"
    listed = client.get("/api/v1/service-accounts", headers=auth(app, admin)).json()["items"]
    assert "client_secret" not in listed[0] and "secret_hash" not in listed[0]
    wrong = client.post(
        TOKEN,
        data={
            "grant_type": "client_credentials",
            "client_id": account["client_id"],
            "client_secret": "nope",
        },
    )
    assert wrong.status_code == 401
    # Deactivating the account ends its tokens at once.
    token = bearer(response.json()["access_token"])
    assert (
        client.patch(
            f"/api/v1/service-accounts/{account['id']}",
            json={"active": False},
            headers=auth(app, admin),
        ).status_code
        == 200
    )
    assert client.get(USERS, headers=token).status_code == 401


def test_unknown_grant_type_is_422(client: TestClient) -> None:
    assert client.post(TOKEN, data={"grant_type": "implicit"}).status_code == 422


# --- refresh rotation ----------------------------------------------------------------------


def test_refresh_rotates_and_reuse_revokes_the_family(
    client: TestClient, database, school, clock
) -> None:
    staff = make_user(database, school, "staff")
    first = login(client, staff.email, DEFAULT_PASSWORD).json()
    second = client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert second.status_code == 200
    second_body = second.json()
    assert second_body["refresh_token"] != first["refresh_token"]
    assert client.get(ME, headers=bearer(second_body["access_token"])).status_code == 200
    # Replaying the spent token once the grace window has passed: 401, and the whole family
    # (its successor too) is revoked.
    clock.advance(seconds=30)
    replay = client.post("/api/v1/auth/refresh", json={"refresh_token": first["refresh_token"]})
    assert replay.status_code == 401
    assert replay.json()["error"] == "invalid_grant"
    successor = client.post(
        "/api/v1/auth/refresh", json={"refresh_token": second_body["refresh_token"]}
    )
    assert successor.status_code == 401
    with database.transaction() as session:
        actions = [
            e.action for e in session.exec(select(AuditEvent).order_by(col(AuditEvent.seq))).all()
        ]
        tokens = session.exec(select(RefreshToken)).all()
    assert "auth.refresh_reuse" in actions
    assert all(t.revoked_at is not None for t in tokens)
    assert all(
        len(t.token_hash) == 64
        and t.token_hash not in (first["refresh_token"], second_body["refresh_token"])
        for t in tokens
    )


def test_logout_revokes_the_family(client: TestClient, database, school) -> None:
    staff = make_user(database, school, "staff")
    tokens = login(client, staff.email, DEFAULT_PASSWORD).json()
    assert (
        client.post(
            "/api/v1/auth/logout", json={"refresh_token": tokens["refresh_token"]}
        ).status_code
        == 204
    )
    assert (
        client.post(
            "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
        ).status_code
        == 401
    )
    assert client.post("/api/v1/auth/logout", json={"refresh_token": "unknown"}).status_code == 204


def test_refresh_token_expires(client: TestClient, database, school, clock) -> None:
    staff = make_user(database, school, "staff")
    tokens = login(client, staff.email, DEFAULT_PASSWORD).json()
    clock.advance(hours=12, seconds=1)
    assert (
        client.post(
            "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
        ).status_code
        == 401
    )


def test_refresh_after_role_change_is_refused(client: TestClient, app, database, school) -> None:
    admin = make_user(database, school, "admin")
    staff = make_user(database, school, "staff")
    tokens = login(client, staff.email, DEFAULT_PASSWORD).json()
    changed = client.patch(f"{USERS}/{staff.id}", json={"role": "admin"}, headers=auth(app, admin))
    assert changed.json()["role"] == "admin"
    assert (
        client.post(
            "/api/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}
        ).status_code
        == 401
    )


# --- MFA -----------------------------------------------------------------------------------


def test_mfa_enrolment_end_to_end(client: TestClient, database, school, clock) -> None:
    dsl = make_user(database, school, "dsl", mfa=False)
    limited = login(client, dsl.email, DEFAULT_PASSWORD)
    assert limited.status_code == 200
    token = bearer(limited.json()["access_token"])
    # Before enrolment the token opens /auth/me and /auth/mfa/* only.
    assert client.get(ME, headers=token).json()["mfa_enrolled"] is False
    refused = client.get(USERS, headers=token)
    assert refused.status_code == 403
    assert refused.json()["type"].endswith("/mfa-enrollment-required")
    # Refreshing does not escape the restriction.
    refreshed = client.post(
        "/api/v1/auth/refresh", json={"refresh_token": limited.json()["refresh_token"]}
    ).json()
    assert client.get(USERS, headers=bearer(refreshed["access_token"])).status_code == 403

    setup = client.post("/api/v1/auth/mfa/setup", headers=token)
    assert setup.status_code == 200
    secret = setup.json()["secret"]
    assert setup.json()["otpauth_uri"].startswith("otpauth://totp/")
    totp = pyotp.TOTP(secret)
    wrong = client.post(
        "/api/v1/auth/mfa/verify",
        json={"code": "000000" if totp.at(clock.now()) != "000000" else "111111"},
        headers=token,
    )
    assert wrong.status_code == 422
    assert (
        client.post(
            "/api/v1/auth/mfa/verify", json={"code": totp.at(clock.now())}, headers=token
        ).status_code
        == 204
    )
    # Enrolment ended the limited token; signing in now needs a code.
    assert client.get(ME, headers=token).status_code == 401
    no_code = login(client, dsl.email, DEFAULT_PASSWORD)
    assert no_code.status_code == 401
    assert no_code.json()["type"].endswith("/mfa-required")
    clock.advance(seconds=30)
    full = login(client, dsl.email, DEFAULT_PASSWORD, totp=totp.at(clock.now()))
    assert full.status_code == 200
    assert (
        client.get(ME, headers=bearer(full.json()["access_token"])).json()["mfa_enrolled"] is True
    )
    # The secret is never returned again.
    assert "secret" not in json.dumps(
        client.get(ME, headers=bearer(full.json()["access_token"])).json()
    )
    assert (
        client.post(
            "/api/v1/auth/mfa/setup", headers=bearer(full.json()["access_token"])
        ).status_code
        == 409
    )


def test_replayed_totp_is_refused(client: TestClient, database, school, clock) -> None:
    dsl = make_user(database, school, "dsl")
    code = pyotp.TOTP(dsl.totp_secret or "").at(clock.now())
    assert login(client, dsl.email, DEFAULT_PASSWORD, totp=code).status_code == 200
    replay = login(client, dsl.email, DEFAULT_PASSWORD, totp=code)
    assert replay.status_code == 401
    assert replay.json()["type"].endswith("/mfa-required")


def test_totp_window_is_one_step(client: TestClient, database, school, clock) -> None:
    dsl = make_user(database, school, "dsl")
    totp = pyotp.TOTP(dsl.totp_secret or "")
    previous = totp.at(clock.now() - timedelta(seconds=30))
    assert login(client, dsl.email, DEFAULT_PASSWORD, totp=previous).status_code == 200
    clock.advance(seconds=60)
    too_old = totp.at(clock.now() - timedelta(seconds=90))
    assert login(client, dsl.email, DEFAULT_PASSWORD, totp=too_old).status_code == 401


def test_wrong_totp_codes_count_towards_the_throttle(
    client: TestClient, database, school, clock
) -> None:
    dsl = make_user(database, school, "dsl")
    totp = pyotp.TOTP(dsl.totp_secret or "")
    wrong = "000000" if totp.at(clock.now()) != "000000" else "111111"
    for _ in range(5):
        assert login(client, dsl.email, DEFAULT_PASSWORD, totp=wrong).status_code == 401
    assert login(client, dsl.email, DEFAULT_PASSWORD, totp=totp.at(clock.now())).status_code == 429


def test_staff_may_enrol_voluntarily_and_then_need_a_code(
    client: TestClient, database, school, clock
) -> None:
    staff = make_user(database, school, "staff")
    token = bearer(login(client, staff.email, DEFAULT_PASSWORD).json()["access_token"])
    secret = client.post("/api/v1/auth/mfa/setup", headers=token).json()["secret"]
    assert (
        client.post(
            "/api/v1/auth/mfa/verify",
            json={"code": pyotp.TOTP(secret).at(clock.now())},
            headers=token,
        ).status_code
        == 204
    )
    clock.advance(seconds=30)
    assert login(client, staff.email, DEFAULT_PASSWORD).status_code == 401
    assert (
        login(
            client, staff.email, DEFAULT_PASSWORD, totp=pyotp.TOTP(secret).at(clock.now())
        ).status_code
        == 200
    )


def test_admin_reset_mfa(client: TestClient, app, database, school) -> None:
    """Another admin's enrolment (a DSL's needs a DSL: tests/test_privileged_requests.py)."""
    admin = make_user(database, school, "admin")
    other = make_user(database, school, "admin")
    old = auth(app, other)
    assert client.post(f"{USERS}/{other.id}/reset-mfa", headers=auth(app, admin)).status_code == 204
    assert client.get(ME, headers=old).status_code == 401
    limited = login(client, other.email, DEFAULT_PASSWORD)
    assert limited.status_code == 200
    assert client.get(USERS, headers=bearer(limited.json()["access_token"])).status_code == 403


def test_service_account_cannot_use_mfa_or_me(client: TestClient, app, database, school) -> None:
    account = make_service_account(database, school)
    assert client.get(ME, headers=auth(app, account)).status_code == 403
    assert client.post("/api/v1/auth/mfa/setup", headers=auth(app, account)).status_code == 403


# --- administration ------------------------------------------------------------------------


def test_admin_creates_user_without_password_then_sets_one(
    client: TestClient, app, database, school
) -> None:
    admin = make_user(database, school, "admin")
    created = client.post(
        USERS,
        json={
            "email": "New.Teacher@Fictional-School.example",
            "display_name": "New Teacher",
            "role": "staff",
        },
        headers=auth(app, admin),
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["email"] == "new.teacher@fictional-school.example"
    assert body["can_log_in"] is False
    assert created.headers["location"].endswith(body["id"])
    assert (
        login(client, "new.teacher@fictional-school.example", "any-password-at-all").status_code
        == 401
    )
    assert (
        client.post(
            f"{USERS}/{body['id']}/password",
            json={"password": "a-fresh-fictional-passphrase"},
            headers=auth(app, admin),
        ).status_code
        == 204
    )
    assert (
        login(
            client, "new.teacher@fictional-school.example", "a-fresh-fictional-passphrase"
        ).status_code
        == 200
    )


@pytest.mark.parametrize(
    ("password", "error_type"),
    [("short-pass", "password_too_short"), ("Password1234", "password_too_common")],
)
def test_password_policy(client: TestClient, app, database, school, password, error_type) -> None:
    admin = make_user(database, school, "admin")
    response = client.post(
        USERS,
        json={
            "email": "p@fictional-school.example",
            "display_name": "P",
            "role": "staff",
            "password": password,
        },
        headers=auth(app, admin),
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["type"] == error_type
    assert password not in response.text


def test_duplicate_email_is_409_case_insensitively(
    client: TestClient, app, database, school
) -> None:
    admin = make_user(database, school, "admin")
    staff = make_user(database, school, "staff")
    response = client.post(
        USERS,
        json={"email": staff.email.upper(), "display_name": "Dup", "role": "staff"},
        headers=auth(app, admin),
    )
    assert response.status_code == 409


def test_admin_cannot_change_own_role_or_remove_last_admin(
    client: TestClient, app, database, school
) -> None:
    admin = make_user(database, school, "admin")
    headers = auth(app, admin)
    assert (
        client.patch(f"{USERS}/{admin.id}", json={"role": "staff"}, headers=headers).status_code
        == 409
    )
    assert (
        client.patch(f"{USERS}/{admin.id}", json={"active": False}, headers=headers).status_code
        == 409
    )
    other = make_user(database, school, "admin")
    assert (
        client.patch(f"{USERS}/{admin.id}", json={"active": False}, headers=headers).status_code
        == 200
    )
    assert client.get(ME, headers=auth(app, other)).status_code == 200


def test_mis_role_cannot_be_given_to_people(client: TestClient, app, database, school) -> None:
    admin = make_user(database, school, "admin")
    staff = make_user(database, school, "staff")
    assert (
        client.patch(
            f"{USERS}/{staff.id}", json={"role": "mis"}, headers=auth(app, admin)
        ).status_code
        == 422
    )


def test_admin_of_school_a_cannot_see_or_change_school_b(client: TestClient, app, database) -> None:
    school_a, school_b = make_school(database), make_school(database)
    admin_a = make_user(database, school_a, "admin")
    user_b = make_user(database, school_b, "staff")
    headers = auth(app, admin_a)
    assert client.get(f"{USERS}/{user_b.id}", headers=headers).status_code == 404
    assert (
        client.patch(
            f"{USERS}/{user_b.id}", json={"display_name": "X"}, headers=headers
        ).status_code
        == 404
    )
    assert (
        client.post(
            f"{USERS}/{user_b.id}/password",
            json={"password": "a-long-fictional-passphrase"},
            headers=headers,
        ).status_code
        == 404
    )
    assert client.post(f"{USERS}/{user_b.id}/reset-mfa", headers=headers).status_code == 404
    assert str(user_b.id) not in client.get(USERS, headers=headers).text


def test_user_admin_is_audited(client: TestClient, app, database, school) -> None:
    admin = make_user(database, school, "admin")
    staff = make_user(database, school, "staff")
    client.patch(
        f"{USERS}/{staff.id}", json={"display_name": "Renamed Teacher"}, headers=auth(app, admin)
    )
    with database.transaction() as session:
        event = session.exec(select(AuditEvent).where(AuditEvent.action == "user.update")).one()
    assert event.actor_id == admin.id and event.entity_id == staff.id


def test_password_hash_never_returned(client: TestClient, app, database, school) -> None:
    admin = make_user(database, school, "admin")
    text = client.get(USERS, headers=auth(app, admin)).text
    assert "argon2" not in text and "password" not in text and "totp" not in text


def test_hash_password_meets_owasp_minimum() -> None:
    assert "$argon2id$" in hash_password("some-fictional-passphrase")
    assert "m=19456,t=2,p=1" in hash_password("some-fictional-passphrase")


def test_access_token_expires_after_fifteen_minutes(
    client: TestClient, database, school, clock
) -> None:
    staff = make_user(database, school, "staff")
    token = bearer(login(client, staff.email, DEFAULT_PASSWORD).json()["access_token"])
    clock.advance(minutes=14, seconds=59)
    assert client.get(ME, headers=token).status_code == 200
    clock.advance(seconds=1)
    assert client.get(ME, headers=token).status_code == 401


def test_failed_logins_are_counted_for_metrics(client: TestClient, database, school) -> None:
    from core import metrics

    staff = make_user(database, school, "staff")
    before = metrics.FAILED_LOGINS._value.get()
    login(client, staff.email, "wrong-password-entirely")
    login(client, "nobody@fictional-school.example", "wrong-password-entirely")
    assert metrics.FAILED_LOGINS._value.get() == before + 2


def test_user_list_pages_with_a_cursor(client: TestClient, app, database, school) -> None:
    admin = make_user(database, school, "admin")
    made = {str(make_user(database, school, "staff").id) for _ in range(4)}
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = client.get(USERS, params=params, headers=auth(app, admin)).json()
        seen += [u["id"] for u in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen)) == 5
    assert made | {str(admin.id)} == set(seen)
    assert client.get(USERS, params={"limit": 201}, headers=auth(app, admin)).status_code == 422
    assert (
        client.get(USERS, params={"cursor": "garbage"}, headers=auth(app, admin)).status_code == 422
    )


# --- refresh grace window (issue 22, point 12) -----------------------------------------------

REFRESH = "/api/v1/auth/refresh"


def _family(database) -> list[RefreshToken]:
    with database.transaction() as session:
        return list(session.exec(select(RefreshToken).order_by(col(RefreshToken.issued_at))).all())


def _audit_actions(database) -> list[str]:
    with database.transaction() as session:
        return [
            e.action for e in session.exec(select(AuditEvent).order_by(col(AuditEvent.seq))).all()
        ]


def test_a_just_spent_refresh_token_answers_again_within_the_grace_window(
    client: TestClient, database, school, clock
) -> None:
    staff = make_user(database, school, "staff")
    first = login(client, staff.email, DEFAULT_PASSWORD).json()
    answer = client.post(REFRESH, json={"refresh_token": first["refresh_token"]})
    assert answer.status_code == 200
    # The response was lost; the client tries again just inside the window.
    clock.advance(seconds=29)
    again = client.post(REFRESH, json={"refresh_token": first["refresh_token"]})
    assert again.status_code == 200, again.text
    assert again.json()["refresh_token"] == answer.json()["refresh_token"]
    assert client.get(ME, headers=bearer(again.json()["access_token"])).status_code == 200
    tokens = _family(database)
    assert len(tokens) == 2 and all(t.revoked_at is None for t in tokens)
    # Only digests are stored, never a token in clear.
    successor = answer.json()["refresh_token"]
    assert {t.token_hash for t in tokens} == {
        hashlib.sha256(first["refresh_token"].encode()).hexdigest(),
        hashlib.sha256(successor.encode()).hexdigest(),
    }
    assert "auth.refresh_reuse" not in _audit_actions(database)
    # The successor is the family's live token and rotates as usual.
    assert client.post(REFRESH, json={"refresh_token": successor}).status_code == 200


def test_reuse_after_the_grace_window_revokes_the_family(
    client: TestClient, database, school, clock
) -> None:
    staff = make_user(database, school, "staff")
    first = login(client, staff.email, DEFAULT_PASSWORD).json()
    successor = client.post(REFRESH, json={"refresh_token": first["refresh_token"]}).json()
    clock.advance(seconds=30)
    replay = client.post(REFRESH, json={"refresh_token": first["refresh_token"]})
    assert replay.status_code == 401
    assert replay.json()["error"] == "invalid_grant"
    assert client.post(REFRESH, json={"refresh_token": successor["refresh_token"]}).status_code == (
        401
    )
    assert all(t.revoked_at is not None for t in _family(database))
    assert _audit_actions(database).count("auth.refresh_reuse") == 1


def test_reusing_an_older_spent_token_revokes_even_within_the_window(
    client: TestClient, database, school, clock
) -> None:
    staff = make_user(database, school, "staff")
    first = login(client, staff.email, DEFAULT_PASSWORD).json()
    second = client.post(REFRESH, json={"refresh_token": first["refresh_token"]}).json()
    third = client.post(REFRESH, json={"refresh_token": second["refresh_token"]})
    assert third.status_code == 200
    # `first` is spent and so is its successor: it is not the just-spent token.
    clock.advance(seconds=1)
    replay = client.post(REFRESH, json={"refresh_token": first["refresh_token"]})
    assert replay.status_code == 401
    assert replay.json()["error"] == "invalid_grant"
    assert client.post(
        REFRESH, json={"refresh_token": third.json()["refresh_token"]}
    ).status_code == (401)
    assert all(t.revoked_at is not None for t in _family(database))
    assert "auth.refresh_reuse" in _audit_actions(database)


def test_two_refreshes_racing_with_one_token_both_get_the_same_successor(
    app: FastAPI, client: TestClient, database, school
) -> None:
    staff = make_user(database, school, "staff")
    first = login(client, staff.email, DEFAULT_PASSWORD).json()
    barrier = threading.Barrier(2)

    def spend(_: int) -> tuple[int, str]:
        racer = TestClient(app, raise_server_exceptions=False)
        barrier.wait()
        answer = racer.post(REFRESH, json={"refresh_token": first["refresh_token"]})
        return answer.status_code, answer.json().get("refresh_token", answer.text)

    with ThreadPoolExecutor(max_workers=2) as pool:
        answers = list(pool.map(spend, range(2)))
    assert [status for status, _ in answers] == [200, 200], answers
    assert answers[0][1] == answers[1][1]
    tokens = _family(database)
    assert len(tokens) == 2 and all(t.revoked_at is None for t in tokens)
    assert client.post(REFRESH, json={"refresh_token": answers[0][1]}).status_code == 200


def test_production_needs_a_real_secret_for_the_grace_window_whatever_the_algorithm(
    tmp_path,
) -> None:
    pem = tmp_path / "key.pem"
    pem.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    es256 = {
        "env": "production",
        "jwt_algorithm": "ES256",
        "jwt_private_key_file": pem,
        "files_key": "ab" * 32,  # production needs one (ADR 0105)
        "transfer_signing_key": TRANSFER_KEY,
    }
    with pytest.raises(ConfigurationError):
        Settings(**es256).check_usable()
    Settings(**es256, refresh_grace_seconds=0).check_usable()
    Settings(**es256, secret_key="x" * 48).check_usable()


# --- the token endpoint speaks OAuth 2.0 errors (issue 22, point 14) ------------------------


def test_token_errors_carry_the_oauth_error_code(
    client: TestClient, app, database, school, clock
) -> None:
    staff = make_user(database, school, "staff")
    wrong = login(client, staff.email, "not-the-password")
    assert wrong.status_code == 401
    assert wrong.json()["type"].endswith("/unauthenticated")
    assert wrong.json()["error"] == "invalid_grant"
    account = make_service_account(database, school)
    client_answer = client.post(
        TOKEN,
        data={
            "grant_type": "client_credentials",
            "client_id": account.client_id,
            "client_secret": "wrong",
        },
    )
    assert client_answer.status_code == 401
    assert client_answer.json()["error"] == "invalid_client"
    unsupported = client.post(TOKEN, data={"grant_type": "implicit"})
    assert unsupported.status_code == 422
    assert unsupported.json()["type"].endswith("/validation-error")
    assert unsupported.json()["error"] == "unsupported_grant_type"
    missing = client.post(TOKEN, data={"grant_type": "password", "username": staff.email})
    assert missing.status_code == 422
    assert missing.json()["error"] == "invalid_request"
    assert missing.json()["errors"][0]["loc"] == ["body", "password"]
    for _ in range(4):
        login(client, staff.email, "not-the-password")
    throttled = login(client, staff.email, DEFAULT_PASSWORD)
    assert throttled.status_code == 429 and throttled.headers["retry-after"]
    assert throttled.json()["error"] == "temporarily_unavailable"


def test_mfa_required_keeps_its_type_and_says_invalid_grant(
    client: TestClient, database, school, clock
) -> None:
    dsl = make_user(database, school, "dsl", mfa=True)
    answer = login(client, dsl.email, DEFAULT_PASSWORD)
    assert answer.status_code == 401
    assert answer.json()["type"].endswith("/mfa-required")
    assert answer.json()["error"] == "invalid_grant"


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", '{"grant_type": "password", "username": "a@b.example"}'),
        ("text/plain", "grant_type=password"),
    ],
)
def test_a_body_that_is_not_a_form_is_a_415_that_asks_for_one(
    client: TestClient, content_type: str, body: str
) -> None:
    answer = client.post(TOKEN, content=body, headers={"Content-Type": content_type})
    assert answer.status_code == 415
    assert answer.headers["content-type"] == "application/problem+json"
    problem = answer.json()
    assert problem["type"].endswith("/unsupported-media-type")
    assert problem["error"] == "invalid_request"
    assert "application/x-www-form-urlencoded" in problem["detail"]
    assert "Field required" not in problem["detail"] and "errors" not in problem


def test_a_refused_refresh_says_invalid_grant_and_logout_is_unchanged(
    client: TestClient,
) -> None:
    refused = client.post(REFRESH, json={"refresh_token": "not-a-token"})
    assert refused.status_code == 401
    assert refused.json()["type"].endswith("/unauthenticated")
    assert refused.json()["error"] == "invalid_grant"
    # Logout never refuses a token (nothing to reveal); a malformed body is a plain 422.
    assert client.post("/api/v1/auth/logout", json={"refresh_token": "x"}).status_code == 204
    malformed = client.post("/api/v1/auth/logout", json={})
    assert malformed.status_code == 422 and "error" not in malformed.json()


def test_the_document_shows_the_415_and_the_error_member(app: FastAPI) -> None:
    document = app.openapi()
    token = document["paths"]["/api/v1/auth/token"]["post"]
    assert "415" in token["responses"]
    error = document["components"]["schemas"]["Problem"]["properties"]["error"]
    codes = error["enum"]  # present only on those endpoints, never null (ADR 0063)
    assert {"invalid_grant", "invalid_client", "unsupported_grant_type", "invalid_request"} <= set(
        codes
    )
    assert "error" not in document["components"]["schemas"]["Problem"].get("required", [])
