"""The database: one engine per process, one session per request."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
import uuid
import weakref
from collections import namedtuple
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, TypeVar, cast

from psycopg.pq import PipelineStatus
from sqlalchemy import Connection, Engine, Insert, Select, create_engine, event, text
from sqlalchemy import bindparam as sa_bindparam
from sqlalchemy import exc as sa_exc
from sqlalchemy import insert as sa_insert
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.types import Uuid
from sqlmodel import Session

from services.errors import DomainError

T = TypeVar("T")


def normalise_url(url: str) -> str:
    """Use psycopg 3 for PostgreSQL whatever spelling the operator used."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres", "postgresql+psycopg2"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def create_db_engine(url: str, *, pool_size: int = 10, busy_timeout_ms: int = 5000) -> Engine:
    url = normalise_url(url)
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(url, busy_timeout_ms)
    return create_engine(
        url,
        hide_parameters=True,  # SQL logging must never print concern text
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_pre_ping=True,
        pool_timeout=10,
    )


def _sqlite_engine(url: str, busy_timeout_ms: int) -> Engine:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        hide_parameters=True,  # SQL logging must never print concern text
        # The driver's own transaction handling is switched off so that we can open
        # every transaction with BEGIN IMMEDIATE below.
        connect_args={
            "check_same_thread": False,
            "isolation_level": None,
            "timeout": busy_timeout_ms / 1000,
        },
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        # Almost every request writes (reads of safeguarding content are audited), so take
        # the write lock up front: a deferred transaction that upgrades to a writer mid-way
        # fails at once with SQLITE_BUSY instead of waiting its turn. On the driver's
        # cursor (see ``_execute``): it runs once per request.
        if not _begin_without_waiting.get():
            _execute(connection, "BEGIN IMMEDIATE", ()).close()
            return
        _execute(connection, "PRAGMA busy_timeout=0", ()).close()
        try:
            _execute(connection, "BEGIN IMMEDIATE", ()).close()
        finally:
            _execute(connection, f"PRAGMA busy_timeout={int(busy_timeout_ms)}", ()).close()

    return engine


def is_sqlite_locked(error: sa_exc.DBAPIError) -> bool:
    """SQLite gave up waiting for another connection's lock (its busy timeout, or none)."""
    return "database is locked" in str(error.orig)


# Set while ``begin_if_free`` begins a transaction: SQLite's BEGIN IMMEDIATE then gives up
# at once, instead of waiting up to the busy timeout, when another connection writes.
_begin_without_waiting: ContextVar[bool] = ContextVar("begin_without_waiting", default=False)


def begin_if_free(session: Session) -> bool:
    """Begin ``session``'s transaction now if that cannot wait: on SQLite, when the
    database's write lock is free at this moment (True). False, with nothing begun, when
    another connection holds the lock (another process: a CLI command, another server
    worker), when the database is not SQLite, or when the transaction has already begun:
    the caller then runs its work where waiting is harmless (a worker thread).

    Once a SQLite transaction has begun, all its unit of work waits for is its own
    statements and the commit's fsync, never another writer: the event loop may run it
    itself (``api.deps.in_one_trip``). What beginning runs (the account check) may raise."""
    if session.get_bind().dialect.name != "sqlite" or session.in_transaction():
        return False
    marker = _begin_without_waiting.set(True)
    try:
        session.connection()
    except sa_exc.OperationalError as error:
        if not is_sqlite_locked(error):
            raise
        session.rollback()
        return False
    finally:
        _begin_without_waiting.reset(marker)
    return True


@contextmanager
def finishing(session: Session) -> Iterator[Session]:
    """``session`` for a block, then ``finish``: commit when the block ends normally, roll
    back (see ``finish``) when it raises."""
    try:
        yield session
    except BaseException as exc:
        finish(session, exc)
        raise
    finish(session, None)


def run_and_finish(session: Session, work: Callable[[], T]) -> T:
    """Run ``work`` with ``session``, then commit (or, if it raised, roll back): the
    request's whole unit of work in one call, so in one worker thread."""
    with finishing(session):
        return work()


def available_cores() -> int:
    """The CPU cores this process may run on (its affinity, where the system tells)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


class Database:
    """The engine, the way to get sessions from it, and admission control.

    ``admission()`` bounds how many requests may hold a session at once (a request whose
    handler does all its database work in one worker trip holds it for that trip only).
    Waiting happens on the event loop, holding nothing: without it, requests that hold a
    connection (or SQLite's lock) while waiting for a worker thread, and requests that hold
    a worker thread while waiting for a connection, can deadlock each other under load.

    How many: one on SQLite, whose transactions all take the write lock (admitting more
    only makes them sleep in SQLite's busy handler). On PostgreSQL ``concurrency``, by
    default the cores this process may use plus one, never more than the pool: a unit of
    work is mostly this process's own Python, which runs on one core at a time (the GIL),
    and every audited request of a school queues for its audit chain's head. Admitting
    the whole pool of ten on two cores only made the admitted ones take turns for the GIL
    while holding that head: three admitted served as many requests or more, with a p99
    a third to two thirds as long (issue #7, docs/decisions.md). A database far away
    (each round trip a millisecond or more) keeps more requests usefully in flight, and
    a CPU quota (a container's) is not seen by ``available_cores``: set it then.
    """

    def __init__(self, engine: Engine, *, concurrency: int | None = None) -> None:
        self.engine = engine
        if engine.dialect.name == "sqlite":
            max_sessions = 1
        else:
            if concurrency is not None and concurrency < 1:
                raise ValueError("at least one request must be admitted to the database")
            pool_size: int = engine.pool.size()  # type: ignore[attr-defined]
            wanted = concurrency if concurrency is not None else available_cores() + 1
            max_sessions = min(pool_size, wanted)
        self.max_sessions = max_sessions
        self._admission: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )

    def admission(self) -> asyncio.Semaphore:
        """The semaphore for the running event loop (a server has one; tests have several)."""
        loop = asyncio.get_running_loop()
        semaphore = self._admission.get(loop)
        if semaphore is None:
            semaphore = self._admission[loop] = asyncio.Semaphore(self.max_sessions)
        return semaphore

    @classmethod
    def from_url(cls, url: str, *, concurrency: int | None = None, **kwargs: Any) -> Database:
        return cls(create_db_engine(url, **kwargs), concurrency=concurrency)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def session(self) -> Session:
        # Objects stay readable after commit: responses are shaped after the commit.
        return Session(self.engine, expire_on_commit=False)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session that commits when the block ends normally and rolls back otherwise."""
        with finishing(self.session()) as session:
            yield session

    def ping(self) -> None:
        with self.engine.connect() as connection:
            connection.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()


# session.info key: set once the session has been committed or rolled back and closed.
_FINISHED = "concernlog.db.finished"


def is_finished(session: Session) -> bool:
    return bool(session.info.get(_FINISHED))


def finish(session: Session, error: BaseException | None) -> None:
    """End a unit of work: commit on success, roll back on error (except a domain error
    that keeps its writes: a failed sign-in keeps its throttling row), then close. A
    session is finished once; later calls do nothing."""
    if is_finished(session):
        return
    session.info[_FINISHED] = True
    try:
        if error is None or (isinstance(error, DomainError) and error.keeps_writes):
            session.commit()
        else:
            session.rollback()
    finally:
        session.close()


# --- prepared statements for the hot paths ------------------------------------------------

Processor = Callable[[Any], Any] | None
# Bound values in one statement at most: SQLite before 3.32 allowed 999 (PostgreSQL 65,535).
MAX_PARAMETERS = 999
# Rows from which PostgreSQL's prepared inserts go by COPY (see ``Prepared.insert_many``).
COPY_FROM_ROWS = 10
_PIPELINE_OFF = PipelineStatus.OFF
# A statement's SQL text, its parameters' names (in order, for a positional driver), and
# for an expanded IN list, which value each of its placeholders takes.
_Text = tuple[str, Sequence[str], dict[str, tuple[str, int]]]


# Ids parsed from SQLite's text, kept for the next time the same text comes back: a page of
# concerns reads each concern's id once per pupil, indicator and addendum, and the same
# pupils' and staff's ids on every page; parsing one costs ~25 times a dict lookup. One
# store for every prepared statement, emptied whenever it is full (~1.5 MB at most).
# PostgreSQL's driver hands back UUID objects itself.
REMEMBERED_IDS = 8192
_parsed_ids: dict[str, uuid.UUID] = {}


def _remembered(parse: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def process(value: Any) -> Any:
        if value is None:
            return None
        found = _parsed_ids.get(value)
        if found is None:
            if len(_parsed_ids) >= REMEMBERED_IDS:
                _parsed_ids.clear()
            found = _parsed_ids[value] = parse(value)
        return found

    return process


class _Plan:
    """A statement compiled for one dialect (and, for an insert, one set of columns): its
    SQL text, the order of its parameters, and SQLAlchemy's own processors for each bound
    value and each result column, so values go in and come out exactly as through
    SQLAlchemy (UUIDs as text on SQLite, UTC-aware timestamps, booleans...)."""

    def __init__(self, statement: Any, dialect: Dialect, column_keys: Sequence[str] | None) -> None:
        self.compiled = statement.compile(dialect=dialect, column_keys=column_keys)
        self.positional = dialect.positional
        self.binds: dict[str, Processor] = {
            name: bind.type.dialect_impl(dialect).bind_processor(dialect)
            for name, bind in self.compiled.binds.items()
        }
        self.expanding = frozenset(
            name for name, bind in self.compiled.binds.items() if bind.expanding
        )
        # Values the statement carries itself (SQLite's ``OFFSET 0`` after a ``LIMIT``),
        # among the parameters its SQL takes, bound unless the caller gives one of the
        # same name.
        taken = set(self._names(self.compiled.positiontup, {}))
        self.constants: dict[str, Any] = {
            name: bind.value
            for name, bind in self.compiled.binds.items()
            if name in taken and not bind.required and bind.value is not None
        }
        self.texts: dict[tuple[int, ...], _Text] = {}
        if not self.expanding:
            self.texts[()] = (self.compiled.string, self._names(self.compiled.positiontup, {}), {})
        if isinstance(statement, Select):
            columns = list(statement.selected_columns)
            self.row: Any = namedtuple("Row", [column.key for column in columns])  # type: ignore[misc]
            self.results: list[Processor] = [
                _remembered(processor)
                if isinstance(column.type, Uuid) and column.type.as_uuid and processor is not None
                else processor
                for column in columns
                for processor in (
                    column.type.dialect_impl(dialect).result_processor(dialect, None),
                )
            ]
        self._lock = threading.Lock()

    def _names(
        self, positions: Sequence[str] | None, expansion: dict[str, tuple[str, int]]
    ) -> Sequence[str]:
        """The parameters' names in the order the driver takes them (a positional driver,
        SQLite's), or all of them (a named one, psycopg's)."""
        if self.positional:
            return tuple(positions or ())
        return (*expansion, *(name for name in self.binds if name not in self.expanding))

    def text_for(self, parameters: Mapping[str, Any]) -> _Text:
        """The SQL for these parameters: with one placeholder per value of each expanding
        (``IN``) parameter, rendered by SQLAlchemy once per number of values."""
        shape = tuple(len(parameters[name]) for name in sorted(self.expanding))
        found = self.texts.get(shape)
        if found is None:
            if 0 in shape:
                raise ValueError("an IN list given to a prepared statement must not be empty")
            state = self.compiled.construct_expanded_state(dict(parameters))
            expansion = {
                expanded: (name, index)
                for name, names in state.parameter_expansion.items()
                for index, expanded in enumerate(names)
            }
            found = (state.statement, self._names(state.positiontup, expansion), expansion)
            with self._lock:
                self.texts[shape] = found
        return found

    def arguments(self, parameters: Mapping[str, Any]) -> tuple[str, Any]:
        if self.constants:
            parameters = {**self.constants, **parameters}
        sql, names, expansion = self.text_for(parameters)
        binds = self.binds
        if expansion:
            # Each placeholder of an IN list takes one value of its list, and its processor.
            parameters = {
                **parameters,
                **{
                    placeholder: parameters[name][i] for placeholder, (name, i) in expansion.items()
                },
            }
            binds = {
                **binds,
                **{placeholder: binds[name] for placeholder, (name, _) in expansion.items()},
            }
        # One comprehension over the names: the hot inserts bind ~700 values.
        values = [
            raw if processor is None or raw is None else processor(raw)
            for name in names
            for raw, processor in ((parameters[name], binds[name]),)
        ]
        if self.positional:
            return sql, tuple(values)
        return sql, dict(zip(names, values, strict=True))

    def shape(self, fetched: Sequence[Any]) -> list[Any]:
        """A select's fetched rows as named tuples, through the columns' processors."""
        make = self.row._make
        if not fetched or not any(self.results):
            return [make(row) for row in fetched]
        if len(fetched) == 1:  # most of a read's statements
            (row,) = fetched
            return [
                make([v if p is None else p(v) for p, v in zip(self.results, row, strict=True)])
            ]
        # Column by column: each processor mapped over its column, then the rows put back
        # together (a quarter of the time of a comprehension per row and value).
        columns = [
            column if processor is None else list(map(processor, column))
            for processor, column in zip(self.results, zip(*fetched, strict=True), strict=True)
        ]
        return list(map(make, zip(*columns, strict=True)))


class Prepared:
    """A Core statement (a select, insert or update) built once and run on the database
    driver's own cursor, in the session's transaction, with SQLAlchemy's type processing:
    for the statements every request of a hot path runs (the account check, a concern and
    its pupils, indicators, addenda and people, the audit chain's append). Through
    ``Connection.execute`` each costs 30-40 µs of SQLAlchemy's bookkeeping (compiled-cache
    lookup, execution context, events, result metadata) around 5-10 µs of SQL; here it
    costs the SQL, the type processing and a tuple.

    Results are named tuples (``row.id``). Parameters are by name, as for
    ``Connection.execute``; an ``IN`` list is a named parameter
    (``bindparam(name, expanding=True)``, ``ValueError`` otherwise) and must not be
    empty. An insert takes a list of
    rows (all with the same keys) and must be given every column the table fills in
    Python (``ValueError`` otherwise: a default would silently go missing)."""

    def __init__(self, statement: Any, *, copy_on_postgresql: bool = False) -> None:
        self.statement = statement
        self._plans: dict[tuple[str, tuple[str, ...] | None, int], _Plan] = {}
        if any(bind.expanding and not bind.required for bind in statement.compile().binds.values()):
            # Its values are the statement's own, under a name SQLAlchemy makes up: the plan
            # could not be given them, and the first run would fail.
            raise ValueError(
                "give a prepared statement's IN list as a named parameter, "
                'sa.bindparam("name", expanding=True), not as a list of values'
            )
        if copy_on_postgresql and str(statement) != str(sa_insert(statement.table)):
            # COPY writes plain rows: it would silently drop ON CONFLICT, RETURNING or
            # constant values.
            raise ValueError("only a plain INSERT into a table may be run as a COPY")
        self.copy_on_postgresql = copy_on_postgresql

    def _plan(
        self, dialect: Dialect, column_keys: tuple[str, ...] | None = None, rows: int = 0
    ) -> _Plan:
        key = (dialect.name, column_keys, rows)
        plan = self._plans.get(key)
        if plan is None:
            statement = self.statement
            if column_keys is not None:
                self._check_defaults(column_keys)
            if rows:
                # One INSERT with ``rows`` VALUES groups, each value its own named parameter
                # (``position__3``): one statement for the database, where an executemany
                # would be one per row (and, on SQLite, a hand-over of the GIL per row).
                table = statement.table
                statement = statement.values(
                    [
                        {
                            key: sa_bindparam(f"{key}__{i}", type_=table.c[key].type)
                            for key in column_keys or ()
                        }
                        for i in range(rows)
                    ]
                )
                column_keys = None
            plan = self._plans[key] = _Plan(statement, dialect, column_keys)
        return plan

    def _check_defaults(self, column_keys: tuple[str, ...]) -> None:
        table = self.statement.table  # only inserts are given column keys
        skipped = [
            column.key
            for column in table.columns
            if column.key not in column_keys and column.default is not None
        ]
        if skipped:
            raise ValueError(f"a prepared insert into {table.name} must be given {skipped}")

    def rows(self, session: OrmSession | Connection, parameters: Mapping[str, Any]) -> list[Any]:
        """The rows a select returns, as named tuples, in the session's transaction."""
        connection = _connection(session)
        plan = self._plan(connection.dialect)
        sql, arguments = plan.arguments(parameters)
        return plan.shape(_execute(connection, sql, arguments).fetchall())

    def one_or_none(self, session: OrmSession | Connection, parameters: Mapping[str, Any]) -> Any:
        found = self.rows(session, parameters)
        if len(found) > 1:
            raise ValueError("more than one row where at most one was expected")
        return found[0] if found else None

    def copies(self, rows: int) -> bool:
        """Whether ``insert_many`` of ``rows`` rows goes by ``COPY`` on PostgreSQL (outside
        ``sent_together``: PostgreSQL refuses a ``COPY`` in a pipeline)."""
        return self.copy_on_postgresql and rows >= COPY_FROM_ROWS

    def run(self, session: OrmSession | Connection, parameters: Mapping[str, Any]) -> None:
        """Run an update (or a one-row insert) in the session's transaction."""
        connection = _connection(session)
        keys = tuple(parameters) if isinstance(self.statement, Insert) else None
        sql, arguments = self._plan(connection.dialect, keys).arguments(parameters)
        _execute(connection, sql, arguments).close()

    def insert_many(
        self, session: OrmSession | Connection, rows: Sequence[Mapping[str, Any]]
    ) -> None:
        """Insert ``rows`` (each with the same keys). On SQLite, one multi-row INSERT per
        ``MAX_PARAMETERS`` values: one statement where an executemany would run one per
        row, each a hand-over of the GIL. On PostgreSQL an executemany, which psycopg
        sends as one pipeline (a multi-row statement there would be parsed again on every
        call: psycopg caches the parsing of short statements with few parameters only);
        or, for a statement made with ``copy_on_postgresql``, a ``COPY`` from
        ``COPY_FROM_ROWS`` rows (a page's ~45 audit events: 2.8 ms where an executemany
        took 3.9; below that, COPY's two round trips cost more than the pipeline's one).
        Only for tables without free text: PostgreSQL quotes the value of a row that fails
        a COPY in its error message, which the error log would then keep."""
        if not rows:
            return
        connection = _connection(session)
        keys = tuple(rows[0])
        if connection.dialect.name != "sqlite":
            plan = self._plan(connection.dialect, keys)
            batch = [plan.arguments(row)[1] for row in rows]
            if not self.copies(len(batch)) or _in_pipeline(connection):
                _execute(connection, plan.compiled.string, batch, many=True).close()
            else:
                _copy(connection, self.statement.table, keys, batch)
            return
        per_statement = max(1, MAX_PARAMETERS // len(keys))
        for start in range(0, len(rows), per_statement):
            chunk = rows[start : start + per_statement]
            plan = self._plan(connection.dialect, keys, len(chunk))
            flat = {f"{key}__{i}": row[key] for i, row in enumerate(chunk) for key in keys}
            sql, arguments = plan.arguments(flat)
            _execute(connection, sql, arguments).close()


@contextmanager
def sent_together(session: OrmSession | Connection, *, when: bool = True) -> Iterator[None]:
    """The statements run meanwhile on the session's connection (``Prepared``'s), sent to
    PostgreSQL together in one pipeline: one round trip instead of one per statement.
    Their results, and a server's error (raised as SQLAlchemy's), arrive by the time the
    block ends; a statement the driver refuses at once raises where it is run. If the
    block itself raises, what it queued is still sent (and its error, if any, dropped)
    before the block's exception goes on: the caller's transaction must then be rolled
    back, as after any error. Elsewhere, or unless ``when``, the statements run one after
    the other as usual. A block inside another joins it: what it runs is sent with the
    outer block's statements, when that ends. ``Prepared.insert_many`` does not ``COPY``
    here (PostgreSQL refuses a ``COPY`` in a pipeline). Reading a result inside the block
    sends what is queued and waits for it: a round trip of its own."""
    connection = _connection(session)
    if not when or connection.dialect.name == "sqlite" or _in_pipeline(connection):
        yield
        return
    driver: Any = connection.connection.driver_connection
    try:
        with driver.pipeline():
            yield
    except sa_exc.DBAPIError:
        raise  # a statement refused as it was queued, wrapped by ``_execute``
    except BaseException as error:
        wrapped = _wrapped(connection, None, "(statements sent together)", error, many=False)
        if wrapped is error:
            raise
        raise wrapped from error


def rows_together(
    session: OrmSession | Connection, queries: Sequence[tuple[Prepared, Mapping[str, Any]]]
) -> list[list[Any]]:
    """The rows of each prepared select, in order, in the session's transaction. On
    PostgreSQL they are sent together in one pipeline: one round trip instead of one per
    statement (a concern's pupils, indicators, addenda and people); elsewhere one after
    the other."""
    connection = _connection(session)
    if connection.dialect.name == "sqlite" or len(queries) < 2:
        return [prepared.rows(connection, parameters) for prepared, parameters in queries]
    sent: list[tuple[_Plan, Any]] = []
    try:
        with sent_together(connection):
            # Each statement is queued on its own cursor; the pipeline sends them all and
            # waits for their results as the block ends, where a server's error surfaces.
            for prepared, parameters in queries:
                plan = prepared._plan(connection.dialect)
                sql, arguments = plan.arguments(parameters)
                sent.append((plan, _execute(connection, sql, arguments)))
    except BaseException:
        _close(cursor for _, cursor in sent)
        raise
    results = [plan.shape(cursor.fetchall()) for plan, cursor in sent]
    _close(cursor for _, cursor in sent)
    return results


def _close(cursors: Iterable[Any]) -> None:
    for cursor in cursors:
        cursor.close()


def _copy(
    connection: Connection, table: Any, keys: Sequence[str], rows: Sequence[Mapping[str, Any]]
) -> None:
    """``COPY table (keys) FROM STDIN`` with ``rows`` (values as the driver takes them),
    through ``_execute``: in the connection's transaction, seen by the engine's cursor
    events, errors raised as SQLAlchemy's."""
    quote = connection.dialect.identifier_preparer
    columns = ", ".join(quote.quote(key) for key in keys)
    sql = f"COPY {quote.format_table(table)} ({columns}) FROM STDIN"

    def write(cursor: Any) -> None:
        with cursor.copy(sql) as copy:
            for row in rows:
                copy.write_row([row[key] for key in keys])

    _execute(connection, sql, rows, many=True, run=write).close()


def _in_pipeline(connection: Connection) -> bool:
    """Whether ``connection``'s statements are being queued by ``sent_together``."""
    if connection.dialect.name != "postgresql":
        return False
    driver: Any = connection.connection.driver_connection
    return bool(driver.pgconn.pipeline_status != _PIPELINE_OFF)


def _connection(target: OrmSession | Connection) -> Connection:
    return target if isinstance(target, Connection) else target.connection()


def _wrapped(
    connection: Connection, cursor: Any, sql: str, error: BaseException, *, many: bool
) -> BaseException:
    """A driver's error as SQLAlchemy raises it (``IntegrityError``, ``OperationalError``...
    with the driver's error as ``orig``), so the error handlers (503s, retries of transient
    conflicts) treat it as they treat the same error from ``Connection.execute``; a lost
    connection is invalidated, as SQLAlchemy would, so the pool does not hand it out
    again. Anything not from the driver is returned as it is."""
    dialect = connection.dialect
    base: type[Exception] = dialect.loaded_dbapi.Error
    if not isinstance(error, base):
        return error
    lost = dialect.is_disconnect(cast(Any, error), connection.connection.dbapi_connection, cursor)
    if lost:
        connection.invalidate(error)
    return sa_exc.DBAPIError.instance(
        sql,
        None,
        error,
        base,
        hide_parameters=True,  # parameters may hold concern text
        connection_invalidated=lost,
        dialect=dialect,
        ismulti=many,
    )


def _execute(
    connection: Connection,
    sql: str,
    arguments: Any,
    *,
    many: bool = False,
    run: Callable[[Any], None] | None = None,
) -> Any:
    """Run ``sql`` on a cursor of the DBAPI connection (sqlite3 or psycopg) under
    ``connection``, in its transaction (or ``run`` it on that cursor: a COPY). The
    engine's ``before_cursor_execute`` and ``after_cursor_execute`` listeners see it as
    they see any statement (the tests count statements with them)."""
    driver: Any = connection.connection.driver_connection
    cursor = driver.cursor()
    dispatch = connection.dispatch
    if dispatch.before_cursor_execute:
        dispatch.before_cursor_execute(connection, cursor, sql, arguments, None, many)
    try:
        if run is not None:
            run(cursor)
        elif many:
            cursor.executemany(sql, arguments)
        else:
            cursor.execute(sql, arguments)
    except BaseException as error:
        cursor.close()
        raise _wrapped(connection, cursor, sql, error, many=many) from error
    if dispatch.after_cursor_execute:
        dispatch.after_cursor_execute(connection, cursor, sql, arguments, None, many)
    return cursor
