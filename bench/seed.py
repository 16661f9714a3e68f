"""``make bench-scale``: a million concerns, then the DSL's queries against them.

    .venv/bin/python -m bench.seed --concerns 1000000            # the issue's data scale
    .venv/bin/python -m bench.seed --concerns 20000 --schools 5  # a quick look
    .venv/bin/python -m bench.seed --concerns 1000000 --keep bench/data   # and leave them
    .venv/bin/python -m bench.seed --reuse bench/data   # time the queries again, no seeding

For each backend (SQLite in a temporary file; PostgreSQL in a throwaway database, skipped
with a message when unreachable): migrate with ``concernlog migrate``, fill the database
with fictional schools, staff, pupils and concerns by bulk insert (SQLite: the driver's
executemany, values encoded by the columns' own SQLAlchemy types; PostgreSQL: COPY through
psycopg's ``cursor.copy()``), report the seeding rate, then start ``concernlog serve``
(one worker) and time, over HTTP, ``--runs`` runs each of the DSL's queries: p50 and p95,
and the server's resident memory afterwards.

The spread (defaults): 50 schools of 1,000 pupils and 20 members of staff; concerns spread
evenly over the schools and over five years of ``observed_at``, ``recorded_at`` minutes to
days later; one pupil per concern (two or three for one in eight); one to six
indicators; one in twenty with an addendum; in every school one pupil with 210 concerns
(the chronology of 200 events). Audit rows are written as the API writes them, one
``concern.create`` per pupil and one ``addendum.create`` per pupil of the concern, and the
DSL's reads of their first page: one ``concern.list`` event every ``PAGE_EVERY`` concerns,
the pupils of the 50 newest concerns in ``audit_event_pupil`` (ADR 0126); chained per
school with ``services.audit.link`` (the same hashing as ``record``), so that
``GET /audit/verify`` passes on the seeded database.

Tables are filled in steps that look at the migrated schema: the concern's own tables
always; the DSL desk's (issue #5, migration 20261128_05: ``concern_triage``, and
``concern_search_term`` on SQLite) when they exist. Queries whose endpoint is not there yet
answer 404 and are reported "not available".

While loading, the seeding connection (never the server) drops the tables' secondary
indexes and rebuilds them afterwards, and skips foreign-key checks (SQLite
``foreign_keys=OFF``, PostgreSQL ``session_replication_role=replica``); SQLite loads with
``synchronous=OFF``. The server then runs with its own settings (``synchronous=FULL``).
Every record is fictional.
"""

from __future__ import annotations

import argparse
import functools
import http.client
import itertools
import json
import math
import random
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url
from sqlmodel import SQLModel

import models  # noqa: F401  (registers every table: their types encode the values)
from bench import fixtures
from bench.report import RESULTS_DIR, results_document
from bench.servers import (
    DEFAULT_PG_URL,
    HOST,
    SECRET_KEY,
    migrate,
    postgres_unreachable,
    serve_concernlog,
    throwaway_database,
)
from db.engine import normalise_url
from guidance import GUIDANCE_DIR
from models.audit import GENESIS_HASH
from models.base import new_id
from models.pupil import name_key
from services import audit
from services.guidance import GuidanceLibrary

# The application's own column types (UUIDs, UTC timestamps), which reflection loses.
MODEL_METADATA = SQLModel.metadata
FIVE_YEARS = timedelta(days=5 * 365)
HEAVY_PUPIL_CONCERNS = 210
# The DSL reads their first page of concerns (50, newest first) once every this many
# concerns recorded: one ``concern.list`` event with the page's pupils (ADR 0126).
PAGE_EVERY = 20
PAGE = 50
BATCH = 20_000
TRIAGE_STATUSES = (
    ("closed", 0.55),
    ("no_further_action", 0.20),
    ("in_progress", 0.10),
    ("acknowledged", 0.10),
    ("new", 0.05),
)
RISK_LEVELS = ("low", "medium", "high", "critical")

_GIVEN = (
    "Amari", "Bryn", "Cass", "Dara", "Eli", "Fen", "Gale", "Hollis", "Ira", "Jules", "Kai",
    "Lark", "Marlo", "Nico", "Oren", "Pip", "Quill", "Rory", "Sage", "Tam", "Umi", "Vale",
    "Wren", "Xan", "Yael", "Zoë", "Ari", "Bex", "Cato", "Demi",
)  # fmt: skip
_FAMILY = (
    "Ashvale", "Brightmoor", "Cobblefield", "Dunmere", "Elderwick", "Foxhollow", "Greystone",
    "Hazelby", "Ironbridge", "Juniper", "Kestrel", "Larkspur", "Millbrook", "Northcote",
    "Oakhurst", "Pennywhistle", "Quarrington", "Rookwood", "Stillwater", "Thornbury",
)  # fmt: skip
_LOCATIONS = (
    "Playground", "Bus stop outside school", "Corridor by the library", "Changing rooms",
    "Form room", "School gate", "Dining hall", "Online (reported by the pupil)", None,
)  # fmt: skip
# Words for descriptions, drawn with Zipf-like weights so that some are everywhere and
# most are rare, as in real text. SEARCH_WORD sits in the middle of the ranks.
_WORDS = (
    "said", "was", "the", "and", "they", "seemed", "upset", "after", "lunch", "when",
    "asked", "about", "weekend", "would", "not", "say", "older", "friend", "phone", "new",
    "money", "late", "tired", "worried", "home", "left", "early", "again", "teacher",
    "noticed", "bruise", "arm", "explained", "fell", "football", "quiet", "withdrawn",
    "crying", "toilets", "message", "car", "collected", "gate", "man", "woman", "party",
    "overnight", "trainers", "gift", "alcohol", "smelled", "smoke", "vape", "group",
    "park", "evening", "missing", "registration", "mum", "dad", "carer", "sister",
    "brother", "cousin", "social", "media", "pictures", "asked", "send", "threatened",
    "scared", "afraid", "secret", "promised", "tell", "anyone", "hungry", "breakfast",
    "uniform", "dirty", "shoes", "coat", "cold", "winter", "scooter", "bike", "taxi",
    "takeaway", "shop", "station", "town", "centre", "snapchat", "instagram", "chat",
    "game", "console", "headphones", "jewellery", "nails", "hair", "tattoo", "boyfriend",
    "girlfriend", "twenty", "nineteen", "eighteen", "college", "flat", "house", "stayed",
    "police", "brought", "back", "refused", "answer", "angry", "shouted", "threw", "chair",
    "calm", "talked", "later", "lesson", "maths", "english", "science", "art", "music",
    "pe", "assembly", "trip", "museum", "coach", "sleepover", "festival", "fair",
    "allotment", "canal", "bridge", "underpass", "garage", "warehouse", "caravan",
    "motorbike", "moped", "parcel", "package", "errand", "delivery", "county", "lines",
)  # fmt: skip
SEARCH_WORD = "caravan"


@dataclass(frozen=True)
class Scale:
    concerns: int
    schools: int
    pupils_per_school: int
    staff_per_school: int
    seed: int
    # DSL reads per pupil of each concern (``concern.read`` events, as the API writes them
    # for a single concern's read): at 8, a million concerns come with over ten million
    # audit events, as a school's years of reading its files would leave (issue 23).
    reads_per_pupil: int = 8


@dataclass
class SeedReport:
    rows: dict[str, int] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)

    def add(self, table: str, count: int, seconds: float) -> None:
        self.rows[table] = self.rows.get(table, 0) + count
        self.seconds[table] = self.seconds.get(table, 0.0) + seconds

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


@dataclass(frozen=True)
class Targets:
    """What the query phase addresses: one school, its DSL, its heavy pupil."""

    school_id: uuid.UUID
    dsl_id: uuid.UUID
    heavy_pupil_id: uuid.UUID
    now: datetime

    @property
    def dsl_token(self) -> str:
        from models.user import User

        # MFA-enrolled, as seeded: the token says a code was given just now (the chronology
        # needs a recent one, step-up, ADR 0093).
        dsl = User(id=self.dsl_id, school_id=self.school_id, role="dsl", token_version=1,
                   email="x@fictional-school.example", display_name="x",
                   mfa_enrolled=True)  # fmt: skip
        return fixtures.mint_token(fixtures.keyring(SECRET_KEY), dsl)

    def to_json(self) -> dict[str, str]:
        return {
            "school_id": str(self.school_id),
            "dsl_id": str(self.dsl_id),
            "heavy_pupil_id": str(self.heavy_pupil_id),
            "now": self.now.isoformat(),
        }

    @classmethod
    def from_json(cls, saved: dict[str, str]) -> Targets:
        return cls(
            school_id=uuid.UUID(saved["school_id"]),
            dsl_id=uuid.UUID(saved["dsl_id"]),
            heavy_pupil_id=uuid.UUID(saved["heavy_pupil_id"]),
            now=datetime.fromisoformat(saved["now"]),
        )


# --- writing rows ----------------------------------------------------------------------------


class Loader:
    """Bulk writes to one database, with its secondary indexes dropped while it loads."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.metadata = sa.MetaData()
        self.metadata.reflect(engine)
        self.dialect = engine.dialect
        self.connection = engine.raw_connection()
        self.dropped: list[tuple[str, str]] = []

    def has_table(self, name: str) -> bool:
        return name in self.metadata.tables

    def columns(self, table: str) -> list[str]:
        return [column.name for column in self.metadata.tables[table].columns]

    def write(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> int:
        raise NotImplementedError

    def begin(self, tables: Sequence[str]) -> None:
        raise NotImplementedError

    def finish(self) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self.connection.close()


def _memoised(
    processor: Callable[[Any], Any] | None, column: sa.Column[Any]
) -> Callable[[Any], Any] | None:
    """UUID columns repeat the same few values (a school's id, a concern's id on each of
    its rows): encode each once."""
    if processor is None or not isinstance(column.type, sa.Uuid):
        return processor
    return functools.lru_cache(maxsize=1 << 16)(processor)


class SQLiteLoader(Loader):
    def begin(self, tables: Sequence[str]) -> None:
        cursor = self.connection.cursor()
        for pragma in ("foreign_keys=OFF", "synchronous=OFF", "cache_size=-262144"):
            cursor.execute(f"PRAGMA {pragma}")
        names = ",".join("?" for _ in tables)
        # Placeholders only: the table names are bound as parameters.
        query = f"SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND tbl_name IN ({names})"  # noqa: E501, S608
        cursor.execute(query, list(tables))
        self.dropped = [(str(name), str(sql)) for name, sql in cursor.fetchall()]
        for name, _ in self.dropped:
            cursor.execute(f'DROP INDEX "{name}"')
        self.connection.commit()

    def write(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> int:
        # The columns' own bind processors (UUIDs as hex, timestamps as text): exactly the
        # values the application would store.
        model = MODEL_METADATA.tables.get(table)
        sa_table = model if model is not None else self.metadata.tables[table]
        processors = [
            _memoised(sa_table.c[name].type._cached_bind_processor(self.dialect), sa_table.c[name])
            for name in columns
        ]
        if any(processors):
            rows = [
                tuple(p(v) if p is not None else v for p, v in zip(processors, row, strict=True))
                for row in rows
            ]
        quoted = ", ".join(f'"{name}"' for name in columns)
        marks = ", ".join("?" for _ in columns)
        cursor = self.connection.cursor()
        # Table and column names come from the reflected schema, never from input.
        statement = f'INSERT INTO "{table}" ({quoted}) VALUES ({marks})'  # noqa: S608
        cursor.executemany(statement, rows)
        self.connection.commit()
        return len(rows)

    def finish(self) -> None:
        cursor = self.connection.cursor()
        for _, sql in self.dropped:
            cursor.execute(sql)
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("ANALYZE")
        self.connection.commit()


class PostgresLoader(Loader):
    def begin(self, tables: Sequence[str]) -> None:
        cursor = self.connection.cursor()
        # Indexes that back no constraint (primary keys and unique constraints stay).
        cursor.execute(
            "SELECT i.indexname, i.indexdef FROM pg_indexes i "
            "WHERE i.schemaname = 'public' AND i.tablename = ANY(%s) AND NOT EXISTS ("
            "  SELECT 1 FROM pg_constraint c WHERE c.conindid = "
            "  (quote_ident(i.schemaname) || '.' || quote_ident(i.indexname))::regclass)",
            (list(tables),),
        )
        self.dropped = [(str(name), str(sql)) for name, sql in cursor.fetchall()]
        for name, _ in self.dropped:
            cursor.execute(f'DROP INDEX "{name}"')
        # Foreign keys are enforced by triggers, which replica mode skips for this
        # connection only: the seeder writes parents before children anyway.
        cursor.execute("SET session_replication_role = replica")
        self.connection.commit()

    def write(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> int:
        quoted = ", ".join(f'"{name}"' for name in columns)
        cursor: Any = self.connection.cursor()
        with cursor.copy(f'COPY "{table}" ({quoted}) FROM STDIN') as copy:
            for row in rows:
                copy.write_row(row)
        self.connection.commit()
        return len(rows)

    def finish(self) -> None:
        cursor = self.connection.cursor()
        cursor.execute("SET session_replication_role = DEFAULT")
        cursor.execute("SET maintenance_work_mem = '512MB'")
        for _, sql in self.dropped:
            cursor.execute(sql)
        self.connection.commit()
        # VACUUM cannot run in a transaction; it also sets the visibility map, which the
        # reports' index-only scans need.
        driver: Any = self.connection.driver_connection
        driver.autocommit = True
        driver.execute("VACUUM ANALYZE")
        driver.autocommit = False


def open_loader(url: str) -> tuple[Engine, Loader]:
    engine = sa.create_engine(normalise_url(url))
    loader: Loader = (
        SQLiteLoader(engine) if engine.dialect.name == "sqlite" else PostgresLoader(engine)
    )
    return engine, loader


# --- generating the school year after year -------------------------------------------------


def _weights(count: int) -> list[float]:
    return [1.0 / (rank + 1) for rank in range(count)]


_WORD_CUMULATIVE = list(itertools.accumulate(_weights(len(_WORDS))))


def description(rng: random.Random) -> str:
    words = rng.choices(_WORDS, cum_weights=_WORD_CUMULATIVE, k=rng.randint(20, 60))
    return f"{rng.choice(_GIVEN)} {' '.join(words)}."


def _status(rng: random.Random) -> str:
    roll, total = rng.random(), 0.0
    for status, share in TRIAGE_STATUSES:
        total += share
        if roll < total:
            return status
    return TRIAGE_STATUSES[-1][0]


@dataclass
class SchoolRows:
    """Everything one school writes, as tuples in ``Loader`` column order."""

    tables: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def add(self, table: str, row: dict[str, Any]) -> None:
        self.tables.setdefault(table, []).append(row)


class Generator:
    """Makes one school at a time, deterministically from ``scale.seed``."""

    def __init__(self, scale: Scale, loader: Loader, now: datetime) -> None:
        self.scale = scale
        self.loader = loader
        self.now = now
        self.guidance = GuidanceLibrary.load(GUIDANCE_DIR).get(fixtures.GUIDANCE_KEY)
        self.indicators = self.guidance.indicator_ids()
        self.concern_columns = loader.columns("concern")
        self.has_status = "status" in self.concern_columns
        self.has_triage = loader.has_table("concern_triage")
        self.has_event_pupils = loader.has_table("audit_event_pupil")
        self.has_search_terms = (
            loader.has_table("concern_search_term") and loader.dialect.name == "sqlite"
        )
        self.school_ids: list[uuid.UUID] = []
        self.first_dsl: tuple[uuid.UUID, uuid.UUID] | None = None
        self.first_heavy_pupil: uuid.UUID | None = None

    def concerns_for(self, index: int) -> int:
        base, extra = divmod(self.scale.concerns, self.scale.schools)
        return base + (1 if index < extra else 0)

    def school(self, index: int) -> SchoolRows:
        rng = random.Random(self.scale.seed * 1_000_003 + index)
        out = SchoolRows()
        now = self.now
        start = now - FIVE_YEARS
        school_id = new_id()
        self.school_ids.append(school_id)
        created = start - timedelta(days=30)
        out.add(
            "school",
            {
                "id": school_id,
                "name": f"Fictional Scale School {index}",
                "urn": f"{880000 + index:06d}",
                "created_at": created,
            },
        )
        staff = [new_id() for _ in range(self.scale.staff_per_school)]
        dsl_id = new_id()
        names: dict[uuid.UUID, str] = {}
        for n, user_id in enumerate([*staff, dsl_id]):
            role = "dsl" if user_id == dsl_id else "staff"
            names[user_id] = f"{_GIVEN[n % 30]} {_FAMILY[(n + index) % 20]}"
            out.add(
                "user_account",
                {
                    "id": user_id, "school_id": school_id,
                    "email": f"{role}{n}.s{index}@fictional-school.example",
                    "display_name": names[user_id],
                    "role": role, "active": True, "password_hash": None,
                    "totp_secret": "JBSWY3DPEHPK3PXP" if role == "dsl" else None,
                    "mfa_enrolled": role == "dsl", "totp_last_step": None, "token_version": 1,
                    "created_at": created, "updated_at": created,
                },
            )  # fmt: skip
        if self.first_dsl is None:
            self.first_dsl = (dsl_id, school_id)
        pupils = [new_id() for _ in range(self.scale.pupils_per_school)]
        for n, pupil_id in enumerate(pupils):
            given = _GIVEN[rng.randrange(len(_GIVEN))]
            family = f"{_FAMILY[rng.randrange(len(_FAMILY))]}-{index}-{n}"
            out.add(
                "pupil",
                {
                    "given_name": given, "family_name": family, "preferred_name": None,
                    "date_of_birth": date(2008 + n % 10, 1 + n % 12, 1 + n % 28), "upn": None,
                    "year_group": f"Year {7 + n % 6}",
                    "registration_group": f"{7 + n % 6}{'ABCDEF'[n % 6]}",
                    "id": pupil_id, "school_id": school_id, "status": "active",
                    "left_on": None, "source": None, "external_id": None,
                    # Core writes bypass the ORM hook that keeps these: set them here.
                    "given_name_key": name_key(given) or "",
                    "family_name_key": name_key(family) or "", "preferred_name_key": None,
                    "created_at": created, "updated_at": created,
                },
            )  # fmt: skip
        heavy = pupils[0]
        if self.first_heavy_pupil is None:
            self.first_heavy_pupil = heavy

        events: list[tuple[datetime, dict[str, Any]]] = []
        recorded_about: list[tuple[datetime, list[uuid.UUID]]] = []
        count = self.concerns_for(index)
        span = FIVE_YEARS.total_seconds()
        for n in range(count):
            concern_id = new_id()
            observed = start + timedelta(seconds=rng.random() * span)
            recorded = min(now, observed + timedelta(minutes=10 + rng.random() * 4320))
            recorder = staff[rng.randrange(len(staff))]
            text = description(rng)
            location = _LOCATIONS[rng.randrange(len(_LOCATIONS))]
            danger = rng.random() < 0.03
            police = danger and rng.random() < 0.6
            status = _status(rng)
            values: dict[str, Any] = {
                "id": concern_id, "school_id": school_id, "recorded_by": recorder,
                "recorded_by_name": names[recorder],
                "recorded_at": recorded, "observed_at": observed,
                "guidance_key": self.guidance.key, "guidance_version": self.guidance.version,
                "description": text, "location": location, "immediate_danger": danger,
                "police_contacted": police, "status": status,
            }  # fmt: skip
            out.add("concern", values)
            if self.has_triage:
                out.add(
                    "concern_triage",
                    {
                        "concern_id": concern_id, "school_id": school_id, "status": status,
                        "risk_level": None if status == "new" else RISK_LEVELS[rng.randrange(4)],
                        "assigned_to": None if status == "new" else dsl_id,
                        "recorded_at": recorded, "immediate_danger": danger, "version": 1,
                        "updated_at": recorded,
                    },
                )  # fmt: skip
            roll = rng.random()
            how_many = 1 if roll < 0.875 else (2 if roll < 0.97 else 3)
            about = [heavy] if n < HEAVY_PUPIL_CONCERNS else []
            while len(about) < how_many:
                candidate = pupils[rng.randrange(len(pupils))]
                if candidate not in about:
                    about.append(candidate)
            recorded_about.append((recorded, about))
            for position, pupil_id in enumerate(about):
                out.add(
                    "concern_pupil",
                    {"concern_id": concern_id, "pupil_id": pupil_id, "school_id": school_id,
                     "position": position, "observed_at": observed},
                )  # fmt: skip
                events.append(
                    (recorded, _event(school_id, recorder, "concern.create", "concern",
                                      concern_id, pupil_id, recorded, f"seed-{index}-{n}"))
                )  # fmt: skip
                for read in range(self.scale.reads_per_pupil):
                    read_at = recorded + (now - recorded) * rng.random()
                    event = _event(school_id, dsl_id, "concern.read", "concern", concern_id,
                                   pupil_id, read_at, f"seed-{index}-{n}-r{read}")  # fmt: skip
                    event["actor_role"] = "dsl"
                    events.append((read_at, event))
            for position, indicator in enumerate(rng.sample(self.indicators, rng.randint(1, 6))):
                out.add(
                    "concern_indicator",
                    {"concern_id": concern_id, "indicator_id": indicator, "school_id": school_id,
                     "observed_at": observed, "position": position},
                )  # fmt: skip
            texts = [text]
            if rng.random() < 0.05:
                addendum_id = new_id()
                added = min(now, recorded + timedelta(days=1 + rng.random() * 9))
                extra = description(rng)
                texts.append(extra)
                out.add(
                    "addendum",
                    {"id": addendum_id, "concern_id": concern_id, "school_id": school_id,
                     "text": extra, "reason": "Further information from the pupil's form tutor.",
                     "recorded_by": recorder, "recorded_by_name": names[recorder],
                     "recorded_at": added},
                )  # fmt: skip
                for pupil_id in about:
                    events.append(
                        (added, _event(school_id, recorder, "addendum.create", "addendum",
                                       addendum_id, pupil_id, added, f"seed-{index}-{n}-a"))
                    )  # fmt: skip
            if self.has_search_terms:
                from models.concern import search_terms  # only once issue #5's table exists

                words: set[str] = set()
                for body in texts:
                    words |= search_terms(body)
                for term in words:
                    out.add(
                        "concern_search_term",
                        {"school_id": school_id, "term": term, "concern_id": concern_id},
                    )
        if self.has_event_pupils:  # not on a schema from before ADR 0126
            events += _page_reads(school_id, dsl_id, recorded_about, index)
        # The chain in the order things happened, linked exactly as record() links.
        events.sort(key=lambda item: item[0])
        rows = [values for _, values in events]
        head_seq, head_hash = audit.link(rows, after_seq=0, after_hash=GENESIS_HASH)
        if self.has_event_pupils:
            # A page's pupils, in primary-key order; the event keeps none of its own.
            out.tables["audit_event_pupil"] = [
                {"school_id": school_id, "seq": row["seq"], "pupil_id": pupil_id}
                for row in rows
                for pupil_id in row.pop("pupil_ids", ())
            ]
        out.tables["audit_event"] = rows
        out.add("audit_chain_head", {"school_id": school_id, "seq": head_seq, "hash": head_hash})
        if "concern_search_term" in out.tables:
            # In primary-key order: appending to the B-tree beats inserting all over it.
            out.tables["concern_search_term"].sort(key=lambda row: (row["term"], row["concern_id"]))
        return out


def _page_reads(
    school_id: uuid.UUID,
    dsl_id: uuid.UUID,
    recorded_about: list[tuple[datetime, list[uuid.UUID]]],
    index: int,
) -> list[tuple[datetime, dict[str, Any]]]:
    """The DSL's reads of their first page of concerns, one every ``PAGE_EVERY`` concerns
    recorded, a second after it: one ``concern.list`` event with the pupils of the
    ``PAGE`` newest concerns (``services.audit.record_page``'s event)."""
    ordered = sorted(recorded_about, key=lambda item: item[0])
    reads = []
    for n in range(PAGE_EVERY - 1, len(ordered), PAGE_EVERY):
        at = ordered[n][0] + timedelta(seconds=1)
        on_page = sorted({p for _, about in ordered[max(0, n + 1 - PAGE) : n + 1] for p in about})
        values = _event(school_id, dsl_id, "concern.list", "concern", None, None, at,
                        f"seed-{index}-list-{n}")  # fmt: skip
        values["actor_role"] = "dsl"
        values["pupil_ids"] = on_page
        reads.append((at, values))
    return reads


def _event(
    school_id: uuid.UUID,
    actor_id: uuid.UUID,
    action: str,
    entity_type: str,
    entity_id: uuid.UUID | None,
    pupil_id: uuid.UUID | None,
    occurred_at: datetime,
    request_id: str,
) -> dict[str, Any]:
    """An audit event's columns as ``services.audit.record`` writes them for a member of
    staff (``link`` adds the sequence number, the links and the id)."""
    return {
        "school_id": school_id,
        "occurred_at": occurred_at,
        "actor_type": "user",
        "actor_id": actor_id,
        "actor_role": "staff",
        "action": action,
        "entity_type": entity_type,
        "entity_id": entity_id,
        "pupil_id": pupil_id,
        "request_id": request_id,
        "run_id": None,
        "outcome": "success",
    }


# Parents before children.
ORDER = (
    "school", "user_account", "pupil", "concern", "concern_pupil", "concern_indicator",
    "addendum", "audit_event", "audit_event_pupil", "audit_chain_head", "concern_triage",
    "concern_search_term",
)  # fmt: skip


def seed(
    url: str, scale: Scale, *, progress: Callable[[str], None] = print
) -> tuple[SeedReport, Targets]:
    """Fill the (migrated, empty) database at ``url``. Returns the rows written per table
    with the time each took, and what the query phase needs."""
    engine, loader = open_loader(url)
    report = SeedReport()
    now = datetime.now(UTC).replace(microsecond=0)
    generator = Generator(scale, loader, now)
    tables = [t for t in ORDER if loader.has_table(t)]
    started = time.perf_counter()
    try:
        loader.begin(tables)
        for index in range(scale.schools):
            made = time.perf_counter()
            rows = generator.school(index)
            report.add("(generating)", 0, time.perf_counter() - made)
            for table in tables:
                batch = rows.tables.get(table, [])
                if not batch:
                    continue
                # The columns the migrated table has and this seeder fills (the rest take
                # their defaults), in the table's order.
                columns = [name for name in loader.columns(table) if name in batch[0]]
                for offset in range(0, len(batch), BATCH):
                    chunk = [
                        tuple(row[name] for name in columns)
                        for row in batch[offset : offset + BATCH]
                    ]
                    writing = time.perf_counter()
                    loader.write(table, columns, chunk)
                    report.add(table, len(chunk), time.perf_counter() - writing)
            if (index + 1) % max(1, scale.schools // 10) == 0 or index + 1 == scale.schools:
                elapsed = time.perf_counter() - started
                progress(
                    f"seed: {index + 1}/{scale.schools} schools, {report.total_rows:,} rows, "
                    f"{report.total_rows / elapsed:,.0f} rows/s"
                )
        indexing = time.perf_counter()
        loader.finish()
        report.add("(indexes + analyze)", 0, time.perf_counter() - indexing)
    finally:
        loader.close()
        engine.dispose()
    assert generator.first_dsl is not None and generator.first_heavy_pupil is not None
    dsl_id, school_id = generator.first_dsl
    return report, Targets(
        school_id=school_id,
        dsl_id=dsl_id,
        heavy_pupil_id=generator.first_heavy_pupil,
        now=now,
    )


# --- the queries -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    key: str
    label: str
    path: str
    target_p95_ms: float


def queries(targets: Targets) -> list[Query]:
    year_ago = targets.now - timedelta(days=365)
    window = {"from": (year_ago - timedelta(days=365)).isoformat(), "to": year_ago.isoformat()}
    filtered = urlencode(
        {"indicator": "secretive", **window, "status": "new", "limit": "50"}, safe=":"
    )
    report = urlencode(
        {"from": year_ago.isoformat(), "to": targets.now.isoformat(), "group_by": "indicator"}
    )
    return [
        Query(
            "filtered",
            "DSL filtered list (indicator + year + status, 50)",
            f"/api/v1/concerns?{filtered}",
            30.0,
        ),
        Query(
            "text",
            f"text search (q={SEARCH_WORD}, 50)",
            f"/api/v1/concerns?{urlencode({'q': SEARCH_WORD, 'limit': '50'})}",
            30.0,
        ),
        Query(
            "chronology",
            "pupil chronology (200 events)",
            f"/api/v1/pupils/{targets.heavy_pupil_id}/chronology?limit=200",
            30.0,
        ),
        Query(
            "report", "indicator report (one year)", f"/api/v1/reports/indicators?{report}", 200.0
        ),
        Query(
            "audit_pupil",
            "who read this child's file (audit by pupil, 50)",
            f"/api/v1/audit?{urlencode({'pupil_id': str(targets.heavy_pupil_id), 'limit': '50'})}",
            30.0,
        ),
    ]


def _percentile(ordered: Sequence[float], fraction: float) -> float:
    rank = min(len(ordered) - 1, max(0, math.ceil(fraction * len(ordered)) - 1))
    return ordered[rank]


def time_queries(port: int, targets: Targets, runs: int) -> list[dict[str, Any]]:
    """Each query ``runs`` times, one at a time on one keep-alive connection (after two
    untimed runs): latency as a DSL sees it, not throughput."""
    results = []
    headers = {"Authorization": f"Bearer {targets.dsl_token}"}
    connection = http.client.HTTPConnection(HOST, port, timeout=60)
    try:
        for query in queries(targets):
            row: dict[str, Any] = {"query": query.key, "label": query.label, "path": query.path}
            connection.request("GET", query.path, headers=headers)
            first = connection.getresponse()
            body = first.read()
            if first.status == 404:
                row.update(available=False, status=404, detail=body[:300].decode(errors="replace"))
                results.append(row)
                print(f"seed: {query.label:<50} not available (404)")
                continue
            if first.status != 200:
                raise RuntimeError(
                    f"{query.path} answered {first.status}: {body[:1000].decode(errors='replace')}"
                )
            row["rows"] = _count_rows(body)
            connection.request("GET", query.path, headers=headers)
            connection.getresponse().read()
            timings = []
            for _ in range(runs):
                began = time.perf_counter()
                connection.request("GET", query.path, headers=headers)
                response = connection.getresponse()
                response.read()
                timings.append((time.perf_counter() - began) * 1000)
                if response.status != 200:
                    raise RuntimeError(f"{query.path} answered {response.status} mid-run")
            ordered = sorted(timings)
            row.update(
                available=True,
                runs=runs,
                p50_ms=_percentile(ordered, 0.50),
                p95_ms=_percentile(ordered, 0.95),
                max_ms=ordered[-1],
                target_p95_ms=query.target_p95_ms,
                meets_target=_percentile(ordered, 0.95) < query.target_p95_ms,
            )
            results.append(row)
            print(
                f"seed: {query.label:<50} p50 {row['p50_ms']:8.2f} ms  p95 {row['p95_ms']:8.2f} ms"
                f"  ({row['rows']} rows)"
            )
    finally:
        connection.close()
    return results


def _count_rows(body: bytes) -> int | None:
    try:
        document = json.loads(body)
    except ValueError:
        return None
    if isinstance(document, dict):
        for key in ("items", "events", "entries", "rows", "groups"):
            if isinstance(document.get(key), list):
                return len(document[key])
    if isinstance(document, list):
        return len(document)
    return None


def verify_audit(port: int, targets: Targets) -> dict[str, Any]:
    """``GET /audit/verify`` on the school the queries used: the seeded chain must pass."""
    connection = http.client.HTTPConnection(HOST, port, timeout=600)
    try:
        connection.request(
            "GET", "/api/v1/audit/verify", headers={"Authorization": f"Bearer {targets.dsl_token}"}
        )
        response = connection.getresponse()
        body = response.read()
    finally:
        connection.close()
    if response.status != 200:
        return {"status": response.status, "ok": False}
    result: dict[str, Any] = json.loads(body)
    return result


# --- the run ---------------------------------------------------------------------------------


def run_backend(
    backend: str, scale: Scale, args: argparse.Namespace, work_dir: Path
) -> dict[str, Any]:
    if backend == "postgresql":
        why = postgres_unreachable(args.pg_url)
        if why is not None:
            message = f"PostgreSQL at {args.pg_url} is unreachable ({why}); skipped"
            print(f"seed: {message}")
            return {"backend": backend, "skipped": message}
    if args.reuse is not None:
        kept = Kept.load(args.reuse, backend)
        migrate(kept.url)  # a database kept by older code is brought to this code's schema
        print(f"seed: {backend}: reusing {kept.scale.concerns:,} concerns kept in {args.reuse}")
        result: dict[str, Any] = {"backend": backend, "reused": str(args.reuse)}
        result.update(measure(kept.url, kept.targets, args, work_dir, backend))
        return result
    database = (
        kept_database(backend, args.keep, pg_url=args.pg_url)
        if args.keep is not None
        else throwaway_database(backend, pg_url=args.pg_url)
    )
    with database as url:
        migrate(url)
        print(f"seed: {backend}: migrated; seeding {scale.concerns:,} concerns")
        started = time.perf_counter()
        report, targets = seed(url, scale)
        seconds = time.perf_counter() - started
        rate = report.total_rows / seconds
        print(
            f"seed: {backend}: {report.total_rows:,} rows in {seconds:.1f} s "
            f"({rate:,.0f} rows/s, {scale.concerns / seconds:,.0f} concerns/s)"
        )
        result = {
            "backend": backend,
            "seed": {
                "rows": report.rows,
                "seconds_per_table": {k: round(v, 2) for k, v in report.seconds.items()},
                "total_rows": report.total_rows,
                "seconds": seconds,
                "rows_per_s": rate,
                "concerns_per_s": scale.concerns / seconds,
            },
        }
        if backend == "sqlite":
            result["database_bytes"] = Path(url.removeprefix("sqlite:///")).stat().st_size
        if args.keep is not None:
            Kept(url=url, scale=scale, targets=targets).save(args.keep, backend)
            print(f"seed: {backend}: kept in {args.keep} (time it again with --reuse)")
        if not args.skip_queries:
            result.update(measure(url, targets, args, work_dir, backend))
        return result


def measure(
    url: str, targets: Targets, args: argparse.Namespace, work_dir: Path, backend: str
) -> dict[str, Any]:
    """The timed queries against a seeded database, and the server's memory after them."""
    result: dict[str, Any] = {}
    with serve_concernlog(url, work_dir, f"concernlog-scale-{backend}") as server:
        result["queries"] = time_queries(server.port, targets, args.runs)
        result["server_memory_kib"] = server.memory_kib()
        if args.verify:
            result["audit_verify"] = verify_audit(server.port, targets)
            print(f"seed: {backend}: GET /audit/verify -> {result['audit_verify']}")
    return result


# The PostgreSQL database ``--keep`` fills (replacing it) and leaves for ``--reuse``.
KEPT_PG_DATABASE = "concernlog_scale_kept"


@dataclass(frozen=True)
class Kept:
    """A seeded database left for later runs (``--keep DIR``), described in
    ``DIR/<backend>.json``: where it is, its scale and what the queries address."""

    url: str
    scale: Scale
    targets: Targets

    def save(self, folder: Path, backend: str) -> None:
        described = {"url": self.url, "scale": self.scale.__dict__, **self.targets.to_json()}
        (folder / f"{backend}.json").write_text(json.dumps(described, indent=2) + "\n")

    @classmethod
    def load(cls, folder: Path, backend: str) -> Kept:
        path = folder / f"{backend}.json"
        if not path.exists():
            raise SystemExit(f"seed: nothing kept for {backend} in {folder} (run with --keep)")
        saved = json.loads(path.read_text())
        return cls(
            url=saved["url"], scale=Scale(**saved["scale"]), targets=Targets.from_json(saved)
        )


@contextmanager
def kept_database(backend: str, folder: Path, *, pg_url: str) -> Iterator[str]:
    """An empty database that outlives the run: ``folder/sqlite.db``, or the PostgreSQL
    database ``concernlog_scale_kept`` on ``pg_url``'s server; either replaced if there."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{backend}.json").unlink(missing_ok=True)
    if backend == "sqlite":
        path = folder / "sqlite.db"
        for stale in (path, path.with_name("sqlite.db-wal"), path.with_name("sqlite.db-shm")):
            stale.unlink(missing_ok=True)
        yield f"sqlite:///{path.resolve()}"
        return
    server = make_url(normalise_url(pg_url))
    admin = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(
                sa.text(f'DROP DATABASE IF EXISTS "{KEPT_PG_DATABASE}" WITH (FORCE)')
            )
            connection.execute(sa.text(f'CREATE DATABASE "{KEPT_PG_DATABASE}"'))
    finally:
        admin.dispose()
    yield server.set(database=KEPT_PG_DATABASE).render_as_string(hide_password=False)


def render_table(results: list[dict[str, Any]]) -> str:
    lines = [f"{'backend':<11}{'query':<52}{'p50 ms':>9}{'p95 ms':>9}  target"]
    lines.append("-" * len(lines[0]) + "-" * 14)
    for result in results:
        if "skipped" in result:
            lines.append(f"{result['backend']:<11}skipped: {result['skipped']}")
            continue
        for row in result.get("queries", []):
            if not row.get("available"):
                lines.append(f"{result['backend']:<11}{row['label']:<52}{'not available':>18}")
                continue
            verdict = "met" if row["meets_target"] else "MISSED"
            lines.append(
                f"{result['backend']:<11}{row['label']:<52}{row['p50_ms']:>9.2f}"
                f"{row['p95_ms']:>9.2f}  < {row['target_p95_ms']:.0f} ms: {verdict}"
            )
    for result in results:
        if "seed" in result:
            seeded = result["seed"]
            lines.append(
                f"seeding, {result['backend']}: {seeded['total_rows']:,} rows in "
                f"{seeded['seconds']:.1f} s = {seeded['rows_per_s']:,.0f} rows/s "
                f"({seeded['concerns_per_s']:,.0f} concerns/s)"
            )
        memory = result.get("server_memory_kib")
        if memory:
            rss, peak = memory.get("VmRSS", 0) / 1024, memory.get("VmHWM", 0) / 1024
            lines.append(
                f"server RSS after the queries, {result['backend']}: "
                f"{rss:.1f} MiB (peak {peak:.1f} MiB)"
            )
    return "\n".join(lines)


def write_latest(document: dict[str, Any]) -> None:
    """``scale-latest.json``: the latest result of each backend, so that a run of one
    backend (``--backends sqlite``) keeps the other's last numbers beside it."""
    latest_path = RESULTS_DIR / "scale-latest.json"
    kept: list[dict[str, Any]] = []
    if latest_path.exists():
        try:
            previous = json.loads(latest_path.read_text())
        except ValueError:
            previous = {}
        ran = {result["backend"] for result in document["results"]}
        kept = [r for r in previous.get("results", []) if r.get("backend") not in ran]
    stamped = [
        {**result, "started_at": document["started_at"], "scale": document["scale"]}
        for result in document["results"]
    ]
    merged = {
        **document,
        "results": sorted(kept + stamped, key=lambda result: str(result.get("backend"))),
        "table": render_table(
            sorted(kept + stamped, key=lambda r: str(r.get("backend")))
        ).splitlines(),
    }
    latest_path.write_text(json.dumps(merged, indent=2, default=str) + "\n")


def _terminate(signum: int, _frame: object) -> None:
    # SIGTERM unwinds like Ctrl-C, so the server, the temporary SQLite file and the
    # throwaway PostgreSQL database are all removed.
    raise SystemExit(128 + signum)


def main(argv: list[str] | None = None) -> int:
    signal.signal(signal.SIGTERM, _terminate)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--concerns", type=int, default=20_000, help="total (default 20,000)")
    parser.add_argument("--schools", type=int, default=50)
    parser.add_argument("--pupils", type=int, default=1000, help="per school")
    parser.add_argument("--staff", type=int, default=20, help="per school")
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument(
        "--reads", type=int, default=8, help="DSL reads (audit events) per pupil of each concern"
    )
    parser.add_argument("--runs", type=int, default=200, help="timed runs per query")
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--pg-url", default=DEFAULT_PG_URL)
    parser.add_argument("--skip-queries", action="store_true", help="seed and report the rate only")
    parser.add_argument(
        "--verify", action="store_true", help="also GET /audit/verify on one school afterwards"
    )
    parser.add_argument(
        "--keep",
        type=Path,
        metavar="DIR",
        help="leave the seeded databases (SQLite in DIR, PostgreSQL as "
        f"{KEPT_PG_DATABASE}) and describe them in DIR, for --reuse",
    )
    parser.add_argument(
        "--reuse",
        type=Path,
        metavar="DIR",
        help="time the queries on the databases kept in DIR (migrated first), seeding nothing",
    )
    args = parser.parse_args(argv)
    if args.keep is not None and args.reuse is not None:
        parser.error("--keep seeds, --reuse does not: give one of them")
    if args.concerns < args.schools * HEAVY_PUPIL_CONCERNS:
        parser.error(
            f"--concerns must be at least {HEAVY_PUPIL_CONCERNS} per school "
            f"({args.schools * HEAVY_PUPIL_CONCERNS:,} for {args.schools} schools)"
        )
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    scale = (
        Kept.load(args.reuse, backends[0]).scale
        if args.reuse is not None
        else Scale(
            concerns=args.concerns,
            schools=args.schools,
            pupils_per_school=args.pupils,
            staff_per_school=args.staff,
            seed=args.seed,
            reads_per_pupil=args.reads,
        )
    )
    started_at = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    results = []
    with tempfile.TemporaryDirectory(prefix="concernlog-scale-") as folder:
        for backend in backends:
            results.append(run_backend(backend, scale, args, Path(folder)))
    rendered = render_table(results)
    print()
    print(rendered)
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    document = results_document(
        "concernlog-bench-scale",
        started_at,
        rendered,
        scale=scale.__dict__,
        runs_per_query=args.runs,
        results=results,
    )
    text = json.dumps(document, indent=2, default=str) + "\n"
    path = RESULTS_DIR / f"scale-{started_at}.json"
    path.write_text(text)
    write_latest(document)
    print(f"\nseed: results in {path.relative_to(RESULTS_DIR.parent.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
