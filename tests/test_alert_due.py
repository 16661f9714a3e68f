"""Issue 18, points 1 and 6: a task given to someone is emailed to them, and tasks and case
reviews come due raise alerts once for each date, never carrying a task's title (real SMTP
server on loopback, the worker on the test's clock).

Every name and every text here is invented.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import col, select

from db.engine import Database
from models import AlertDueNotice, AlertEvent
from services.school_calendar import school_date
from tests.desk import API, CASES, Desk
from tests.mailbox import Mailbox, drain, make_worker

TITLE = "Canary: ask her quietly about the blue bicycle shed."


@pytest.fixture
def morning(desk: Desk) -> Desk:
    """The desk at 09:00 UTC (10:00 in England): both calendars say the same day."""
    desk.clock._now = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
    return desk


def _set_task(desk: Desk, case_id: str, due_in_days: int) -> dict:
    due = school_date(desk.clock.now()) + timedelta(days=due_in_days)
    body = {"title": TITLE, "assigned_to": str(desk.world.staff_a.id), "due_on": due.isoformat()}
    response = desk.client.post(f"{CASES}/{case_id}/tasks", json=body, headers=desk.headers())
    assert response.status_code == 201, response.text
    return response.json()


def _types(database: Database) -> list[str]:
    with database.transaction() as session:
        return [e.type for e in session.exec(select(AlertEvent).order_by(col(AlertEvent.id)))]


def test_a_task_is_emailed_to_its_assignee_without_its_title(
    morning: Desk, database: Database, mailbox: Mailbox
) -> None:
    desk, world = morning, morning.world
    worker = make_worker(database, desk.clock, mailbox)
    case, _ = desk.open_case()
    task = _set_task(desk, case["id"], due_in_days=3)
    assert _types(database) == ["task.assigned"]
    drain(worker)
    (letter,) = mailbox.to(world.staff_a.email)
    assert letter.subject.startswith("A task was given to you at ")
    assert task["due_on"] in letter.text
    # Only the assignee: the desk is not told of a task it set.
    assert mailbox.to(world.dsl.email) == [] and mailbox.to(world.deputy.email) == []
    assert all("Canary" not in m.message.as_string() for m in mailbox.messages())


def test_a_task_due_is_told_to_its_assignee_once_for_its_date(
    morning: Desk, database: Database, mailbox: Mailbox
) -> None:
    desk, world = morning, morning.world
    worker = make_worker(database, desk.clock, mailbox, digest_hour=0)
    case, _ = desk.open_case()
    task = _set_task(desk, case["id"], due_in_days=1)
    drain(worker)
    assert [m.subject.split(" at ")[0] for m in mailbox.to(world.staff_a.email)] == [
        "A task was given to you"
    ]
    desk.clock.advance(days=1)
    drain(worker)
    due = [m for m in mailbox.to(world.staff_a.email) if m.subject.startswith("A task of yours")]
    assert len(due) == 1 and task["due_on"] in due[0].text
    # Later passes, and the days after while it stays open, raise it no more.
    for _ in range(3):
        desk.clock.advance(hours=7)
        drain(worker)
    assert _types(database).count("task.due") == 1
    assert len(mailbox.to(world.staff_a.email)) == 2
    # Completed tasks are never due.
    done = desk.client.post(
        f"{API}/tasks/{task['id']}/complete", json={"note": "Done."}, headers=desk.headers()
    )
    assert done.status_code == 200, done.text
    assert all("Canary" not in m.message.as_string() for m in mailbox.messages())


def test_two_workers_raise_a_task_due_once(
    morning: Desk, database: Database, mailbox: Mailbox
) -> None:
    desk = morning
    first = make_worker(database, desk.clock, mailbox, digest_hour=0)
    second = make_worker(database, desk.clock, mailbox, digest_hour=0)
    case, _ = desk.open_case()
    _set_task(desk, case["id"], due_in_days=0)
    drain(first)
    drain(second)
    assert _types(database).count("task.due") == 1


def test_a_review_due_is_told_to_the_desk_once_for_each_date(
    morning: Desk, database: Database, mailbox: Mailbox
) -> None:
    desk, world = morning, morning.world
    worker = make_worker(database, desk.clock, mailbox, digest_hour=0)
    tomorrow = school_date(desk.clock.now()) + timedelta(days=1)
    case, _ = desk.open_case(review_on=tomorrow.isoformat())
    drain(worker)
    assert mailbox.messages() == []
    desk.clock.advance(days=1)
    drain(worker)
    for person in (world.dsl, world.deputy):
        (letter,) = mailbox.to(person.email)
        assert letter.subject.startswith("A case review is due at ")
        assert tomorrow.isoformat() in letter.text
    assert mailbox.to(world.staff_a.email) == []
    desk.clock.advance(hours=5)
    drain(worker)
    assert len(mailbox.messages()) == 2
    # A new review date is a new alert, when it comes.
    later = tomorrow + timedelta(days=7)
    moved = desk.change_case(case["id"], "review", {"review_on": later.isoformat(), "reason": "R."})
    assert moved.status_code == 200, moved.text
    desk.clock.advance(days=7)
    drain(worker)
    assert len(mailbox.to(world.dsl.email)) == 2
    with database.transaction() as session:
        notices = list(session.exec(select(AlertDueNotice)))
    assert sorted(n.due_on for n in notices) == [tomorrow, later]
