"""The small, fictional school that ``bench.run`` loads: made through the services, so its
concerns carry their audit rows and hash chain exactly as the API would write them.

Every name here is invented.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass
from datetime import date, timedelta

import pyotp

from core.clock import utcnow
from core.passwords import hash_password
from core.settings import Settings
from core.tokens import KeyRing, create_access_token
from db.engine import Database
from guidance import GUIDANCE_DIR
from models.concern import ConcernCreate
from models.pupil import Pupil
from models.user import Role, User
from services import concerns, schools
from services.context import RequestContext
from services.guidance import GuidanceLibrary
from services.principal import Principal

STAFF_EMAIL = "bench.staff@fictional-school.example"
STAFF_PASSWORD = "bench-staff-passphrase-not-real"
DSL_EMAIL = "bench.dsl@fictional-school.example"
GUIDANCE_KEY = "cse"
# Tokens outlive any run (the default 15 minutes would not cover a long bench).
TOKEN_LIFETIME = timedelta(hours=6)

_GIVEN = ("Amari", "Bryn", "Cass", "Dara", "Eli", "Fen", "Gale", "Hollis", "Ira", "Jules")
_FAMILY = ("Ashvale", "Brightmoor", "Cobblefield", "Dunmere", "Elderwick", "Foxhollow")
_SEEN = (
    "was waiting at the gate with an older person nobody at school knows, and would not "
    "say who they were or how they knew each other.",
    "arrived with a new phone and expensive trainers and said a friend had given them, "
    "but looked worried when asked which friend.",
    "has been late most mornings this week and fell asleep in the first lesson twice; "
    "said they had been out late but would not say where.",
)


@dataclass(frozen=True)
class BenchSchool:
    """What the load needs: ids to address, and tokens minted as a login would."""

    school_id: uuid.UUID
    staff_id: uuid.UUID
    dsl_id: uuid.UUID
    pupil_ids: list[uuid.UUID]
    concern_ids: list[uuid.UUID]
    indicator_ids: list[str]
    staff_token: str
    dsl_token: str


def keyring(secret_key: str) -> KeyRing:
    """The server's key ring, rebuilt from the same secret it was given."""
    return KeyRing(Settings(secret_key=secret_key, env="production"))


def mint_token(keys: KeyRing, user: User) -> str:
    return create_access_token(
        keys,
        subject=user.id,
        role=user.role,
        school_id=user.school_id,
        token_version=user.token_version,
        subject_type="user",
        now=utcnow(),
        lifetime=TOKEN_LIFETIME,
        # As a sign-in with a code: the chronology needs a recent one (step-up, ADR 0093).
        auth_time=utcnow() if user.mfa_enrolled else None,
    )


def seed_school(
    database_url: str,
    *,
    secret_key: str,
    pupils: int = 200,
    concerns_count: int = 250,
    seed: int = 7,
    number: int = 0,
) -> BenchSchool:
    """One school with a member of staff (password, no MFA: the sign-in load), an
    MFA-enrolled DSL, ``pupils`` pupils and ``concerns_count`` concerns recorded by the
    member of staff, each about one pupil, with one to three indicators. ``number`` tells
    apart the schools of a bench that seeds several (its URN and email addresses)."""
    suffix = f"-{number}" if number else ""
    rng = random.Random(seed)
    guidance = GuidanceLibrary.load(GUIDANCE_DIR)
    indicator_ids = guidance.get(GUIDANCE_KEY).indicator_ids()
    database = Database.from_url(database_url)
    try:
        with database.transaction() as session:
            school = schools.create_school(
                session, name=f"Fictional Benchmark Academy{suffix}", urn=str(999077 + number)
            )
            staff = User(
                school_id=school.id,
                email=STAFF_EMAIL.replace("@", f"{suffix}@"),
                display_name="Bench Teacher",
                role=Role.staff.value,
                password_hash=hash_password(STAFF_PASSWORD),
            )
            dsl = User(
                school_id=school.id,
                email=DSL_EMAIL.replace("@", f"{suffix}@"),
                display_name="Bench Safeguarding-Lead",
                role=Role.dsl.value,
                totp_secret=pyotp.random_base32(),
                mfa_enrolled=True,
            )
            session.add_all([staff, dsl])
            pupil_rows = [
                Pupil(
                    school_id=school.id,
                    given_name=_GIVEN[n % len(_GIVEN)],
                    family_name=f"{_FAMILY[n % len(_FAMILY)]}-{n}",
                    date_of_birth=date(2012 + n % 6, 1 + n % 12, 1 + n % 28),
                    year_group=f"Year {7 + n % 6}",
                )
                for n in range(pupils)
            ]
            session.add_all(pupil_rows)
            session.flush()
        principal = Principal(id=staff.id, school_id=school.id, role=Role.staff, kind="user")
        concern_ids: list[uuid.UUID] = []
        now = utcnow()
        with database.transaction() as session:
            for n in range(concerns_count):
                recorded = now - timedelta(minutes=concerns_count - n)
                created = concerns.create_concern(
                    session,
                    RequestContext(
                        principal=principal,
                        now=recorded,
                        request_id=f"bench-seed-{n}",
                        guidance=guidance,
                    ),
                    concern=ConcernCreate(
                        pupil_ids=[rng.choice(pupil_rows).id],
                        guidance_key=GUIDANCE_KEY,
                        indicators=rng.sample(indicator_ids, rng.randint(1, 3)),
                        description=f"{rng.choice(_GIVEN)} {rng.choice(_SEEN)}",
                        observed_at=recorded - timedelta(days=rng.randint(0, 60), minutes=30),
                        location="Fictional bus stop",
                        immediate_danger=False,
                        police_contacted=False,
                    ),
                )
                concern_ids.append(created.id)
    finally:
        database.dispose()
    keys = keyring(secret_key)
    return BenchSchool(
        school_id=school.id,
        staff_id=staff.id,
        dsl_id=dsl.id,
        pupil_ids=[p.id for p in pupil_rows],
        concern_ids=concern_ids,
        indicator_ids=indicator_ids,
        staff_token=mint_token(keys, staff),
        dsl_token=mint_token(keys, dsl),
    )
