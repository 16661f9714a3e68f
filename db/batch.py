"""Statements sent to the database together: one round trip on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Connection
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session as OrmSession

from db.driver import close_all, connection_of, execute, in_pipeline, wrapped_error
from db.prepared import Plan, Prepared


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
    connection = connection_of(session)
    if not when or connection.dialect.name == "sqlite" or in_pipeline(connection):
        yield
        return
    driver: Any = connection.connection.driver_connection
    try:
        with driver.pipeline():
            yield
    except sa_exc.DBAPIError:
        raise  # a statement refused as it was queued, wrapped by ``db.driver.execute``
    except BaseException as error:
        wrapped = wrapped_error(connection, None, "(statements sent together)", error, many=False)
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
    connection = connection_of(session)
    if connection.dialect.name == "sqlite" or len(queries) < 2:
        return [prepared.rows(connection, parameters) for prepared, parameters in queries]
    sent: list[tuple[Plan, Any]] = []
    try:
        with sent_together(connection):
            # Each statement is queued on its own cursor; the pipeline sends them all and
            # waits for their results as the block ends, where a server's error surfaces.
            for prepared, parameters in queries:
                plan = prepared._plan(connection.dialect)
                sql, arguments = plan.arguments(parameters)
                sent.append((plan, execute(connection, sql, arguments)))
    except BaseException:
        close_all(cursor for _, cursor in sent)
        raise
    results = [plan.shape(cursor.fetchall()) for plan, cursor in sent]
    close_all(cursor for _, cursor in sent)
    return results


class Batch:
    """Named prepared selects to send together (``rows_together``: one round trip on
    PostgreSQL), whose rows come back by name: ``found = batch.run(session)``, then
    ``found["pupils"]``. Names are unique within a batch (``ValueError`` otherwise); a
    batch may take another's queries (``include``), so a caller can send a concern's
    lookups with its own."""

    __slots__ = ("_queries",)

    def __init__(self) -> None:
        self._queries: dict[str, tuple[Prepared, Mapping[str, Any]]] = {}

    def add(self, name: str, statement: Prepared, parameters: Mapping[str, Any]) -> Batch:
        if name in self._queries:
            raise ValueError(f"a batch already has a query named {name!r}")
        self._queries[name] = (statement, parameters)
        return self

    def include(self, other: Batch) -> Batch:
        for name, (statement, parameters) in other._queries.items():
            self.add(name, statement, parameters)
        return self

    def __contains__(self, name: object) -> bool:
        return name in self._queries

    def __len__(self) -> int:
        return len(self._queries)

    def queries(self) -> list[tuple[Prepared, Mapping[str, Any]]]:
        return list(self._queries.values())

    def found(self, rows: Sequence[list[Any]]) -> dict[str, list[Any]]:
        """Each query's rows by its name, from rows read in the batch's order."""
        return dict(zip(self._queries, rows, strict=True))

    def run(self, session: OrmSession | Connection) -> dict[str, list[Any]]:
        """Each query's rows, by name, in the session's transaction."""
        return self.found(rows_together(session, self.queries()))
