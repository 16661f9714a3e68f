"""The fictional world of the concern tests, and the DSL desk's helpers (triage, cases,
chronology, reports, export).

``World``: two schools, their staff, DSLs and pupils; ``Desk``: a client in that world and
short ways to do what a DSL does. The ``world`` and ``desk`` fixtures that build them live
in ``tests/conftest.py``. Every name and every text here is invented.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import col, select

from core.clock import FrozenClock, utcnow
from db.engine import Database
from models import AuditEvent, AuditEventPupil
from models.pupil import Pupil
from models.user import Role
from tests.factories import (
    TestUser,
    auth,
    make_pupil,
    make_school,
    make_service_account,
    make_user,
)

API = "/api/v1"
CONCERNS = f"{API}/concerns"
CASES = f"{API}/cases"


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


class World:
    """Two fictional schools, their people and pupils, and ready-made request headers."""

    def __init__(self, app: FastAPI, database: Database, clock: FrozenClock) -> None:
        self.app = app
        self.clock = clock
        self.school = make_school(database, name="Fictional Academy")
        self.other_school = make_school(database, name="Imaginary High School")
        self.staff_a = make_user(database, self.school, Role.staff, display_name="Sam Teacher")
        self.staff_b = make_user(database, self.school, Role.staff, display_name="Alex Tutor")
        self.dsl = make_user(database, self.school, Role.dsl, display_name="Jo Lead")
        self.deputy = make_user(database, self.school, Role.deputy_dsl)
        self.admin = make_user(database, self.school, Role.admin)
        self.other_dsl = make_user(database, self.other_school, Role.dsl)
        self.other_staff = make_user(database, self.other_school, Role.staff)
        self.mis = make_service_account(database, self.school)
        self.zoe = make_pupil(database, self.school, "Zoë", "Fictional")
        self.zack = make_pupil(database, self.school, "Zack", "Madeup")
        self.elsewhere = make_pupil(database, self.other_school, "Zoe", "Elsewhere")

    def headers(self, who: TestUser | Any) -> dict[str, str]:
        """A fresh token, issued at the app's (frozen) time."""
        return auth(self.app, who, now=self.clock.now())


def concern_body(
    clock: FrozenClock, pupils: list[Pupil] | list[uuid.UUID], **overrides: Any
) -> dict[str, Any]:
    ids = [str(p.id) if isinstance(p, Pupil) else str(p) for p in pupils]
    return {
        "pupil_ids": ids,
        "guidance_key": "cse",
        "indicators": ["secretive", "unexplained-money-or-items"],
        "description": "Had a new phone and said a friend gave it; would not say who.",
        "observed_at": iso(clock.now() - timedelta(hours=1)),
        "location": "Bus stop outside school",
        "immediate_danger": False,
        "police_contacted": False,
    } | overrides


def create(
    client: TestClient, world: World, who: TestUser, clock: FrozenClock, **overrides: Any
) -> dict[str, Any]:
    """POST a concern as ``who`` and answer its body (201 asserted)."""
    pupils = overrides.pop("pupils", [world.zoe])
    response = client.post(
        CONCERNS, json=concern_body(clock, pupils, **overrides), headers=world.headers(who)
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


class Desk:
    """The world, a client, and short ways to do what a DSL does."""

    def __init__(self, client: TestClient, world: World) -> None:
        self.client = client
        self.world = world

    @property
    def clock(self) -> FrozenClock:
        return self.world.clock

    def headers(self, who: TestUser | Any = None, **extra: str) -> dict[str, str]:
        """A token issued at the app's (frozen) time. python-jose also checks ``exp``
        against the wall clock, so the token lives until a little after real now even
        when the scenario's clock is set in the past."""
        now = self.clock.now()
        lifetime = max(timedelta(minutes=15), utcnow() - now + timedelta(minutes=15))
        return auth(self.world.app, who or self.world.dsl, now=now, lifetime=lifetime) | extra

    def concern(self, who: TestUser | None = None, **overrides: Any) -> dict[str, Any]:
        pupils = overrides.pop("pupils", [self.world.zoe])
        response = self.client.post(
            CONCERNS,
            json=concern_body(self.clock, pupils, **overrides),
            headers=self.headers(who or self.world.staff_a),
        )
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    def read_concern(self, concern_id: str, who: TestUser | None = None) -> tuple[dict, str]:
        response = self.client.get(f"{CONCERNS}/{concern_id}", headers=self.headers(who))
        assert response.status_code == 200, response.text
        return response.json(), response.headers["etag"]

    def triage(
        self, concern_id: str, body: dict[str, Any], *, etag: str | None = "read", **kw: Any
    ) -> Any:
        """POST a triage change; ``etag="read"`` reads the current one first."""
        if etag == "read":
            etag = self.read_concern(concern_id)[1]
        extra = {"If-Match": etag} if etag else {}
        return self.client.post(
            f"{CONCERNS}/{concern_id}/triage",
            json=body,
            headers=self.headers(kw.get("who"), **extra),
        )

    def open_case(self, **body: Any) -> tuple[dict[str, Any], str]:
        body.setdefault("pupil_id", str(self.world.zoe.id))
        body.setdefault("level", "early_help")
        body.setdefault("summary", "Fictional worries from several staff.")
        response = self.client.post(CASES, json=body, headers=self.headers())
        assert response.status_code == 201, response.text
        return response.json(), response.headers["etag"]

    def read_case(self, case_id: str) -> tuple[dict[str, Any], str]:
        response = self.client.get(f"{CASES}/{case_id}", headers=self.headers())
        assert response.status_code == 200, response.text
        return response.json(), response.headers["etag"]

    def change_case(
        self, case_id: str, what: str, body: dict[str, Any], *, etag: str | None = "read"
    ) -> Any:
        if etag == "read":
            etag = self.read_case(case_id)[1]
        extra = {"If-Match": etag} if etag else {}
        return self.client.post(
            f"{CASES}/{case_id}/{what}", json=body, headers=self.headers(**extra)
        )

    def fill_file(self, concerns: int) -> None:
        """Add to Zoë's file every kind of entry: ``concerns`` concerns, each with an
        addendum and a triage change, joined in her open case (opened now if she has
        none: a pupil has one open case at a time) with as many actions and decisions."""
        concern_ids = []
        for _ in range(concerns):
            concern = self.concern()
            concern_ids.append(concern["id"])
            self.client.post(
                f"{CONCERNS}/{concern['id']}/addenda",
                json={"text": "More.", "reason": "Fictional."},
                headers=self.headers(),
            )
            self.triage(concern["id"], {"status": "acknowledged", "reason": "Fictional."})
        open_cases = self.client.get(
            CASES,
            params={"pupil_id": str(self.world.zoe.id), "status": "open"},
            headers=self.headers(),
        ).json()["items"]
        if open_cases:
            case = open_cases[0]
            linked = self.change_case(case["id"], "concerns", {"concern_ids": concern_ids})
            assert linked.status_code == 200, linked.text
            etag = linked.headers["etag"]
        else:
            case, etag = self.open_case(concern_ids=concern_ids)
        for _ in range(concerns):
            action = {"type": "meeting", "description": "M.", "occurred_at": iso(self.clock.now())}
            etag = self.change_case(case["id"], "actions", action, etag=etag).headers["etag"]
            decision = {"decision": "D.", "reason": "Fictional."}
            etag = self.change_case(case["id"], "decisions", decision, etag=etag).headers["etag"]


def events(database: Database, action: str | None = None) -> list[AuditEvent]:
    with database.transaction() as session:
        query = select(AuditEvent).order_by(col(AuditEvent.seq))
        if action is not None:
            query = query.where(AuditEvent.action == action)
        return list(session.exec(query))


def page_pupils(database: Database, event: AuditEvent) -> list[uuid.UUID]:
    """The pupils on the page a list's one audit event records (ADR 0126), sorted."""
    with database.transaction() as session:
        return list(
            session.exec(
                select(AuditEventPupil.pupil_id)
                .where(AuditEventPupil.school_id == event.school_id)
                .where(AuditEventPupil.seq == event.seq)
                .order_by(col(AuditEventPupil.pupil_id))
            )
        )


def ids(items: list[dict[str, Any]]) -> list[str]:
    return [item["id"] for item in items]


def uid(value: Any) -> str:
    return str(value.id if hasattr(value, "id") else uuid.UUID(str(value)))
