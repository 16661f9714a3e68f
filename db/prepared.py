"""Prepared statements for the hot paths."""

from __future__ import annotations

import threading
import uuid
from collections import namedtuple
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Insert, Select
from sqlalchemy import bindparam as sa_bindparam
from sqlalchemy import insert as sa_insert
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session as OrmSession
from sqlalchemy.types import Uuid

from db.driver import connection_of, copy_rows, execute, in_pipeline

Processor = Callable[[Any], Any] | None
# Bound values in one statement at most: SQLite before 3.32 allowed 999 (PostgreSQL 65,535).
MAX_PARAMETERS = 999
# Rows from which PostgreSQL's prepared inserts go by COPY (see ``Prepared.insert_many``).
COPY_FROM_ROWS = 10
# A statement's SQL text, its parameters' names (in order, for a positional driver), and
# for an expanded IN list, which value each of its placeholders takes.
_Text = tuple[str, Sequence[str], dict[str, tuple[str, int]]]


# Ids parsed from SQLite's text, kept for the next time the same text comes back: a page of
# concerns reads each concern's id once per pupil, indicator and addendum, and the same
# pupils' and staff's ids on every page, and parsing one costs far more than a dict
# lookup. One store for every prepared statement, emptied whenever it is full (~1.5 MB at
# most).
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


class Plan:
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
        # together, which ``map`` does in C where a comprehension per row and value would
        # run Python for each value.
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
    ``Connection.execute`` each would pay SQLAlchemy's bookkeeping (compiled-cache lookup,
    execution context, events, result metadata), which costs more than these statements'
    SQL; here it costs the SQL, the type processing and a tuple (measurements:
    docs/adr/0032-prepared-statements.md).

    Results are named tuples (``row.id``). Parameters are by name, as for
    ``Connection.execute``; an ``IN`` list is a named parameter
    (``bindparam(name, expanding=True)``, ``ValueError`` otherwise) and must not be
    empty. An insert takes a list of
    rows (all with the same keys) and must be given every column the table fills in
    Python (``ValueError`` otherwise: a default would silently go missing)."""

    def __init__(self, statement: Any, *, copy_on_postgresql: bool = False) -> None:
        self.statement = statement
        self._plans: dict[tuple[str, tuple[str, ...] | None, int], Plan] = {}
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
    ) -> Plan:
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
            plan = self._plans[key] = Plan(statement, dialect, column_keys)
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
        connection = connection_of(session)
        plan = self._plan(connection.dialect)
        sql, arguments = plan.arguments(parameters)
        return plan.shape(execute(connection, sql, arguments).fetchall())

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
        connection = connection_of(session)
        keys = tuple(parameters) if isinstance(self.statement, Insert) else None
        sql, arguments = self._plan(connection.dialect, keys).arguments(parameters)
        execute(connection, sql, arguments).close()

    def insert_each(
        self, session: OrmSession | Connection, rows: Sequence[Mapping[str, Any]]
    ) -> None:
        """Insert ``rows`` (each with the same keys) with the driver's executemany of the
        one-row statement, on either database: for a number of rows that changes from call
        to call (``insert_many`` on SQLite compiles a statement for each new number), where
        SQLAlchemy's own executemany would run its parameter processing in Python per row
        and value. A ``copy_on_postgresql`` statement goes by COPY there from
        ``COPY_FROM_ROWS`` rows, as in ``insert_many``."""
        if not rows:
            return
        connection = connection_of(session)
        if connection.dialect.name != "sqlite":
            self.insert_many(session, rows)
            return
        plan = self._plan(connection.dialect, tuple(rows[0]))
        batch = [plan.arguments(row)[1] for row in rows]
        execute(connection, plan.compiled.string, batch, many=True).close()

    def insert_many(
        self, session: OrmSession | Connection, rows: Sequence[Mapping[str, Any]]
    ) -> None:
        """Insert ``rows`` (each with the same keys). On SQLite, one multi-row INSERT per
        ``MAX_PARAMETERS`` values: one statement where an executemany would run one per
        row, each a hand-over of the GIL. On PostgreSQL an executemany, which psycopg
        sends as one pipeline (a multi-row statement there would be parsed again on every
        call: psycopg caches the parsing of short statements with few parameters only);
        or, for a statement made with ``copy_on_postgresql``, a ``COPY`` from
        ``COPY_FROM_ROWS`` rows (a page's audit events), which loads many rows faster than
        an executemany; below that, COPY's two round trips cost more than the pipeline's
        one (docs/adr/0033-copy-for-audit-events.md).
        Only for tables without free text: PostgreSQL quotes the value of a row that fails
        a COPY in its error message, which the error log would then keep."""
        if not rows:
            return
        connection = connection_of(session)
        keys = tuple(rows[0])
        if connection.dialect.name != "sqlite":
            plan = self._plan(connection.dialect, keys)
            batch = [plan.arguments(row)[1] for row in rows]
            if not self.copies(len(batch)) or in_pipeline(connection):
                execute(connection, plan.compiled.string, batch, many=True).close()
            else:
                copy_rows(connection, self.statement.table, keys, batch)
            return
        per_statement = max(1, MAX_PARAMETERS // len(keys))
        for start in range(0, len(rows), per_statement):
            chunk = rows[start : start + per_statement]
            plan = self._plan(connection.dialect, keys, len(chunk))
            flat = {f"{key}__{i}": row[key] for i, row in enumerate(chunk) for key in keys}
            sql, arguments = plan.arguments(flat)
            execute(connection, sql, arguments).close()
