"""What evaluating the pattern rules costs as a school's concerns grow (issue 25, point 4).

    .venv/bin/python -m bench.patterns                          # 10k, 100k and 1M, SQLite
    .venv/bin/python -m bench.patterns --sizes 10000 100000     # a quicker look
    .venv/bin/python -m bench.patterns --database-url postgresql://postgres@127.0.0.1:5432/bench_patterns

For each size: a fresh database (SQLite in a temporary file; or the PostgreSQL database
given, emptied and migrated), migrated with the project's migrations; one fictional school
with a roll of 2,000 pupils (or ``size / --per-pupil``, at least 2,000) and 40 members of
staff; ``size`` concerns spread evenly
over five years of ``observed_at``, one pupil each, two indicators each, bulk-inserted
(the concern, its pupil row with ``observed_at``, its indicators). Then, for ``--evaluations``
pupils picked at random, the worker's own ``evaluate_pupil`` (what a concern logged costs
the worker: the pupil's signs of the last two windows, the rules, the flags), each in its
own transaction, timed: median and p95 in milliseconds, and the rows it read. Beside it,
for contrast, the cost of one school-wide query of the same period (what a non-incremental
evaluation would read at the least).

Every record is fictional.
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from api.cli_support import run_migrations
from db.engine import Database
from models import Concern, ConcernIndicator, ConcernPupil, Pupil, User
from models.base import new_id
from services import schools
from services.patterns import evaluate_pupil, rules_of
from services.patterns.evidence import pupil_signs

PUPILS = 2_000
STAFF = 40
YEARS = 5
BATCH = 20_000
PUPIL_TABLE: sa.Table = Pupil.__table__  # type: ignore[attr-defined]
INDICATORS = (
    "secretive",
    "unexplained-money-or-items",
    "older-partner-or-new-friends",
    "stays-out-late-or-overnight",
    "misses-school-or-arrives-late",
    "changes-in-mood-or-behaviour",
    "excessive-texts-or-calls",
)


def _seed(
    database: Database, size: int, roll: int, now: datetime, rng: random.Random
) -> tuple[Any, list[Any]]:
    with database.transaction() as session:
        school = schools.create_school(session, name="Bench Fictional Academy", urn="999977")
        staff = [
            User(
                school_id=school.id,
                email=f"bench.staff{n}@bench-fictional.example",
                display_name=f"Bench Teacher {n}",
                role="staff",
            )
            for n in range(STAFF)
        ]
        session.add_all(staff)
        session.flush()
        school_id, staff_ids = school.id, [(u.id, u.display_name) for u in staff]
    pupils = [
        Pupil(
            school_id=school_id,
            given_name=f"Pupil{n}",
            family_name="Benchmark",
            given_name_key=f"pupil{n}",
            family_name_key="benchmark",
            date_of_birth=date(2012, 1 + n % 12, 1 + n % 28),
        ).model_dump()
        for n in range(roll)
    ]
    with database.engine.begin() as connection:
        for first in range(0, roll, BATCH):
            connection.execute(sa.insert(PUPIL_TABLE), pupils[first : first + BATCH])
    pupil_ids = [p["id"] for p in pupils]
    span = timedelta(days=365 * YEARS).total_seconds()
    start = now - timedelta(days=365 * YEARS)
    tables = [t.__table__ for t in (Concern, ConcernPupil, ConcernIndicator)]  # type: ignore[union-attr]
    for first in range(0, size, BATCH):
        concerns, about, signs = [], [], []
        for _ in range(min(BATCH, size - first)):
            concern_id = new_id()
            observed = start + timedelta(seconds=rng.random() * span)
            recorder, name = staff_ids[rng.randrange(STAFF)]
            concerns.append(
                {
                    "id": concern_id, "school_id": school_id, "recorded_by": recorder,
                    "recorded_by_name": name, "recorded_at": observed, "observed_at": observed,
                    "guidance_key": "cse", "guidance_version": "1", "categories": "cse",
                    "description": "A fictional benchmark concern.", "location": None,
                    "immediate_danger": False, "police_contacted": False,
                }
            )  # fmt: skip
            about.append(
                {"concern_id": concern_id, "pupil_id": pupil_ids[rng.randrange(roll)],
                 "school_id": school_id, "position": 0, "observed_at": observed}
            )  # fmt: skip
            for position, sign in enumerate(rng.sample(INDICATORS, 2)):
                signs.append(
                    {"concern_id": concern_id, "indicator_id": sign, "school_id": school_id,
                     "observed_at": observed, "position": position}
                )  # fmt: skip
        with database.engine.begin() as connection:
            for table, rows in zip(tables, (concerns, about, signs), strict=True):
                connection.execute(sa.insert(table), rows)
    return school_id, pupil_ids


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def run_size(
    url: str, size: int, evaluations: int, seed: int, per_pupil: int | None
) -> dict[str, Any]:
    run_migrations(url)
    database = Database.from_url(url)
    rng = random.Random(seed)
    now = datetime.now(UTC).replace(microsecond=0)
    began = time.perf_counter()
    roll = max(PUPILS, size // per_pupil) if per_pupil else PUPILS
    school_id, pupil_ids = _seed(database, size, roll, now, rng)
    seeded = time.perf_counter() - began
    times, rows = [], []
    for pupil_id in rng.sample(pupil_ids, min(evaluations, len(pupil_ids))):
        with database.transaction() as session:
            rules = rules_of(session, school_id)
            since = now - 2 * timedelta(days=rules.window_days)
            rows.append(
                len(pupil_signs(session, school_id=school_id, pupil_id=pupil_id, since=since))
            )
        t0 = time.perf_counter()
        with database.transaction() as session:
            evaluate_pupil(session, school_id=school_id, pupil_id=pupil_id, rules=rules, now=now)
        times.append((time.perf_counter() - t0) * 1000)
    concerns = Concern.__table__  # type: ignore[attr-defined]
    t0 = time.perf_counter()
    with database.engine.connect() as connection:
        period = connection.execute(
            sa.select(sa.func.count()).where(
                concerns.c.school_id == school_id,
                concerns.c.observed_at >= now - timedelta(days=180),
            )
        ).scalar_one()
    school_wide = (time.perf_counter() - t0) * 1000
    database.dispose()
    return {
        "size": size,
        "roll": roll,
        "seeded_s": seeded,
        "median_ms": statistics.median(times),
        "p95_ms": _percentile(times, 0.95),
        "rows": statistics.mean(rows),
        "school_rows": period,
        "school_ms": school_wide,
    }


def _fresh_postgres(url: str) -> None:
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as connection:
        connection.execute(sa.text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--evaluations", type=int, default=200)
    parser.add_argument("--database-url", default=None, help="PostgreSQL (emptied!)")
    parser.add_argument("--seed", type=int, default=25)
    parser.add_argument(
        "--per-pupil",
        type=int,
        default=None,
        help="concerns per pupil over the five years: the roll grows with the school's "
        "concerns (at least 2,000); without it the roll is 2,000 whatever the size",
    )
    args = parser.parse_args()
    print(
        f"{'concerns':>10} {'pupils':>8} {'seed s':>8} {'eval median ms':>15} {'eval p95 ms':>12} "
        f"{'rows read':>10} {'school-wide rows':>17} {'school-wide ms':>15}"
    )
    for size in args.sizes:
        with tempfile.TemporaryDirectory() as directory:
            url = args.database_url or f"sqlite:///{Path(directory) / 'patterns.db'}"
            if args.database_url:
                _fresh_postgres(url)
            found = run_size(url, size, args.evaluations, args.seed, args.per_pupil)
        print(
            f"{found['size']:>10,} {found['roll']:>8,} {found['seeded_s']:>8.1f} "
            f"{found['median_ms']:>15.2f} "
            f"{found['p95_ms']:>12.2f} {found['rows']:>10.1f} {found['school_rows']:>17,} "
            f"{found['school_ms']:>15.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
