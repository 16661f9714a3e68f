"""Time one concern create, in process: the service call and its commit, no HTTP.

    .venv/bin/python -m bench.create_timing sqlite
    .venv/bin/python -m bench.create_timing postgresql://postgres@127.0.0.1:5432/postgres

For SQLite a temporary file is used. For PostgreSQL the URL names a server (and a database
to connect to for administration): a throwaway database is created on it and dropped
afterwards. The schema is built with the migrations, as in production. Every record is
fictional.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlmodel import Session

from api.cli import run_migrations
from core.clock import utcnow
from db.engine import Database, normalise_url
from guidance import GUIDANCE_DIR
from models import School, User
from models.concern import ConcernCreate
from models.pupil import Pupil
from models.user import Role
from services import audit, concerns, idempotency
from services.context import RequestContext
from services.guidance import GuidanceLibrary
from services.principal import Principal


@contextmanager
def throwaway_database(target: str) -> Iterator[str]:
    if target == "sqlite":
        with tempfile.TemporaryDirectory(prefix="concernlog-bench-") as folder:
            yield f"sqlite:///{Path(folder) / 'bench.db'}"
        return
    server = make_url(normalise_url(target))
    name = f"concernlog_bench_{uuid.uuid4().hex[:10]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        try:
            yield server.set(database=name).render_as_string(hide_password=False)
        finally:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def measure(url: str, calls: int, *, with_key: bool) -> list[float]:
    run_migrations(url)
    database = Database.from_url(url)
    guidance = GuidanceLibrary.load(GUIDANCE_DIR)
    try:
        with database.transaction() as session:
            school = School(name="Fictional Bench Academy", urn="999001")
            session.add(school)
            session.flush()
            audit.start_chain(session, school_id=school.id)
            recorder = User(
                school_id=school.id,
                email="bench.teacher@fictional-school.example",
                display_name="Bench Teacher",
                role=Role.staff.value,
            )
            pupil = Pupil(
                school_id=school.id,
                given_name="Zoë",
                family_name="Benchmark",
                date_of_birth=date(2014, 3, 9),
            )
            session.add_all([recorder, pupil])
        principal = Principal(id=recorder.id, school_id=school.id, role=Role.staff, kind="user")
        body = ConcernCreate(
            pupil_ids=[pupil.id],
            guidance_key="cse",
            indicators=["secretive", "unexplained-money-or-items"],
            description="A fictional description of what was seen, of a typical length. " * 8,
            observed_at=utcnow() - timedelta(hours=1),
            location="Fictional bus stop",
            immediate_danger=False,
            police_contacted=False,
        )
        timings: list[float] = []
        secrets = idempotency.Secrets.from_secret("bench-secret-" + "x" * 32)
        for n in range(calls):
            started = time.perf_counter()
            with database.transaction() as session:
                context = RequestContext(
                    principal=principal, now=utcnow(), request_id=f"bench-{n}", guidance=guidance
                )

                def create(
                    session: Session = session, context: RequestContext = context
                ) -> idempotency.Answer:
                    return idempotency.Answer(
                        201, concerns.create_concern(session, context, concern=body)
                    )

                if with_key:
                    idempotency.once(
                        session,
                        context,
                        key=idempotency.Key(f"bench-key-{n}"),
                        request_fingerprint=idempotency.fingerprint(
                            secrets, body.model_dump(mode="json")
                        ),
                        secrets=secrets,
                        create=create,
                    )
                else:
                    create()
            timings.append(time.perf_counter() - started)
        return timings
    finally:
        database.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("target", help='"sqlite" or a PostgreSQL server URL')
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--idempotency-key", action="store_true", help="send a fresh key each time")
    args = parser.parse_args(argv)
    with throwaway_database(args.target) as url:
        timings = measure(url, args.calls, with_key=args.idempotency_key)
    ms = sorted(t * 1000 for t in timings)
    backend = "sqlite" if args.target == "sqlite" else "postgresql"
    print(
        f"{backend}: {len(ms)} creates{' with Idempotency-Key' if args.idempotency_key else ''}: "
        f"median {statistics.median(ms):.2f} ms, p90 {ms[int(len(ms) * 0.9)]:.2f} ms, "
        f"p99 {ms[int(len(ms) * 0.99)]:.2f} ms"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
