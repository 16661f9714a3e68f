"""What alerts cost a concern's log (issue 18): ``POST /concerns`` with email and one
webhook subscription configured, against none, on the same seeded database.

A request only writes its outbox rows (one INSERT, sent with the concern's own rows);
the sending is the delivery worker's, which ``concernlog serve`` runs in the same process
by default, so the worker's CPU counts here too. Each configuration is measured on a
fresh server process, in turns (none, configured, none, configured...), so drift over
the run falls on both alike; the table compares their means. The target: configured
costs at most 5 % of the throughput of none.

The school has a DSL and two deputies (three recipients per concern). Email goes to an
SMTP server on loopback that accepts and drops everything (aiosmtpd's ``Sink``, in a
process of its own). The webhook goes to a receiver on loopback that answers every
post 204 (``bench.hook_receiver``, a process of its own); the subscription exists only
during the configured turns, so the "none" turns deliver nothing at all.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyotp
import sqlalchemy as sa

from api.cli import run_migrations
from api.main import create_app
from bench import fixtures
from bench.phases import _call, _request
from bench.servers import (
    DEFAULT_PG_URL,
    FILES_KEY,
    HOST,
    SECRET_KEY,
    TRANSFER_KEY,
    Server,
    free_port,
    serve_concernlog,
    throwaway_database,
)
from core.clock import Clock, utcnow
from core.mail import SmtpServer
from core.settings import Settings
from db.engine import Database
from guidance import GUIDANCE_DIR
from models import AlertDelivery, AlertEvent
from models.concern import ConcernCreate
from models.user import Role, User
from models.webhook import WebhookCreate
from services import concerns, webhooks
from services.alerts.events import EVENT_TYPES
from services.alerts.worker import DeliveryWorker, EmailSetup
from services.context import RequestContext
from services.guidance import GuidanceLibrary
from services.principal import Principal

TARGET_COST = 0.05
CONFIGURATIONS = ("none", "email + webhook")


def add_deputies(database_url: str, school: fixtures.BenchSchool, count: int = 2) -> None:
    """Deputy DSLs beside the school's DSL: every concern is emailed to each of them."""
    database = Database.from_url(database_url)
    try:
        with database.transaction() as session:
            session.add_all(
                User(
                    school_id=school.school_id,
                    email=f"bench.deputy.{n}@fictional-school.example",
                    display_name=f"Bench Deputy {n}",
                    role=Role.deputy_dsl.value,
                    totp_secret=pyotp.random_base32(),
                    mfa_enrolled=True,
                )
                for n in range(count)
            )
    finally:
        database.dispose()


def _dsl_context(school: fixtures.BenchSchool) -> RequestContext:
    principal = Principal(id=school.dsl_id, school_id=school.school_id, role=Role.dsl, kind="user")
    guidance = GuidanceLibrary.load(GUIDANCE_DIR)
    return RequestContext(principal=principal, now=utcnow(), request_id=None, guidance=guidance)


@contextmanager
def webhook_subscription(
    database_url: str, school: fixtures.BenchSchool, receiver_url: str
) -> Iterator[uuid.UUID]:
    """One subscription of the school to every event type, posting to ``receiver_url``,
    made as ``POST /webhooks`` makes it (its secret sealed with the server's key) and
    deleted as ``DELETE /webhooks/{id}`` deletes it when the block ends. The receiver is
    plain http on loopback: the https rule is production's check of a URL given to the
    API, and the bench has no certificate to offer; the worker posts alike."""
    database = Database.from_url(database_url)
    try:
        with database.transaction() as session:
            created = webhooks.create_webhook(
                session,
                _dsl_context(school),
                body=WebhookCreate(url=receiver_url, events=sorted(EVENT_TYPES)),
                seal_key=webhooks.sealing_key(SECRET_KEY),
                production=False,
            )
        yield created.id
        with database.transaction() as session:
            webhooks.delete_webhook(session, _dsl_context(school), hook_id=created.id)
    finally:
        database.dispose()


@contextmanager
def _loopback_process(work_dir: Path, name: str, command: list[str], port: int) -> Iterator[None]:
    """``command`` in a process of its own, once something accepts on ``port``."""
    log = (work_dir / f"{name}.log").open("ab")
    process = subprocess.Popen(
        command, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection((HOST, port), timeout=1):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the {name} did not start") from None
                time.sleep(0.1)
        yield
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()


@contextmanager
def smtp_sink(work_dir: Path) -> Iterator[str]:
    """An SMTP server on loopback that accepts every message and keeps none; its URL."""
    port = free_port()
    command = [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"{HOST}:{port}"]
    with _loopback_process(work_dir, "smtp-sink", [*command, "-c", "aiosmtpd.handlers.Sink"], port):
        yield f"smtp://{HOST}:{port}"


@contextmanager
def webhook_receiver(work_dir: Path) -> Iterator[str]:
    """An HTTP server on loopback answering every POST 204 (``bench.hook_receiver``)."""
    port = free_port()
    command = [sys.executable, "-m", "bench.hook_receiver", str(port)]
    with _loopback_process(work_dir, "webhook-receiver", command, port):
        yield f"http://{HOST}:{port}/concernlog-events"


def outbox_counts(database_url: str) -> dict[str, int]:
    """Events (published or not) and deliveries by status, after a configuration's run."""
    events = AlertEvent.__table__  # type: ignore[attr-defined]
    deliveries = AlertDelivery.__table__  # type: ignore[attr-defined]
    database = Database.from_url(database_url)
    try:
        with database.transaction() as session:
            connection = session.connection()
            found = {
                "events": connection.execute(
                    sa.select(sa.func.count()).select_from(events)
                ).scalar_one(),
                "unpublished": connection.execute(
                    sa.select(sa.func.count()).where(events.c.sequence.is_(None))
                ).scalar_one(),
            }
            for channel, status, count in connection.execute(
                sa.select(deliveries.c.channel, deliveries.c.status, sa.func.count()).group_by(
                    deliveries.c.channel, deliveries.c.status
                )
            ):
                found[f"{channel}_{status}"] = count
    finally:
        database.dispose()
    return found


def bench_alerts(
    *,
    backend: str,
    database_url: str,
    school: fixtures.BenchSchool,
    work_dir: Path,
    rounds: int,
    measure_create: Callable[[Server, str], dict[str, Any]],
) -> dict[str, Any]:
    """Measure the create load ``rounds`` times in each configuration, in turns; the
    means, the cost of alerts, and what the outbox held after each turn."""
    add_deputies(database_url, school)
    readings: dict[str, list[dict[str, Any]]] = {name: [] for name in CONFIGURATIONS}
    with smtp_sink(work_dir) as smtp_url, webhook_receiver(work_dir) as receiver_url:
        for round_number in range(1, rounds + 1):
            for name in CONFIGURATIONS:
                configured = name != "none"
                env = (
                    {
                        "CONCERNLOG_SMTP_URL": smtp_url,
                        "CONCERNLOG_MAIL_FROM": "bench@fictional-school.example",
                    }
                    if configured
                    else {}
                )
                label = f"alerts-{name.replace(' + ', '+')}-{round_number}"
                with contextlib.ExitStack() as stack:
                    if configured:
                        stack.enter_context(
                            webhook_subscription(database_url, school, receiver_url)
                        )
                    with serve_concernlog(
                        database_url, work_dir, f"concernlog-{backend}-{label}", extra_env=env
                    ) as server:
                        row = measure_create(
                            server, f"POST /concerns, alerts: {name} (round {round_number})"
                        )
                    row["outbox"] = outbox_counts(database_url)
                readings[name].append(row)
    means = {name: sum(r["rps"] for r in rows) / len(rows) for name, rows in readings.items()}
    cost = 1 - means["email + webhook"] / means["none"] if means["none"] else 0.0
    return {
        "backend": backend,
        "rounds": rounds,
        "mean_rps": means,
        "cost": cost,
        "meets_target": cost <= TARGET_COST,
        "readings": {name: rows for name, rows in readings.items()},
    }


def describe(result: dict[str, Any]) -> list[str]:
    """The table's lines for one backend's comparison."""
    means = result["mean_rps"]
    verdict = "met" if result["meets_target"] else "MISSED"
    lines = [
        f"{result['backend']:<11}POST /concerns, no alert channel      {means['none']:>9.0f} req/s "
        f"(mean of {result['rounds']})",
        f"{result['backend']:<11}POST /concerns, email + webhook       "
        f"{means['email + webhook']:>9.0f} req/s: cost {result['cost']:+.1%} "
        f"(target ≤ {TARGET_COST:.0%}: {verdict})",
    ]
    last = result["readings"]["email + webhook"][-1]["outbox"]
    lines.append(
        f"{'':<11}outbox after the last configured turn: "
        + ", ".join(f"{key} {value}" for key, value in sorted(last.items()))
    )
    return lines


# --- CPU per concern, in process (python -m bench.alerts) ----------------------------------


@dataclass
class CpuPerConcern:
    backend: str
    concerns: int
    request_ms: float  # a POST /concerns through the app, all of the process's threads
    worker_none_ms: float  # the worker publishing its events, no channel
    worker_email_ms: float  # the worker publishing and emailing it to the school's desk
    emails: int
    delivered: int
    pending: int

    @property
    def cost(self) -> float:
        """The throughput a CPU-bound server gives up to email, against no channel."""
        none = self.request_ms + self.worker_none_ms
        return 1 - none / (self.request_ms + self.worker_email_ms)


def _drain_cpu(worker: DeliveryWorker) -> float:
    started = time.thread_time()
    while worker.run_once().busy:
        pass
    return time.thread_time() - started


async def _creates_cpu(app: Any, school: fixtures.BenchSchool, count: int, offset: int) -> float:
    started = time.process_time()
    for n in range(count):
        status = await _call(app, _request("create", school, offset + n))
        if status != 201:
            raise RuntimeError(f"POST /concerns answered {status}")
    return time.process_time() - started


def cpu_per_concern(backend: str, url: str, work_dir: Path, count: int) -> CpuPerConcern:
    """Log ``count`` concerns through the app (no worker in it), drain them with a worker
    that has no channel; log as many again and drain them with one that emails the desk
    (a DSL and two deputies, through an SMTP sink on loopback). CPU seconds each, by
    ``time.process_time`` for the requests and the worker's own thread time."""
    run_migrations(url)
    school = fixtures.seed_school(url, secret_key=SECRET_KEY, concerns_count=10)
    add_deputies(url, school)
    settings = Settings(
        env="production",
        database_url=url,
        secret_key=SECRET_KEY,
        files_key=FILES_KEY,
        transfer_signing_key=TRANSFER_KEY,
        log_json=True,
    )
    database = Database.from_url(url)
    app = create_app(settings, database=database)
    lease = timedelta(minutes=2)
    try:
        quiet = DeliveryWorker(database, clock=Clock(), email=None, lease=lease)
        with smtp_sink(work_dir) as smtp_url:
            emailing = DeliveryWorker(
                database,
                clock=Clock(),
                email=EmailSetup(
                    server=SmtpServer.from_url(smtp_url),
                    sender="bench@fictional-school.example",
                    sign_in_url="https://concernlog.fictional-school.example/app/",
                    timeout_seconds=10,
                ),
                lease=lease,
            )
            # Warm-up, not counted: statements compiled and prepared, connections made,
            # as in a worker that has run a while.
            _drain_cpu(quiet)  # the seeded concerns' events
            for worker in (quiet, emailing, quiet, emailing):
                asyncio.run(_creates_cpu(app, school, count // 5, 0))
                _drain_cpu(worker)
            first = asyncio.run(_creates_cpu(app, school, count, 0))
            none = _drain_cpu(quiet)
            second = asyncio.run(_creates_cpu(app, school, count, count))
            sent = _drain_cpu(emailing)
        counts = outbox_counts(url)
    finally:
        database.dispose()
    per = 1000 / count
    return CpuPerConcern(
        backend=backend,
        concerns=count,
        request_ms=(first + second) / 2 * per,
        worker_none_ms=none * per,
        worker_email_ms=sent * per,
        emails=count * 3,
        delivered=counts.get("deliveries_delivered", 0),
        pending=counts.get("deliveries_pending", 0),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="CPU per concern logged: the request, and the worker with and without email"
    )
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--pg-url", default=os.environ.get("BENCH_PG_URL", DEFAULT_PG_URL))
    parser.add_argument("--concerns", type=int, default=500)
    args = parser.parse_args(argv)
    os.environ["CONCERNLOG_LOG_LEVEL"] = "WARNING"
    results = []
    with tempfile.TemporaryDirectory(prefix="concernlog-bench-alerts-") as folder:
        work_dir = Path(folder)
        for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:
            with throwaway_database(backend, pg_url=args.pg_url) as url:
                results.append(cpu_per_concern(backend, url, work_dir, args.concerns))
    print(
        f"CPU ms per concern logged ({args.concerns} each; three recipients per concern):\n"
        f"{'backend':<11}{'request':>9}{'worker, none':>14}{'worker, email':>15}"
        f"{'delivered':>11}{'pending':>9}{'cost':>8}"
    )
    for r in results:
        print(
            f"{r.backend:<11}{r.request_ms:>9.3f}{r.worker_none_ms:>14.3f}"
            f"{r.worker_email_ms:>15.3f}{r.delivered:>11}{r.pending:>9}{r.cost:>8.1%}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())


def log_concerns(database_url: str, school: fixtures.BenchSchool, count: int) -> None:
    """``count`` concerns logged by the school's member of staff, through the service (as
    the API logs them: their alerts in the outbox)."""
    guidance = GuidanceLibrary.load(GUIDANCE_DIR)
    principal = Principal(
        id=school.staff_id, school_id=school.school_id, role=Role.staff, kind="user"
    )
    database = Database.from_url(database_url)
    try:
        with database.transaction() as session:
            for n in range(count):
                now = utcnow()
                concerns.create_concern(
                    session,
                    RequestContext(
                        principal=principal, now=now, request_id=None, guidance=guidance
                    ),
                    concern=ConcernCreate(
                        pupil_ids=[school.pupil_ids[n % len(school.pupil_ids)]],
                        guidance_key=fixtures.GUIDANCE_KEY,
                        indicators=school.indicator_ids[:2],
                        description=f"Fictional alert-bench concern {n}: seen at the gate.",
                        observed_at=now - timedelta(hours=1),
                        immediate_danger=False,
                        police_contacted=False,
                    ),
                )
    finally:
        database.dispose()
