"""Every POST that creates a record takes ``Idempotency-Key`` with the concern rules
(issue 22, point 13; docs/adr/0062-one-idempotency-mechanism-for-every-create.md).

``CREATES`` holds one way to make a fresh, valid request for every operation that takes
the header; the tests run each of them on both databases. A POST that answers 201
without taking the header fails ``test_every_create_takes_an_idempotency_key``; one that
takes it without a row here fails ``test_every_operation_taking_a_key_is_tried_here``.

Adding a creating route? Give it ``once: Idempotent`` (api/idempotency.py) and a row here.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from fastapi import FastAPI, Response
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlmodel import SQLModel, col

from api.idempotency import idempotency_key
from core import bundles
from db.engine import Database
from models import AuditEvent
from models.concern import IdempotencyKey
from models.user import Role
from tests import factories
from tests.desk import API, CASES, CONCERNS, Desk, concern_body, iso, uid
from tests.factories import make_user
from tests.pattern_support import raise_flag

KEY = "Idempotency-Key"
REPLAYED = "idempotent-replayed"


@dataclass
class Creating:
    """A fresh request to a creating operation, another request to the same address, and
    two callers who may both make it."""

    path: str
    body: dict[str, Any]
    other_body: dict[str, Any]
    caller: Any
    other_caller: Any
    # The ETag to send as If-Match (a change of a versioned record), read when asked.
    if_match: Callable[[], str] | None = field(default=None)
    # For an operation without a body: another address of it, the other request.
    other_path: str | None = field(default=None)
    # A multipart upload: ``body`` is {"filename", "content"} sent as the field ``file``.
    multipart: bool = field(default=False)
    # For a body that is not JSON (a transfer bundle): its media type; the body is then
    # ``{"content": ...}``, sent as it is.
    media_type: str | None = field(default=None)


def _concerns(desk: Desk) -> Creating:
    world = desk.world
    body = concern_body(desk.clock, [world.zoe])
    return Creating(
        CONCERNS, body, body | {"description": "Another thing."}, world.staff_a, world.staff_b
    )


def _addenda(desk: Desk) -> Creating:
    concern = desk.concern()
    body = {"text": "The bus stop was on Fictional Road.", "reason": "Correcting the place."}
    return Creating(
        f"{CONCERNS}/{concern['id']}/addenda",
        body,
        body | {"text": "Something else."},
        desk.world.staff_a,
        desk.world.dsl,
    )


def _entered_in_error(desk: Desk) -> Creating:
    concern = desk.concern()
    body = {
        "reason": "Logged against the wrong child.",
        "correct_pupil_ids": [uid(desk.world.zack)],
    }
    return Creating(
        f"{CONCERNS}/{concern['id']}/entered-in-error",
        body,
        {"reason": "Logged in error."},
        desk.world.dsl,
        desk.world.deputy,
    )


def _legal_hold(desk: Desk) -> Creating:
    return Creating(
        f"{API}/pupils/{desk.world.zoe.id}/legal-hold",
        {"reason": "A fictional claim."},
        {"reason": "Another fictional claim."},
        desk.world.dsl,
        desk.world.deputy,
    )


def _hold_release(desk: Desk) -> Creating:
    held = desk.client.post(
        f"{API}/pupils/{desk.world.zoe.id}/legal-hold",
        json={"reason": "A fictional claim."},
        headers=desk.headers(),
    )
    assert held.status_code == 201, held.text
    return Creating(
        f"{API}/pupils/{desk.world.zoe.id}/legal-hold/release",
        {"reason": "Settled."},
        {"reason": "Withdrawn."},
        desk.world.dsl,
        desk.world.deputy,
    )


def _destruction(desk: Desk) -> Creating:
    desk.concern()
    years = desk.client.put(f"{API}/retention/settings", json={"years": 7}, headers=desk.headers())
    assert years.status_code == 200
    return Creating(
        f"{API}/pupils/{desk.world.zoe.id}/destruction",
        {"reason": "Past retention."},
        {"reason": "Past retention, reviewed."},
        desk.world.dsl,
        desk.world.deputy,
    )


def _triage(desk: Desk) -> Creating:
    concern_id = desk.concern()["id"]
    return Creating(
        f"{CONCERNS}/{concern_id}/triage",
        {"status": "acknowledged", "reason": "Seen; talking to the form tutor."},
        {"status": "in_progress", "reason": "Seen; talking to the form tutor."},
        desk.world.dsl,
        desk.world.deputy,
        if_match=lambda: desk.read_concern(concern_id)[1],
    )


def _pupils(desk: Desk) -> Creating:
    body = {"given_name": "Ada", "family_name": "Keyfield", "date_of_birth": "2013-05-17"}
    return Creating(
        f"{API}/pupils", body, body | {"given_name": "Bea"}, desk.world.admin, desk.world.dsl
    )


def _cases(desk: Desk) -> Creating:
    concern = desk.concern()
    body = {
        "pupil_id": str(desk.world.zoe.id),
        "concern_ids": [concern["id"]],
        "level": "monitoring",
        "summary": "Fictional worries from several staff.",
    }
    return Creating(CASES, body, body | {"level": "early_help"}, desk.world.dsl, desk.world.deputy)


def _case_change(what: str, body: dict[str, Any], other: dict[str, Any], *, closed: bool = False):
    def make(desk: Desk) -> Creating:
        case, _ = desk.open_case(concern_ids=[desk.concern()["id"]])
        if closed:
            closing = {"outcome": "Support in place.", "reason": "No further worries."}
            assert desk.change_case(case["id"], "close", closing).status_code == 200
        sent = dict(body)
        if what == "concerns":
            sent = {"concern_ids": [desk.concern()["id"]]}
        return Creating(
            f"{CASES}/{case['id']}/{what}",
            sent,
            other,
            desk.world.dsl,
            desk.world.deputy,
            if_match=lambda: desk.read_case(case["id"])[1],
        )

    return make


def _action(desk: Desk) -> Creating:
    body = {
        "type": "discussion",
        "description": "Talked it through with the form tutor.",
        "occurred_at": iso(desk.clock.now() - timedelta(hours=1)),
    }
    return _case_change("actions", body, body | {"type": "meeting"})(desk)


def _another_admin(desk: Desk) -> factories.TestUser:
    return make_user(desk.world.app.state.database, desk.world.school, Role.admin)


def _users(desk: Desk) -> Creating:
    body = {
        "email": "new.colleague@fictional-school.example",
        "display_name": "New Colleague",
        "role": "staff",
        "password": "quartz-lantern-meadow-ferry-71",
    }
    return Creating(
        f"{API}/users", body, body | {"role": "dsl"}, desk.world.admin, _another_admin(desk)
    )


def _webhooks(desk: Desk) -> Creating:
    body = {"url": "https://example.invalid/hooks", "events": ["concern.created"]}
    return Creating(
        f"{API}/webhooks",
        body,
        body | {"url": "https://example.invalid/other"},
        desk.world.dsl,
        desk.world.deputy,
    )


def _acknowledge(desk: Desk) -> Creating:
    flag = raise_flag(desk)
    return Creating(
        f"{API}/flags/{flag['id']}/acknowledge",
        {"reason": "Already known: on a child protection plan."},
        {"reason": "Something else."},
        desk.world.dsl,
        desk.world.deputy,
    )


def _entities(record: str) -> Callable[[Desk], Creating]:
    def make(desk: Desk) -> Creating:
        concern = desk.concern()
        path = f"{CONCERNS}/{concern['id']}/entities"
        if record == "case":
            case, _ = desk.open_case(concern_ids=[concern["id"]])
            path = f"{CASES}/{case['id']}/entities"
        body = {"kind": "vehicle", "label": "AB12 CDE"}
        return Creating(path, body, body | {"label": "XY34 ZZZ"}, desk.world.dsl, desk.world.deputy)

    return make


def _service_accounts(desk: Desk) -> Creating:
    return Creating(
        f"{API}/service-accounts",
        {"name": "Fictional MIS sync"},
        {"name": "Another MIS sync"},
        desk.world.admin,
        _another_admin(desk),
    )


def _sync_runs(desk: Desk) -> Creating:
    return Creating(
        f"{API}/mis/sync-runs",
        {"kind": "delta", "source": "sims"},
        {"kind": "full", "source": "sims"},
        desk.world.mis,
        desk.world.admin,
    )


_REASON = {"reason": "Agreed at the review meeting."}


def _guidance_document(key: str) -> dict[str, Any]:
    return {
        "key": key,
        "title": "Signs of neglect at Fictional Academy",
        "category": "neglect",
        "sections": [
            {
                "id": "what-to-look-for",
                "heading": "What might I notice?",
                "items": [{"id": "often-hungry", "text": "Arrive hungry", "indicator": "hungry"}],
            }
        ],
        "indicators": [{"id": "hungry", "text": "Arrive hungry"}],
        "actions": [{"id": "tell-dsl", "text": "Tell the DSL today", "when": "always"}],
    }


def _drafts(desk: Desk) -> Creating:
    body = _guidance_document("neglect-signs")
    return Creating(
        f"{API}/guidance-drafts",
        body,
        body | {"title": "Another title"},
        desk.world.dsl,
        desk.world.deputy,
    )


def _publish(desk: Desk) -> Creating:
    def drafted(key: str) -> str:
        response = desk.client.post(
            f"{API}/guidance-drafts",
            json=_guidance_document(key),
            headers=desk.headers(desk.world.dsl),
        )
        assert response.status_code == 201, response.text
        return f"{API}/guidance-drafts/{response.json()['id']}/publish"

    return Creating(
        drafted("neglect-signs"),
        {},
        {},
        desk.world.dsl,
        desk.world.deputy,
        other_path=drafted("hunger-signs"),
    )


def _in_days(desk: Desk, days: int) -> str:
    return (desk.clock.now() + timedelta(days=days)).date().isoformat()


def _review(desk: Desk) -> Creating:
    body = {"review_on": _in_days(desk, 14), **_REASON}
    return _case_change("review", body, body | {"review_on": _in_days(desk, 21)})(desk)


def _assign(desk: Desk) -> Creating:
    body = {"assigned_to": str(desk.world.deputy.id), **_REASON}
    return _case_change("assign", body, body | {"reason": "The deputy knows the family."})(desk)


def _tasks(desk: Desk) -> Creating:
    case, _ = desk.open_case(concern_ids=[desk.concern()["id"]])
    body = {
        "title": "Check in with Zoë after registration.",
        "assigned_to": str(desk.world.staff_a.id),
        "due_on": _in_days(desk, 3),
    }
    return Creating(
        f"{CASES}/{case['id']}/tasks",
        body,
        body | {"due_on": _in_days(desk, 4)},
        desk.world.dsl,
        desk.world.deputy,
    )


def _subject_access(desk: Desk) -> Creating:
    desk.concern()
    body = {"redact_other_pupils": True, "redact_staff": True, "withhold": []}
    return Creating(
        f"{API}/pupils/{desk.world.zoe.id}/subject-access-exports",
        body,
        body | {"redact_staff": False},
        desk.world.dsl,
        desk.world.deputy,
    )


def _referrals(desk: Desk) -> Creating:
    case, _ = desk.open_case(concern_ids=[desk.concern()["id"]])
    body = {
        "agency": "childrens_social_care",
        "reference": "MASH-2026-0042",
        "made_at": iso(desk.clock.now() - timedelta(hours=1)),
    }
    return Creating(
        f"{CASES}/{case['id']}/referrals",
        body,
        body | {"agency": "early_help"},
        desk.world.dsl,
        desk.world.deputy,
    )


def _referral_outcome(desk: Desk) -> Creating:
    made = _referrals(desk)
    response = desk.client.post(made.path, json=made.body, headers=desk.headers(made.caller))
    assert response.status_code == 201, response.text
    body = {"outcome": "Accepted for an assessment."}
    return Creating(
        f"{made.path}/{response.json()['id']}/outcome",
        body,
        {"outcome": "No further action."},
        desk.world.dsl,
        desk.world.deputy,
    )


def _tiny_pdf(words: str) -> bytes:
    return b"%PDF-1.4\n% " + words.encode() + b"\ntrailer<<>>\n%%EOF\n"


def _concern_attachments(desk: Desk) -> Creating:
    concern = desk.concern()
    body = {"filename": "minutes.pdf", "content": _tiny_pdf("Fictional minutes.")}
    return Creating(
        f"{CONCERNS}/{concern['id']}/attachments",
        body,
        body | {"content": _tiny_pdf("Other fictional minutes.")},
        desk.world.staff_a,
        desk.world.dsl,
        multipart=True,
    )


def _case_attachments(desk: Desk) -> Creating:
    case, _ = desk.open_case(concern_ids=[desk.concern()["id"]])
    body = {"filename": "minutes.pdf", "content": _tiny_pdf("Fictional minutes.")}
    return Creating(
        f"{CASES}/{case['id']}/attachments",
        body,
        body | {"filename": "other.pdf"},
        desk.world.dsl,
        desk.world.deputy,
        multipart=True,
    )


def _body_maps(desk: Desk) -> Creating:
    concern = desk.concern()
    body = {"marks": [{"view": "front", "x": 0.4, "y": 0.3, "kind": "bruise", "note": "Small."}]}
    return Creating(
        f"{CONCERNS}/{concern['id']}/body-map",
        body,
        {"marks": [{"view": "back", "x": 0.4, "y": 0.3, "kind": "cut"}]},
        desk.world.staff_a,
        desk.world.dsl,
    )


def _transfers(desk: Desk) -> Creating:
    body = {"to_school_urn": desk.world.other_school.urn}
    return Creating(
        f"{API}/pupils/{desk.world.zoe.id}/transfers",
        body,
        body | {"left_on": _in_days(desk, -1)},
        desk.world.dsl,
        desk.world.deputy,
    )


def _receipts(desk: Desk) -> Creating:
    """A file sent to the desk's school by the other school on the service."""
    world = desk.world
    sent = desk.client.post(
        f"{API}/pupils/{world.elsewhere.id}/transfers",
        json={"to_school_urn": world.school.urn},
        headers=desk.headers(world.other_dsl),
    )
    assert sent.status_code == 201, sent.text
    body = {"pupil_id": str(world.zoe.id)}
    return Creating(
        f"{API}/transfers/{sent.json()['id']}/receipt",
        body,
        {"pupil_id": str(world.zack.id)},
        world.dsl,
        world.deputy,
    )


def _imports(desk: Desk) -> Creating:
    """A bundle from a school on another service whose key this one trusts."""
    world = desk.world
    keys = world.app.state.transfer_keys
    person = {"id": str(world.dsl.id), "display_name": "Fictional Sender"}

    def bundle(bundle_id: str) -> dict[str, str]:
        payload = {
            "format": "concernlog-transfer/1",
            "bundle_id": bundle_id,
            "issuer": {"urn": "700999", "name": "Faraway Fictional School"},
            "addressee": {"urn": world.school.urn},
            "issued_at": iso(desk.clock.now()),
            "issued_by": person,
            "left_on": _in_days(desk, 0),
            "due_by": _in_days(desk, 7),
            "pupil": {"id": bundle_id, "given_name": "Ada", "family_name": "Keyfield"},
            "chronology": [],
            "concerns": [],
            "cases": [],
        }
        token = bundles.sign(json.dumps(payload).encode("utf-8"), keys.signing)
        return {"content": token}

    return Creating(
        f"{API}/transfers/import",
        bundle("01936b2e-6a01-7d11-9c3e-5b2f4e6a7c01"),
        bundle("01936b2e-6a01-7d11-9c3e-5b2f4e6a7c02"),
        world.dsl,
        world.other_dsl,  # of another school: not addressed to them
        media_type="application/jose",
    )


CREATES: dict[tuple[str, str], Callable[[Desk], Creating]] = {
    ("POST", "/api/v1/concerns"): _concerns,
    ("POST", "/api/v1/concerns/{concern_id}/addenda"): _addenda,
    ("POST", "/api/v1/concerns/{concern_id}/triage"): _triage,
    ("POST", "/api/v1/concerns/{concern_id}/entered-in-error"): _entered_in_error,
    ("POST", "/api/v1/pupils/{pupil_id}/legal-hold"): _legal_hold,
    ("POST", "/api/v1/pupils/{pupil_id}/legal-hold/release"): _hold_release,
    ("POST", "/api/v1/pupils/{pupil_id}/destruction"): _destruction,
    ("POST", "/api/v1/pupils"): _pupils,
    ("POST", "/api/v1/cases"): _cases,
    ("POST", "/api/v1/cases/{case_id}/concerns"): _case_change(
        "concerns", {}, {"concern_ids": ["01936b2e-5f7a-7cc0-8a38-2c1f1c5d9a10"]}
    ),
    ("POST", "/api/v1/cases/{case_id}/actions"): _action,
    ("POST", "/api/v1/cases/{case_id}/decisions"): _case_change(
        "decisions",
        {"decision": "Refer to early help.", "reason": "A pattern of gifts."},
        {"decision": "No referral yet.", "reason": "A pattern of gifts."},
    ),
    ("POST", "/api/v1/cases/{case_id}/close"): _case_change(
        "close",
        {"outcome": "Support in place.", "reason": "No further worries."},
        {"outcome": "Family moved away.", "reason": "No further worries."},
    ),
    ("POST", "/api/v1/cases/{case_id}/reopen"): _case_change(
        "reopen", _REASON, {"reason": "A new concern shows the same pattern."}, closed=True
    ),
    ("POST", "/api/v1/cases/{case_id}/level"): _case_change(
        "level", {"level": "child_in_need", **_REASON}, {"level": "child_protection", **_REASON}
    ),
    ("POST", "/api/v1/cases/{case_id}/review"): _review,
    ("POST", "/api/v1/cases/{case_id}/assign"): _assign,
    ("POST", "/api/v1/cases/{case_id}/tasks"): _tasks,
    ("POST", "/api/v1/cases/{case_id}/referrals"): _referrals,
    ("POST", "/api/v1/cases/{case_id}/referrals/{referral_id}/outcome"): _referral_outcome,
    ("POST", "/api/v1/guidance-drafts"): _drafts,
    ("POST", "/api/v1/guidance-drafts/{draft_id}/publish"): _publish,
    ("POST", "/api/v1/users"): _users,
    ("POST", "/api/v1/service-accounts"): _service_accounts,
    ("POST", "/api/v1/webhooks"): _webhooks,
    ("POST", "/api/v1/mis/sync-runs"): _sync_runs,
    ("POST", "/api/v1/pupils/{pupil_id}/subject-access-exports"): _subject_access,
    ("POST", "/api/v1/concerns/{concern_id}/attachments"): _concern_attachments,
    ("POST", "/api/v1/cases/{case_id}/attachments"): _case_attachments,
    ("POST", "/api/v1/concerns/{concern_id}/body-map"): _body_maps,
    ("POST", "/api/v1/pupils/{pupil_id}/transfers"): _transfers,
    ("POST", "/api/v1/transfers/{transfer_id}/receipt"): _receipts,
    ("POST", "/api/v1/transfers/import"): _imports,
    ("POST", "/api/v1/flags/{flag_id}/acknowledge"): _acknowledge,
    ("POST", "/api/v1/concerns/{concern_id}/entities"): _entities("concern"),
    ("POST", "/api/v1/cases/{case_id}/entities"): _entities("case"),
}


# --- every create takes a key ----------------------------------------------------------------


def _depends_on(dependant: Dependant, call: Callable[..., Any]) -> bool:
    stack = [dependant]
    while stack:
        current = stack.pop()
        if current.call is call:
            return True
        stack.extend(current.dependencies)
    return False


def creates_without_a_key(app: FastAPI) -> list[str]:
    """Every POST route answering 201 that neither takes ``Idempotent`` nor documents the
    header: the rule, from the routes and from the document alike."""
    missing = []
    for route in iter_route_contexts(app.routes):
        original = route.original_route
        if not isinstance(original, APIRoute) or "POST" not in (route.methods or ()):
            continue
        if original.status_code == 201 and not _depends_on(route.dependant, idempotency_key):
            missing.append(f"POST {route.path} (route)")
    for path, item in app.openapi()["paths"].items():
        operation = item.get("post")
        if operation is None or "201" not in operation["responses"]:
            continue
        names = {p["name"] for p in operation.get("parameters", []) if p["in"] == "header"}
        if KEY not in names:
            missing.append(f"POST {path} (document)")
    return missing


def test_every_create_takes_an_idempotency_key(public_app: FastAPI) -> None:
    assert creates_without_a_key(public_app) == []


def test_the_rule_sees_a_create_without_a_key(public_app: FastAPI) -> None:
    """The check itself can fail: a 201 POST added without the dependency is named."""

    async def create_gadget() -> Response:
        return Response(status_code=201)

    public_app.add_api_route("/api/v1/gadgets", create_gadget, methods=["POST"], status_code=201)
    public_app.openapi_schema = None
    assert creates_without_a_key(public_app) == [
        "POST /api/v1/gadgets (route)",
        "POST /api/v1/gadgets (document)",
    ]


def test_every_operation_taking_a_key_is_tried_here(public_app: FastAPI) -> None:
    taking = {
        (method.upper(), path)
        for path, item in public_app.openapi()["paths"].items()
        for method, operation in item.items()
        if any(p["name"] == KEY for p in operation.get("parameters", []))
    }
    assert sorted(taking) == sorted(CREATES)


# --- the rules, on every one of them -------------------------------------------------------


def _counts(database: Database) -> dict[str, int]:
    """Rows per table, but for the audit log's (a replay is audited)."""
    with database.transaction() as session:
        return {
            table.name: int(session.execute(select(func.count()).select_from(table)).scalar_one())
            for table in SQLModel.metadata.sorted_tables
            if table.name != AuditEvent.__tablename__
        }


def _audited(database: Database) -> list[tuple[str, str]]:
    with database.transaction() as session:
        rows = session.execute(
            select(col(AuditEvent.action), col(AuditEvent.outcome)).order_by(col(AuditEvent.seq))
        ).all()
    return [(str(action), str(outcome)) for action, outcome in rows]


def _send(
    desk: Desk,
    made: Creating,
    body: dict[str, Any],
    who: Any,
    key: str,
    etag: str | None,
    *,
    path: str | None = None,
):
    headers = desk.headers(who, **{KEY: key})
    if etag is not None:
        headers["If-Match"] = etag
    if made.multipart:
        upload = {"file": (body["filename"], body["content"], "application/octet-stream")}
        return desk.client.post(path or made.path, files=upload, headers=headers)
    if made.media_type is not None:
        headers["Content-Type"] = made.media_type
        return desk.client.post(path or made.path, content=body["content"], headers=headers)
    return desk.client.post(path or made.path, json=body, headers=headers)


@pytest.mark.parametrize("operation", sorted(CREATES), ids=" ".join)
def test_a_repeated_request_is_answered_once(
    operation: tuple[str, str], desk: Desk, database: Database
) -> None:
    made = CREATES[operation](desk)
    etag = made.if_match() if made.if_match else None
    before = len(_audited(database))
    first = _send(desk, made, made.body, made.caller, "fictional-key-1", etag)
    assert first.status_code in (200, 201), first.text
    assert REPLAYED not in first.headers
    counted, audited = _counts(database), _audited(database)
    first_events = audited[before:]
    desk.clock.advance(minutes=10)

    # The same request again (a retry whose answer was lost): the first answer, again.
    again = _send(desk, made, made.body, made.caller, "fictional-key-1", etag)
    assert again.status_code == first.status_code
    assert again.json() == first.json()
    assert again.headers[REPLAYED] == "true"
    for header in ("location", "etag"):
        assert again.headers.get(header) == first.headers.get(header), header
    if first.status_code == 201:
        assert first.headers["location"].startswith("/api/v1/")
    # What the answers carry, the document declares (ADR 0063).
    method, template = operation
    documented = desk.world.app.openapi()["paths"][template][method.lower()]["responses"]
    declared = {name.lower() for name in documented[str(first.status_code)].get("headers", {})}
    for answer in (first, again):
        assert {"etag", "location", REPLAYED} & set(answer.headers) <= declared
    # Nothing new but the replay's audit events: what the first request recorded, again.
    assert _counts(database) == counted
    replay_events = _audited(database)[len(audited) :]
    assert first_events, "the first request is audited"
    assert [action for action, _ in replay_events] == [action for action, _ in first_events]
    assert {outcome for _, outcome in replay_events} == {"replayed"}

    # The same key with another request: a 422 that names the header; nothing written.
    other = _send(
        desk, made, made.other_body, made.caller, "fictional-key-1", etag, path=made.other_path
    )
    assert other.status_code == 422, other.text
    assert other.json()["errors"][0]["loc"] == ["header", KEY]
    assert _counts(database) == counted

    # Keys are per caller: another's same key is another request, never this answer.
    fresh = made.if_match() if made.if_match else None
    theirs = _send(desk, made, made.body, made.other_caller, "fictional-key-1", fresh)
    assert REPLAYED not in theirs.headers
    assert theirs.json() != first.json()


def test_a_key_stands_for_the_window_on_every_create(desk: Desk, database: Database) -> None:
    """The window (72 hours) holds for a create that is not a concern's: a sync run."""
    made = _sync_runs(desk)
    first = _send(desk, made, made.body, made.caller, "fictional-window", None).json()
    desk.clock.advance(hours=71, minutes=59)
    assert _send(desk, made, made.body, made.caller, "fictional-window", None).json() == first
    desk.clock.advance(minutes=2)
    later = _send(desk, made, made.body, made.caller, "fictional-window", None)
    assert later.status_code == 201 and later.json()["id"] != first["id"]


def test_the_stored_answer_shows_no_secret_to_the_database(
    desk: Desk, client: TestClient, database: Database
) -> None:
    """An initial password in a request and a client secret in an answer are kept for a
    replay, but never readable in the table (an HMAC fingerprint, a sealed answer)."""
    users, accounts = _users(desk), _service_accounts(desk)
    created = _send(desk, users, users.body, users.caller, "fictional-user", None)
    assert created.status_code == 201, created.text
    account = _send(desk, accounts, accounts.body, accounts.caller, "fictional-account", None)
    secret = account.json()["client_secret"]
    replay = _send(desk, accounts, accounts.body, accounts.caller, "fictional-account", None)
    assert replay.json()["client_secret"] == secret
    with database.transaction() as session:
        rows = session.execute(select(IdempotencyKey)).scalars().all()
        stored = " ".join(f"{row.request_hash} {row.response_body}" for row in rows)
    assert len(rows) == 2
    for clear in (secret, users.body["password"], users.body["email"], "Fictional MIS"):
        assert clear not in stored
