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
process of its own). Webhooks are not built yet (issue 18, point 3):
``configure_webhook_placeholder`` is where the run will create the one subscription,
and does nothing until then.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pyotp
import sqlalchemy as sa

from bench import fixtures
from bench.servers import HOST, Server, free_port, serve_concernlog
from db.engine import Database
from models import AlertDelivery, AlertEvent
from models.user import Role, User

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


def configure_webhook_placeholder(database_url: str, school: fixtures.BenchSchool) -> None:
    """One webhook subscription for the school, posting to a receiver on loopback: a
    placeholder until webhooks exist (issue 18, point 3), which does nothing yet."""
    del database_url, school


@contextmanager
def smtp_sink(work_dir: Path) -> Iterator[str]:
    """An SMTP server on loopback that accepts every message and keeps none; its URL."""
    port = free_port()
    log = (work_dir / "smtp-sink.log").open("ab")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "aiosmtpd",
            "-n",
            "-l",
            f"{HOST}:{port}",
            "-c",
            "aiosmtpd.handlers.Sink",
        ],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=log,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with socket.create_connection((HOST, port), timeout=1):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the SMTP sink did not start") from None
                time.sleep(0.1)
        yield f"smtp://{HOST}:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()


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
            for status, count in connection.execute(
                sa.select(deliveries.c.status, sa.func.count()).group_by(deliveries.c.status)
            ):
                found[f"deliveries_{status}"] = count
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
    configure_webhook_placeholder(database_url, school)
    readings: dict[str, list[dict[str, Any]]] = {name: [] for name in CONFIGURATIONS}
    with smtp_sink(work_dir) as smtp_url:
        for round_number in range(1, rounds + 1):
            for name in CONFIGURATIONS:
                env = (
                    {
                        "CONCERNLOG_SMTP_URL": smtp_url,
                        "CONCERNLOG_MAIL_FROM": "bench@fictional-school.example",
                    }
                    if name != "none"
                    else {}
                )
                label = f"alerts-{name.replace(' + ', '+')}-{round_number}"
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
