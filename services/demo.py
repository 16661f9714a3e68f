"""A fictional demo school for a newcomer's first run: one user of every role, 300
pupils, a few dozen concerns, so every endpoint has something to show.

Every name and every word here is invented. The demo is refused in production.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import pyotp
from sqlmodel import Session, select

from models.case import ActionCreate, ActionType, CaseCreate, CaseLevel, DecisionCreate
from models.concern import AddendumCreate, ConcernCreate
from models.link import EntityCreate, EntityKind
from models.pupil import PupilCreate
from models.school import School
from models.triage import RiskLevel, TriageChange, TriageStatus
from models.user import PRIVILEGED_ROLES, Role, User, UserCreate
from services import cases, concerns, patterns, pupils, schools, triage, users
from services.context import RequestContext
from services.guidance import GuidanceLibrary
from services.preconditions import etag
from services.principal import Principal

DEMO_URN = "999901"
DEMO_SCHOOL_NAME = "Demo Fictional Academy"
DEMO_DOMAIN = "demo.concernlog.example"
PUPIL_COUNT = 300
CONCERN_COUNT = 36

# Passwords are printed for the newcomer: they protect fictional data on their own machine.
DEMO_ACCOUNTS: tuple[tuple[Role, str, str], ...] = (
    (Role.staff, "Sam Teacher", "demo-staff-passphrase"),
    (Role.staff, "Alex Teaching-Assistant", "demo-staff2-passphrase"),
    (Role.dsl, "Jo Safeguarding-Lead", "demo-dsl-passphrase"),
    (Role.deputy_dsl, "Kit Deputy-Lead", "demo-deputy-passphrase"),
    (Role.admin, "Pat Data-Manager", "demo-admin-passphrase"),
)

_GIVEN = (
    "Amari",
    "Bryn",
    "Cass",
    "Dara",
    "Eli",
    "Fen",
    "Gale",
    "Hollis",
    "Ira",
    "Jules",
    "Kai",
    "Lark",
    "Marlo",
    "Nico",
    "Oren",
    "Pip",
    "Quill",
    "Rory",
    "Sage",
    "Tam",
    "Umi",
    "Vale",
    "Wren",
    "Xan",
    "Yael",
    "Zoë",
    "Ari",
    "Bex",
    "Cato",
    "Demi",
)
_FAMILY = (
    "Ashvale",
    "Brightmoor",
    "Cobblefield",
    "Dunmere",
    "Elderwick",
    "Foxhollow",
    "Greystone",
    "Hazelby",
    "Ivybridge-Fictional",
    "Juniperlane",
)
_YEARS = ("Year 7", "Year 8", "Year 9", "Year 10", "Year 11")
_OBSERVATIONS = (
    "Said an older friend collects them from the bus stop and would not say who it is.",
    "Had a new phone and a lot of cash and would not say where it came from.",
    "Seemed frightened when a car waited outside the gates at home time.",
    "Has missed the first two lessons three days running and was tired and withdrawn.",
    "Received many messages during the lesson and became upset reading them.",
    "Mentioned staying out overnight at a party at an adult's flat.",
)
_LOCATIONS = ("Bus stop outside school", "Classroom 12", "School gates", "Canteen", None)


@dataclass(frozen=True)
class DemoLogin:
    role: str
    email: str
    password: str
    totp_secret: str | None


@dataclass(frozen=True)
class DemoSchool:
    school_id: uuid.UUID
    logins: list[DemoLogin]
    created: bool


def _email(role: Role, index: int) -> str:
    suffix = "" if index == 0 else str(index + 1)
    return f"{role.value.replace('_', '-')}{suffix}@{DEMO_DOMAIN}"


def _logins(session: Session, school_id: uuid.UUID) -> list[DemoLogin]:
    found = {
        u.email: u for u in session.exec(select(User).where(User.school_id == school_id)).all()
    }
    logins = []
    seen: dict[Role, int] = {}
    for role, _name, password in DEMO_ACCOUNTS:
        index = seen.get(role, 0)
        seen[role] = index + 1
        user = found.get(_email(role, index))
        if user is not None:
            logins.append(DemoLogin(role.value, user.email, password, user.totp_secret))
    return logins


def database_is_empty(session: Session) -> bool:
    return session.exec(select(School.id).limit(1)).first() is None


def seed_demo(
    session: Session, *, now: datetime, guidance: GuidanceLibrary, seed: int = 2026
) -> DemoSchool:
    """Create the demo school, or find it if it exists (then nothing is changed).

    Everything is made through the same services as the API, so the audit log, search
    columns and idempotency rules hold for the demo data too."""
    existing = session.exec(select(School).where(School.urn == DEMO_URN)).first()
    if existing is not None:
        return DemoSchool(existing.id, _logins(session, existing.id), created=False)

    rng = random.Random(seed)  # noqa: S311 (fictional data, not secrets)
    school = schools.create_school(session, name=DEMO_SCHOOL_NAME, urn=DEMO_URN)
    people: dict[Role, list[User]] = {}
    seen: dict[Role, int] = {}
    for role, name, password in DEMO_ACCOUNTS:
        index = seen.get(role, 0)
        seen[role] = index + 1
        user = users.create_user_in_school(
            session,
            school_id=school.id,
            data=UserCreate(
                email=_email(role, index), display_name=name, role=role, password=password
            ),
            now=now,
        )
        if role in PRIVILEGED_ROLES:
            # Enrolled up front so the newcomer can sign in with the printed secret.
            user.totp_secret = pyotp.random_base32()
            user.mfa_enrolled = True
            session.add(user)
        people.setdefault(role, []).append(user)
    session.flush()

    def as_principal(user: User) -> Principal:
        return Principal(id=user.id, school_id=school.id, role=Role(user.role), kind="user")

    dsl = as_principal(people[Role.dsl][0])
    pupil_ids = []
    for n in range(PUPIL_COUNT):
        given, family = _GIVEN[n % len(_GIVEN)], _FAMILY[(n // len(_GIVEN)) % len(_FAMILY)]
        year = _YEARS[n % len(_YEARS)]
        created = pupils.create_pupil(
            session,
            RequestContext(principal=dsl, now=now, request_id=None, guidance=guidance),
            pupil=PupilCreate(
                given_name=given,
                family_name=family,
                date_of_birth=date(2010 + (n % 5), 1 + n % 12, 1 + n % 28),
                year_group=year,
                registration_group=f"{year.split()[1]}{'ABCD'[n % 4]}",
            ),
        )
        pupil_ids.append(created.id)

    recorders = [as_principal(u) for u in people[Role.staff]] + [dsl]
    concerns_by_pupil: dict[uuid.UUID, list[uuid.UUID]] = {}
    # A handful of pupils gather several concerns, as a DSL would see in practice.
    focus = pupil_ids[:6]
    for n in range(CONCERN_COUNT):
        recorder = recorders[n % len(recorders)]
        pupil_id = focus[n % len(focus)] if n % 3 else rng.choice(pupil_ids)
        observed = now - timedelta(days=rng.randint(0, 40), hours=rng.randint(0, 8))
        indicator_ids = guidance.get("cse").indicator_ids()
        created_concern = concerns.create_concern(
            session,
            RequestContext(
                principal=recorder,
                now=min(observed + timedelta(hours=rng.randint(0, 30)), now),
                request_id=None,
                guidance=guidance,
            ),
            concern=ConcernCreate(
                pupil_ids=[pupil_id],
                guidance_key="cse",
                indicators=rng.sample(indicator_ids, k=rng.randint(1, 3)),
                description=_OBSERVATIONS[n % len(_OBSERVATIONS)],
                observed_at=observed,
                location=_LOCATIONS[n % len(_LOCATIONS)],
                immediate_danger=n % 17 == 0,
                police_contacted=n % 17 == 0,
            ),
        )
        concerns_by_pupil.setdefault(pupil_id, []).append(created_concern.id)
        if n % 5 == 0:
            concerns.add_addendum(
                session,
                RequestContext(principal=recorder, now=now, request_id=None, guidance=guidance),
                concern_id=created_concern.id,
                addendum=AddendumCreate(
                    text="Spoke to the form tutor, who had noticed the same.",
                    reason="Further information after the first record.",
                ),
            )
    session.flush()
    _a_jigsaw(
        session,
        people=people,
        as_principal=as_principal,
        now=now,
        guidance=guidance,
        pupil_ids=pupil_ids[6:9],
    )
    _triage_and_open_a_case(
        session,
        dsl=dsl,
        now=now,
        guidance=guidance,
        focus=max(concerns_by_pupil, key=lambda p: len(concerns_by_pupil[p])),
        concerns_by_pupil=concerns_by_pupil,
    )
    return DemoSchool(school.id, _logins(session, school.id), created=True)


# The demo's pattern (README, "Seeing the jigsaw"): over a fortnight, three members of
# staff each notice one sign about Gale Ashvale; the DSL records the car three children
# were seen getting into.
JIGSAW: tuple[tuple[int, str, int, str], ...] = (
    # (recorder: index into staff + DSL, indicator, days ago, description)
    (
        0,
        "unexplained-money-or-items",
        13,
        "Had a new phone and new trainers; would not say where they came from.",
    ),
    (
        1,
        "older-partner-or-new-friends",
        8,
        "Talked about an older friend who drives them around after school.",
    ),
    (
        2,
        "misses-school-or-arrives-late",
        2,
        "Missed three afternoons this week; seen getting into a silver car at the gates.",
    ),
)
JIGSAW_CAR = "AB12 CDE"


def _a_jigsaw(
    session: Session,
    *,
    people: dict[Role, list[User]],
    as_principal: Callable[[User], Principal],
    now: datetime,
    guidance: GuidanceLibrary,
    pupil_ids: list[uuid.UUID],
) -> None:
    """A pattern that fires (``distinct-signs``: three signs from three staff), and a car
    connecting three children; evaluated as the worker would."""
    recorders = [as_principal(u) for u in people[Role.staff]] + [as_principal(people[Role.dsl][0])]
    dsl = recorders[-1]
    gale, *others = pupil_ids
    for recorder, indicator, days, description in JIGSAW:
        observed = now - timedelta(days=days, hours=3)
        logged = concerns.create_concern(
            session,
            RequestContext(
                principal=recorders[recorder],
                now=observed + timedelta(hours=1),
                request_id=None,
                guidance=guidance,
            ),
            concern=ConcernCreate(
                pupil_ids=[gale],
                guidance_key="cse",
                indicators=[indicator],
                description=description,
                observed_at=observed,
                location="School gates, Fictional Lane",
                immediate_danger=False,
                police_contacted=False,
            ),
        )
        if days == 2:
            _car(session, dsl, now, guidance, logged.id)
    for n, pupil_id in enumerate(others):
        observed = now - timedelta(days=4 + n, hours=5)
        logged = concerns.create_concern(
            session,
            RequestContext(
                principal=recorders[n],
                now=observed + timedelta(hours=1),
                request_id=None,
                guidance=guidance,
            ),
            concern=ConcernCreate(
                pupil_ids=[pupil_id],
                guidance_key="cse",
                indicators=["older-partner-or-new-friends"],
                description="Seen getting into a silver car with an older driver after school.",
                observed_at=observed,
                location="School gates, Fictional Lane",
                immediate_danger=False,
                police_contacted=False,
            ),
        )
        _car(session, dsl, now, guidance, logged.id)
    session.flush()
    patterns.evaluate_all(session, now=now)


def _car(
    session: Session,
    dsl: Principal,
    now: datetime,
    guidance: GuidanceLibrary,
    concern_id: uuid.UUID,
) -> None:
    patterns.create_entity(
        session,
        RequestContext(principal=dsl, now=now, request_id=None, guidance=guidance),
        body=EntityCreate(kind=EntityKind.vehicle, label=JIGSAW_CAR),
        concern_id=concern_id,
    )


def _triage_and_open_a_case(
    session: Session,
    *,
    dsl: Principal,
    now: datetime,
    guidance: GuidanceLibrary,
    focus: uuid.UUID,
    concerns_by_pupil: dict[uuid.UUID, list[uuid.UUID]],
) -> None:
    """The DSL's side of the demo: a few concerns triaged, and a case for the pupil with
    the most concerns, with an action and a decision."""
    for concern_ids in list(concerns_by_pupil.values())[:8]:
        _, current = concerns.load_with_triage(session, dsl, concern_ids[0])
        triage.triage_concern(
            session,
            RequestContext(principal=dsl, now=now, request_id=None, guidance=guidance),
            concern_id=concern_ids[0],
            change=TriageChange(
                status=TriageStatus.acknowledged,
                risk_level=RiskLevel.medium,
                assigned_to=dsl.id,
                reason="Read and discussed with the form tutor.",
            ),
            if_match=etag(concerns.ETAG_KIND, current.version),
        )
    context = RequestContext(principal=dsl, now=now, request_id=None, guidance=guidance)
    opened = cases.create_case(
        session,
        context,
        case=CaseCreate(
            pupil_id=focus,
            concern_ids=concerns_by_pupil[focus][:3],
            level=CaseLevel.early_help,
            summary="Several staff have noticed gifts, secrecy and late nights.",
            assigned_to=dsl.id,
        ),
    )
    acted = cases.change_case(
        session,
        context,
        case_id=opened.case.id,
        if_match=opened.etag,
        change=cases.ADD_ACTION,
        body=ActionCreate(
            type=ActionType.contact_parent,
            description="Phoned a parent to share the school's worries.",
            occurred_at=now - timedelta(hours=2),
            with_whom="Parent (fictional)",
        ),
    )
    cases.change_case(
        session,
        context,
        case_id=opened.case.id,
        if_match=acted.etag,
        change=cases.ADD_DECISION,
        body=DecisionCreate(
            decision="Offer early help and review in four weeks.",
            reason="A pattern is emerging, but there is no sign of immediate danger.",
        ),
    )


def demo_logins(session: Session) -> list[DemoLogin]:
    school = session.exec(select(School).where(School.urn == DEMO_URN)).first()
    return [] if school is None else _logins(session, school.id)
