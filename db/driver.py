"""The database driver's own cursor under SQLAlchemy's connection: statements run in its
transaction, errors raised as SQLAlchemy raises them."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, cast

from sqlalchemy import Connection
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session as OrmSession


def close_all(cursors: Iterable[Any]) -> None:
    for cursor in cursors:
        cursor.close()


def copy_rows(
    connection: Connection, table: Any, keys: Sequence[str], rows: Sequence[Mapping[str, Any]]
) -> None:
    """``COPY table (keys) FROM STDIN`` with ``rows`` (values as the driver takes them),
    through ``db.driver.execute``: in the connection's transaction, seen by the engine's cursor
    events, errors raised as SQLAlchemy's."""
    quote = connection.dialect.identifier_preparer
    columns = ", ".join(quote.quote(key) for key in keys)
    sql = f"COPY {quote.format_table(table)} ({columns}) FROM STDIN"

    def write(cursor: Any) -> None:
        with cursor.copy(sql) as copy:
            for row in rows:
                copy.write_row([row[key] for key in keys])

    execute(connection, sql, rows, many=True, run=write).close()


def in_pipeline(connection: Connection) -> bool:
    """Whether ``connection``'s statements are being queued by ``sent_together``."""
    if connection.dialect.name != "postgresql":
        return False
    # Imported here: a server on SQLite never loads psycopg (~10 MiB).
    from psycopg.pq import PipelineStatus

    driver: Any = connection.connection.driver_connection
    return bool(driver.pgconn.pipeline_status != PipelineStatus.OFF)


def connection_of(target: OrmSession | Connection) -> Connection:
    return target if isinstance(target, Connection) else target.connection()


def wrapped_error(
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


def execute(
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
        raise wrapped_error(connection, cursor, sql, error, many=many) from error
    if dispatch.after_cursor_execute:
        dispatch.after_cursor_execute(connection, cursor, sql, arguments, None, many)
    return cursor
