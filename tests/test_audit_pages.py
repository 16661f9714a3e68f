"""A page of a list is ONE audit event, its children in ``audit_event_pupil`` (issue 23,
ADR 0126): the hash covers them, "who read this child's file" finds the page with the
child's own events in one query, and the chains written before still verify."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import col, select
from typer.testing import CliRunner

from api.cli import app as cli_app
from db.engine import Database
from models import AuditEvent, AuditEventPupil, School
from models.audit import AuditVerification
from models.pupil import Pupil
from services import audit
from services.audit import Actor
from services.audit import chain as audit_chain
from tests.desk import API, CASES, CONCERNS, Desk, events, page_pupils
from tests.factories import make_pupil, make_school

AUDIT = f"{API}/audit"
VERIFY = f"{AUDIT}/verify"
PUPILS = AuditEventPupil.__table__  # type: ignore[attr-defined]
runner = CliRunner()


def _pupils(desk: Desk, database: Database, count: int) -> list[Pupil]:
    """``count`` more fictional children of the desk's school, each with a concern."""
    made = [make_pupil(database, desk.world.school, f"Child{n}", "Invented") for n in range(count)]
    for pupil in made:
        desk.concern(pupils=[pupil])
    return made


def _verify(database: Database, school: School) -> AuditVerification:
    with database.transaction() as session:
        return audit.verify_chain(session, school_id=school.id, batch_size=3)


def _by_pupil(desk: Desk, pupil: Any, **params: Any) -> list[dict[str, Any]]:
    response = desk.client.get(
        AUDIT, params={"pupil_id": str(pupil.id), **params}, headers=desk.headers()
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def test_a_page_of_n_children_is_one_event_with_n_rows(desk: Desk, database: Database) -> None:
    children = _pupils(desk, database, 12)
    response = desk.client.get(CONCERNS, params={"limit": 50}, headers=desk.headers())
    assert response.status_code == 200 and len(response.json()["items"]) == 12
    (listed,) = events(database, "concern.list")
    assert (listed.pupil_id, listed.entity_id, listed.entity_type) == (None, None, "concern")
    assert page_pupils(database, listed) == sorted(p.id for p in children)
    assert _verify(database, desk.world.school).ok


def test_case_and_task_lists_are_one_event_per_page(desk: Desk, database: Database) -> None:
    world = desk.world
    amy = make_pupil(database, world.school, "Amy", "Invented")
    desk.open_case(pupil_id=str(world.zoe.id))
    desk.open_case(pupil_id=str(amy.id))
    assert desk.client.get(CASES, headers=desk.headers()).status_code == 200
    (listed,) = events(database, "case.list")
    assert listed.pupil_id is None
    assert page_pupils(database, listed) == sorted([world.zoe.id, amy.id])
    assert desk.client.get(f"{API}/tasks", headers=desk.headers()).status_code == 200
    (tasks,) = events(database, "task.list")
    assert page_pupils(database, tasks) == []  # an empty page: one event, about no child
    assert _verify(database, world.school).ok


def test_who_read_this_childs_file_finds_pages_and_single_reads(
    desk: Desk, database: Database
) -> None:
    world = desk.world
    concern = desk.concern(pupils=[world.zoe, world.zack])
    desk.client.get(CONCERNS, headers=desk.headers())  # a page, Zoë on it
    desk.read_concern(concern["id"])  # one event per child of the concern
    desk.client.get(CONCERNS, headers=desk.headers(world.staff_b))  # empty: about nobody

    trail = _by_pupil(desk, world.zoe)
    assert [e["action"] for e in trail] == ["concern.read", "concern.list", "concern.create"]
    read, page, _ = trail
    assert read["pupil_id"] == str(world.zoe.id) and read["pupil_ids"] == []
    assert page["pupil_id"] is None
    assert page["pupil_ids"] == sorted([str(world.zoe.id), str(world.zack.id)])
    assert page["actor_id"] == str(world.dsl.id)
    # Keyset pages over both kinds of event, newest first, none twice (filtered by the
    # entity type: the reads of the trail are in it too, as ``audit.read``).
    seen: list[int] = []
    cursor: str | None = None
    while True:
        params = {"pupil_id": str(world.zoe.id), "limit": "1", "entity_type": "concern"}
        if cursor:
            params["cursor"] = cursor
        response = desk.client.get(AUDIT, params=params, headers=desk.headers())
        body = response.json()
        seen += [e["seq"] for e in body["items"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == [e["seq"] for e in trail]
    # Another filter narrows both kinds.
    assert [e["seq"] for e in _by_pupil(desk, world.zoe, action="concern.list")] == [page["seq"]]
    assert _by_pupil(desk, world.zoe, actor_id=str(world.staff_b.id)) == []
    # Another school's child, and the same child's id in another school's trail: nothing.
    assert _by_pupil(desk, world.elsewhere) == []
    other = desk.client.get(
        AUDIT, params={"pupil_id": str(world.zoe.id)}, headers=desk.headers(world.other_dsl)
    )
    assert other.json()["items"] == []


def test_an_admin_sees_a_page_but_not_its_children(desk: Desk, database: Database) -> None:
    desk.concern(pupils=[desk.world.zoe])
    desk.client.get(CONCERNS, headers=desk.headers())
    response = desk.client.get(
        AUDIT, params={"action": "concern.list"}, headers=desk.headers(desk.world.admin)
    )
    (page,) = response.json()["items"]
    assert page["pupil_ids"] == [] and page["pupil_id"] is None
    assert str(desk.world.zoe.id) not in response.text


@pytest.mark.parametrize("change", ["altered", "deleted", "added", "moved"])
def test_a_page_whose_children_were_touched_fails_verification(
    desk: Desk, database: Database, change: str
) -> None:
    world = desk.world
    desk.concern(pupils=[world.zoe, world.zack])
    desk.client.get(CONCERNS, headers=desk.headers())
    desk.concern(pupils=[world.zoe])  # events after the page
    (page,) = events(database, "concern.list")
    assert _verify(database, world.school).ok
    at_page = (PUPILS.c.school_id == world.school.id) & (PUPILS.c.seq == page.seq)
    with database.engine.begin() as connection:
        if change == "altered":
            connection.execute(
                sa.update(PUPILS)
                .where(at_page, PUPILS.c.pupil_id == world.zack.id)
                .values(pupil_id=uuid.uuid4())
            )
        elif change == "deleted":
            connection.execute(sa.delete(PUPILS).where(at_page, PUPILS.c.pupil_id == world.zack.id))
        elif change == "added":
            connection.execute(
                sa.insert(PUPILS).values(
                    school_id=world.school.id, seq=page.seq, pupil_id=uuid.uuid4()
                )
            )
        else:  # onto the event before it
            connection.execute(
                sa.update(PUPILS)
                .where(at_page, PUPILS.c.pupil_id == world.zack.id)
                .values(seq=page.seq - 1)
            )
    result = _verify(database, world.school)
    assert not result.ok
    assert result.first_bad_seq == (page.seq - 1 if change == "moved" else page.seq)
    # The API, and the operator's CLI, say the same.
    body = desk.client.get(VERIFY, headers=desk.headers()).json()
    assert (body["ok"], body["first_bad_seq"]) == (False, result.first_bad_seq)


def test_all_of_a_pages_children_deleted_fails_verification(desk: Desk, database: Database) -> None:
    desk.concern(pupils=[desk.world.zoe])
    desk.client.get(CONCERNS, headers=desk.headers())
    (page,) = events(database, "concern.list")
    with database.engine.begin() as connection:
        connection.execute(sa.delete(PUPILS).where(PUPILS.c.seq == page.seq))
    assert _verify(database, desk.world.school).first_bad_seq == page.seq


def test_a_child_row_beyond_the_head_fails_verification(desk: Desk, database: Database) -> None:
    desk.concern()
    with database.engine.begin() as connection:
        connection.execute(
            sa.insert(PUPILS).values(school_id=desk.world.school.id, seq=99, pupil_id=uuid.uuid4())
        )
    result = _verify(database, desk.world.school)
    assert not result.ok


def test_the_cli_verifies_the_children(cli_env: Database) -> None:
    school = make_school(cli_env)
    actor = Actor(type="user", id=uuid.uuid4(), role="dsl", school_id=school.id)
    on_page = [uuid.uuid4() for _ in range(3)]
    with cli_env.transaction() as session:
        audit.record_page(
            session,
            actor=actor,
            action="concern.list",
            now=datetime(2026, 12, 1, 9, tzinfo=UTC),
            request_id=None,
            entity_type="concern",
            pupil_ids=on_page,
        )
    ok = runner.invoke(cli_app, ["audit", "verify", "--school-urn", school.urn])
    assert ok.exit_code == 0 and "intact (1 events)" in ok.stdout, ok.output
    with cli_env.engine.begin() as connection:
        connection.execute(sa.delete(PUPILS).where(PUPILS.c.pupil_id == on_page[1]))
    broken = runner.invoke(cli_app, ["audit", "verify", "--school-urn", school.urn])
    assert broken.exit_code == 1 and "BROKEN at event 1" in broken.stdout


def test_events_without_children_hash_as_before_and_old_chains_verify(
    database: Database,
) -> None:
    school = make_school(database)
    actor = Actor(type="user", id=uuid.uuid4(), role="dsl", school_id=school.id)
    now = datetime(2026, 12, 1, 9, tzinfo=UTC)
    with database.transaction() as session:
        # Written as before this change: one event per child, no rows of children.
        audit.record_per_pupil(
            session,
            actor=actor,
            action="concern.list",
            now=now,
            request_id="req-old",
            entity_type="concern",
            entity_id=None,
            pupil_ids=[uuid.uuid4(), uuid.uuid4()],
        )
        audit.record_page(
            session,
            actor=actor,
            action="concern.list",
            now=now,
            request_id="req-new",
            entity_type="concern",
            pupil_ids=[uuid.uuid4(), None, uuid.uuid4()],
        )
        audit.record(session, actor=actor, action="concern.read", now=now)
    with database.transaction() as session:
        stored = list(
            session.exec(
                select(AuditEvent)
                .where(AuditEvent.school_id == school.id)
                .order_by(col(AuditEvent.seq))
            )
        )
    assert [len(page_pupils(database, event)) for event in stored] == [0, 0, 2, 0]
    # An event without children hashes exactly as it did (no empty list in its bytes).
    for event in (stored[0], stored[1], stored[3]):
        assert audit.event_hash(event) == event.hash
        assert b"pupil_ids" not in audit_chain._canonical(
            {name: getattr(event, name) for name in audit_chain.HASHED_FIELDS}
        )
    page = stored[2]
    assert audit.event_hash(page) != page.hash
    assert audit.event_hash(page, page_pupils(database, page)) == page.hash
    assert _verify(database, school).ok
