"""Delivery (issue 18, point 1): at least once, retried with backoff for a day, then a dead
letter the desk lists; claims are leases, so a worker that dies mid-delivery loses
nothing, and several workers share one queue without sending anything twice."""

from __future__ import annotations

import threading
import uuid
from datetime import timedelta

import pytest
from sqlmodel import col, select

from db.engine import Database
from models import AlertDelivery, AlertEvent
from services.alerts import delivery
from services.alerts.publishing import EMAIL, EmailFanOut, publish, take_publisher_lock
from tests.desk import API, Desk
from tests.mailbox import Mailbox, drain, make_worker
from tests.server import free_port

DEAD_LETTERS = f"{API}/desk/dead-letters"


def _deliveries(database: Database) -> list[AlertDelivery]:
    with database.transaction() as session:
        return list(session.exec(select(AlertDelivery).order_by(col(AlertDelivery.id))))


def _for(database: Database, user_id: uuid.UUID) -> AlertDelivery:
    (found,) = [d for d in _deliveries(database) if d.target_id == user_id]
    return found


def test_backoff_doubles_from_thirty_seconds_to_an_hour() -> None:
    assert [delivery.retry_delay(n).total_seconds() for n in range(1, 10)] == [
        30, 60, 120, 240, 480, 960, 1920, 3600, 3600,
    ]  # fmt: skip


def test_a_refused_message_is_tried_again_with_backoff_and_keeps_its_ids(
    desk: Desk, database: Database, mailbox: Mailbox
) -> None:
    world = desk.world
    worker = make_worker(database, desk.clock, mailbox)
    desk.concern(immediate_danger=True)
    mailbox.refuse_data = [451]  # the first message (urgent ones go first) is refused
    drain(worker)
    (refused,) = mailbox.refused
    (failed,) = [d for d in _deliveries(database) if d.status == "pending"]
    assert failed.attempts == 1
    assert failed.last_error == "SMTP 451: Fictional refusal of this message"
    assert failed.next_attempt_at == desk.clock.now() + timedelta(seconds=30)
    desk.clock.advance(seconds=29)
    drain(worker)
    assert len(mailbox.messages()) == 1  # only the other person's, so far
    desk.clock.advance(seconds=1)
    drain(worker)
    (again,) = [m for m in mailbox.messages() if m.recipients == refused.recipients]
    # The same event and message ids: a redelivery is recognisably the same alert.
    assert again.event_ids == refused.message["X-Concernlog-Events"].split(", ")
    assert again.message["Message-ID"] == refused.message["Message-ID"]
    assert again.subject == refused.message["Subject"]
    assert _for(database, failed.target_id).status == "delivered"
    assert _for(database, failed.target_id).attempts == 2
    assert {m.recipients[0] for m in mailbox.messages()} == {world.dsl.email, world.deputy.email}


def test_after_a_day_of_failures_a_delivery_is_dead_and_the_desk_lists_it(
    desk: Desk, database: Database, mailbox: Mailbox
) -> None:
    world = desk.world
    mailbox.refuse_recipients[world.deputy.email] = 452
    worker = make_worker(database, desk.clock, mailbox)
    concern_event_time = desk.clock.now()
    concern = desk.concern()
    # Triaged: the day below raises no digest, only retries.
    desk.triage(concern["id"], {"status": "acknowledged", "reason": "Fictional."})
    drain(worker)
    for _ in range(30):  # the backoff's schedule, a day long
        desk.clock.advance(hours=1)
        drain(worker, passes=1)
    dead = _for(database, world.deputy.id)
    assert dead.status == "dead"
    assert 20 < dead.attempts < 40
    assert dead.last_error == "SMTP 452: Fictional refusal for this mailbox"
    assert _for(database, world.dsl.id).status == "delivered"
    listed = desk.client.get(DEAD_LETTERS, headers=desk.headers(world.deputy))
    assert listed.status_code == 200
    (item,) = listed.json()["items"]
    with database.transaction() as session:
        (event,) = session.exec(select(AlertEvent))
    assert item == {
        "id": str(dead.id),
        "event_id": str(event.id),
        "event_type": "concern.created",
        "event_ids": [str(event.id)],
        "occurred_at": concern_event_time.isoformat().replace("+00:00", "Z"),
        "channel": "email",
        "recipient": {"id": str(world.deputy.id), "display_name": world.deputy.user.display_name},
        "attempts": dead.attempts,
        "last_attempt_at": item["last_attempt_at"],
        "last_error": "SMTP 452: Fictional refusal for this mailbox",
    }
    assert listed.json()["next_cursor"] is None
    # Another school's desk sees none of them.
    other = desk.client.get(DEAD_LETTERS, headers=desk.headers(world.other_dsl))
    assert other.json() == {"items": [], "next_cursor": None}


def test_a_message_refused_for_good_is_dead_at_once(
    desk: Desk, database: Database, mailbox: Mailbox
) -> None:
    mailbox.refuse_data = [554]
    desk.concern(immediate_danger=True)
    drain(make_worker(database, desk.clock, mailbox))
    statuses = sorted((d.status, d.attempts) for d in _deliveries(database))
    assert statuses == [("dead", 1), ("delivered", 1)]
    page = desk.client.get(DEAD_LETTERS, params={"limit": 1}, headers=desk.headers()).json()
    assert page["items"][0]["last_error"].startswith("SMTP 554")


def test_dead_letters_are_paged(desk: Desk, database: Database, mailbox: Mailbox) -> None:
    world = desk.world
    mailbox.refuse_data = [550, 550, 550]
    worker = make_worker(database, desk.clock, mailbox)
    for _ in range(3):
        desk.concern(immediate_danger=True)
        drain(worker)
    headers = desk.headers()
    first = desk.client.get(DEAD_LETTERS, params={"limit": 2}, headers=headers).json()
    assert len(first["items"]) == 2 and first["next_cursor"]
    second = desk.client.get(
        DEAD_LETTERS, params={"limit": 2, "cursor": first["next_cursor"]}, headers=headers
    ).json()
    assert len(second["items"]) == 1 and second["next_cursor"] is None
    ids = [i["id"] for i in first["items"] + second["items"]]
    assert ids == sorted(ids) and len(set(ids)) == 3
    bad = desk.client.get(DEAD_LETTERS, params={"cursor": "nonsense"}, headers=headers)
    assert bad.status_code == 422
    assert world.dsl.email in {m.recipients[0] for m in mailbox.messages()}


def test_an_unreachable_server_is_tried_again_later(desk: Desk, database: Database) -> None:
    class Nowhere:  # nothing listens on this port
        url = f"smtp://127.0.0.1:{free_port()}"

    desk.concern()
    worker = make_worker(database, desk.clock, Nowhere())  # type: ignore[arg-type]
    report = worker.run_once()
    assert report.retried == 2 and report.delivered == 0
    assert all(d.status == "pending" and d.attempts == 1 for d in _deliveries(database))
    assert all("could not be reached" in (d.last_error or "") for d in _deliveries(database))


def test_a_claim_that_is_never_settled_is_claimed_again_when_its_lease_ends(
    desk: Desk, database: Database, mailbox: Mailbox
) -> None:
    """A worker that dies between its claim and its outcome: the claim is a lease."""
    worker = make_worker(database, desk.clock, mailbox, lease=timedelta(minutes=2))
    desk.concern()
    worker.run_once()  # publishes and delivers...
    mailbox.received.clear()
    desk.concern()
    with database.transaction() as session:  # ...this one is published...
        assert take_publisher_lock(session)
        publish(session, now=desk.clock.now(), fan_outs=[EmailFanOut()])
    with database.transaction() as session:  # ...and claimed by a worker that then dies.
        lost = delivery.claim(
            session, channel=EMAIL, now=desk.clock.now(), lease=timedelta(minutes=2), batch=10
        )
    assert len(lost) == 2
    drain(worker)
    assert mailbox.messages() == []  # held by the lease
    desk.clock.advance(minutes=2)
    drain(worker)
    assert len(mailbox.messages()) == 2
    again = [d for d in _deliveries(database) if d.id in {c.id for c in lost}]
    assert all(d.status == "delivered" and d.attempts == 2 for d in again)
    # The dead worker's claim can settle nothing now.
    with database.transaction() as session:
        late = delivery.settle(
            session, [delivery.Outcome(c, error="too late") for c in lost], now=desk.clock.now()
        )
    assert late.retried == 2  # counted as asked...
    assert all(d.status == "delivered" for d in _deliveries(database))  # ...but not written


def test_claims_skip_rows_another_worker_holds_on_postgresql(
    backend: str, desk: Desk, database: Database
) -> None:
    if backend != "postgresql":
        pytest.skip("SQLite has one writer at a time; its claims are leases alone")
    for _ in range(3):
        desk.concern(immediate_danger=True)  # an email each, to each of two
    worker = make_worker(database, desk.clock, None)
    with database.transaction() as session:
        assert take_publisher_lock(session)
        assert publish(session, now=desk.clock.now(), fan_outs=[EmailFanOut()]) == 6
    assert worker.email is None
    holder = database.session()
    try:
        held = delivery.claim(
            holder, channel=EMAIL, now=desk.clock.now(), lease=timedelta(minutes=1), batch=2
        )
        with database.transaction() as other:  # neither waits for nor takes the held rows
            rest = delivery.claim(
                other, channel=EMAIL, now=desk.clock.now(), lease=timedelta(minutes=1), batch=10
            )
    finally:
        holder.finish(None)
    assert len(held) == 2 and len(rest) == 4
    assert not {c.id for c in held} & {c.id for c in rest}


@pytest.mark.xdist_group("many_connections")
def test_two_workers_share_one_queue_without_sending_twice(
    backend: str, desk: Desk, database: Database, mailbox: Mailbox
) -> None:
    world = desk.world
    created = [desk.concern(immediate_danger=True)["id"] for _ in range(10)]
    mailbox.delay_seconds = 0.01
    workers = [make_worker(database, desk.clock, mailbox, batch=3) for _ in range(2)]
    start = threading.Barrier(2)
    errors: list[BaseException] = []

    def work(worker) -> None:
        start.wait()
        try:
            for _ in range(20):
                if not worker.run_once().busy:
                    break
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(w,)) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    drain(workers[0])
    for person in (world.dsl, world.deputy):
        received = [e for m in mailbox.to(person.email) for e in m.event_ids]
        assert len(received) == len(set(received)) == len(created)
    assert all(d.status == "delivered" and d.attempts == 1 for d in _deliveries(database))
