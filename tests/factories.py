"""Fictional records for tests, made directly through the services' models.

Every name here is invented. Never put a real child's or staff member's details in tests.
"""

from __future__ import annotations

import functools
import itertools
import uuid
from dataclasses import dataclass
from datetime import date, timedelta

import pyotp
from fastapi import FastAPI

from core import bundles
from core.clock import utcnow
from core.passwords import hash_password
from core.tokens import KeyRing, create_access_token
from db.engine import Database
from models import School, User
from models.pupil import Pupil
from models.user import PRIVILEGED_ROLES, Role, ServiceAccount
from services import audit

_counter = itertools.count(1)
DEFAULT_PASSWORD = "correct-horse-battery-staple-42"
TEST_SECRET = "test-secret-key-that-is-long-enough-0123456789"
# Production refuses to start without a key to sign transfer bundles (docs/adr/0085).
TRANSFER_KEY = bundles.new_private_pem()


@functools.cache
def _password_hash(password: str) -> str:
    """One argon2id hash per password per test process: a test's users share their
    password's hash (each checks as it would with a hash of its own), and building a
    fictional school stops costing a hash for every member of staff."""
    return hash_password(password)


def make_school(database: Database, *, name: str | None = None, urn: str | None = None) -> School:
    n = next(_counter)
    school = School(name=name or f"Fictional School {n}", urn=urn or f"{700000 + n:06d}")
    with database.transaction() as session:
        session.add(school)
        session.flush()
        audit.start_chain(session, school_id=school.id)
    return school


@dataclass
class TestUser:
    user: User
    password: str | None
    totp_secret: str | None

    @property
    def id(self) -> uuid.UUID:
        return self.user.id

    @property
    def email(self) -> str:
        return self.user.email

    def totp(self) -> str:
        assert self.totp_secret
        return pyotp.TOTP(self.totp_secret).now()


def make_user(
    database: Database,
    school: School,
    role: Role | str = Role.staff,
    *,
    password: str | None = DEFAULT_PASSWORD,
    mfa: bool | None = None,
    active: bool = True,
    display_name: str | None = None,
) -> TestUser:
    """A user; privileged roles are MFA-enrolled unless ``mfa=False`` is asked for."""
    role = Role(role)
    n = next(_counter)
    enrolled = (role in PRIVILEGED_ROLES) if mfa is None else mfa
    secret = pyotp.random_base32() if enrolled else None
    user = User(
        school_id=school.id,
        email=f"{role.value}.{n}@fictional-school.example",
        display_name=display_name or f"Test {role.value.replace('_', ' ').title()} {n}",
        role=role.value,
        active=active,
        password_hash=_password_hash(password) if password else None,
        totp_secret=secret,
        mfa_enrolled=enrolled,
    )
    with database.transaction() as session:
        session.add(user)
    return TestUser(user=user, password=password, totp_secret=secret)


def make_pupil(
    database: Database,
    school: School,
    given_name: str,
    family_name: str,
    *,
    preferred_name: str | None = None,
    status: str = "active",
    year_group: str | None = "Year 7",
    registration_group: str | None = "7F",
) -> Pupil:
    pupil = Pupil(
        school_id=school.id,
        given_name=given_name,
        family_name=family_name,
        preferred_name=preferred_name,
        date_of_birth=date(2014, 3, 9),
        year_group=year_group,
        registration_group=registration_group,
        status=status,
        left_on=date(2026, 7, 20) if status == "left" else None,
    )
    with database.transaction() as session:
        session.add(pupil)
    return pupil


def make_service_account(database: Database, school: School) -> ServiceAccount:
    account = ServiceAccount(
        school_id=school.id,
        name="Fictional MIS sync",
        client_id=f"cl_test{next(_counter)}",
        secret_hash="0" * 64,
    )
    with database.transaction() as session:
        session.add(account)
    return account


def token_for(app: FastAPI, who: TestUser | User | ServiceAccount, **overrides: object) -> str:
    """A valid access token minted directly, as a login would issue it: a person enrolled
    in MFA signed in with a code at ``now`` (``auth_time``), so it passes step-up."""
    keys: KeyRing = app.state.keys
    subject = who.user if isinstance(who, TestUser) else who
    is_service = isinstance(subject, ServiceAccount)
    kwargs: dict[str, object] = {
        "subject": subject.id,
        "role": subject.role,
        "school_id": subject.school_id,
        "token_version": subject.token_version,
        "subject_type": "service" if is_service else "user",
        "now": utcnow(),
        "lifetime": timedelta(minutes=15),
    }
    kwargs.update(overrides)
    if not is_service and getattr(subject, "mfa_enrolled", False):
        kwargs.setdefault("auth_time", kwargs["now"])
    return create_access_token(keys, **kwargs)  # type: ignore[arg-type]


def auth(
    app: FastAPI, who: TestUser | User | ServiceAccount, **overrides: object
) -> dict[str, str]:
    return {"Authorization": f"Bearer {token_for(app, who, **overrides)}"}
