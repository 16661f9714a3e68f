"""Issue 23, "more than one process": separate ``concernlog serve`` processes, and
``concernlog serve --workers 2``, against one PostgreSQL database give correct results
together (docs/adr/0123-several-server-processes.md).

Real processes on loopback ports, a real SMTP server, concurrent clients, bounded waits;
servers are killed with their process groups whatever happens. SQLite takes one server
process at a time (``serve`` refuses ``--workers`` above 1 there), so the two-process tests
run on PostgreSQL only.

Every name and every text here is invented.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func
from sqlmodel import col, select
from typer.testing import CliRunner

from api.cli import SQLITE_ONE_PROCESS, app
from core.passwords import hashing_concurrency, hashing_share, share_hashing
from core.settings import get_settings
from db.engine import Database
from models import AlertDelivery, AlertEvent, AuditEvent, Concern
from models.user import Role
from services.alerts import CONCERN_CREATED
from tests.desk import API, CONCERNS, Desk, concern_body
from tests.factories import DEFAULT_PASSWORD, make_user
from tests.mailbox import Mailbox, until
from tests.server import running_server

pytestmark = pytest.mark.slow

TOKEN = f"{API}/auth/token"
STREAM = f"{API}/desk/stream"
STAFF_WRITERS = 4
CONCERNS_EACH = 5
SHARED_KEYS = 3
CANARY = "The fictional heron counted seven lanterns along the quiet canal."


def _postgres_only(backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("several server processes need PostgreSQL: serve refuses them on SQLite")


def _env(mailbox: Mailbox) -> dict[str, str]:
    return {
        "CONCERNLOG_SMTP_URL": mailbox.url,
        "CONCERNLOG_MAIL_FROM": "concernlog <alerts@fictional-school.example>",
        "CONCERNLOG_SMTP_TIMEOUT_SECONDS": "10",
        "CONCERNLOG_WORKER_POLL_SECONDS": "0.2",
        "CONCERNLOG_STREAM_POLL_SECONDS": "0.2",
    }


def _stream_events(lines: Iterator[str], kind: str, count: int) -> list[dict[str, str]]:
    """The stream's events until ``count`` of ``kind`` have come (others, such as a pattern
    flag the worker raised, may come between them)."""
    found: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for line in lines:
        if line == "":
            if "data" in current:
                found.append(current)
                if sum(event["event"] == kind for event in found) == count:
                    return found
            current = {}
        elif not line.startswith(":"):
            field, _, value = line.partition(":")
            current[field] = value.removeprefix(" ")
    raise AssertionError(f"the stream ended after {len(found)} events")


def _in_parallel(calls: list[Callable[[], Any]]) -> list[Any]:
    """Run ``calls`` at once (released together by a barrier), answers in order."""
    barrier = threading.Barrier(len(calls))

    def run(call: Callable[[], Any]) -> Any:
        barrier.wait(timeout=60)
        return call()

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        return list(pool.map(run, calls))


def _sign_in(base_url: str, email: str, password: str) -> int:
    answer = httpx.post(
        base_url + TOKEN,
        data={"grant_type": "password", "username": email, "password": password},
        timeout=60,
    )
    return answer.status_code


def test_two_servers_on_one_database_give_correct_results_together(
    backend: str,
    desk: Desk,
    database: Database,
    migrated_url: str,
    mailbox: Mailbox,
    tmp_path: Path,
) -> None:
    _postgres_only(backend)
    world = desk.world
    writers = [world.staff_a, world.staff_b] + [
        make_user(database, world.school, Role.staff) for _ in range(STAFF_WRITERS - 2)
    ]
    env = _env(mailbox)
    with (
        running_server(migrated_url, tmp_path / "a.log", extra_env=env) as first,
        running_server(migrated_url, tmp_path / "b.log", extra_env=env) as second,
        httpx.Client(base_url=first.base_url, timeout=60) as at_first,
        at_first.stream("GET", STREAM, headers=desk.headers(world.dsl)) as stream,
    ):
        servers = (first, second)
        assert stream.status_code == 200

        # Concerns from several members of staff at once, spread over both processes.
        def log(n: int) -> dict[str, Any]:
            who = writers[n % len(writers)]
            answer = httpx.post(
                servers[n % 2].base_url + CONCERNS,
                json=concern_body(desk.clock, [world.zoe if n % 2 else world.zack]),
                headers=desk.headers(who),
                timeout=60,
            )
            assert answer.status_code == 201, answer.text
            body: dict[str, Any] = answer.json()
            return body

        with ThreadPoolExecutor(max_workers=8) as pool:
            logged = list(pool.map(log, range(STAFF_WRITERS * CONCERNS_EACH)))
        assert len({concern["id"] for concern in logged}) == STAFF_WRITERS * CONCERNS_EACH

        # The same Idempotency-Key sent to both processes at the same moment: one concern,
        # and both answers are its first answer.
        for _ in range(SHARED_KEYS):
            headers = desk.headers(world.staff_a, **{"Idempotency-Key": str(uuid.uuid4())})
            body = concern_body(desk.clock, [world.zoe], description=CANARY)
            answers = _in_parallel(
                [
                    partial(
                        httpx.post,
                        server.base_url + CONCERNS,
                        json=body,
                        headers=headers,
                        timeout=60,
                    )
                    for server in servers
                ]
            )
            assert [a.status_code for a in answers] == [201, 201], [a.text for a in answers]
            assert answers[0].json() == answers[1].json()
            assert answers[0].headers["location"] == answers[1].headers["location"]
            assert sorted(a.headers.get("idempotent-replayed", "") for a in answers) == [
                "",
                "true",
            ]
            logged.append(answers[0].json())
        created = STAFF_WRITERS * CONCERNS_EACH + SHARED_KEYS

        # A representation's ETag is the same from either process.
        guidance = httpx.get(first.base_url + f"{API}/guidance/cse", timeout=30)
        again = httpx.get(
            second.base_url + f"{API}/guidance/cse",
            headers={"If-None-Match": guidance.headers["etag"]},
            timeout=30,
        )
        assert again.status_code == 304
        concern_id = logged[0]["id"]
        read = httpx.get(
            first.base_url + f"{CONCERNS}/{concern_id}", headers=desk.headers(), timeout=30
        )
        triaged = httpx.post(
            second.base_url + f"{CONCERNS}/{concern_id}/triage",
            json={"status": "acknowledged", "reason": "Fictional."},
            headers=desk.headers(**{"If-Match": read.headers["etag"]}),
            timeout=30,
        )
        assert triaged.status_code == 200, triaged.text

        # Failed sign-ins count across both processes: in turn, then all at once.
        one_by_one = make_user(database, world.school, Role.staff)
        statuses = [
            _sign_in(servers[n % 2].base_url, one_by_one.email, "a-wrong-fictional-guess")
            for n in range(6)
        ]
        assert statuses == [401] * 5 + [429]
        assert _sign_in(first.base_url, one_by_one.email, DEFAULT_PASSWORD) == 429
        at_once = make_user(database, world.school, Role.staff)
        burst = _in_parallel(
            [
                partial(
                    _sign_in,
                    servers[n % 2].base_url,
                    at_once.email,
                    "another-wrong-fictional-guess",
                )
                for n in range(8)
            ]
        )
        assert Counter(burst) == {401: 5, 429: 3}, burst

        # The stream held by the first process carries every concern, wherever it was logged.
        events = _stream_events(stream.iter_lines(), CONCERN_CREATED, created)
        streamed = [
            json.loads(event["data"])["data"]["concern_id"]
            for event in events
            if event["event"] == CONCERN_CREATED
        ]
        assert sorted(streamed) == sorted(concern["id"] for concern in logged)
        sequence = [int(event["id"]) for event in events]
        assert sequence == sorted(sequence) and len(set(sequence)) == len(events)

        # Each alert delivered once to each of the desk, by the two processes' workers.
        def all_delivered() -> bool:
            with database.transaction() as session:
                statuses = list(session.exec(select(AlertDelivery.status)))
            return len(statuses) > 0 and all(status == "delivered" for status in statuses)

        until(all_delivered, timeout=120)
        with database.transaction() as session:
            event_ids = {
                str(event_id)
                for event_id in session.exec(
                    select(AlertEvent.id).where(AlertEvent.type == CONCERN_CREATED)
                )
            }
        assert len(event_ids) == created
        for person in (world.dsl, world.deputy):
            received = Counter(
                event_id for message in mailbox.to(person.email) for event_id in message.event_ids
            )
            assert event_ids <= set(received) and set(received.values()) == {1}, received

        verified = httpx.get(
            second.base_url + f"{API}/audit/verify", headers=desk.headers(), timeout=60
        )
        assert verified.status_code == 200, verified.text
        assert verified.json()["ok"] is True and verified.json()["first_bad_seq"] is None

    logs = (tmp_path / "a.log").read_text() + (tmp_path / "b.log").read_text()
    assert logs.count("alert worker started") == 2
    assert CANARY not in logs
    with database.transaction() as session:
        assert session.exec(select(func.count()).select_from(Concern)).one() == created
        recorded = session.exec(
            select(func.count())
            .select_from(AuditEvent)
            .where(col(AuditEvent.action) == "concern.create", AuditEvent.outcome == "success")
        ).one()
        replayed = session.exec(
            select(func.count())
            .select_from(AuditEvent)
            .where(col(AuditEvent.action) == "concern.create", AuditEvent.outcome == "replayed")
        ).one()
    assert (recorded, replayed) == (created, SHARED_KEYS)


def _access_pids(log_path: Path) -> set[int]:
    pids = set()
    for line in log_path.read_text(errors="replace").splitlines():
        if line.startswith("{"):
            entry = json.loads(line)
            if entry.get("logger") == "concernlog.access":
                pids.add(int(entry["pid"]))
    return pids


def test_serve_with_two_workers_answers_from_both_and_stops_on_sigterm(
    backend: str, database: Database, migrated_url: str, tmp_path: Path
) -> None:
    _postgres_only(backend)
    log = tmp_path / "server.log"
    with running_server(migrated_url, log, workers=2) as server:
        until(lambda: log.read_text().count("alert worker started") == 2, timeout=90)
        # The kernel hands each new connection to one of the two: ask until both answered.
        deadline = time.monotonic() + 90
        while len(_access_pids(log)) < 2 and time.monotonic() < deadline:
            with ThreadPoolExecutor(max_workers=8) as pool:
                answers = list(
                    pool.map(
                        lambda _: httpx.get(server.base_url + "/readyz", timeout=30).status_code,
                        range(16),
                    )
                )
            assert answers == [200] * 16
        assert len(_access_pids(log)) == 2
        assert server.process is not None
        group = server.process.pid
        server.signal(signal.SIGTERM)
        assert server.wait(timeout=60) in (0, -signal.SIGTERM)
        # Nothing of the group is left: both workers stopped with their parent.
        until(lambda: not _group_alive(group), timeout=30)
    text = log.read_text()
    assert text.count("Finished server process") == 2
    assert text.count("alert worker stopped") == 2


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


def test_serve_refuses_several_workers_on_sqlite(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("CONCERNLOG_ENV", "test")
    monkeypatch.setenv("CONCERNLOG_DATABASE_URL", f"sqlite:///{tmp_path / 'none.db'}")
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(app, ["serve", "--workers", "2"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 2
    assert result.stderr.strip() == f"concernlog: {SQLITE_ONE_PROCESS}"
    assert not (tmp_path / "none.db").exists()  # refused before anything opened it


def test_each_of_several_processes_hashes_on_its_share_of_the_cores() -> None:
    assert hashing_concurrency(processes=2) <= max(1, hashing_concurrency() // 2)
    try:
        share_hashing(10_000)
        assert hashing_share() == 1
    finally:
        share_hashing(1)
    assert hashing_share() == hashing_concurrency()
