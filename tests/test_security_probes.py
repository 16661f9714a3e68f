"""Refused and not-found requests for safeguarding records leave security events, ids only,
and probing cannot flood the audit chain (issue 22, point 6; ADR 0060)."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlmodel import select
from typer.testing import CliRunner

from api.cli import app as cli_app
from core.clock import utcnow
from db.engine import Database
from models import AuditEvent, School
from models.audit import AuditProbeWindow
from models.concern import IdempotencyKey
from services import audit
from services.audit import Actor, probes
from tests.desk import CASES, CONCERNS, Desk, events

API = "/api/v1"
AUDIT = f"{API}/audit"
PROBE = "security.probe"
SUMMARY = "security.probe_summary"


def _probes(database: Database) -> list[AuditEvent]:
    return [e for e in events(database) if e.action in (PROBE, SUMMARY)]


def _without_request_id(response: Any) -> dict[str, Any]:
    body: dict[str, Any] = response.json()
    body.pop("request_id", None)
    return body


def _chain_intact(desk: Desk) -> bool:
    with desk.world.app.state.database.transaction() as session:
        return audit.verify_chain(session, school_id=desk.world.school.id).ok


def test_a_staff_member_probing_anothers_concern_leaves_a_security_event_with_ids_only(
    desk: Desk, database: Database
) -> None:
    concern = desk.concern(desk.world.staff_a)
    nowhere = str(uuid.uuid4())
    prober = desk.headers(desk.world.staff_b)
    not_theirs = desk.client.get(f"{CONCERNS}/{concern['id']}", headers=prober)
    not_there = desk.client.get(f"{CONCERNS}/{nowhere}", headers=prober)
    # The caller cannot tell the two apart...
    assert not_theirs.status_code == not_there.status_code == 404
    assert _without_request_id(not_theirs) == _without_request_id(not_there)
    assert not_theirs.headers.get("content-type") == not_there.headers.get("content-type")
    # ... and both are in the chain: who, which kind, which id, how answered. Nothing else.
    probes = _probes(database)
    assert [(e.actor_id, e.entity_type, str(e.entity_id), e.outcome) for e in probes] == [
        (desk.world.staff_b.id, "concern", concern["id"], "not_found"),
        (desk.world.staff_b.id, "concern", nowhere, "not_found"),
    ]
    assert all(e.pupil_id is None and e.occurrences is None for e in probes)
    assert all(e.actor_role == "staff" and e.request_id for e in probes)
    assert _chain_intact(desk)


def test_refusals_by_role_leave_security_events(desk: Desk, database: Database) -> None:
    concern = desk.concern()
    world = desk.world
    zoe = str(world.zoe.id)
    case_id = str(uuid.uuid4())
    refused = [
        (world.admin, f"{CONCERNS}/{concern['id']}"),
        (world.admin, CONCERNS),
        (world.admin, f"{API}/pupils/{zoe}/chronology"),
        (world.staff_a, f"{API}/pupils/{zoe}"),
        (world.staff_a, f"{API}/pupils/{zoe}/export?format=json"),
        (world.staff_a, f"{CASES}/{case_id}"),
    ]
    for who, path in refused:
        assert desk.client.get(path, headers=desk.headers(who)).status_code == 403, path
    mis = desk.client.get(f"{CONCERNS}/{concern['id']}", headers=desk.headers(world.mis))
    assert mis.status_code == 403
    found = [
        (e.actor_id, e.entity_type, e.entity_id and str(e.entity_id), e.outcome)
        for e in _probes(database)
    ]
    assert found == [
        (world.admin.id, "concern", concern["id"], "refused"),
        (world.admin.id, "concern", None, "refused"),
        (world.admin.id, "pupil", zoe, "refused"),
        (world.staff_a.id, "pupil", zoe, "refused"),
        (world.staff_a.id, "pupil", zoe, "refused"),
        (world.staff_a.id, "case", case_id, "refused"),
        (world.mis.id, "concern", concern["id"], "refused"),
    ]
    assert all(e.pupil_id is None for e in _probes(database))


def test_the_dsl_desk_asking_for_another_schools_records_leaves_events(
    desk: Desk, database: Database
) -> None:
    elsewhere = str(desk.world.elsewhere.id)
    theirs = desk.concern(desk.world.other_staff, pupils=[desk.world.elsewhere])
    dsl = desk.headers()
    assert desk.client.get(f"{API}/pupils/{elsewhere}/chronology", headers=dsl).status_code == 404
    assert desk.client.get(f"{API}/pupils/{elsewhere}", headers=dsl).status_code == 404
    assert (
        desk.client.get(f"{API}/pupils/{elsewhere}/export?format=csv", headers=dsl).status_code
        == 404
    )
    case_id = str(uuid.uuid4())
    assert desk.client.get(f"{CASES}/{case_id}", headers=dsl).status_code == 404
    closed = desk.client.post(
        f"{CASES}/{case_id}/close",
        json={"outcome": "Fictional.", "reason": "Fictional."},
        headers=desk.headers(**{"If-Match": '"case-1"'}),
    )
    assert closed.status_code == 404
    triaged = desk.client.post(
        f"{CONCERNS}/{theirs['id']}/triage",
        json={"status": "acknowledged", "reason": "Fictional."},
        headers=desk.headers(**{"If-Match": '"triage-1"'}),
    )
    assert triaged.status_code == 404
    assert [(e.entity_type, str(e.entity_id), e.outcome) for e in _probes(database)] == [
        ("pupil", elsewhere, "not_found"),
        ("pupil", elsewhere, "not_found"),
        ("pupil", elsewhere, "not_found"),
        ("case", case_id, "not_found"),
        ("case", case_id, "not_found"),
        ("concern", theirs["id"], "not_found"),
    ]


def test_a_probe_keeps_its_event_and_nothing_else_of_the_request(
    desk: Desk, database: Database
) -> None:
    concern = desk.concern(desk.world.staff_a)
    response = desk.client.post(
        f"{CONCERNS}/{concern['id']}/addenda",
        json={"text": "Fictional further information.", "reason": "Fictional."},
        headers=desk.headers(desk.world.staff_b, **{"Idempotency-Key": "probe-key-0001"}),
    )
    assert response.status_code == 404
    with database.transaction() as session:
        # The key the request claimed went with its rollback; the probe stayed.
        assert session.exec(select(IdempotencyKey)).all() == []
    assert [(e.entity_type, str(e.entity_id)) for e in _probes(database)] == [
        ("concern", concern["id"])
    ]


def test_probing_a_hundred_ids_leaves_a_bounded_number_of_events_that_still_state_the_count(
    desk: Desk, database: Database
) -> None:
    prober = desk.headers(desk.world.staff_b)
    for _ in range(100):
        response = desk.client.get(f"{CONCERNS}/{uuid.uuid4()}", headers=prober)
        assert response.status_code == 404
    # A probe of another kind is counted on its own.
    refused = desk.client.get(f"{CASES}/{uuid.uuid4()}", headers=prober)
    assert refused.status_code == 403
    probes = _probes(database)
    assert [e.action for e in probes] == [PROBE] * 11
    assert sum(e.entity_type == "concern" for e in probes) == 10
    # The minute closes; whoever reads the log next finds its count in the chain.
    desk.clock.advance(seconds=61)
    assert desk.client.get(AUDIT, headers=desk.headers()).status_code == 200
    summaries = [e for e in _probes(database) if e.action == SUMMARY]
    assert [(e.actor_id, e.entity_type, e.entity_id, e.occurrences) for e in summaries] == [
        (desk.world.staff_b.id, "concern", None, 100)
    ]
    assert len(_probes(database)) == 12
    with database.transaction() as session:
        assert session.exec(select(AuditProbeWindow)).all() == []
    # Reading the log again adds nothing; the chain verifies with the count in it.
    desk.client.get(AUDIT, headers=desk.headers())
    assert len(_probes(database)) == 12
    assert _chain_intact(desk)
    shown = desk.client.get(AUDIT, params={"action": SUMMARY}, headers=desk.headers()).json()
    assert [item["occurrences"] for item in shown["items"]] == [100]


def test_a_closed_minute_is_counted_by_the_next_probe_too(desk: Desk, database: Database) -> None:
    prober = desk.headers(desk.world.staff_b)
    for _ in range(12):
        desk.client.get(f"{CONCERNS}/{uuid.uuid4()}", headers=prober)
    desk.clock.advance(minutes=5)
    desk.client.get(f"{CONCERNS}/{uuid.uuid4()}", headers=desk.headers(desk.world.staff_a))
    summaries = [e for e in _probes(database) if e.action == SUMMARY]
    assert [(e.actor_id, e.occurrences) for e in summaries] == [(desk.world.staff_b.id, 12)]
    # Dated when its minute closed, not when it was written.
    assert summaries[0].occurred_at < desk.clock.now()
    assert _chain_intact(desk)


def test_a_minute_with_no_more_probes_than_events_needs_no_summary(
    desk: Desk, database: Database
) -> None:
    prober = desk.headers(desk.world.staff_b)
    for _ in range(10):
        desk.client.get(f"{CONCERNS}/{uuid.uuid4()}", headers=prober)
    desk.clock.advance(seconds=61)
    desk.client.get(AUDIT, headers=desk.headers())
    assert [e.action for e in _probes(database)] == [PROBE] * 10
    with database.transaction() as session:
        assert session.exec(select(AuditProbeWindow)).all() == []


def test_a_checkpoint_signs_the_count_of_a_closed_minute(
    cli_env: Database, school: School, tmp_path: Path
) -> None:
    prober = Actor(type="user", id=uuid.uuid4(), role="staff", school_id=school.id)
    then = utcnow() - timedelta(minutes=5)
    with cli_env.transaction() as session:
        for _ in range(15):
            probes.record_probe(
                session,
                probes.Probe(
                    actor=prober,
                    kind="concern",
                    record_id=uuid.uuid4(),
                    outcome=probes.NOT_FOUND,
                    now=then,
                    request_id=None,
                ),
            )
    runner = CliRunner()
    key, out = tmp_path / "checkpoint.pem", tmp_path / "checkpoint.json"
    assert runner.invoke(cli_app, ["audit", "checkpoint-key", "--out", str(key)]).exit_code == 0
    args = ["audit", "checkpoint", "--school-urn", school.urn, "--key", str(key), "--out", str(out)]
    result = runner.invoke(cli_app, args)
    assert result.exit_code == 0, result.output
    # Ten events of their own, then the minute's count: the checkpoint vouches for it.
    assert json.loads(out.read_text(encoding="utf-8"))["seq"] == 11
    summary = _probes(cli_env)[-1]
    assert (summary.action, summary.actor_id, summary.occurrences) == (SUMMARY, prober.id, 15)
