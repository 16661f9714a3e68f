"""The limit anchor's database side (``bench.limit_app``): the two databases' spellings of
ids and times, the statements, and the two drivers that run one request's transaction.

sqlite3: one connection (WAL, ``synchronous=FULL``, foreign keys), each request's whole
transaction (``BEGIN IMMEDIATE`` ... ``COMMIT``) on one thread beside the event loop, or
on the loop itself (``BENCH_LIMIT_SQLITE=loop``). psycopg 3 (async): a small pool of its
own, the account, the chain head (``FOR UPDATE``) and the lookups in one pipelined round
trip, the writes and the ``COMMIT`` in a second. No pre-ping: a connection found broken
is replaced before its next request.
"""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

import psycopg
from starlette.responses import Response

if TYPE_CHECKING:
    from bench.limit_work import Work


class Refused(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Caller:
    id: uuid.UUID
    school_id: uuid.UUID
    role: str
    version: int
    expires: float
    not_before: float


# --- the two databases' spellings ----------------------------------------------------------------


class Dialect:
    """How ids and times go in and come out of one database."""

    name = "sqlite"
    lock_head = "SELECT seq, hash FROM audit_chain_head WHERE school_id = ?"

    def sql(self, statement: str) -> str:
        return statement

    def id_in(self, value: uuid.UUID | None) -> Any:
        return None if value is None else value.hex

    def id_obj(self, value: Any) -> uuid.UUID:
        return uuid.UUID(hex=value)

    def id_text(self, value: Any) -> str | None:
        if value is None:
            return None
        v = value
        return f"{v[:8]}-{v[8:12]}-{v[12:16]}-{v[16:20]}-{v[20:]}"

    def time_in(self, value: datetime) -> Any:
        return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")

    def time_obj(self, value: Any) -> datetime:
        return datetime.fromisoformat(value).replace(tzinfo=UTC)

    def time_text(self, value: Any) -> str:
        return f"{value[:10]}T{value[11:]}Z"

    def date_obj(self, value: Any) -> date:
        return date.fromisoformat(value)


class PostgresDialect(Dialect):
    name = "postgresql"
    lock_head = "SELECT seq, hash FROM audit_chain_head WHERE school_id = %s FOR UPDATE"

    def sql(self, statement: str) -> str:
        return statement.replace("?", "%s")

    def id_in(self, value: uuid.UUID | None) -> Any:
        return value

    def id_obj(self, value: Any) -> uuid.UUID:
        return value

    def id_text(self, value: Any) -> str | None:
        return None if value is None else str(value)

    def time_in(self, value: datetime) -> Any:
        return value

    def time_obj(self, value: Any) -> datetime:
        return value

    def time_text(self, value: Any) -> str:
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")

    def date_obj(self, value: Any) -> date:
        return value


# --- statements ----------------------------------------------------------------------------------

READ_USER = (
    "SELECT active, school_id, token_version, role, mfa_enrolled, display_name "
    "FROM user_account WHERE id = ?"
)
CONCERN_COLUMNS = (
    "c.id, c.recorded_by, c.recorded_by_name, c.recorded_at, c.observed_at, c.guidance_key, "
    "c.guidance_version, c.categories, c.description, c.location, c.immediate_danger, "
    "c.police_contacted, t.status, t.risk_level, t.assigned_to, a.display_name "
    "FROM concern c JOIN concern_triage t ON t.concern_id = c.id "
    "LEFT JOIN user_account a ON a.id = t.assigned_to "
)
ONE_CONCERN = "SELECT " + CONCERN_COLUMNS + "WHERE c.id = ? AND c.school_id = ?"
ONE_OWN_CONCERN = ONE_CONCERN + " AND c.recorded_by = ?"
PAGE = (
    "SELECT " + CONCERN_COLUMNS + "WHERE c.school_id = ? "
    "ORDER BY c.recorded_at DESC, c.id DESC LIMIT ?"
)
OWN_PAGE = (
    "SELECT " + CONCERN_COLUMNS + "WHERE c.school_id = ? AND c.recorded_by = ? "
    "ORDER BY c.recorded_at DESC, c.id DESC LIMIT ?"
)
# The page's ids, for its lookups in the same round trip.
PAGE_IDS = "SELECT id FROM concern WHERE school_id = ? ORDER BY recorded_at DESC, id DESC LIMIT ?"
OWN_PAGE_IDS = (
    "SELECT id FROM concern WHERE school_id = ? AND recorded_by = ? "
    "ORDER BY recorded_at DESC, id DESC LIMIT ?"
)
PUPIL_NAME = "COALESCE(NULLIF(p.preferred_name, ''), p.given_name) || ' ' || p.family_name"
PUPILS_OF = (
    "SELECT cp.concern_id, cp.pupil_id FROM concern_pupil cp WHERE cp.concern_id IN ({}) "
    "ORDER BY cp.concern_id, cp.position"
)
PUPILS_NAMED_OF = (
    "SELECT cp.concern_id, cp.pupil_id, " + PUPIL_NAME + ", p.year_group "
    "FROM concern_pupil cp JOIN pupil p ON p.id = cp.pupil_id WHERE cp.concern_id IN ({}) "
    "ORDER BY cp.concern_id, cp.position"
)
INDICATORS_OF = (
    "SELECT concern_id, indicator_id FROM concern_indicator WHERE concern_id IN ({}) "
    "ORDER BY concern_id, position"
)
ADDENDA_OF = (
    "SELECT concern_id, id, text, reason, recorded_by, recorded_by_name, recorded_at "
    "FROM addendum WHERE concern_id IN ({}) ORDER BY concern_id, recorded_at"
)
# ({} is only ever a list of "?" marks, from marks().)
SCHOOL_PUPILS = (
    "SELECT p.id, p.date_of_birth, " + PUPIL_NAME + ", p.year_group FROM pupil p "  # noqa: S608
    "WHERE p.school_id = ? AND p.id IN ({})"
)
INSERT_CONCERN = (
    "INSERT INTO concern (id, school_id, recorded_by, recorded_by_name, recorded_at, "
    "observed_at, guidance_key, guidance_version, categories, description, location, "
    "immediate_danger, police_contacted) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
INSERT_PUPIL = (
    "INSERT INTO concern_pupil (concern_id, pupil_id, school_id, position, observed_at) "
    "VALUES (?, ?, ?, ?, ?)"
)
INSERT_INDICATOR = (
    "INSERT INTO concern_indicator (concern_id, indicator_id, school_id, observed_at, "
    "position) VALUES (?, ?, ?, ?, ?)"
)
INSERT_CATEGORY = (
    "INSERT INTO concern_category (concern_id, category_id, school_id, observed_at) "
    "VALUES (?, ?, ?, ?)"
)
INSERT_TRIAGE = (
    "INSERT INTO concern_triage (concern_id, school_id, status, risk_level, assigned_to, "
    "recorded_at, immediate_danger, version, updated_at) "
    "VALUES (?, ?, 'new', NULL, NULL, ?, ?, 1, ?)"
)
INSERT_EVENT = (
    "INSERT INTO audit_event (id, school_id, seq, occurred_at, actor_type, actor_id, "
    "actor_role, action, entity_type, entity_id, pupil_id, request_id, run_id, outcome, "
    "prev_hash, hash, occurrences, digest) "
    "VALUES (?, ?, ?, ?, 'user', ?, ?, ?, ?, ?, ?, ?, NULL, 'success', ?, ?, NULL, ?)"
)
INSERT_PAGE_PUPIL = (
    "INSERT INTO bench_audit_page_pupil (event_id, school_id, pupil_id) VALUES (?, ?, ?)"
)
MOVE_HEAD = "UPDATE audit_chain_head SET seq = ?, hash = ? WHERE school_id = ?"
PAGE_PUPIL_TABLE = (
    "CREATE TABLE IF NOT EXISTS bench_audit_page_pupil (event_id {0} NOT NULL, "
    "school_id {0} NOT NULL, pupil_id {0} NOT NULL, PRIMARY KEY (event_id, pupil_id))",
    "CREATE INDEX IF NOT EXISTS ix_bench_audit_page_pupil_school_pupil "
    "ON bench_audit_page_pupil (school_id, pupil_id, event_id)",
)


def marks(count: int) -> str:
    return ", ".join("?" * count)


# --- the two drivers -----------------------------------------------------------------------------


class SqliteStore:
    """One sqlite3 connection; each request's whole transaction on one thread."""

    def __init__(self, path: str, on_loop: bool) -> None:
        self.d = Dialect()
        self.connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        for pragma in (
            "PRAGMA journal_mode=WAL",
            "PRAGMA synchronous=FULL",
            "PRAGMA foreign_keys=ON",
            "PRAGMA busy_timeout=5000",
        ):
            self.connection.execute(pragma)
        for statement in PAGE_PUPIL_TABLE:
            self.connection.execute(statement.format("CHAR(32)"))
        self.on_loop = on_loop
        self.thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        self.thread.shutdown(wait=True)
        self.connection.close()

    def _transaction(self, caller: Caller, work: Work) -> Callable[[], Response]:
        db = self.connection
        db.execute("BEGIN IMMEDIATE")
        try:
            user = db.execute(READ_USER, (caller.id.hex,)).fetchone()
            head = db.execute(self.d.lock_head, (caller.school_id.hex,)).fetchone()
            found = {name: db.execute(sql, params).fetchall() for name, sql, params in work.lookups}
            render, writes = work.finish(self.d, caller, user, head, found)
            for statement, rows in writes:
                if len(rows) == 1:
                    db.execute(statement, rows[0])
                else:
                    db.executemany(statement, rows)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return render

    async def run(self, caller: Caller, work: Work) -> Response:
        if self.on_loop:
            return self._transaction(caller, work)()
        loop = asyncio.get_running_loop()
        render = await loop.run_in_executor(self.thread, self._transaction, caller, work)
        return render()  # on the loop, the thread free for the next transaction


class PostgresStore:
    """psycopg 3 async connections in a small pool; two round trips a request."""

    def __init__(self, url: str, size: int) -> None:
        self.d = PostgresDialect()
        self.url = url
        self.size = size
        self.idle: asyncio.LifoQueue[psycopg.AsyncConnection[Any]] = asyncio.LifoQueue()

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        return await psycopg.AsyncConnection.connect(self.url)

    async def open(self) -> None:
        first = await self._connect()
        async with first.transaction():
            for statement in PAGE_PUPIL_TABLE:
                await first.execute(statement.format("UUID"))
        self.idle.put_nowait(first)
        for _ in range(self.size - 1):
            self.idle.put_nowait(await self._connect())

    async def close(self) -> None:
        while not self.idle.empty():
            await self.idle.get_nowait().close()

    async def run(self, caller: Caller, work: Work) -> Response:
        conn = await self.idle.get()
        try:
            if conn.broken or conn.closed:
                conn = await self._connect()
            try:
                render = await self._transaction(conn, caller, work)
            except BaseException:
                if not conn.broken:
                    await conn.rollback()
                raise
        finally:
            self.idle.put_nowait(conn)
        return render()  # committed: the connection back in the pool first

    async def _transaction(
        self, conn: psycopg.AsyncConnection[Any], caller: Caller, work: Work
    ) -> Callable[[], Response]:
        d = self.d
        async with conn.pipeline() as pipeline:
            user_cursor = await conn.execute(d.sql(READ_USER), (caller.id,))
            head_cursor = await conn.execute(d.lock_head, (caller.school_id,))
            cursors = [
                (name, await conn.execute(sql, params)) for name, sql, params in work.lookups
            ]
            await pipeline.sync()
            user = await user_cursor.fetchone()
            head = await head_cursor.fetchone()
            found = {name: await cursor.fetchall() for name, cursor in cursors}
            render, writes = work.finish(d, caller, user, head, found)
            cursor = conn.cursor()
            for statement, rows in writes:
                await cursor.executemany(d.sql(statement), rows)
            await conn.commit()
        return render
