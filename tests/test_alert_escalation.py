"""Urgent concerns are chased, and waiting ones gathered into a daily digest (issue 18,
point 2), on the worker's injected clock; the school's settings and each person's own
choice shape both (point 7)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import select

from db.engine import Database
from models import AlertEscalation
from services.alerts.scheduling import digest_due_since
from tests.desk import API, Desk, events
from tests.mailbox import Mailbox, drain, make_worker

SETTINGS = f"{API}/alert-settings"
PREFERENCES = f"{API}/auth/me/alert-preferences"


def _subjects(mailbox: Mailbox, address: str) -> list[str]:
    return [m.subject for m in mailbox.to(address)]


def test_an_urgent_concern_is_sent_at_once_and_again_until_triaged(
    desk: Desk, database: Database, mailbox: Mailbox
) -> None:
    world = desk.world
    worker = make_worker(database, desk.clock, mailbox)
    concern = desk.concern(immediate_danger=True)
    drain(worker)
    for person in (world.dsl, world.deputy):
        (first,) = _subjects(mailbox, person.email)
        assert first.startswith("URGENT: a concern marked immediate danger was logged at ")
    desk.clock.advance(minutes=14)
    drain(worker)
    assert len(mailbox.messages()) == 2
    desk.clock.advance(minutes=1)
    drain(worker)
    for person in (world.dsl, world.deputy):
        assert _subjects(mailbox, person.email)[1].startswith("URGENT (reminder 1): ")
    desk.clock.advance(minutes=15)
    drain(worker)
    assert _subjects(mailbox, world.deputy.email)[2].startswith("URGENT (reminder 2): ")
    # A DSL triages it out of "new": no more reminders.
    triaged = desk.triage(concern["id"], {"status": "acknowledged", "reason": "Fictional."})
    assert triaged.status_code == 200, triaged.text
    for _ in range(3):
        desk.clock.advance(minutes=15)
        drain(worker)
    assert len(mailbox.messages()) == 6
    with database.transaction() as session:
        assert list(session.exec(select(AlertEscalation))) == []


def test_a_turned_off_email_is_still_sent_when_urgent(
    desk: Desk, database: Database, mailbox: Mailbox
) -> None:
    world = desk.world
    off = desk.client.put(
        PREFERENCES, json={"email_non_urgent": False}, headers=desk.headers(world.deputy)
    )
    assert off.status_code == 200 and off.json() == {"email_non_urgent": False}
    worker = make_worker(database, desk.clock, mailbox)
    desk.concern()
    drain(worker)
    assert [m.recipients for m in mailbox.messages()] == [[world.dsl.email]]
    desk.concern(immediate_danger=True)
    drain(worker)
    assert _subjects(mailbox, world.deputy.email)[0].startswith("URGENT")


def test_the_escalation_interval_is_the_schools(
    desk: Desk, database: Database, mailbox: Mailbox
) -> None:
    worker = make_worker(database, desk.clock, mailbox)
    desk.concern(immediate_danger=True)
    drain(worker)
    changed = desk.client.put(
        SETTINGS,
        json={"escalate_after_minutes": 5, "unacknowledged_after_hours": 24},
        headers=desk.headers(),
    )
    assert changed.status_code == 200, changed.text
    desk.clock.advance(minutes=5)
    drain(worker)
    assert _subjects(mailbox, desk.world.dsl.email)[1].startswith("URGENT (reminder 1)")
    desk.client.put(
        SETTINGS,
        json={"escalate_after_minutes": 60, "unacknowledged_after_hours": 24},
        headers=desk.headers(),
    )
    desk.clock.advance(minutes=30)
    drain(worker)
    assert len(mailbox.to(desk.world.dsl.email)) == 2
    desk.clock.advance(minutes=30)
    drain(worker)
    assert _subjects(mailbox, desk.world.dsl.email)[2].startswith("URGENT (reminder 2)")


def test_concerns_still_new_go_into_one_daily_digest(
    desk: Desk, database: Database, mailbox: Mailbox
) -> None:
    world = desk.world
    # Due from midnight, UK time: due whatever the hour the test runs at.
    worker = make_worker(database, desk.clock, mailbox, digest_hour=0)
    early = desk.concern()
    desk.concern()
    drain(worker)  # their "new concern" emails; nothing has waited yet
    assert all(not m.subject.startswith("Daily digest") for m in mailbox.messages())
    mailbox.received.clear()
    desk.clock.advance(hours=25)
    triaged = desk.triage(early["id"], {"status": "acknowledged", "reason": "Fictional."})
    assert triaged.status_code == 200
    drain(worker)
    (digest,) = mailbox.to(world.dsl.email)
    assert digest.subject.startswith("Daily digest: 1 concern waiting for triage at Fictional")
    assert "more than 24 hours" in digest.text
    assert len(mailbox.to(world.deputy.email)) == 1
    assert mailbox.to(world.other_dsl.email) == []  # the other school has nothing waiting
    # Once a day: later passes the same day send nothing more...
    desk.clock.advance(hours=1)
    drain(worker)
    assert len(mailbox.messages()) == 2
    # ...and the next day the concern still waiting is in that day's digest.
    desk.clock.advance(hours=24)
    drain(worker)
    assert len(mailbox.to(world.dsl.email)) == 2


def test_the_digest_waits_for_the_schools_hours(
    desk: Desk, database: Database, mailbox: Mailbox
) -> None:
    desk.client.put(
        SETTINGS,
        json={"escalate_after_minutes": 15, "unacknowledged_after_hours": 48},
        headers=desk.headers(),
    )
    worker = make_worker(database, desk.clock, mailbox, digest_hour=0)
    desk.concern()
    drain(worker)
    mailbox.received.clear()
    desk.clock.advance(hours=25)
    drain(worker)
    assert mailbox.messages() == []  # waited 25 hours of the school's 48
    desk.clock.advance(hours=24)
    drain(worker)
    assert "more than 48 hours" in mailbox.to(desk.world.dsl.email)[0].text


def test_the_digest_is_due_from_its_hour_uk_time() -> None:
    # 06:59 and 07:00 in London in winter (UTC) and in summer (BST, UTC+1).
    assert digest_due_since(datetime(2026, 12, 2, 6, 59, tzinfo=UTC), 7) is None
    assert digest_due_since(datetime(2026, 12, 2, 7, 0, tzinfo=UTC), 7) is not None
    assert digest_due_since(datetime(2026, 6, 2, 5, 59, tzinfo=UTC), 7) is None
    assert digest_due_since(datetime(2026, 6, 2, 6, 0, tzinfo=UTC), 7) is not None


def test_alert_settings_are_read_changed_and_audited(desk: Desk) -> None:
    headers = desk.headers(desk.world.deputy)
    assert desk.client.get(SETTINGS, headers=headers).json() == {
        "escalate_after_minutes": 15,
        "unacknowledged_after_hours": 24,
    }
    body = {"escalate_after_minutes": 30, "unacknowledged_after_hours": 12}
    changed = desk.client.put(SETTINGS, json=body, headers=headers)
    assert changed.status_code == 200 and changed.json() == body
    assert desk.client.get(SETTINGS, headers=desk.headers()).json() == body
    # Another school's are its own.
    other = desk.client.get(SETTINGS, headers=desk.headers(desk.world.other_dsl))
    assert other.json()["escalate_after_minutes"] == 15
    (audited,) = events(desk.world.app.state.database, "alert_settings.update")
    assert audited.actor_id == desk.world.deputy.id
    assert audited.entity_id == desk.world.school.id


def test_bad_alert_settings_are_a_422_naming_the_field(desk: Desk) -> None:
    minutes, hours = "escalate_after_minutes", "unacknowledged_after_hours"
    cases = [
        ({minutes: 4, hours: 24}, minutes),
        ({minutes: 241, hours: 24}, minutes),
        ({minutes: 15, hours: 0}, hours),
        ({minutes: 15, hours: 169}, hours),
        ({minutes: 15}, hours),
        ({minutes: "soon", hours: 24}, minutes),
        ({minutes: 15, hours: 24, "school_id": "x"}, "school_id"),
    ]
    for body, field in cases:
        response = desk.client.put(SETTINGS, json=body, headers=desk.headers())
        assert response.status_code == 422, body
        problem = response.json()
        assert problem["type"].endswith("validation-error")
        assert [error["loc"] for error in problem["errors"]] == [["body", field]], body
    assert desk.client.get(SETTINGS, headers=desk.headers()).json()["escalate_after_minutes"] == 15
    assert events(desk.world.app.state.database, "alert_settings.update") == []


def test_each_person_chooses_their_own_emails(desk: Desk) -> None:
    staff = desk.headers(desk.world.staff_a)
    assert desk.client.get(PREFERENCES, headers=staff).json() == {"email_non_urgent": True}
    off = desk.client.put(PREFERENCES, json={"email_non_urgent": False}, headers=staff)
    assert off.status_code == 200
    assert desk.client.get(PREFERENCES, headers=staff).json() == {"email_non_urgent": False}
    # Nobody else's changed.
    dsl = desk.headers(desk.world.dsl)
    assert desk.client.get(PREFERENCES, headers=dsl).json() == {"email_non_urgent": True}
    bad = desk.client.put(PREFERENCES, json={"email_non_urgent": "no"}, headers=staff)
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["loc"] == ["body", "email_non_urgent"]
    (audited,) = events(desk.world.app.state.database, "alert_preference.update")
    assert audited.actor_id == desk.world.staff_a.id
    assert audited.entity_id == desk.world.staff_a.id
