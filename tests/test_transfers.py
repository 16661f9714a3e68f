"""Issue 21, point 1: a leaver's file sent to the next school on the same service, due in 5
school days in England (bank holidays, weekends and the school's own closure days not
counted), received and linked to the receiving school's pupil; overdue alerts the
sender's DSLs once, content-free, through the outbox (the worker on the test's clock).

Every name and every text here is invented.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from sqlmodel import col, select

from db.engine import Database
from models import AlertEvent, AuditEvent, PupilTransfer
from tests.desk import API, Desk
from tests.factories import make_user
from tests.mailbox import Mailbox, drain, make_worker

TRANSFERS = f"{API}/transfers"


@pytest.fixture
def before_christmas(desk: Desk) -> Desk:
    """Friday 18 December 2026, 10:00 UTC (10:00 in England)."""
    desk.clock._now = datetime(2026, 12, 18, 10, 0, tzinfo=UTC)
    return desk


def _send(desk: Desk, **body: object) -> dict:
    world = desk.world
    body.setdefault("to_school_urn", world.other_school.urn)
    response = desk.client.post(
        f"{API}/pupils/{world.zoe.id}/transfers", json=body, headers=desk.headers()
    )
    assert response.status_code == 201, response.text
    assert response.headers["location"] == f"{TRANSFERS}/{response.json()['id']}"
    return response.json()


def _actions(database: Database, prefix: str = "transfer.") -> list[str]:
    with database.transaction() as session:
        rows = session.exec(select(AuditEvent).order_by(col(AuditEvent.seq)))
        return [e.action for e in rows if e.action.startswith(prefix)]


def test_two_schools_on_one_service_send_receive_and_link(
    before_christmas: Desk, database: Database
) -> None:
    desk, world = before_christmas, before_christmas.world
    desk.fill_file(concerns=2)
    sent = _send(desk, left_on="2026-12-18")
    # Mon 21, Tue 22, Wed 23, Thu 24; Christmas Day, the weekend, Boxing Day (observed on
    # Monday 28) are not school days; Tuesday 29 is the fifth.
    assert sent["due_by"] == "2026-12-29"
    assert sent["status"] == "sent" and sent["direction"] == "sent"
    assert sent["pupil_id"] == str(world.zoe.id)
    assert sent["to_school_urn"] == world.other_school.urn
    assert sent["sent_at"] == "2026-12-18T10:00:00Z"
    assert sent["sent_by"]["display_name"] == "Jo Lead"

    # The receiving school's DSL sees it, naming the child, and in their inbox.
    theirs = desk.headers(world.other_dsl)
    incoming = desk.client.get(f"{TRANSFERS}/incoming", headers=theirs).json()["items"]
    assert [t["id"] for t in incoming] == [sent["id"]]
    assert incoming[0]["direction"] == "incoming" and incoming[0]["pupil_id"] is None
    assert incoming[0]["child"]["given_name"] == "Zoë"
    assert incoming[0]["child"]["date_of_birth"] == "2014-03-09"
    inbox = desk.client.get(f"{API}/desk/inbox", headers=theirs).json()
    assert [t["id"] for t in inbox["transfers_due"]] == [sent["id"]]
    # Not the sender's incoming, nor anyone else's.
    assert desk.client.get(f"{TRANSFERS}/incoming", headers=desk.headers()).json()["items"] == []
    listed = desk.client.get(TRANSFERS, headers=desk.headers()).json()
    assert [t["id"] for t in listed["items"]] == [sent["id"]]
    assert desk.client.get(TRANSFERS, headers=theirs).json()["items"] == []

    # Receipt, linked to their own record of the child.
    desk.clock.advance(days=3)
    theirs = desk.headers(world.other_dsl)
    receipt = desk.client.post(
        f"{TRANSFERS}/{sent['id']}/receipt",
        json={"pupil_id": str(world.elsewhere.id)},
        headers=theirs,
    )
    assert receipt.status_code == 200, receipt.text
    assert receipt.json()["status"] == "received"
    assert receipt.json()["pupil_id"] == str(world.elsewhere.id)
    again = desk.client.post(
        f"{TRANSFERS}/{sent['id']}/receipt",
        json={"pupil_id": str(world.elsewhere.id)},
        headers=theirs,
    )
    assert again.status_code == 409

    # The sender sees it received, when and by whom (name as written).
    mine = desk.client.get(f"{TRANSFERS}/{sent['id']}", headers=desk.headers()).json()
    assert mine["status"] == "received"
    assert mine["received_at"] == "2026-12-21T10:00:00Z"
    assert mine["received_by"] == {
        "id": str(world.other_dsl.id),
        "display_name": world.other_dsl.user.display_name,
    }
    assert desk.client.get(f"{API}/desk/inbox", headers=theirs).json()["transfers_due"] == []

    # The file is in the receiving pupil's chronology, read-only, as received records.
    chronology = desk.client.get(
        f"{API}/pupils/{world.elsewhere.id}/chronology", params={"limit": 200}, headers=theirs
    ).json()["items"]
    received = [item for item in chronology if item["type"] == "received"]
    sender_entries = desk.client.get(
        f"{API}/pupils/{world.zoe.id}/chronology", params={"limit": 200}, headers=desk.headers()
    ).json()["items"]
    assert len(received) == len(sender_entries) > 0
    kinds = {item["details"]["received_type"] for item in received}
    assert {"concern", "addendum", "action", "decision"} <= kinds
    concern = next(i for i in received if i["details"]["received_type"] == "concern")
    assert concern["details"]["description"].startswith("Had a new phone")
    assert concern["details"]["from_school_urn"] == world.school.urn
    assert concern["source"] == {
        "type": "transfer",
        "id": sent["id"],
        "href": f"{TRANSFERS}/{sent['id']}",
    }
    # The receiving school's trail never names the sending school's record of the child.
    with database.transaction() as session:
        theirs_about_zoe = session.exec(
            select(AuditEvent).where(
                AuditEvent.school_id == world.other_school.id, AuditEvent.pupil_id == world.zoe.id
            )
        ).all()
    assert theirs_about_zoe == []
    # Audited, ids only.
    assert sorted(_actions(database)) == [
        "transfer.incoming.list",
        "transfer.incoming.list",
        "transfer.list",
        "transfer.list",
        "transfer.read",
        "transfer.receipt",
        "transfer.send",
    ]


def test_a_transfer_is_its_two_schools_only(before_christmas: Desk, database: Database) -> None:
    desk, world = before_christmas, before_christmas.world
    sent = _send(desk, to_school_urn="700999")  # a school on another service
    assert sent["status"] == "sent"
    for who in (world.other_dsl,):
        assert (
            desk.client.get(f"{TRANSFERS}/{sent['id']}", headers=desk.headers(who)).status_code
            == 404
        )
        refused = desk.client.post(
            f"{TRANSFERS}/{sent['id']}/receipt",
            json={"pupil_id": str(world.elsewhere.id)},
            headers=desk.headers(who),
        )
        assert refused.status_code == 404
        assert (
            desk.client.get(
                f"{TRANSFERS}/{sent['id']}/bundle", headers=desk.headers(who)
            ).status_code
            == 404
        )
    # The sender cannot confirm its own transfer; another school's pupil is a 404.
    own = desk.client.post(
        f"{TRANSFERS}/{sent['id']}/receipt",
        json={"pupil_id": str(world.zoe.id)},
        headers=desk.headers(),
    )
    assert own.status_code == 404
    elsewhere = desk.client.post(
        f"{API}/pupils/{world.elsewhere.id}/transfers",
        json={"to_school_urn": "700999"},
        headers=desk.headers(),
    )
    assert elsewhere.status_code == 404
    to_itself = desk.client.post(
        f"{API}/pupils/{world.zoe.id}/transfers",
        json={"to_school_urn": world.school.urn},
        headers=desk.headers(),
    )
    assert to_itself.status_code == 422
    assert to_itself.json()["errors"][0]["loc"] == ["body", "to_school_urn"]
    bad_urn = desk.client.post(
        f"{API}/pupils/{world.zoe.id}/transfers",
        json={"to_school_urn": "12AB"},
        headers=desk.headers(),
    )
    assert bad_urn.status_code == 422


def test_a_receipt_links_only_a_pupil_of_the_receiving_school(before_christmas: Desk) -> None:
    desk, world = before_christmas, before_christmas.world
    sent = _send(desk)
    wrong = desk.client.post(
        f"{TRANSFERS}/{sent['id']}/receipt",
        json={"pupil_id": str(world.zoe.id)},  # the sending school's record
        headers=desk.headers(world.other_dsl),
    )
    assert wrong.status_code == 422
    assert wrong.json()["errors"][0]["loc"] == ["body", "pupil_id"]
    shown = desk.client.get(f"{TRANSFERS}/{sent['id']}", headers=desk.headers()).json()
    assert shown["status"] == "sent" and shown["received_at"] is None


def test_overdue_across_a_bank_holiday_alerts_the_senders_desk_once(
    before_christmas: Desk, database: Database
) -> None:
    desk, world = before_christmas, before_christmas.world
    sent = _send(desk)  # left today: Friday 18 December
    assert sent["due_by"] == "2026-12-29"
    worker = make_worker(database, desk.clock, None, digest_hour=0)

    def overdue_events() -> list[AlertEvent]:
        with database.transaction() as session:
            found = session.exec(select(AlertEvent).where(AlertEvent.type == "transfer.overdue"))
            return list(found)

    # Christmas Day and Boxing Day (observed on Monday 28) are bank holidays: on Monday
    # 28 it is not due yet, nor on Tuesday 29, its last day.
    for day in (28, 29):
        desk.clock._now = datetime(2026, 12, day, 16, 0, tzinfo=UTC)
        drain(worker)
        shown = desk.client.get(f"{TRANSFERS}/{sent['id']}", headers=desk.headers()).json()
        assert shown["status"] == "sent", day
    assert overdue_events() == []

    desk.clock._now = datetime(2026, 12, 30, 9, 0, tzinfo=UTC)
    shown = desk.client.get(f"{TRANSFERS}/{sent['id']}", headers=desk.headers()).json()
    assert shown["status"] == "overdue"
    drain(worker)
    (event,) = overdue_events()
    assert event.school_id == world.school.id
    assert json.loads(event.data) == {"transfer_id": sent["id"], "due_by": "2026-12-29"}
    inbox = desk.client.get(f"{API}/desk/inbox", headers=desk.headers()).json()
    assert [t["id"] for t in inbox["transfers_due"]] == [sent["id"]]
    # Once: later passes and later days raise it no more.
    for _ in range(3):
        desk.clock.advance(days=1)
        drain(worker)
    assert len(overdue_events()) == 1
    with database.transaction() as session:
        row = session.get(PupilTransfer, event.subject_id)
        assert row is not None and row.overdue_event_id == event.id
    # Received late: no longer overdue.
    receipt = desk.client.post(
        f"{TRANSFERS}/{sent['id']}/receipt",
        json={"pupil_id": str(world.elsewhere.id)},
        headers=desk.headers(world.other_dsl),
    )
    assert receipt.json()["status"] == "received"


def test_the_schools_closure_days_are_not_school_days(
    before_christmas: Desk, database: Database
) -> None:
    desk, world = before_christmas, before_christmas.world
    calendar = desk.client.get(f"{API}/school-calendar", headers=desk.headers())
    assert calendar.status_code == 200 and calendar.json() == {"closure_days": []}
    days = {"closure_days": ["2026-12-29", "2026-12-22", "2026-12-22"]}
    put = desk.client.put(f"{API}/school-calendar", json=days, headers=desk.headers())
    assert put.status_code == 200, put.text
    assert put.json() == {"closure_days": ["2026-12-22", "2026-12-29"]}
    # Mon 21, (Tue 22 closed), Wed 23, Thu 24, (holidays), (Tue 29 closed), Wed 30, Thu 31.
    assert _send(desk)["due_by"] == "2026-12-31"
    # Another school's calendar is its own.
    theirs = desk.client.get(f"{API}/school-calendar", headers=desk.headers(world.other_dsl))
    assert theirs.json() == {"closure_days": []}
    bad = desk.client.put(
        f"{API}/school-calendar", json={"closure_days": ["22/12/2026"]}, headers=desk.headers()
    )
    assert bad.status_code == 422
    assert sorted(_actions(database, "school_calendar.")) == [
        "school_calendar.read",
        "school_calendar.read",
        "school_calendar.update",
    ]


def test_sent_transfers_are_listed_in_keyset_pages(before_christmas: Desk) -> None:
    desk, world = before_christmas, before_christmas.world
    deputy = make_user(world.app.state.database, world.school, "deputy_dsl")
    sent = [_send(desk, to_school_urn=f"70099{n}")["id"] for n in range(3)]
    first = desk.client.get(TRANSFERS, params={"limit": 2}, headers=desk.headers(deputy)).json()
    assert [t["id"] for t in first["items"]] == sent[::-1][:2]
    rest = desk.client.get(
        TRANSFERS, params={"limit": 2, "cursor": first["next_cursor"]}, headers=desk.headers()
    ).json()
    assert [t["id"] for t in rest["items"]] == sent[:1] and rest["next_cursor"] is None
    bad = desk.client.get(TRANSFERS, params={"cursor": "not-a-cursor"}, headers=desk.headers())
    assert bad.status_code == 422


def test_the_overdue_alert_is_emailed_to_the_senders_desk_without_content(
    before_christmas: Desk, database: Database, mailbox: Mailbox
) -> None:
    desk, world = before_christmas, before_christmas.world
    desk.fill_file(concerns=1)
    _send(desk)
    worker = make_worker(database, desk.clock, mailbox, digest_hour=0)
    drain(worker)
    before = len(mailbox.to(world.dsl.email))
    desk.clock._now = datetime(2026, 12, 30, 9, 0, tzinfo=UTC)
    drain(worker)
    overdue = [m for m in mailbox.to(world.dsl.email)[before:] if "transfer" in m.subject]
    assert len(overdue) == 1
    assert overdue[0].subject.startswith("A file transfer is overdue at Fictional Academy")
    assert "2026-12-29" in overdue[0].text
    assert mailbox.to(world.other_dsl.email) == []  # the receiving school is not told
    for letter in mailbox.messages():
        for content in ("Zo", "phone", "Had a new"):
            assert content not in letter.message.as_string()
