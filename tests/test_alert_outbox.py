"""The alert outbox (issue 18, point 1): events written in the concern's own transaction,
content-free, published in order with ids that never change, and emailed by the worker
(point 2) to the school's DSL desk and nobody else."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime

import pytest
from sqlalchemy import event, update
from sqlmodel import col, select

from db.engine import Database
from models import AlertDelivery, AlertEvent, School, User
from services.alerts import CONCERN_CREATED, CONCERN_URGENT, TASK_ASSIGNED, emit, payload
from services.alerts.publishing import EmailFanOut, publish, take_publisher_lock
from services.alerts.reading import events_after, sequence_of
from tests.desk import CONCERNS, Desk, concern_body
from tests.mailbox import SIGN_IN_URL, Mailbox, drain, make_worker


def _events(database: Database) -> list[AlertEvent]:
    with database.transaction() as session:
        return list(session.exec(select(AlertEvent).order_by(col(AlertEvent.id))))


def _deliveries(database: Database) -> list[AlertDelivery]:
    with database.transaction() as session:
        return list(session.exec(select(AlertDelivery).order_by(col(AlertDelivery.id))))


def test_a_concern_logged_writes_its_event_in_the_same_transaction(
    desk: Desk, database: Database
) -> None:
    concern = desk.concern()
    (created,) = _events(database)
    assert created.type == CONCERN_CREATED
    assert created.subject_id == uuid.UUID(concern["id"])
    assert created.sequence is None  # not published until a worker does
    assert json.loads(created.data) == {
        "concern_id": concern["id"],
        "urgent": False,
        "recorded_at": concern["recorded_at"],
    }
    # A refused concern writes none.
    refused = desk.client.post(
        CONCERNS,
        json=concern_body(desk.clock, [desk.world.elsewhere]),
        headers=desk.headers(desk.world.staff_a),
    )
    assert refused.status_code == 422
    assert len(_events(database)) == 1


def test_an_urgent_concern_writes_its_urgent_event_beside_it(
    desk: Desk, database: Database
) -> None:
    concern = desk.concern(immediate_danger=True)
    types = sorted(e.type for e in _events(database))
    assert types == [CONCERN_CREATED, CONCERN_URGENT]
    urgent = next(e for e in _events(database) if e.type == CONCERN_URGENT)
    assert json.loads(urgent.data) == {
        "concern_id": concern["id"],
        "recorded_at": concern["recorded_at"],
        "reminder": 0,
    }


def test_logging_a_concern_only_inserts_its_outbox_rows(desk: Desk, database: Database) -> None:
    """The request sends nothing and reads nothing for its alerts: one INSERT of its
    event rows (and, for an urgent concern, its escalation)."""
    statements: list[str] = []

    def seen(_conn, _cursor, statement, *_args) -> None:
        statements.append(" ".join(statement.split()).lower())

    event.listen(database.engine, "before_cursor_execute", seen)
    try:
        desk.concern()
        ordinary = [s for s in statements if "alert_" in s]
        statements.clear()
        desk.concern(immediate_danger=True)
        urgent = [s for s in statements if "alert_" in s]
    finally:
        event.remove(database.engine, "before_cursor_execute", seen)
    assert len(ordinary) == 1 and ordinary[0].startswith("insert into alert_event")
    assert len(urgent) == 2
    assert urgent[0].startswith("insert into alert_event")
    assert urgent[1].startswith("insert into alert_escalation")


def test_emit_refuses_text_and_unknown_shapes(database: Database, school) -> None:
    now = datetime.now(UTC)
    with database.transaction() as session:
        with pytest.raises(ValueError, match="never text"):
            emit(
                session,
                school_id=school.id,
                event_type=CONCERN_CREATED,
                data={"concern_id": "Zoë said", "urgent": False, "recorded_at": now},  # type: ignore[dict-item]
                now=now,
            )
        with pytest.raises(ValueError, match="exactly"):
            emit(
                session,
                school_id=school.id,
                event_type=CONCERN_CREATED,
                data={"concern_id": uuid.uuid4(), "urgent": False, "description": 1},
                now=now,
            )
        with pytest.raises(ValueError, match="unknown alert event type"):
            emit(session, school_id=school.id, event_type="concern.read", data={}, now=now)
        # The types the tasks, reviews and transfers will emit are there to be used.
        task = uuid.uuid4()
        event_id = emit(
            session,
            school_id=school.id,
            event_type=TASK_ASSIGNED,
            data={
                "task_id": task,
                "case_id": uuid.uuid4(),
                "assigned_to": uuid.uuid4(),
                "due_on": now.date(),
            },
            now=now,
        )
    (stored,) = _events(database)
    assert stored.id == event_id and stored.subject_id == task


def test_the_payload_is_the_contracts(desk: Desk, database: Database) -> None:
    concern = desk.concern()
    (created,) = _events(database)
    shown = payload(
        event_type=created.type,
        occurred_at=created.occurred_at,
        data=created.data,
        school_urn=desk.world.school.urn,
    )
    assert shown == {
        "type": "concern.created",
        "timestamp": concern["recorded_at"],
        "data": {
            "concern_id": concern["id"],
            "school_urn": desk.world.school.urn,
            "urgent": False,
            "recorded_at": concern["recorded_at"],
        },
    }


def test_events_are_published_in_order_with_ids_that_never_change(
    desk: Desk, database: Database
) -> None:
    worker = make_worker(database, desk.clock, None)
    first = [desk.concern()["id"] for _ in range(3)]
    before = {e.id for e in _events(database)}
    worker.run_once()
    published = sorted(_events(database), key=lambda e: e.sequence or 0)
    assert [e.sequence for e in published] == [1, 2, 3]
    assert [str(e.subject_id) for e in published] == first
    assert {e.id for e in published} == before
    desk.concern(immediate_danger=True)
    worker.run_once()
    later = sorted(_events(database), key=lambda e: e.sequence or 0)
    assert [e.sequence for e in later] == [1, 2, 3, 4, 5]
    assert all(e.published_at is not None for e in later)
    # Email is off for this worker: published, but nothing to deliver.
    assert _deliveries(database) == []


def test_one_publisher_at_a_time_on_postgresql(backend: str, database: Database) -> None:
    if backend != "postgresql":
        pytest.skip("SQLite's write lock makes every transaction the only publisher")
    holder = database.session()
    try:
        assert take_publisher_lock(holder)
        with database.transaction() as other:
            assert not take_publisher_lock(other)
    finally:
        holder.finish(None)
    with database.transaction() as later:
        assert take_publisher_lock(later)


def test_a_concern_is_emailed_to_the_desk_and_nobody_else(
    desk: Desk, database: Database, mailbox: Mailbox
) -> None:
    world = desk.world
    # A DSL who has left the school's desk is not told.
    with database.transaction() as session:
        session.add(
            User(
                school_id=world.school.id,
                email="former.dsl@fictional-school.example",
                display_name="Former Lead",
                role="dsl",
                active=False,
            )
        )
    desk.concern()
    drain(make_worker(database, desk.clock, mailbox))
    messages = mailbox.messages()
    assert sorted(r for m in messages for r in m.recipients) == sorted(
        [world.dsl.email, world.deputy.email]
    )
    message = mailbox.to(world.dsl.email)[0]
    assert message.subject == (f"New concern logged at Fictional Academy (URN {world.school.urn})")
    assert SIGN_IN_URL in message.text
    assert message.message["From"] == "concernlog <alerts@fictional-school.example>"
    assert message.message["Auto-Submitted"] == "auto-generated"
    (created,) = _events(database)
    assert message.event_ids == [str(created.id)]
    assert all(d.status == "delivered" and d.attempts == 1 for d in _deliveries(database))
    # Nothing more on the next passes: each delivery once.
    drain(make_worker(database, desk.clock, mailbox))
    assert len(mailbox.messages()) == 2


def test_new_concerns_published_together_go_as_one_email_to_each(
    desk: Desk, database: Database, mailbox: Mailbox
) -> None:
    for _ in range(3):
        desk.concern()
    drain(make_worker(database, desk.clock, mailbox))
    (to_dsl,) = mailbox.to(desk.world.dsl.email)
    assert to_dsl.subject.startswith("3 new concerns logged at Fictional Academy")
    assert sorted(to_dsl.event_ids) == sorted(str(e.id) for e in _events(database))
    # One delivery (one email) to each person, telling of the three.
    deliveries = _deliveries(database)
    assert len(deliveries) == 2
    assert all(len(json.loads(d.event_ids)) == 3 for d in deliveries)


def test_a_deputy_who_is_no_longer_on_the_desk_when_it_is_sent_is_skipped(
    desk: Desk, database: Database, mailbox: Mailbox
) -> None:
    worker = make_worker(database, desk.clock, mailbox)
    desk.concern()
    with database.transaction() as session:
        # Published (fanned out to the deputy), then the deputy becomes staff.
        assert take_publisher_lock(session)
        publish(session, now=desk.clock.now(), fan_outs=[EmailFanOut()])
        session.execute(
            update(User).where(col(User.id) == desk.world.deputy.id).values(role="staff")
        )
    drain(worker)
    assert [m.recipients for m in mailbox.messages()] == [[desk.world.dsl.email]]
    statuses = sorted(d.status for d in _deliveries(database))
    assert statuses == ["delivered", "skipped"]


def test_without_smtp_no_delivery_is_made(desk: Desk, database: Database) -> None:
    desk.concern()
    worker = make_worker(database, desk.clock, None)
    assert worker.describe().startswith("email off")
    worker.run_once()
    assert _deliveries(database) == []


def test_a_school_name_that_is_not_ascii_arrives_intact(
    desk: Desk, database: Database, mailbox: Mailbox
) -> None:
    with database.transaction() as session:
        session.execute(
            update(School)
            .where(col(School.id) == desk.world.school.id)
            .values(name="Ysgol Gymraeg Llŷn")
        )
    desk.concern()
    drain(make_worker(database, desk.clock, mailbox))
    (received,) = mailbox.to(desk.world.dsl.email)
    assert (
        received.subject
        == f"New concern logged at Ysgol Gymraeg Llŷn (URN {desk.world.school.urn})"
    )
    assert "at Ysgol Gymraeg Llŷn (URN" in received.text


def test_a_reader_resumes_after_the_last_event_it_saw(desk: Desk, database: Database) -> None:
    """What the stream (point 4) will read: a school's published events in order, from
    the one after a ``Last-Event-ID``; none of another school's, none unpublished."""
    worker = make_worker(database, desk.clock, None)
    logged = [desk.concern()["id"] for _ in range(3)]
    desk.concern(who=desk.world.other_staff, pupils=[desk.world.elsewhere])
    worker.run_once()
    desk.concern()  # not published yet
    school = desk.world.school.id
    with database.transaction() as session:
        everything = events_after(session, school_id=school, after=0, limit=50)
        assert [e.payload["data"]["concern_id"] for e in everything] == logged
        assert all(e.payload["data"]["school_urn"] == desk.world.school.urn for e in everything)
        seen = sequence_of(session, school_id=school, event_id=everything[0].id)
        assert seen is not None
        rest = events_after(session, school_id=school, after=seen, limit=50)
        assert [e.id for e in rest] == [e.id for e in everything[1:]]
        assert events_after(session, school_id=school, after=seen, limit=1) == rest[:1]
        other = desk.world.other_school.id
        assert sequence_of(session, school_id=other, event_id=everything[0].id) is None
