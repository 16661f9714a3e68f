"""JSON log lines carrying the request id. Log ids and outcomes, never content."""

from __future__ import annotations

import json
import logging
import sqlite3
import sys
import traceback
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.exc import DBAPIError

from core.context import request_id_var

# Attributes every LogRecord has; anything else was passed through ``extra=``.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "color_message",
}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": request_id_var.get(),
            # Which server process wrote it (``serve --workers N`` runs several).
            "pid": record.process,
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


class ErrorsByClass(logging.Filter):
    """Exceptions in a record's arguments shown by class only. psycopg logs an error it
    drops (ending a pipeline or a rollback after another error, ``db.batch.sent_together``)
    with the server's message, whose DETAIL may quote a row's values."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and any(
            isinstance(arg, BaseException) for arg in record.args
        ):
            record.args = tuple(
                type(arg).__name__ if isinstance(arg, BaseException) else arg for arg in record.args
            )
        return True


def _database_errors() -> tuple[type[BaseException], ...]:
    # psycopg's errors only where psycopg is loaded: a server on SQLite never imports it.
    psycopg = sys.modules.get("psycopg")
    if psycopg is None:
        return (DBAPIError, sqlite3.Error)
    return (DBAPIError, sqlite3.Error, psycopg.Error)


def _chain(error: BaseException) -> list[BaseException]:
    """``error`` and the errors it was raised from or while handling, outermost first."""
    found: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and all(current is not seen for seen in found):
        found.append(current)
        current = current.__cause__ or current.__context__
    return found


def log_unhandled(log: logging.Logger, error: BaseException) -> None:
    """Log an error no handler answered, with its traceback. When a database error is in
    its chain, the messages are left out (each error by class, with PostgreSQL's
    SQLSTATE): a constraint's DETAIL quotes the failing row, which may hold a concern's
    text, and no log line may."""
    chain = _chain(error)
    errors = _database_errors()
    if not any(isinstance(link, errors) for link in chain):
        log.error("unhandled error", exc_info=error)
        return
    sqlstates = [
        state
        for link in chain
        for state in (getattr(getattr(link, "orig", link), "sqlstate", None),)
        if state
    ]
    log.error(
        "unhandled database error: %s (SQLSTATE %s)",
        " from ".join(type(link).__name__ for link in chain),
        sqlstates[0] if sqlstates else "none",
        extra={"traceback": "".join(traceback.format_tb(error.__traceback__))},
    )


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


def configure_logging(level: str = "INFO", *, json_lines: bool = True) -> None:
    handler = logging.StreamHandler(sys.stderr)
    if json_lines:
        handler.setFormatter(JsonFormatter())
    else:
        handler.addFilter(RequestIdFilter())
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")
        )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    psycopg_log = logging.getLogger("psycopg")
    if not any(isinstance(f, ErrorsByClass) for f in psycopg_log.filters):
        psycopg_log.addFilter(ErrorsByClass())
    # uvicorn's own access log would duplicate ours (and carries raw query strings).
    logging.getLogger("uvicorn.access").disabled = True
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
