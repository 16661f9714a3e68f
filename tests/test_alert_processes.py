"""The worker as operators run it (issue 18, point 1): ``concernlog worker`` killed with
SIGKILL mid-delivery loses nothing, and ``concernlog serve`` delivers by itself.

Real processes, a real SMTP server on loopback, bounded waits."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import httpx
import pytest
from sqlmodel import select

from db.engine import Database
from models import AlertDelivery, AlertEvent
from services.alerts import CONCERN_URGENT
from tests.desk import CONCERNS, Desk, concern_body
from tests.factories import TEST_SECRET
from tests.mailbox import Mailbox, until
from tests.server import CONCERNLOG, running_server

pytestmark = pytest.mark.slow

CANARY = "The fictional canary sang of the blue caravan near the orchard."


def _worker_env(database_url: str, mailbox: Mailbox) -> dict[str, str]:
    return os.environ | {
        "CONCERNLOG_DATABASE_URL": database_url,
        "CONCERNLOG_ENV": "test",
        "CONCERNLOG_SECRET_KEY": TEST_SECRET,
        "CONCERNLOG_SMTP_URL": mailbox.url,
        "CONCERNLOG_MAIL_FROM": "concernlog <alerts@fictional-school.example>",
        "CONCERNLOG_SMTP_TIMEOUT_SECONDS": "5",
        "CONCERNLOG_WORKER_LEASE_SECONDS": "6",
        "CONCERNLOG_WORKER_POLL_SECONDS": "0.2",
    }


def _deliveries(database: Database) -> list[AlertDelivery]:
    with database.transaction() as session:
        return list(session.exec(select(AlertDelivery)))


def _start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen([CONCERNLOG, "worker"], env=env, stdout=out, stderr=out)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.kill()
        process.wait(timeout=10)


def test_a_worker_killed_mid_delivery_loses_nothing(
    desk: Desk, database: Database, migrated_url: str, mailbox: Mailbox, tmp_path: Path
) -> None:
    world = desk.world
    desk.concern(immediate_danger=True, description=CANARY)
    env = _worker_env(migrated_url, mailbox)
    log = tmp_path / "worker.log"
    mailbox.stall_next.set()
    first = _start_worker(env, log)
    try:
        assert mailbox.stalled.wait(timeout=60), log.read_text()
        first.send_signal(signal.SIGKILL)  # mid-delivery: its message sent, no answer yet
        assert first.wait(timeout=10) == -signal.SIGKILL
    finally:
        _stop(first)
    mailbox.release.set()  # the stalled exchange ends; that copy is dropped, never kept
    claimed = _deliveries(database)
    assert len(claimed) == 2
    assert all(d.status == "pending" and d.attempts == 1 for d in claimed)
    assert mailbox.messages() == []

    second = _start_worker(env, log)
    try:
        mailbox.wait_for(2, timeout=60)
        until(lambda: all(d.status == "delivered" for d in _deliveries(database)))
    finally:
        if second.poll() is None:
            second.send_signal(signal.SIGTERM)  # finishes its pass, then exits cleanly
        code = second.wait(timeout=30)
        _stop(second)
    assert code == 0, log.read_text()
    with database.transaction() as session:
        (urgent,) = session.exec(select(AlertEvent).where(AlertEvent.type == CONCERN_URGENT))
    for person in (world.dsl, world.deputy):
        (received,) = mailbox.to(person.email)
        assert received.subject.startswith("URGENT")
        assert received.event_ids == [str(urgent.id)]
    assert all(d.attempts == 2 for d in _deliveries(database))
    assert CANARY not in log.read_text()


def test_serve_runs_a_worker_that_emails_the_desk(
    desk: Desk, database: Database, migrated_url: str, mailbox: Mailbox, tmp_path: Path
) -> None:
    env = _worker_env(migrated_url, mailbox)
    log = tmp_path / "server.log"
    with running_server(migrated_url, log, extra_env=env) as server:
        response = httpx.post(
            server.base_url + CONCERNS,
            json=concern_body(desk.clock, [desk.world.zoe], description=CANARY),
            headers=desk.headers(desk.world.staff_a),
            timeout=30,
        )
        assert response.status_code == 201, response.text
        received = mailbox.wait_for(2, timeout=60)
    assert sorted(m.recipients[0] for m in received) == sorted(
        [desk.world.dsl.email, desk.world.deputy.email]
    )
    assert all(CANARY.encode() not in m.raw for m in received)
    assert "alert worker started" in log.read_text()
    assert CANARY not in log.read_text()


def test_serve_without_its_worker_leaves_the_outbox_to_another(
    desk: Desk, database: Database, migrated_url: str, mailbox: Mailbox, tmp_path: Path
) -> None:
    env = _worker_env(migrated_url, mailbox) | {"CONCERNLOG_SERVE_WORKER": "false"}
    log = tmp_path / "server.log"
    with running_server(migrated_url, log, extra_env=env) as server:
        response = httpx.post(
            server.base_url + CONCERNS,
            json=concern_body(desk.clock, [desk.world.zoe]),
            headers=desk.headers(desk.world.staff_a),
            timeout=30,
        )
        assert response.status_code == 201
        server.signal(signal.SIGTERM)
        server.wait(timeout=30)
    assert "alert worker" not in log.read_text()
    with database.transaction() as session:
        (event,) = session.exec(select(AlertEvent))
    assert event.sequence is None  # recorded, waiting for a worker
    assert mailbox.messages() == []
    once = subprocess.run(
        [CONCERNLOG, "worker", "--once"], env=env, capture_output=True, timeout=60, check=False
    )
    assert once.returncode == 0, once.stderr
    assert len(mailbox.wait_for(2, timeout=10)) == 2
